//! Turning request bodies into objects: decoding, kind checks, and field validation.

use serde_json::{Value, json};
use skiff_api::error::ApiError;
use skiff_api::{ResourceType, gojson, meta, resources};

use crate::dispatch::Call;
use crate::http::{self, BodyType, Query};

/// The body as an object of the target's kind, with `apiVersion` and `kind` filled in.
/// A body that is no object gets kube-apiserver's decode error.
pub fn object_body(call: &Call) -> Result<Value, ApiError> {
    let rt = call.target.rt;
    let mut obj = match http::body_type(&call.headers)? {
        BodyType::Protobuf => http::parse_body(&call.body, BodyType::Protobuf)?,
        BodyType::Yaml => match serde_yaml_ng::from_slice(&call.body) {
            Ok(v) => v,
            Err(e) => {
                let why = format!("error converting YAML to JSON: yaml: {e}");
                return Err(unrecognized(rt, &why, &call.body));
            }
        },
        BodyType::Json | BodyType::ApplyYaml => match serde_json::from_slice(&call.body) {
            Ok(v) => v,
            Err(e) => {
                let why = gojson::syntax_error(&call.body).unwrap_or_else(|| e.to_string());
                return Err(unrecognized(rt, &parse_error(&why), &call.body));
            }
        },
    };
    type_meta(rt, &obj, &call.body)?;
    if obj.is_null() {
        // Go decodes `null` into an empty object.
        obj = json!({});
    }
    check_kind(rt, &mut obj)?;
    Ok(obj)
}

fn parse_error(why: &str) -> String {
    format!("couldn't get version/kind; json parse error: {why}")
}

/// kube's 400 for a body it cannot even read the kind of.
fn unrecognized(rt: &ResourceType, why: &str, body: &[u8]) -> ApiError {
    ApiError::bad_request(format!(
        "the object provided is unrecognized (must be of type {}): {why} ({})",
        rt.kind,
        gojson::summarize(body)
    ))
}

/// Go's name for the type of a JSON value, as `json.Unmarshal` errors give it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// Reads `apiVersion` and `kind` as kube does first, with its errors for a body that is not
/// an object or whose `apiVersion` or `kind` is not a string.
fn type_meta(rt: &ResourceType, obj: &Value, body: &[u8]) -> Result<(), ApiError> {
    let why = match obj {
        Value::Null => return Ok(()),
        Value::Object(o) => {
            let Some((field, v)) = ["apiVersion", "kind"].into_iter().find_map(|f| {
                o.get(f)
                    .filter(|v| !v.is_string() && !v.is_null())
                    .map(|v| (f, v))
            }) else {
                return Ok(());
            };
            format!(
                "json: cannot unmarshal {} into Go struct field .{field} of type string",
                go_type(v)
            )
        }
        other => format!(
            "json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            go_type(other)
        ),
    };
    Err(unrecognized(rt, &parse_error(&why), body))
}

/// Fills in or checks `apiVersion` and `kind` against the endpoint; another kind gets
/// kube's decode error (`Pod in version "v1" cannot be handled as a ConfigMap: ...`).
pub fn check_kind(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(format!(
            "the request body must be a {} object",
            rt.kind
        )));
    }
    let want_version = rt.api_version();
    let text = |field: &str| {
        obj.get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (version, kind) = (text("apiVersion"), text("kind"));
    let version = version.unwrap_or_else(|| want_version.clone());
    let kind = kind.unwrap_or_else(|| rt.kind.to_owned());
    if version != want_version || kind != rt.kind {
        let (group, short_version) = version.rsplit_once('/').unwrap_or(("", &version));
        let why = match resources::by_kind(group, &kind).filter(|k| k.version == short_version) {
            // A kind this server knows, just not this one: kube finds no conversion.
            Some(_) => format!(
                "converting ({short_version}.{kind}) to ({}.{}): unknown conversion",
                internal_package(rt.group),
                rt.kind
            ),
            None => format!(
                "no kind {kind:?} is registered for version {version:?} in scheme \"pkg/api/legacyscheme/scheme.go:30\""
            ),
        };
        return Err(ApiError::bad_request(format!(
            "{kind} in version {short_version:?} cannot be handled as a {}: {why}",
            rt.kind
        )));
    }
    obj["apiVersion"] = json!(want_version);
    obj["kind"] = json!(rt.kind);
    Ok(())
}

/// The Go package of a group's internal types, as conversion errors name it (`core`, `apps`,
/// `networking` for `networking.k8s.io`).
fn internal_package(group: &str) -> &str {
    match group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    }
}

/// Sets the namespace from the URL, refusing a different one in the body.
pub fn check_namespace(
    rt: &ResourceType,
    obj: &mut Value,
    url_ns: Option<&str>,
) -> Result<(), ApiError> {
    if !rt.namespaced {
        meta::remove(obj, "namespace");
        return Ok(());
    }
    let Some(url_ns) = url_ns else {
        return Err(ApiError::bad_request(format!(
            "{} is namespaced: create it under /namespaces/<namespace>/",
            rt.plural
        )));
    };
    match meta::namespace(obj) {
        Some(ns) if ns != url_ns => Err(ApiError::bad_request(format!(
            "the namespace of the provided object ({ns}) does not match the namespace sent on the request ({url_ns})"
        ))),
        _ => {
            meta::set(obj, "namespace", json!(url_ns));
            Ok(())
        }
    }
}

/// What to do with fields the schema lacks (`?fieldValidation=`).
pub fn field_validation(query: &Query, unknown: &[String]) -> Result<Vec<String>, ApiError> {
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let listed: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    match query.get("fieldValidation").unwrap_or("Warn") {
        "Strict" => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            listed.join(", ")
        ))),
        "Ignore" => Ok(Vec::new()),
        "Warn" => Ok(listed),
        other => Err(ApiError::bad_request(format!(
            "fieldValidation: invalid value {other:?}: must be one of Ignore, Warn, Strict"
        ))),
    }
}

/// `?dryRun=All`.
pub fn dry_run(query: &Query) -> Result<bool, ApiError> {
    match query.get("dryRun") {
        None => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "dryRun: invalid value {other:?}: only \"All\" is supported"
        ))),
    }
}
