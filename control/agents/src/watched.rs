//! Watched pods, decoded lazily. The agents see every pod change in the cluster, and most
//! of them (a status update, a binding they made themselves) need only the pod's identity,
//! node and phase. Those fields are read on arrival; the whole pod is decoded only when an
//! agent acts on it.

use anyhow::{Context, Result};
use bytes::Bytes;
use k8s_openapi::api::core::v1 as core;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use skiff_api::sparse::{self, Malformed};

/// A pod from a list or watch: its summary, and the JSON to decode the rest from.
#[derive(Debug)]
pub struct WatchedPod {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub deleting: bool,
    /// `spec.nodeName`, when set and not empty.
    pub node_name: Option<String>,
    pub phase: Option<String>,
    json: Bytes,
}

impl<'de> Deserialize<'de> for WatchedPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = Box::<RawValue>::deserialize(d)?;
        let json = Bytes::from(String::from(Box::<str>::from(json)));
        WatchedPod::from_json(json).map_err(serde::de::Error::custom)
    }
}

impl WatchedPod {
    /// Reads the summary out of a pod's JSON, stepping over the rest (see
    /// [`skiff_api::sparse`]), and keeps the JSON for [`WatchedPod::decode`].
    pub fn from_json(json: Bytes) -> Result<Self, Malformed> {
        const FIELDS: [&[&str]; 7] = [
            &["metadata", "namespace"],
            &["metadata", "name"],
            &["metadata", "uid"],
            &["metadata", "resourceVersion"],
            &["metadata", "deletionTimestamp"],
            &["spec", "nodeName"],
            &["status", "phase"],
        ];
        let [namespace, name, uid, rv, deletion, node, phase] =
            <[Option<&[u8]>; 7]>::try_from(sparse::find_all(&json, &FIELDS)?)
                .expect("one value per field");
        Ok(WatchedPod {
            namespace: sparse::string(namespace)?.unwrap_or_else(|| "default".into()),
            name: sparse::string(name)?.unwrap_or_default(),
            uid: sparse::string(uid)?,
            resource_version: sparse::string(rv)?,
            deleting: deletion.is_some_and(|v| v != b"null"),
            node_name: sparse::string(node)?.filter(|n| !n.is_empty()),
            phase: sparse::string(phase)?,
            json,
        })
    }

    /// The whole pod.
    pub fn decode(&self) -> Result<core::Pod> {
        serde_json::from_slice(&self.json)
            .with_context(|| format!("decoding pod {}/{}", self.namespace, self.name))
    }

    /// The value at `path` (object keys from the root), decoded alone.
    pub fn field<T: serde::de::DeserializeOwned>(&self, path: &[&str]) -> Result<Option<T>> {
        let Some(bytes) = sparse::find(&self.json, path)? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice(bytes).with_context(|| {
            format!(
                "decoding {} of pod {}/{}",
                path.join("."),
                self.namespace,
                self.name
            )
        })?))
    }

    /// Whether the pod has finished: it no longer holds resources on its node.
    pub fn finished(&self) -> bool {
        matches!(self.phase.as_deref(), Some("Succeeded" | "Failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_full_decode_agree() {
        let json = r#"{"apiVersion":"v1","kind":"Pod",
            "metadata":{"name":"web","namespace":"prod","uid":"u1","resourceVersion":"42",
                        "deletionTimestamp":"2026-01-01T00:00:00Z","labels":{"app":"web"}},
            "spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx"}]},
            "status":{"phase":"Running"}}"#;
        let w: WatchedPod = serde_json::from_str(json).unwrap();
        assert_eq!((w.namespace.as_str(), w.name.as_str()), ("prod", "web"));
        assert_eq!(w.uid.as_deref(), Some("u1"));
        assert_eq!(w.resource_version.as_deref(), Some("42"));
        assert!(w.deleting);
        assert_eq!(w.node_name.as_deref(), Some("n1"));
        assert_eq!(w.phase.as_deref(), Some("Running"));
        assert!(!w.finished());
        let p = w.decode().unwrap();
        assert_eq!(p.spec.unwrap().containers[0].name, "c");
    }

    #[test]
    fn missing_fields_default_as_kubernetes_does() {
        let w: WatchedPod =
            serde_json::from_str(r#"{"metadata":{"name":"p"},"spec":{"nodeName":""}}"#).unwrap();
        assert_eq!(w.namespace, "default");
        assert_eq!(w.node_name, None);
        assert!(!w.deleting);
        assert_eq!(w.name, "p");
        let broken = Bytes::from_static(br#"{"metadata":{"name":"p""#);
        assert!(WatchedPod::from_json(broken).is_err());
    }
}
