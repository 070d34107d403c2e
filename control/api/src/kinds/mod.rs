//! Per-kind admission: decoding into the typed Kubernetes schema (unknown fields dropped and
//! reported), defaulting and validation, as kube-apiserver's registry strategies do.
//!
//! Each kind implements [`Object`] on its k8s-openapi type; [`ops`] finds the adapter for a
//! resource type. Everything here is pure: no store, no clock except where a default needs it.

mod core;
mod pod;
pub mod scheduling;
mod workloads;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

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
    /// Top-level fields accepted on write but never stored (defaulting folds them away).
    fn write_only() -> &'static [&'static str] {
        &[]
    }
    /// Fields kube-apiserver writes as `null` when unset (Go's zero `metav1.Time`, a nil
    /// pointer without `omitempty`), which the typed model would leave out. Each path is
    /// filled in when its grandparent exists (the parent is created if missing).
    fn null_fields() -> &'static [&'static [&'static str]] {
        &[]
    }
}

/// Writes `null` at each of `paths` that is absent (see [`Object::null_fields`]).
fn fill_nulls(obj: &mut Value, paths: &[&[&str]]) {
    for path in paths {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        if let Some(parent) = parent_of(obj, parents) {
            parent.entry(*last).or_insert(Value::Null);
        }
    }
}

/// The object at `path`, created if only its last step is missing.
fn parent_of<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let Some((last, above)) = path.split_last() else {
        return obj.as_object_mut();
    };
    let mut at = obj;
    for key in above {
        at = at.get_mut(*key)?;
    }
    at.as_object_mut()?
        .entry(*last)
        .or_insert_with(|| json!({}))
        .as_object_mut()
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

    /// Admits a write of the status subresource: `status` (none: removed) is to replace the
    /// status of an admitted object, and everything else of it stands. Only the status is
    /// decoded, defaulted and checked against the schema: the rest was admitted already, and
    /// the checks of what an update may change concern the rest.
    fn admit_status(
        &self,
        rt: &ResourceType,
        status: Option<Value>,
    ) -> Result<AdmittedStatus, ApiError>;

    /// Why `obj` does not fit the kind's schema, worded as kube's unstructured converter
    /// words it when a patched object does not decode (`cannot restore map from string`);
    /// `None` if it fits.
    fn type_error(&self, obj: &Value) -> Option<String>;
}

/// The outcome of admitting a status write.
#[derive(Debug)]
pub struct AdmittedStatus {
    /// The canonical status (decoded, defaulted, re-encoded); `None`: the object has none.
    pub status: Option<Value>,
    /// Paths of fields the schema does not have; they were dropped.
    pub unknown_fields: Vec<String>,
}

struct Typed<T>(std::marker::PhantomData<fn() -> T>);

/// Decodes `obj` as `T`. On failure, decodes again tracking the path, to say where.
fn decode<T: DeserializeOwned>(rt: &ResourceType, obj: &Value) -> Result<T, ApiError> {
    if let Ok(t) = T::deserialize(obj) {
        return Ok(t);
    }
    let err = match serde_path_to_error::deserialize::<_, T>(obj) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let path = err.path().to_string();
    let at = if path == "." {
        String::new()
    } else {
        format!(" (at {path})")
    };
    Err(ApiError::bad_request(format!(
        "{} in version {:?} cannot be handled as a {}: {}{at}",
        rt.kind,
        rt.version,
        rt.kind,
        err.inner()
    )))
}

/// A step of a field path.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `spec.containers[0].name`.
fn render(path: &[Step], last: &str) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(last);
    out
}

/// Fields present (and not null) in `input` but not in `output`: the ones the schema does
/// not have, since decoding dropped them. Paths are built only for those.
fn find_unknown<'a>(
    input: &'a Value,
    output: &Value,
    path: &mut Vec<Step<'a>>,
    out: &mut Vec<String>,
) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                match o.get(k) {
                    Some(ov) => {
                        path.push(Step::Key(k));
                        find_unknown(v, ov, path, out);
                        path.pop();
                    }
                    None if v.is_null() => {}
                    None => out.push(render(path, k)),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                path.push(Step::Index(n));
                find_unknown(iv, ov, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn encode<T: Serialize>(obj: &T) -> Result<Value, ApiError> {
    serde_json::to_value(obj).map_err(|e| ApiError::internal(format!("encoding object: {e}")))
}

/// The reflect kind Go gives a decoded JSON value (`int64` for integers, as kube decodes).
fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// The value at a serde path (`metadata.labels`, `spec.containers[0]`) in `obj`.
fn at_path<'a>(obj: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(obj, |at, seg| match seg {
        Segment::Seq { index } => at.get(*index),
        Segment::Map { key } => at.get(key.as_str()),
        Segment::Enum { .. } | Segment::Unknown => Some(at),
    })
}

impl<T: Object> KindOps for Typed<T> {
    fn type_error(&self, obj: &Value) -> Option<String> {
        let err = serde_path_to_error::deserialize::<_, T>(obj).err()?;
        let message = err.inner().to_string();
        let found = at_path(obj, err.path()).map_or("invalid", go_kind);
        let expected = message.rsplit_once(", expected ").map(|(_, e)| e);
        Some(match expected {
            Some("a map") => format!("cannot restore map from {found}"),
            Some("a sequence") => format!("cannot restore slice from {found}"),
            // k8s-openapi expects a struct by its type name.
            Some(e) if e.starts_with(|c: char| c.is_ascii_uppercase()) => {
                format!("cannot restore struct from: {found}")
            }
            _ => message,
        })
    }

    fn admit(
        &self,
        rt: &ResourceType,
        obj: Value,
        old: Option<&Value>,
    ) -> Result<Admitted, ApiError> {
        let mut typed: T = decode(rt, &obj)?;
        typed.set_defaults();
        let mut object = encode(&typed)?;
        fill_nulls(&mut object, T::null_fields());
        let mut unknown_fields = Vec::new();
        let mut input = obj;
        if let Some(o) = input.as_object_mut() {
            for field in T::write_only() {
                o.remove(*field);
            }
        }
        find_unknown(&input, &object, &mut Vec::new(), &mut unknown_fields);
        let mut errs = Errors::default();
        validate_meta(rt, &object, &mut errs);
        typed.validate(&mut errs);
        if let Some(old) = old {
            let old_typed: T = decode(rt, old)?;
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

    fn admit_status(
        &self,
        rt: &ResourceType,
        status: Option<Value>,
    ) -> Result<AdmittedStatus, ApiError> {
        let mut input = serde_json::Map::new();
        input.insert("apiVersion".into(), Value::String(rt.api_version()));
        input.insert("kind".into(), Value::String(rt.kind.into()));
        if let Some(s) = status {
            input.insert("status".into(), s);
        }
        let input = Value::Object(input);
        let mut typed: T = decode(rt, &input)?;
        typed.set_defaults();
        let mut output = encode(&typed)?;
        let mut unknown_fields = Vec::new();
        find_unknown(&input, &output, &mut Vec::new(), &mut unknown_fields);
        Ok(AdmittedStatus {
            status: output.as_object_mut().and_then(|out| out.remove("status")),
            unknown_fields,
        })
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
                // `<version>.<group>`, checked by the kind (`v1.` for the core group).
                "APIService" => None,
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
        ("scheduling.k8s.io", "PriorityClass") => typed!(api::scheduling::v1::PriorityClass),
        ("", "PodTemplate") => typed!(api::core::v1::PodTemplate),
        ("apiregistration.k8s.io", "APIService") => {
            typed!(k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService)
        }
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
