//! Field validation shared by every kind: names, labels, annotations, ports. Messages match
//! Kubernetes' wording so users recognise them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::Cause;

pub const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case \
alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. \
'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

pub const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower \
case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
(e.g. 'example.com', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

pub const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric \
characters or '-', start with an alphabetic character, and end with an alphanumeric character \
(e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' \
or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
'MyValue',  or 'my_value',  or '12345', regex used for validation is \
'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `None` if `s` is a DNS-1123 label, else why not.
pub fn dns1123_label_error(s: &str) -> Option<String> {
    if s.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    let ok = !s.is_empty()
        && s.chars().all(|c| lower_alnum(c) || c == '-')
        && s.starts_with(lower_alnum)
        && s.ends_with(lower_alnum);
    (!ok).then(|| DNS1123_LABEL_MSG.into())
}

/// `None` if `s` is a DNS-1123 subdomain, else why not.
pub fn dns1123_subdomain_error(s: &str) -> Option<String> {
    if s.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok = !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| lower_alnum(c) || c == '-')
                && part.starts_with(lower_alnum)
                && part.ends_with(lower_alnum)
        });
    (!ok).then(|| DNS1123_SUBDOMAIN_MSG.into())
}

/// `None` if `s` is a DNS-1035 label (starts with a letter), else why not.
pub fn dns1035_label_error(s: &str) -> Option<String> {
    if s.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    let ok = !s.is_empty()
        && s.chars().all(|c| lower_alnum(c) || c == '-')
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.ends_with(lower_alnum);
    (!ok).then(|| DNS1035_LABEL_MSG.into())
}

fn qualified_name_part_ok(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

/// `None` if `key` is a valid label or annotation key (`[prefix/]name`), else why not.
pub fn label_key_error(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("prefix part must be non-empty".into());
        }
        if let Some(e) = dns1123_subdomain_error(p) {
            return Some(format!("prefix part {e}"));
        }
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    (!qualified_name_part_ok(name)).then(|| QUALIFIED_NAME_MSG.into())
}

/// `None` if `value` is a valid label value, else why not.
pub fn label_value_error(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    (!value.is_empty() && !qualified_name_part_ok(value)).then(|| LABEL_VALUE_MSG.into())
}

/// Collects causes while walking an object. Paths are Kubernetes field paths.
#[derive(Debug, Default)]
pub struct Errors {
    pub causes: Vec<Cause>,
}

impl Errors {
    pub fn push(&mut self, cause: Cause) {
        self.causes.push(cause);
    }

    pub fn is_empty(&self) -> bool {
        self.causes.is_empty()
    }

    pub fn required(&mut self, field: &str) {
        self.push(Cause::required(field));
    }

    pub fn invalid(&mut self, field: &str, value: Value, detail: impl AsRef<str>) {
        self.push(Cause::invalid(field, &value, detail));
    }

    pub fn labels(&mut self, field: &str, labels: Option<&BTreeMap<String, String>>) {
        for (k, v) in labels.into_iter().flatten() {
            if let Some(e) = label_key_error(k) {
                self.invalid(field, json!(k), e);
            }
            if let Some(e) = label_value_error(v) {
                self.invalid(field, json!(v), e);
            }
        }
    }

    pub fn annotations(&mut self, field: &str, annotations: Option<&BTreeMap<String, String>>) {
        let mut total = 0;
        for (k, v) in annotations.into_iter().flatten() {
            if let Some(e) = label_key_error(&k.to_lowercase()) {
                self.invalid(field, json!(k), e);
            }
            total += k.len() + v.len();
        }
        if total > 256 * 1024 {
            self.push(Cause {
                reason: "FieldValueTooLong",
                field: field.to_owned(),
                message: "Too long: must have at most 262144 bytes".into(),
            });
        }
    }

    /// A port number field (1-65535).
    pub fn port(&mut self, field: &str, port: i32) {
        if !(1..=65535).contains(&port) {
            self.invalid(field, json!(port), "must be between 1 and 65535, inclusive");
        }
    }
}

/// `None` if `name` is a valid IANA service (port) name, else why not.
pub fn port_name_error(name: &str) -> Option<String> {
    if name.len() > 15 {
        return Some("must be no more than 15 characters".into());
    }
    if !name.chars().all(|c| lower_alnum(c) || c == '-') {
        return Some(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(),
        );
    }
    if name.contains("--") {
        return Some("must not contain consecutive hyphens".into());
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        return Some("must contain at least one letter (a-z)".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("must not begin or end with a hyphen".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1123_subdomain_error("web-1.example").is_none());
        assert!(dns1123_subdomain_error("Web").is_some());
        assert!(dns1123_subdomain_error("-web").is_some());
        assert!(dns1123_subdomain_error(&"a".repeat(254)).is_some());
        assert!(dns1123_label_error("kube-system").is_none());
        assert!(dns1123_label_error("a.b").is_some());
        assert!(dns1035_label_error("1svc").is_some());
        assert!(dns1035_label_error("svc-1").is_none());
    }

    #[test]
    fn labels_and_keys() {
        assert!(label_key_error("app.kubernetes.io/name").is_none());
        assert!(label_key_error("app").is_none());
        assert!(label_key_error("/app").is_some());
        assert!(label_key_error("UPPER.example/x").is_some());
        assert!(label_value_error("").is_none());
        assert!(label_value_error("My_Value.1").is_none());
        assert!(label_value_error("-x").is_some());
        assert!(label_value_error(&"v".repeat(64)).is_some());
    }

    #[test]
    fn port_names() {
        assert!(port_name_error("http").is_none());
        assert!(port_name_error("http--x").is_some());
        assert!(port_name_error("8080").is_some());
        assert!(port_name_error("a-very-long-port-name").is_some());
    }
}
