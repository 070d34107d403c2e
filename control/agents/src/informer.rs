//! List-then-watch: a full snapshot, then changes, relisting whenever the watch breaks or the
//! server says the resourceVersion is too old (410 Gone).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use skiff_client::{Client, EventType};

use crate::watched::WatchedPod;

/// What an informer reports.
#[derive(Debug)]
pub enum Update<T> {
    /// Everything that exists now; anything not in it is gone.
    Snapshot(Vec<T>),
    Applied(T),
    Deleted(T),
}

/// Lists and watches `path` (a collection URL, e.g. `/api/v1/pods`, maybe with a
/// `fieldSelector`) forever, handing updates to `sink`; returns when `sink` returns false.
pub async fn run<T: Object>(
    client: Client,
    path: String,
    mut sink: impl FnMut(Update<T>) -> bool + Send,
) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut failures = 0u32;
    loop {
        let list = match client.list::<T>(&path).await {
            Ok(l) => l,
            Err(e) => {
                failures += 1;
                tracing::warn!(%path, error = %e, "list failed; retrying");
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        failures = 0;
        if !sink(Update::Snapshot(list.items)) {
            return;
        }
        let mut rv = list.resource_version;
        loop {
            let url = format!(
                "{path}{sep}watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=300"
            );
            let mut events = match client.watch_with(&url, T::from_json).await {
                Ok(s) => Box::pin(s),
                Err(e) => {
                    tracing::warn!(%path, error = %e, "watch failed; listing again");
                    tokio::time::sleep(backoff(1)).await;
                    break;
                }
            };
            let mut relist = false;
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::debug!(%path, error = %e, "watch ended");
                        break;
                    }
                };
                match (event.kind, event.object) {
                    (EventType::Error, _) => {
                        relist = true;
                        break;
                    }
                    (EventType::Bookmark, Some(o)) => {
                        if let Some(v) = resource_version(&o) {
                            rv = v;
                        }
                    }
                    (EventType::Deleted, Some(o)) => {
                        if let Some(v) = resource_version(&o) {
                            rv = v;
                        }
                        if !sink(Update::Deleted(o)) {
                            return;
                        }
                    }
                    (_, Some(o)) => {
                        if let Some(v) = resource_version(&o) {
                            rv = v;
                        }
                        if !sink(Update::Applied(o)) {
                            return;
                        }
                    }
                    (_, None) => {}
                }
            }
            if relist {
                break;
            }
        }
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(failures.min(5)))
}

fn resource_version<T: Object>(o: &T) -> Option<String> {
    o.resource_version().map(str::to_owned)
}

/// The object types informers handle: Kubernetes objects, or lazily decoded views of them.
pub trait Object: DeserializeOwned + Send + 'static {
    fn resource_version(&self) -> Option<&str>;

    /// Decodes one watched object from its JSON.
    fn from_json(json: Bytes) -> anyhow::Result<Self> {
        Ok(serde_json::from_slice(&json)?)
    }
}

impl<T: DeserializeOwned + Metadata<Ty = ObjectMeta> + Send + 'static> Object for T {
    fn resource_version(&self) -> Option<&str> {
        self.metadata().resource_version.as_deref()
    }
}

impl Object for WatchedPod {
    fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }

    fn from_json(json: Bytes) -> anyhow::Result<Self> {
        Ok(WatchedPod::from_json(json)?)
    }
}
