//! create, update, delete and deletecollection, and the update loop patch and
//! subresources share.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::error::ApiError;
use skiff_api::error::{Status, StatusDetails};
use skiff_api::kinds;
use skiff_api::meta;
use skiff_api::resources::{CreateStatus, DeleteReply, Subresource};

use super::input::{self, dry_run, field_validation};
use super::read::{Filter, collect};
use crate::app::App;
use crate::dispatch::Call;
use crate::http::{self, Query};
use crate::registry::Stored;
use crate::{namespaces, priority, services};

const GENERATE_NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generated_name(prefix: &str) -> String {
    let mut suffix = [0u8; 5];
    rand::fill(&mut suffix);
    let suffix: String = suffix
        .iter()
        .map(|b| GENERATE_NAME_CHARS[*b as usize % GENERATE_NAME_CHARS.len()] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// Server-owned metadata of a new object.
fn prepare_create(rt: &ResourceType, obj: &mut Value) {
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    ] {
        meta::remove(obj, field);
    }
    meta::set(obj, "uid", json!(uuid::Uuid::new_v4().to_string()));
    meta::set(obj, "creationTimestamp", json!(skiff_api::time::now()));
    if rt.tracks_generation {
        meta::set(obj, "generation", json!(1));
    } else {
        meta::remove(obj, "generation");
    }
    if rt.has(Subresource::Status)
        && rt.create_status == CreateStatus::Reset
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
}

pub async fn create(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let mut obj = input::object_body(call)?;
    input::check_namespace(rt, &mut obj, call.namespace())?;
    let (created, warnings) = create_object(app, rt, obj, &call.query).await?;
    Ok(http::with_warnings(
        http::json_bytes(StatusCode::CREATED, created.to_json()),
        &warnings,
    ))
}

/// Creates `obj` (its namespace already set): defaults, validation, allocations, store.
pub async fn create_object(
    app: &App,
    rt: &ResourceType,
    obj: Value,
    query: &Query,
) -> Result<(Stored, Vec<String>), ApiError> {
    if rt.namespaced {
        namespaces::ensure_active(app, meta::namespace(&obj).unwrap_or_default()).await?;
    }
    let mut obj = obj;
    match (rt.group, rt.kind) {
        ("", "Pod") => priority::admit_pod(app, &mut obj).await?,
        ("scheduling.k8s.io", "PriorityClass") => priority::check_single_default(app, &obj).await?,
        _ => {}
    }
    let generate = meta::name(&obj)
        .is_none()
        .then(|| meta::str_field(&obj, "generateName").map(str::to_owned))
        .flatten();
    let mut attempts = 0;
    loop {
        // Only a generated name is ever retried: otherwise the object is used up at once.
        let mut candidate = match &generate {
            Some(_) => obj.clone(),
            None => std::mem::take(&mut obj),
        };
        if let Some(prefix) = &generate {
            meta::set(&mut candidate, "name", json!(generated_name(prefix)));
        }
        prepare_create(rt, &mut candidate);
        let admitted = kinds::ops(rt).admit(rt, candidate, None)?;
        let warnings = field_validation(query, &admitted.unknown_fields)?;
        let mut object = admitted.object;
        if dry_run(query)? {
            return Ok((Stored::unsaved(object), warnings));
        }
        let allocation = services::allocate(app, rt, &mut object, None).await?;
        match app.registry.create(rt, object).await {
            Ok(stored) => return Ok((stored, warnings)),
            Err(e) => {
                allocation.release(app).await;
                attempts += 1;
                if e.code == 409 && generate.is_some() && attempts < 3 {
                    continue;
                }
                return Err(e);
            }
        }
    }
}

/// Carries what the client may not change from `old` into `new`.
fn prepare_update(rt: &ResourceType, new: &mut Value, old: &Value) {
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old.pointer(&format!("/metadata/{field}")) {
            Some(v) => meta::set(new, field, v.clone()),
            None => meta::remove(new, field),
        }
    }
    meta::remove(new, "managedFields");
    meta::remove(new, "selfLink");
    if rt.has(Subresource::Status)
        && let Some(o) = new.as_object_mut()
    {
        match old.get("status") {
            Some(s) => {
                o.insert("status".into(), s.clone());
            }
            None => {
                o.remove("status");
            }
        }
    }
    if rt.kind == "Service" {
        services::carry_over(new, old);
    }
}

/// What an update did.
#[derive(Debug)]
pub enum UpdateOutcome {
    Updated(Stored),
    /// Nothing changed; the stored object is returned as it was.
    Unchanged(Stored),
    /// The update removed the last finalizer of an object being deleted: it is gone.
    Deleted(Stored),
}

impl UpdateOutcome {
    fn stored(&self) -> &Stored {
        match self {
            UpdateOutcome::Updated(s) | UpdateOutcome::Unchanged(s) | UpdateOutcome::Deleted(s) => {
                s
            }
        }
    }

    pub fn object(&self) -> &Value {
        &self.stored().object
    }

    /// The object's JSON for the response.
    pub fn to_json(&self) -> Vec<u8> {
        self.stored().to_json()
    }
}

/// Read-modify-write of one object. `change` builds the desired object from the current
/// one; the result is prepared, admitted and stored if it differs. With `precondition` (a
/// resourceVersion), a concurrent change is a Conflict; without, it is retried.
#[allow(clippy::too_many_arguments)]
pub async fn update_object<F>(
    app: &App,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    precondition: Option<i64>,
    query: &Query,
    mut change: F,
) -> Result<(UpdateOutcome, Vec<String>), ApiError>
where
    F: FnMut(&Stored) -> Result<Value, ApiError>,
{
    loop {
        let current = app.registry.must_get(rt, ns, name).await?;
        check_precondition(rt, name, precondition, current.revision)?;
        let mut new = change(&current)?;
        input::check_kind(rt, &mut new)?;
        if rt.kind == "PriorityClass" {
            priority::check_single_default(app, &new).await?;
        }
        check_identity(rt, &new, &current.object, name)?;
        prepare_update(rt, &mut new, &current.object);
        let admitted = kinds::ops(rt).admit(rt, new, Some(&current.object))?;
        let warnings = field_validation(query, &admitted.unknown_fields)?;
        let mut new = admitted.object;
        if rt.tracks_generation {
            let old_gen = meta::generation(&current.object);
            let changed = !meta::same_spec(&new, &current.object);
            meta::set(
                &mut new,
                "generation",
                json!(if changed { old_gen + 1 } else { old_gen.max(1) }),
            );
        }
        if meta::same_but_resource_version(&new, &current.object) {
            return Ok((UpdateOutcome::Unchanged(current), warnings));
        }
        if dry_run(query)? {
            return Ok((UpdateOutcome::Updated(Stored::unsaved(new)), warnings));
        }
        if deleted_by_update(&current.object, &new) {
            match app
                .registry
                .delete(rt, ns, name, Some(current.revision))
                .await
            {
                Ok(last) => {
                    services::release_all(app, rt, &last.object).await;
                    return Ok((UpdateOutcome::Deleted(last), warnings));
                }
                Err(e) if e.code == 409 && precondition.is_none() => continue,
                Err(e) => return Err(e),
            }
        }
        let allocation = services::allocate(app, rt, &mut new, Some(&current.object)).await?;
        match app.registry.update(rt, new, current.revision).await {
            Ok(stored) => {
                services::release_unused(app, rt, &current.object, &stored.object).await;
                return Ok((UpdateOutcome::Updated(stored), warnings));
            }
            Err(e) => {
                allocation.release(app).await;
                if e.code == 409 && precondition.is_none() {
                    continue;
                }
                return Err(e);
            }
        }
    }
}

/// An update for revision `precondition` fails when the object is at another.
pub(super) fn check_precondition(
    rt: &ResourceType,
    name: &str,
    precondition: Option<i64>,
    revision: i64,
) -> Result<(), ApiError> {
    match precondition {
        Some(rv) if rv != revision => Err(ApiError::conflict(
            rt.plural,
            rt.group,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )),
        _ => Ok(()),
    }
}

/// Whether an update that turned `old` into `new` removes the object, as Kubernetes does
/// when it leaves an object being deleted without finalizers, unless the object is still
/// in its grace period (a pod its node has not yet confirmed stopped).
pub(super) fn deleted_by_update(old: &Value, new: &Value) -> bool {
    meta::deletion_timestamp(old).is_some()
        && meta::finalizers(new).is_empty()
        && old
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
}

/// The body may not rename, move or replace the object.
pub(super) fn check_identity(
    rt: &ResourceType,
    new: &Value,
    old: &Value,
    url_name: &str,
) -> Result<(), ApiError> {
    if let Some(n) = meta::name(new)
        && n != url_name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({url_name})"
        )));
    }
    if rt.namespaced
        && let (Some(a), Some(b)) = (meta::namespace(new), meta::namespace(old))
        && a != b
    {
        return Err(ApiError::bad_request(format!(
            "the namespace of the object ({a}) does not match the namespace on the URL ({b})"
        )));
    }
    if let (Some(a), Some(b)) = (meta::uid(new), meta::uid(old))
        && a != b
    {
        return Err(ApiError::conflict(
            rt.plural,
            rt.group,
            url_name,
            &format!("Precondition failed: UID in precondition: {a}, UID in object meta: {b}"),
        ));
    }
    Ok(())
}

/// The resourceVersion a body names, as a precondition. None, empty or `"0"` asks for an
/// unconditional update, as kube-apiserver allows for every built-in kind.
pub fn rv_precondition(obj: &Value) -> Result<Option<i64>, ApiError> {
    let rv = meta::resource_version(obj)
        .map(|rv| {
            rv.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("metadata.resourceVersion: invalid value {rv:?}"))
            })
        })
        .transpose()?;
    Ok(rv.filter(|rv| *rv != 0))
}

pub async fn update(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let mut body = input::object_body(call)?;
    input::check_namespace(rt, &mut body, call.namespace())?;
    if meta::name(&body).is_none() {
        meta::set(&mut body, "name", json!(call.name()));
    }
    let precondition = rv_precondition(&body)?;
    let (outcome, warnings) = update_object(
        app,
        rt,
        call.namespace(),
        call.name(),
        precondition,
        &call.query,
        |_| Ok(body.clone()),
    )
    .await?;
    Ok(http::with_warnings(
        http::json_bytes(StatusCode::OK, outcome.to_json()),
        &warnings,
    ))
}

/// How a delete request wants the deletion done.
#[derive(Debug, Default)]
pub struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<i64>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn parse(call: &Call) -> Result<Self, ApiError> {
        let body: Value = if call.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            http::parse_body(&call.body, http::BodyType::Json)?
        };
        let q = &call.query;
        let policy = body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .or_else(|| q.get("propagationPolicy"));
        if let Some(p) = policy
            && !["Orphan", "Background", "Foreground"].contains(&p)
        {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        let grace_period = match body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            Some(g) => Some(g),
            None => q.int("gracePeriodSeconds")?,
        };
        let dry_run = body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"))
            || dry_run(q)?;
        let resource_version = body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(|rv| {
                rv.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "preconditions.resourceVersion: invalid value {rv:?}"
                    ))
                })
            })
            .transpose()?;
        Ok(DeleteOptions {
            grace_period,
            uid: body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_owned),
            resource_version,
            dry_run,
        })
    }
}

/// What a delete did.
#[derive(Debug)]
pub enum Deletion {
    /// Removed from the store: its last state.
    Gone(Value),
    /// Marked for deletion (finalizers or a graceful pod shutdown); still present.
    Pending(Value),
}

/// Deletes one object, honouring preconditions, finalizers and graceful pod deletion.
pub async fn delete_object(
    app: &App,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deletion, ApiError> {
    if rt.kind == "Namespace" {
        namespaces::check_deletable(name)?;
    }
    loop {
        let current = app.registry.must_get(rt, ns, name).await?;
        if let Some(uid) = &opts.uid
            && meta::uid(&current.object) != Some(uid.as_str())
        {
            return Err(ApiError::conflict(
                rt.plural,
                rt.group,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&current.object).unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = opts.resource_version
            && rv != current.revision
        {
            return Err(ApiError::conflict(
                rt.plural,
                rt.group,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    current.revision
                ),
            ));
        }
        if rt.kind == "Namespace" {
            return namespaces::begin_termination(app, current, opts.dry_run).await;
        }
        let scheduled_pod = rt.kind == "Pod"
            && current
                .object
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
        let grace = opts.grace_period.unwrap_or_else(|| {
            current
                .object
                .pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30)
        });
        let graceful = scheduled_pod && grace > 0;
        if graceful || !meta::finalizers(&current.object).is_empty() {
            if meta::deletion_timestamp(&current.object).is_some() {
                return Ok(Deletion::Pending(current.object));
            }
            let mut marked = current.object.clone();
            meta::set(
                &mut marked,
                "deletionTimestamp",
                json!(skiff_api::time::now()),
            );
            meta::set(
                &mut marked,
                "deletionGracePeriodSeconds",
                json!(if graceful { grace } else { 0 }),
            );
            if opts.dry_run {
                return Ok(Deletion::Pending(marked));
            }
            match app.registry.update(rt, marked, current.revision).await {
                Ok(s) => return Ok(Deletion::Pending(s.object)),
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        if opts.dry_run {
            return Ok(Deletion::Gone(current.object));
        }
        match app
            .registry
            .delete(rt, ns, name, Some(current.revision))
            .await
        {
            Ok(last) => {
                services::release_all(app, rt, &last.object).await;
                return Ok(Deletion::Gone(last.object));
            }
            Err(e) if e.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The Status a completed deletion answers with, for kinds that do not return the object.
fn deleted_status(rt: &ResourceType, obj: &Value) -> Status {
    let details = StatusDetails {
        uid: meta::uid(obj).unwrap_or_default().to_owned(),
        ..StatusDetails::of(meta::name(obj).unwrap_or_default(), rt.group, rt.plural)
    };
    Status::success(Some(details), 0)
}

pub async fn delete(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let opts = DeleteOptions::parse(call)?;
    match delete_object(app, rt, call.namespace(), call.name(), &opts).await? {
        Deletion::Gone(last) if rt.delete_reply == DeleteReply::Status => {
            Ok(http::status(StatusCode::OK, &deleted_status(rt, &last)))
        }
        // Still being deleted (finalizers, a grace period), or a kind whose delete returns
        // the object: the object, as kube-apiserver answers.
        Deletion::Gone(obj) | Deletion::Pending(obj) => Ok(http::json(StatusCode::OK, &obj)),
    }
}

pub async fn delete_collection(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let opts = DeleteOptions::parse(call)?;
    let filter = Filter::from_query(rt, &call.query)?;
    let (items, revision, _) = collect(app, call, &filter).await?;
    // kube answers with the list as it was listed, whatever each delete did.
    let mut listed = Vec::new();
    for item in items {
        let object = item.parse()?;
        let name = meta::name(&object).unwrap_or_default().to_owned();
        let ns = meta::namespace(&object).map(str::to_owned);
        match delete_object(app, rt, ns.as_deref(), &name, &opts).await {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        listed.push(object);
    }
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "kind": rt.list_kind(),
            "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": revision.to_string()},
            "items": listed,
        }),
    ))
}
