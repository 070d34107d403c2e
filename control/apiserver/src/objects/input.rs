//! Turning request bodies into objects: decoding, kind checks, and field validation.

use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::error::ApiError;
use skiff_api::meta;

use crate::dispatch::Call;
use crate::http::{self, Query};

/// The body as an object of the target's kind, with `apiVersion` and `kind` filled in.
pub fn object_body(call: &Call) -> Result<Value, ApiError> {
    let rt = call.target.rt;
    let kind = http::body_type(&call.headers)?;
    let mut obj = http::parse_body(&call.body, kind)?;
    check_kind(rt, &mut obj)?;
    Ok(obj)
}

/// Fills in or checks `apiVersion` and `kind` against the endpoint.
pub fn check_kind(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(format!(
            "the request body must be a {} object",
            rt.kind
        )));
    }
    let want_version = rt.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(want_version),
        Some(v) if v == want_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want_version})"
            )));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(rt.kind),
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )));
        }
    }
    Ok(())
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
