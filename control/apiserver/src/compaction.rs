//! Periodic compaction of the store's history, as kube-apiserver does with etcd: each
//! interval, history older than the revision seen one interval earlier is dropped. Watches
//! and continue tokens older than that get 410 Expired and start over from a fresh list.

use std::sync::Arc;
use std::time::Duration;

use skiff_store::{Store, StoreError};

use crate::app::App;

pub fn spawn(app: Arc<App>, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut previous: Option<i64> = None;
        loop {
            tick.tick().await;
            let store = &app.registry.store;
            let current = match store.current_revision().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the store revision for compaction");
                    continue;
                }
            };
            if let Some(target) = previous.filter(|p| *p > 0) {
                match store.compact(target).await {
                    Ok(()) => tracing::debug!(revision = target, "compacted store history"),
                    // Another API server on the same etcd got there first.
                    Err(StoreError::Compacted { .. }) => {}
                    Err(e) => tracing::warn!(error = %e, "compacting the store"),
                }
            }
            previous = Some(current);
        }
    });
}
