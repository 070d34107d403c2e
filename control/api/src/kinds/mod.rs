//! Per-kind admission: decoding into the typed Kubernetes schema (unknown fields dropped and
//! reported), defaulting and validation, as kube-apiserver's registry strategies do.
//!
//! Each kind implements [`Object`] on its k8s-openapi type; [`ops`] finds the adapter for a
//! resource type. Everything here is pure: no store, no clock except where a default needs it.

mod core;
mod pod;
mod workloads;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{ApiError, Cause};
use crate::meta;
use crate::resources::ResourceType;
use crate::validation::{
    Errors, dns1035_label_error, dns1123_label_error, dns1123_subdomain_error,
};

/// Kind-specific behaviour of a typed object.
pub trait Object: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Fills in defaulted fields, as Kubernetes' defaulting does.
    fn set_defaults(&mut self) {}
    /// Checks a new object (create, or the result of an update).
    fn validate(&self, _errs: &mut Errors) {}
    /// Checks what an update may not change.
    fn validate_update(&self, _old: &Self, _errs: &mut Errors) {}
}

/// The outcome of admitting an object.
#[derive(Debug)]
pub struct Admitted {
    /// The canonical object: decoded, defaulted, re-encoded.
    pub object: Value,
    /// Paths of fields the schema does not have; they were dropped.
    pub unknown_fields: Vec<String>,
}

/// Admission for one kind, independent of its Rust type.
pub trait KindOps: Send + Sync {
    /// Decodes `obj` (with `old`, the stored object, for updates), defaults and validates it.
    fn admit(
        &self,
        rt: &ResourceType,
        obj: Value,
        old: Option<&Value>,
    ) -> Result<Admitted, ApiError>;
}

struct Typed<T>(std::marker::PhantomData<fn() -> T>);

fn decode<T: DeserializeOwned>(rt: &ResourceType, obj: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(obj).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" (at {path})")
        };
        ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {}{at}",
            rt.kind,
            rt.version,
            rt.kind,
            e.inner()
        ))
    })
}

fn encode<T: Serialize>(obj: &T) -> Result<Value, ApiError> {
    serde_json::to_value(obj).map_err(|e| ApiError::internal(format!("encoding object: {e}")))
}

impl<T: Object> KindOps for Typed<T> {
    fn admit(
        &self,
        rt: &ResourceType,
        obj: Value,
        old: Option<&Value>,
    ) -> Result<Admitted, ApiError> {
        let mut typed: T = decode(rt, obj.clone())?;
        // Unknown fields are those decoding dropped; compare before defaulting, which may
        // legitimately remove write-only fields such as a Secret's stringData.
        let mut unknown_fields = Vec::new();
        dropped_fields(&obj, &encode(&typed)?, String::new(), &mut unknown_fields);
        typed.set_defaults();
        let object = encode(&typed)?;
        let mut errs = Errors::default();
        validate_meta(rt, &object, &mut errs);
        typed.validate(&mut errs);
        if let Some(old) = old {
            let old_typed: T = decode(rt, old.clone())?;
            typed.validate_update(&old_typed, &mut errs);
        }
        if !errs.is_empty() {
            let name = meta::name(&object).unwrap_or_default();
            return Err(ApiError::invalid(rt.kind, rt.group, name, errs.causes));
        }
        Ok(Admitted {
            object,
            unknown_fields,
        })
    }
}

/// Fields present (and not null) in `input` but missing from `output`.
fn dropped_fields(input: &Value, output: &Value, path: String, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match o.get(k) {
                    Some(ov) => dropped_fields(v, ov, p, out),
                    None if v.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                dropped_fields(iv, ov, format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

/// Checks the metadata every kind shares: name format, namespace, labels, annotations.
fn validate_meta(rt: &ResourceType, obj: &Value, errs: &mut Errors) {
    match meta::name(obj) {
        None => errs.push(Cause::required("metadata.name")),
        Some(name) => {
            let problem = match rt.kind {
                "Namespace" => dns1123_label_error(name),
                "Service" => dns1035_label_error(name),
                _ => dns1123_subdomain_error(name),
            };
            if let Some(p) = problem {
                errs.invalid("metadata.name", json!(name), p);
            }
        }
    }
    if rt.namespaced && meta::namespace(obj).is_none() {
        errs.required("metadata.namespace");
    }
    let labels = meta::labels(obj);
    errs.labels("metadata.labels", Some(&labels));
    let annotations = meta::annotations(obj);
    errs.annotations("metadata.annotations", Some(&annotations));
}

macro_rules! typed {
    ($t:ty) => {
        &Typed::<$t>(std::marker::PhantomData)
    };
}

use k8s_openapi::api;

/// The admission adapter for a resource type.
pub fn ops(rt: &ResourceType) -> &'static dyn KindOps {
    match (rt.group, rt.kind) {
        ("", "Namespace") => typed!(api::core::v1::Namespace),
        ("", "Pod") => typed!(api::core::v1::Pod),
        ("", "Service") => typed!(api::core::v1::Service),
        ("", "Endpoints") => typed!(api::core::v1::Endpoints),
        ("", "ConfigMap") => typed!(api::core::v1::ConfigMap),
        ("", "Secret") => typed!(api::core::v1::Secret),
        ("", "Node") => typed!(api::core::v1::Node),
        ("", "Event") => typed!(api::core::v1::Event),
        ("", "PersistentVolume") => typed!(api::core::v1::PersistentVolume),
        ("", "PersistentVolumeClaim") => typed!(api::core::v1::PersistentVolumeClaim),
        ("", "ServiceAccount") => typed!(api::core::v1::ServiceAccount),
        ("apps", "Deployment") => typed!(api::apps::v1::Deployment),
        ("apps", "ReplicaSet") => typed!(api::apps::v1::ReplicaSet),
        ("apps", "DaemonSet") => typed!(api::apps::v1::DaemonSet),
        ("apps", "StatefulSet") => typed!(api::apps::v1::StatefulSet),
        ("apps", "ControllerRevision") => typed!(api::apps::v1::ControllerRevision),
        ("batch", "Job") => typed!(api::batch::v1::Job),
        ("batch", "CronJob") => typed!(api::batch::v1::CronJob),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            typed!(api::autoscaling::v2::HorizontalPodAutoscaler)
        }
        ("networking.k8s.io", "Ingress") => typed!(api::networking::v1::Ingress),
        ("discovery.k8s.io", "EndpointSlice") => typed!(api::discovery::v1::EndpointSlice),
        ("coordination.k8s.io", "Lease") => typed!(api::coordination::v1::Lease),
        ("storage.k8s.io", "StorageClass") => typed!(api::storage::v1::StorageClass),
        (group, kind) => unreachable!("no admission for {kind}.{group}: add it to kinds::ops"),
    }
}

/// `field is immutable`, for fields that may not change on update.
pub(crate) fn immutable<T: PartialEq + Serialize>(
    errs: &mut Errors,
    field: &str,
    new: &T,
    old: &T,
) {
    if new != old {
        let value = serde_json::to_value(new).unwrap_or(Value::Null);
        errs.invalid(field, value, "field is immutable");
    }
}

#[cfg(test)]
mod tests;
