//! Subresources: status, scale, binding (the scheduler's write), log, eviction, finalize.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::error::{ApiError, Status};
use skiff_api::meta;
use skiff_api::resources::Subresource;
use skiff_api::selector::Selector;

use crate::app::App;
use crate::dispatch::Call;
use crate::http;
use crate::objects::patch::{apply, patch_type};
use crate::objects::status::{StatusWrite, update_status};
use crate::objects::update_object;
use crate::objects::write::{DeleteOptions, delete_object, rv_precondition};

fn not_allowed(method: &Method, rt: &ResourceType, sub: Subresource) -> ApiError {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource ({method} {}/{})",
        rt.plural,
        sub.name()
    ))
}

pub async fn handle(
    app: &App,
    method: &Method,
    sub: Subresource,
    call: &Call,
) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    match (sub, method) {
        (Subresource::Status, &Method::GET) => {
            let s = app
                .registry
                .must_get(rt, call.namespace(), call.name())
                .await?;
            Ok(http::json_bytes(StatusCode::OK, s.to_json()))
        }
        (Subresource::Status, &Method::PUT | &Method::PATCH) => status(app, method, call).await,
        (Subresource::Scale, &Method::GET) => {
            let s = app
                .registry
                .must_get(rt, call.namespace(), call.name())
                .await?;
            Ok(http::json(StatusCode::OK, &scale_of(&s.object)))
        }
        (Subresource::Scale, &Method::PUT | &Method::PATCH) => scale(app, method, call).await,
        (Subresource::Binding, &Method::POST) => binding(app, call).await,
        (Subresource::Log, &Method::GET) => log(app, call).await,
        (Subresource::Eviction, &Method::POST) => eviction(app, call).await,
        (Subresource::Finalize, &Method::PUT) => finalize(app, call).await,
        (s, _) if s.is_streaming() => streaming(app, method, s, call).await,
        _ => Err(not_allowed(method, rt, sub)),
    }
}

async fn status(app: &App, method: &Method, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let body = http::parse_body(&call.body, http::body_type(&call.headers)?)?;
    let write = if method == Method::PATCH {
        StatusWrite::Patch(patch_type(call)?, &body)
    } else {
        StatusWrite::Replace(&body)
    };
    let precondition = match write {
        StatusWrite::Patch(skiff_api::patch::PatchType::Json, _) => None,
        _ => rv_precondition(&body)?,
    };
    let (json, warnings) = update_status(
        app,
        rt,
        call.namespace(),
        call.name(),
        precondition,
        &call.query,
        write,
    )
    .await?;
    Ok(http::with_warnings(
        http::json_bytes(StatusCode::OK, json),
        &warnings,
    ))
}

/// The autoscaling/v1 Scale of a workload.
fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| Selector::from_label_selector(s).ok())
        .map(|s| s.to_query())
        .unwrap_or_default();
    let mut metadata = json!({});
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = obj.pointer(&format!("/metadata/{f}")) {
            metadata[f] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

async fn scale(app: &App, method: &Method, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let body = http::parse_body(&call.body, http::body_type(&call.headers)?)?;
    let ty = if method == Method::PATCH {
        Some(patch_type(call)?)
    } else {
        None
    };
    let precondition = match ty {
        Some(skiff_api::patch::PatchType::Json) => None,
        _ => rv_precondition(&body)?,
    };
    let (outcome, warnings) = update_object(
        app,
        rt,
        call.namespace(),
        call.name(),
        precondition,
        &call.query,
        |current| {
            let desired = match ty {
                Some(ty) => apply(ty, "Scale", &scale_of(&current.object), &body)?,
                None => body.clone(),
            };
            let replicas = desired
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Scale",
                        "autoscaling",
                        call.name(),
                        vec![skiff_api::Cause::required("spec.replicas")],
                    )
                })?;
            if replicas < 0 {
                return Err(ApiError::invalid(
                    "Scale",
                    "autoscaling",
                    call.name(),
                    vec![skiff_api::Cause::invalid(
                        "spec.replicas",
                        &json!(replicas),
                        "must be greater than or equal to 0",
                    )],
                ));
            }
            let mut obj = current.object.clone();
            obj["spec"]["replicas"] = json!(replicas);
            Ok(obj)
        },
    )
    .await?;
    Ok(http::with_warnings(
        http::json(StatusCode::OK, &scale_of(outcome.object())),
        &warnings,
    ))
}

/// `pods/binding`: assigns a pending pod to a node, once.
async fn binding(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let body = http::parse_body(&call.body, http::body_type(&call.headers)?)?;
    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "Binding",
                "",
                call.name(),
                vec![skiff_api::Cause::required("target.name")],
            )
        })?
        .to_owned();
    let node = serde_json::to_vec(&node).map_err(|e| ApiError::internal(e.to_string()))?;
    loop {
        // On the stored bytes: only the fields binding reads or writes are parsed.
        let current = app
            .registry
            .get_raw(rt, call.namespace(), call.name())
            .await?;
        let stored = current.project(&[
            &["metadata", "deletionTimestamp"],
            &["spec", "nodeName"],
            &["status"],
        ])?;
        if meta::deletion_timestamp(&stored).is_some() {
            return Err(ApiError::conflict(
                rt.plural,
                rt.group,
                call.name(),
                "pod is being deleted, cannot be assigned to a host",
            ));
        }
        if let Some(on) = stored
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(ApiError::conflict(
                rt.plural,
                rt.group,
                call.name(),
                &format!("pod {} is already assigned to node {on:?}", call.name()),
            ));
        }
        let mut status = json!({});
        if let Some(s) = stored.get("status") {
            status["status"] = s.clone();
        }
        set_condition(&mut status, "PodScheduled", "True", None);
        let status =
            serde_json::to_vec(&status["status"]).map_err(|e| ApiError::internal(e.to_string()))?;
        let bound =
            current.with_fields(&[(&["spec", "nodeName"], &node), (&["status"], &status)])?;
        match app
            .registry
            .replace_raw(rt, &current, call.name(), bound)
            .await
        {
            Ok(_) => {
                return Ok(http::status(
                    StatusCode::CREATED,
                    &Status::success(None, 201),
                ));
            }
            Err(e) if e.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sets (or replaces) a condition in `status.conditions`.
pub fn set_condition(obj: &mut Value, kind: &str, status: &str, reason: Option<&str>) {
    let now = skiff_api::time::now();
    let mut cond =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        cond["reason"] = json!(r);
    }
    if !obj.get("status").is_some_and(Value::is_object) {
        obj["status"] = json!({});
    }
    let conditions = obj["status"]
        .as_object_mut()
        .expect("status is an object")
        .entry("conditions")
        .or_insert_with(|| json!([]));
    if let Some(list) = conditions.as_array_mut() {
        match list.iter_mut().find(|c| c["type"] == kind) {
            Some(existing) if existing["status"] == status => {}
            Some(existing) => *existing = cond,
            None => list.push(cond),
        }
    }
}

/// The pod a per-container subresource names, and the container: the one asked for
/// (`?container=`), or the only one; kube's messages otherwise.
async fn pod_container(app: &App, call: &Call) -> Result<(Value, String), ApiError> {
    let rt = call.target.rt;
    let pod = app
        .registry
        .must_get(rt, call.namespace(), call.name())
        .await?
        .object;
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let container = match call.query.get("container") {
        Some(c) if containers.iter().any(|n| n == c) => c.to_owned(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {}",
                call.name()
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {}, choose one of: [{}]",
                call.name(),
                containers.join(" ")
            )));
        }
    };
    Ok((pod, container))
}

/// The node a pod runs on; a pod not yet scheduled is kube's 400.
fn pod_node<'a>(pod: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("pod {name} does not have a host assigned")))
}

/// 503 for what only a node agent can serve, while none serves `node`.
fn no_agent(node: &str, what: &str) -> ApiError {
    ApiError::unavailable(format!(
        "no node agent is serving node {node:?}, so {what} is not available"
    ))
}

async fn log(app: &App, call: &Call) -> Result<Response, ApiError> {
    let (pod, container) = pod_container(app, call).await?;
    match pod_node(&pod, call.name()) {
        Err(_) => Err(ApiError::bad_request(format!(
            "pod {} does not have a host assigned: container {container:?} has not started, so it has no logs yet",
            call.name()
        ))),
        Ok(node) => Err(no_agent(
            node,
            &format!("the logs of container {container:?} in pod {}", call.name()),
        )),
    }
}

/// `pods/exec`, `pods/attach`, `pods/portforward`, and the `proxy` subresources: checked as
/// kube-apiserver checks them (the object, its container, its node), then refused with 503
/// until a node agent serves streams.
async fn streaming(
    app: &App,
    method: &Method,
    sub: Subresource,
    call: &Call,
) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let connect_only = sub != Subresource::Proxy;
    if connect_only && method != Method::GET && method != Method::POST {
        return Err(not_allowed(method, rt, sub));
    }
    let name = call.name();
    match (rt.kind, sub) {
        ("Pod", Subresource::Exec | Subresource::Attach) => {
            let (pod, container) = pod_container(app, call).await?;
            let node = pod_node(&pod, name)?;
            let verb = if sub == Subresource::Exec {
                "exec into"
            } else {
                "attaching to"
            };
            Err(no_agent(
                node,
                &format!("{verb} container {container:?} of pod {name}"),
            ))
        }
        ("Pod", _) => {
            let pod = app.registry.must_get(rt, call.namespace(), name).await?;
            let node = pod_node(&pod.object, name)?;
            let what = if sub == Subresource::PortForward {
                "port forwarding to"
            } else {
                "proxying to"
            };
            Err(no_agent(node, &format!("{what} pod {name}")))
        }
        ("Node", _) => {
            app.registry.must_get(rt, None, name).await?;
            Err(no_agent(name, &format!("proxying to node {name}")))
        }
        _ => {
            app.registry.must_get(rt, call.namespace(), name).await?;
            Err(ApiError::unavailable(format!(
                "proxying to {} {name:?} is not available: the API server does not proxy yet",
                rt.plural
            )))
        }
    }
}

async fn eviction(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let body = http::parse_body(&call.body, http::body_type(&call.headers)?)?;
    let opts = DeleteOptions {
        grace_period: body
            .pointer("/deleteOptions/gracePeriodSeconds")
            .and_then(Value::as_i64),
        ..Default::default()
    };
    delete_object(app, rt, call.namespace(), call.name(), &opts).await?;
    // kube's eviction answers a bare Success, with the code of a create.
    Ok(http::status(
        StatusCode::CREATED,
        &Status::success(None, 201),
    ))
}

/// `namespaces/{name}/finalize`: replaces `spec.finalizers`.
async fn finalize(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let body = http::parse_body(&call.body, http::body_type(&call.headers)?)?;
    let finalizers = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    let (outcome, _) = update_object(app, rt, None, call.name(), None, &call.query, |current| {
        let mut obj = current.object.clone();
        obj["spec"]["finalizers"] = finalizers.clone();
        Ok(obj)
    })
    .await?;
    Ok(http::json_bytes(StatusCode::OK, outcome.to_json()))
}
