//! Writes of the status subresource, on the stored bytes: the object's status is read,
//! changed, admitted and written back into the stored JSON in place; the rest of the object
//! (everything a status write keeps) is copied, never parsed. Node agents write status more
//! than anyone writes anything else, so this is the API server's busiest write.

use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::error::ApiError;
use skiff_api::kinds;
use skiff_api::patch::PatchType;

use super::input::{self, dry_run, field_validation};
use super::patch::apply;
use super::write::{check_identity, check_precondition, deleted_by_update};
use crate::app::App;
use crate::http::Query;
use crate::registry::Raw;

/// What a status write asks for.
pub enum StatusWrite<'a> {
    /// PUT: the body's status replaces the status.
    Replace(&'a Value),
    /// PATCH: a patch of the object, of which only the status is kept.
    Patch(PatchType, &'a Value),
}

/// Paths a status write reads from the stored object.
const READ: [&[&str]; 7] = [
    &["status"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "uid"],
    &["metadata", "deletionTimestamp"],
    &["metadata", "deletionGracePeriodSeconds"],
    &["metadata", "finalizers"],
];

/// Writes the status of `name`, retrying on conflict unless `precondition` names the
/// revision the write is for. Returns the object as written (or, in a dry run, as it would
/// be; or its last state, when the write let an object being deleted go) and the warnings
/// for the client.
pub async fn update_status(
    app: &App,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    precondition: Option<i64>,
    query: &Query,
    write: StatusWrite<'_>,
) -> Result<(Vec<u8>, Vec<String>), ApiError> {
    loop {
        let current = app.registry.get_raw(rt, ns, name).await?;
        check_precondition(rt, name, precondition, current.revision)?;
        let stored = current.project(&READ)?;
        let old_status = stored.get("status").cloned();
        let mut new = match write {
            StatusWrite::Replace(body) => body.clone(),
            // A JSON patch may name any path, so it sees the whole object; other patches
            // merge into the status alone, which is all a status write keeps.
            StatusWrite::Patch(ty @ PatchType::Json, body) => {
                apply(ty, rt.kind, &current.parse()?, body)?
            }
            StatusWrite::Patch(ty, body) => {
                let status_only = match &old_status {
                    Some(s) => json!({"status": s}),
                    None => json!({}),
                };
                apply(ty, rt.kind, &status_only, body)?
            }
        };
        input::check_kind(rt, &mut new)?;
        check_identity(rt, &new, &stored, name)?;
        let status = new.as_object_mut().and_then(|o| o.remove("status"));
        let admitted = kinds::ops(rt).admit_status(rt, status)?;
        let warnings = field_validation(query, &admitted.unknown_fields)?;
        if admitted.status == old_status {
            return Ok((current.render()?, warnings));
        }
        let json = match &admitted.status {
            Some(status) => {
                let bytes =
                    serde_json::to_vec(status).map_err(|e| ApiError::internal(e.to_string()))?;
                current.with_fields(&[(&["status"], &bytes)])?
            }
            None => {
                let mut object = current.parse()?;
                if let Some(o) = object.as_object_mut() {
                    o.remove("status");
                    o.get_mut("metadata")
                        .and_then(Value::as_object_mut)
                        .map(|m| m.remove("resourceVersion"));
                }
                serde_json::to_vec(&object).map_err(|e| ApiError::internal(e.to_string()))?
            }
        };
        if dry_run(query)? {
            let unsaved = Raw {
                json: json.into(),
                ..current
            };
            return Ok((unsaved.render()?, warnings));
        }
        if deleted_by_update(&stored, &stored) {
            match app
                .registry
                .delete(rt, ns, name, Some(current.revision))
                .await
            {
                Ok(last) => return Ok((last.to_json(), warnings)),
                Err(e) if e.code == 409 && precondition.is_none() => continue,
                Err(e) => return Err(e),
            }
        }
        match app.registry.replace_raw(rt, &current, name, json).await {
            Ok(written) => return Ok((written.render()?, warnings)),
            Err(e) if e.code == 409 && precondition.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
}
