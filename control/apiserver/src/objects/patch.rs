//! PATCH: JSON patch, merge patch, strategic merge patch, and server-side apply (which
//! creates the object when it is absent).

use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use skiff_api::error::{ApiError, Cause, go_value};
use skiff_api::patch::{self, PatchType};
use skiff_api::{ResourceType, kinds, meta};

use super::input;
use super::write::{create_object, rv_precondition, update_object};
use crate::app::App;
use crate::dispatch::Call;
use crate::http;

/// The patch type of a request, or 415 naming the accepted ones.
pub fn patch_type(call: &Call) -> Result<PatchType, ApiError> {
    let ct = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    PatchType::from_content_type(ct).ok_or_else(|| {
        ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format ({ct:?}) - accepted media types \
             include: application/json-patch+json, application/merge-patch+json, \
             application/apply-patch+yaml, application/strategic-merge-patch+json"
        ))
    })
}

/// Applies a patch of `ty` to `current`, an object of `kind`.
pub fn apply(ty: PatchType, kind: &str, current: &Value, doc: &Value) -> Result<Value, ApiError> {
    match ty {
        PatchType::Json => patch::json_patch(current, doc),
        PatchType::Merge => Ok(patch::merge_patch(current, doc)),
        // Server-side apply is approximated by merging the applied configuration in with
        // the strategic merge rules; field ownership is not tracked.
        PatchType::Strategic | PatchType::Apply => patch::strategic_merge(kind, current, doc),
    }
}

/// A strategic merge patch whose result does not fit the schema is kube's 422, quoting the
/// patch as Go prints it: `"" is invalid: patch: Invalid value: "map[...]": cannot restore
/// map from string`.
fn check_types(rt: &ResourceType, patched: &Value, doc: &Value) -> Result<(), ApiError> {
    match kinds::ops(rt).type_error(patched) {
        None => Ok(()),
        Some(why) => Err(ApiError::invalid(
            "",
            "",
            "",
            vec![Cause::invalid("patch", &Value::String(go_value(doc)), why)],
        )),
    }
}

pub async fn patch(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let ty = patch_type(call)?;
    let doc = http::parse_body(&call.body, http::body_type(&call.headers)?)?;
    if ty == PatchType::Apply {
        if call.query.get("fieldManager").is_none() {
            return Err(ApiError::bad_request(
                "fieldManager: Required value: is required for apply patch",
            ));
        }
        if app
            .registry
            .get(rt, call.namespace(), call.name())
            .await?
            .is_none()
        {
            let mut obj = doc.clone();
            input::check_kind(rt, &mut obj)?;
            input::check_namespace(rt, &mut obj, call.namespace())?;
            if meta::name(&obj) != Some(call.name()) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({})",
                    meta::name(&obj).unwrap_or_default(),
                    call.name()
                )));
            }
            let (created, warnings) = create_object(app, rt, obj, &call.query).await?;
            return Ok(http::with_warnings(
                http::json_bytes(StatusCode::CREATED, created.to_json()),
                &warnings,
            ));
        }
    }
    let precondition = match ty {
        PatchType::Json => None,
        _ => rv_precondition(&doc)?,
    };
    let (outcome, warnings) = update_object(
        app,
        rt,
        call.namespace(),
        call.name(),
        precondition,
        &call.query,
        |current| {
            let patched = apply(ty, rt.kind, &current.object, &doc)?;
            if ty == PatchType::Strategic {
                check_types(rt, &patched, &doc)?;
            }
            Ok(patched)
        },
    )
    .await?;
    Ok(http::with_warnings(
        http::json_bytes(StatusCode::OK, outcome.to_json()),
        &warnings,
    ))
}
