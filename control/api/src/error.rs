//! API errors, rendered as Kubernetes `Status` objects: the code, reason and message that
//! kubectl and client libraries expect, written field for field as kube-apiserver writes them.

use serde::Serialize;
use serde_json::Value;

/// One field-level problem in an invalid object (`details.causes[]`). Serialized in
/// kube's field order (`reason`, `message`, `field`), empty fields left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// e.g. `FieldValueRequired`, `FieldValueInvalid`.
    pub reason: &'static str,
    /// e.g. `Required value` or `Invalid value: "x": must be ...`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// e.g. `spec.template.spec.containers[0].name`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl Cause {
    pub fn required(field: impl Into<String>) -> Self {
        Cause {
            reason: "FieldValueRequired",
            field: field.into(),
            message: "Required value".into(),
        }
    }

    pub fn required_because(field: impl Into<String>, detail: &str) -> Self {
        Cause {
            reason: "FieldValueRequired",
            field: field.into(),
            message: format!("Required value: {detail}"),
        }
    }

    /// `value` is shown as Kubernetes shows it: strings quoted, numbers bare.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl AsRef<str>) -> Self {
        Cause {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {}: {}", show(value), detail.as_ref()),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Cause {
            reason: "FieldValueDuplicate",
            field: field.into(),
            message: format!("Duplicate value: {}", show(value)),
        }
    }

    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let supported: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                show(value),
                supported.join(", ")
            ),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Cause {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {}", detail.into()),
        }
    }

    /// `field: message`, as in an Invalid error's message.
    pub fn summary(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// `value` as Go's `%+v` prints the decoded JSON (`map[k:v]`, `[a b]`, strings bare), as
/// kube-apiserver quotes a patch in its errors.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        // serde_json's map iterates in key order, as Go prints maps.
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// `details` of a Status, in kube's field order, empty fields left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The resource (`pods`), as Kubernetes fills it in.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

impl StatusDetails {
    /// Details naming one object of a resource.
    pub fn of(name: &str, group: &str, kind: &str) -> Self {
        StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: kind.into(),
            ..Default::default()
        }
    }
}

/// A `Status` object (`meta/v1`), serialized in the field order of kube's struct:
/// `kind`, `apiVersion`, `metadata`, `status`, `message`, `reason`, `details`, `code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    kind: &'static str,
    api_version: &'static str,
    metadata: EmptyMeta,
    /// `Success` or `Failure`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    #[serde(skip_serializing_if = "is_zero")]
    pub code: u16,
}

/// The empty `metadata: {}` of a Status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
struct EmptyMeta {}

fn is_zero(code: &u16) -> bool {
    *code == 0
}

impl Status {
    /// A `Success` Status, as a completed deletion (with `details`) or a binding
    /// (`code` 201) answers.
    pub fn success(details: Option<StatusDetails>, code: u16) -> Self {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: EmptyMeta {},
            status: "Success",
            message: String::new(),
            reason: "",
            details,
            code,
        }
    }

    /// The JSON kube-apiserver writes: fields in its order, then a newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).expect("a Status always serializes");
        out.push(b'\n');
        out
    }
}

/// An API error: HTTP code, Status reason, message, and optional details.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// Boxed: errors travel in every `Result` of the request path, and stay small.
    pub details: Option<Box<StatusDetails>>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.reason, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// `pods` or `deployments.apps`: how Kubernetes names a resource in messages.
pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 403 on one object, as kube's admission refuses it: `<resource> "<name>" is forbidden: <why>`.
    pub fn forbidden_object(resource: &str, group: &str, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} {name:?} is forbidden: {why}",
                qualified(resource, group)
            ),
        )
        .with_details(StatusDetails::of(name, group, resource))
    }

    /// `resource` is the plural resource name (`pods`), `group` its API group.
    pub fn not_found(resource: &str, group: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", qualified(resource, group)),
        )
        .with_details(StatusDetails::of(name, group, resource))
    }

    /// A path that names no resource at all.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn already_exists(resource: &str, group: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", qualified(resource, group)),
        )
        .with_details(StatusDetails::of(name, group, resource))
    }

    /// An optimistic-concurrency failure (stale resourceVersion).
    pub fn conflict(resource: &str, group: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: {why}",
                qualified(resource, group)
            ),
        )
        .with_details(StatusDetails::of(name, group, resource))
    }

    /// A resourceVersion that is no longer available.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 504: the request could not be served in time (e.g. a future resourceVersion).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, "RequestEntityTooLarge", message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    /// 422 Invalid, with one cause per field problem. `kind` is e.g. `Deployment`.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let what = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let listed: Vec<String> = causes.iter().map(Cause::summary).collect();
        let list = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let d = StatusDetails {
            causes,
            ..StatusDetails::of(name, group, kind)
        };
        Self::new(
            422,
            "Invalid",
            format!("{what} {name:?} is invalid: {list}"),
        )
        .with_details(d)
    }

    /// A patch that is well formed but cannot be applied to the object.
    pub fn unprocessable_patch(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Status {
        Status {
            status: "Failure",
            message: self.message.clone(),
            reason: self.reason,
            details: self.details.as_deref().cloned(),
            ..Status::success(None, self.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text(s: &Status) -> String {
        String::from_utf8(s.to_json()).unwrap()
    }

    #[test]
    fn not_found_reads_like_kubernetes() {
        let e = ApiError::not_found("deployments", "apps", "web");
        assert_eq!(e.message, r#"deployments.apps "web" not found"#);
        // Byte for byte what kube-apiserver writes: its struct order, then a newline.
        assert_eq!(
            text(&e.to_status()),
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
             \"message\":\"deployments.apps \\\"web\\\" not found\",\"reason\":\"NotFound\",\
             \"details\":{\"name\":\"web\",\"group\":\"apps\",\"kind\":\"deployments\"},\"code\":404}\n"
        );
        assert_eq!(
            text(&ApiError::unauthorized().to_status()),
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
             \"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}\n"
        );
    }

    #[test]
    fn success_statuses_leave_out_what_is_empty() {
        let details = StatusDetails {
            uid: "u-1".into(),
            ..StatusDetails::of("c", "", "configmaps")
        };
        assert_eq!(
            text(&Status::success(Some(details), 0)),
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\
             \"details\":{\"name\":\"c\",\"kind\":\"configmaps\",\"uid\":\"u-1\"}}\n"
        );
        assert_eq!(
            text(&Status::success(None, 201)),
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"code\":201}\n"
        );
    }

    #[test]
    fn invalid_lists_every_cause() {
        let e = ApiError::invalid(
            "Deployment",
            "apps",
            "web",
            vec![
                Cause::required("spec.selector"),
                Cause::invalid("metadata.name", &json!("Web"), "must be lowercase"),
            ],
        );
        assert_eq!(
            e.message,
            r#"Deployment.apps "web" is invalid: [spec.selector: Required value, metadata.name: Invalid value: "Web": must be lowercase]"#
        );
        let json = text(&e.to_status());
        assert!(
            json.ends_with(
                "\"details\":{\"name\":\"web\",\"group\":\"apps\",\"kind\":\"Deployment\",\"causes\":[\
                 {\"reason\":\"FieldValueRequired\",\"message\":\"Required value\",\"field\":\"spec.selector\"},\
                 {\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"Web\\\": must be lowercase\",\"field\":\"metadata.name\"}]},\
                 \"code\":422}\n"
            ),
            "{json}"
        );
        let one = ApiError::invalid("Pod", "", "p", vec![Cause::required("spec.containers")]);
        assert_eq!(
            one.message,
            r#"Pod "p" is invalid: spec.containers: Required value"#
        );
    }

    #[test]
    fn values_print_as_go_prints_them() {
        assert_eq!(
            go_value(&json!({"metadata": {"labels": "invalid"}, "a": [1, true, null, 1.5]})),
            "map[a:[1 true <nil> 1.5] metadata:map[labels:invalid]]"
        );
    }
}
