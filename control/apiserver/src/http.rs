//! HTTP plumbing: query strings, content negotiation, request bodies and responses.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use skiff_api::error::{ApiError, Status};

/// Largest request body accepted, as kube-apiserver (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Decoded query parameters. Repeated keys keep the last value.
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>);

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(percent_decode(k), percent_decode(v));
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request(format!("{key}: invalid value {v:?}: must be an integer"))
                })
            })
            .transpose()
    }
}

/// Whether the client asked for a `meta.k8s.io` Table (human `kubectl get`).
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .next()
                .is_some_and(|first| first.contains("as=Table"))
        })
}

/// A JSON response.
pub fn json(status: StatusCode, value: &Value) -> Response {
    json_bytes(status, serde_json::to_vec(value).unwrap_or_default())
}

/// A response whose body is already JSON. Like kube-apiserver's encoder, every JSON body
/// ends with a newline.
pub fn json_bytes(status: StatusCode, mut body: Vec<u8>) -> Response {
    if body.last() != Some(&b'\n') {
        body.push(b'\n');
    }
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An API error as a Status response.
pub fn error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_bytes(status, e.to_status().to_json())
}

/// A `Status` response (a success Status; errors go through [`error`]).
pub fn status(code: StatusCode, s: &Status) -> Response {
    json_bytes(code, s.to_json())
}

/// Adds `Warning` headers (unknown fields, deprecations), as kube-apiserver does.
pub fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append("Warning", v);
        }
    }
    r
}

/// The media types of request bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyType {
    Json,
    Yaml,
    Protobuf,
    /// A server-side apply patch: YAML, of which JSON is a subset.
    ApplyYaml,
}

pub fn body_type(headers: &HeaderMap) -> Result<BodyType, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = ct.split(';').next().unwrap_or_default().trim();
    match media {
        ""
        | "application/json"
        | "*/*"
        | "application/json-patch+json"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json" => Ok(BodyType::Json),
        "application/apply-patch+yaml" => Ok(BodyType::ApplyYaml),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(BodyType::Yaml),
        "application/vnd.kubernetes.protobuf" => Ok(BodyType::Protobuf),
        other => Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: \
             application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other:?})"
        ))),
    }
}

/// Parses a JSON or YAML body, saying where it is malformed.
pub fn parse_body(bytes: &[u8], kind: BodyType) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send an object",
        ));
    }
    match kind {
        BodyType::Json => serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}"))),
        BodyType::Yaml => serde_yaml_ng::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}"))),
        BodyType::Protobuf => crate::protobuf::decode(bytes),
        // JSON first (what kubectl sends), YAML otherwise, as kube's apply reads YAML.
        BodyType::ApplyYaml => serde_json::from_slice(bytes).or_else(|_| {
            serde_yaml_ng::from_slice(bytes).map_err(|e| {
                ApiError::bad_request(format!(
                    "error decoding YAML: error converting YAML to JSON: yaml: {e}"
                ))
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_bodies() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+(a)&limit=500&watch=true&x=",
        ));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert_eq!(q.int("limit").unwrap(), Some(500));
        assert!(q.flag("watch"));
        assert_eq!(q.get("x"), None);
        assert!(Query::parse(Some("limit=abc")).int("limit").is_err());
        let e = parse_body(b"{\"a\": }", BodyType::Json).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("line 1 column"), "{}", e.message);
        let y = parse_body(b"kind: Pod\nmetadata:\n  name: x\n", BodyType::Yaml).unwrap();
        assert_eq!(y["metadata"]["name"], "x");
        // An apply patch is YAML or JSON.
        let y = parse_body(b"kind: Pod\nmetadata:\n  name: x\n", BodyType::ApplyYaml).unwrap();
        assert_eq!(y["metadata"]["name"], "x");
        let j = parse_body(
            br#"{"kind": "Pod", "n": 12345678901234567890}"#,
            BodyType::ApplyYaml,
        )
        .unwrap();
        assert_eq!(j["kind"], "Pod");
        let e = parse_body(b"kind: [", BodyType::ApplyYaml).unwrap_err();
        assert!(
            e.message.starts_with("error decoding YAML"),
            "{}",
            e.message
        );
    }
}
