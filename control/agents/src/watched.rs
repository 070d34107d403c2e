//! Watched pods, decoded lazily. The agents see every pod change in the cluster, and most
//! of them (a status update, a binding they made themselves) need only the pod's identity,
//! node and phase. Those fields are read on arrival; the whole pod is decoded only when an
//! agent acts on it.

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1 as core;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

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
    json: Box<RawValue>,
}

#[derive(Deserialize)]
struct Summary {
    #[serde(default)]
    metadata: SummaryMeta,
    #[serde(default)]
    spec: SummarySpec,
    #[serde(default)]
    status: SummaryStatus,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SummaryMeta {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SummarySpec {
    #[serde(default)]
    node_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct SummaryStatus {
    #[serde(default)]
    phase: Option<String>,
}

impl<'de> Deserialize<'de> for WatchedPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = Box::<RawValue>::deserialize(d)?;
        let s: Summary = serde_json::from_str(json.get()).map_err(serde::de::Error::custom)?;
        Ok(WatchedPod {
            namespace: s.metadata.namespace.unwrap_or_else(|| "default".into()),
            name: s.metadata.name.unwrap_or_default(),
            uid: s.metadata.uid,
            resource_version: s.metadata.resource_version,
            deleting: s.metadata.deletion_timestamp.is_some(),
            node_name: s.spec.node_name.filter(|n| !n.is_empty()),
            phase: s.status.phase,
            json,
        })
    }
}

impl WatchedPod {
    /// The whole pod.
    pub fn decode(&self) -> Result<core::Pod> {
        serde_json::from_str(self.json.get())
            .with_context(|| format!("decoding pod {}/{}", self.namespace, self.name))
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
        assert!(serde_json::from_str::<WatchedPod>(r#"{"metadata":{"name":1}}"#).is_err());
    }
}
