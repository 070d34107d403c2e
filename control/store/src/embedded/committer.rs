//! The committer thread: the only writer of the embedded store.
//!
//! It drains every waiting request into one batch (group commit), decides each against the
//! state without changing it, writes the batch as one log frame and `fdatasync`s it, and
//! only then applies the batch to the state, publishes its events to watchers and answers
//! the callers. Readers therefore never see a write that is not yet durable, and many
//! concurrent writers share one disk sync.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::sync::{broadcast, mpsc, oneshot};

use super::layout::Layout;
use super::snapshot;
use super::state::{Batch, Outcome, Record, WriteOp};
use super::wal::{self, WalWriter};
use super::{EventBatch, Shared};
use crate::error::{Result, StoreError};

/// Most requests folded into one log frame.
const MAX_BATCH_OPS: usize = 4096;
/// Stop adding to a batch once its payload reaches this size.
const MAX_BATCH_BYTES: usize = 8 << 20;

pub(crate) struct Request {
    pub op: WriteOp,
    pub reply: oneshot::Sender<Result<Outcome>>,
}

impl Request {
    fn payload_bytes(&self) -> usize {
        match &self.op {
            WriteOp::Create { key, value } | WriteOp::Update { key, value, .. } => {
                key.len() + value.len()
            }
            WriteOp::Delete { key, .. } => key.len(),
            WriteOp::Compact { .. } => 0,
        }
    }
}

pub(crate) struct Committer {
    pub shared: Arc<Shared>,
    pub requests: mpsc::Receiver<Request>,
    pub events: broadcast::Sender<EventBatch>,
    pub wal: WalWriter,
    pub layout: Layout,
    pub segment_bytes: u64,
    /// Set after a failed disk write: the state on disk is unknown, so writes stop.
    pub failed: Option<String>,
    pub snapshotting: Arc<AtomicBool>,
    pub snapshot_thread: Option<JoinHandle<()>>,
}

impl Committer {
    pub fn run(mut self) {
        while let Some(first) = self.requests.blocking_recv() {
            let mut bytes = first.payload_bytes();
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH_OPS && bytes < MAX_BATCH_BYTES {
                match self.requests.try_recv() {
                    Ok(r) => {
                        bytes += r.payload_bytes();
                        batch.push(r);
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
        if let Some(t) = self.snapshot_thread.take() {
            let _ = t.join();
        }
    }

    fn commit(&mut self, requests: Vec<Request>) {
        if let Some(cause) = &self.failed {
            for r in requests {
                let _ = r.reply.send(Err(StoreError::Failed {
                    cause: cause.clone(),
                }));
            }
            return;
        }
        let (records, replies) = {
            let state = self.shared.state.read();
            let mut batch = Batch::new(&state);
            let replies: Vec<_> = requests
                .into_iter()
                .map(|r| (r.reply, batch.admit(r.op)))
                .collect();
            (batch.records, replies)
        };
        if !records.is_empty() {
            if let Err(e) = self.wal.append(&records) {
                let cause = format!("writing {}: {e}", self.wal.path().display());
                tracing::error!(%cause, "store write failed; refusing further writes");
                for (reply, _) in replies {
                    let _ = reply.send(Err(StoreError::Failed {
                        cause: cause.clone(),
                    }));
                }
                self.failed = Some(cause);
                return;
            }
            self.publish(&records);
        }
        for (reply, outcome) in replies {
            let _ = reply.send(outcome);
        }
        if self.wal.size() >= self.segment_bytes {
            self.rotate_and_snapshot();
        }
    }

    /// Makes a durable batch visible: applies it and sends its events, under the write lock
    /// so that a watch registering under the read lock sees each event exactly once.
    fn publish(&self, records: &[Record]) {
        let mut state = self.shared.state.write();
        let events: Vec<_> = records.iter().filter_map(|r| state.apply(r)).collect();
        if !events.is_empty() {
            // No receivers is fine: nobody is watching.
            let _ = self.events.send(Arc::new(events));
        }
    }

    /// Starts a new log segment and, unless one is already being written, a snapshot of the
    /// state as of the end of the previous segment. Once the snapshot is durable, the
    /// segments it covers are deleted.
    fn rotate_and_snapshot(&mut self) {
        if let Err(e) = self.wal.rotate() {
            let cause = e.to_string();
            tracing::error!(%cause, "could not start a new log segment; refusing further writes");
            self.failed = Some(cause);
            return;
        }
        if self.snapshotting.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(t) = self.snapshot_thread.take() {
            let _ = t.join();
        }
        let state = self.shared.state.read().clone();
        let covered_below = self.wal.seq();
        let snap_dir = self.layout.snap.clone();
        let wal_dir = self.layout.wal.clone();
        let flag = Arc::clone(&self.snapshotting);
        self.snapshot_thread = Some(std::thread::spawn(move || {
            let result = snapshot::write(&snap_dir, &state)
                .and_then(|path| remove_segments_below(&wal_dir, covered_below).map(|()| path));
            match result {
                Ok(path) => tracing::info!(
                    path = %path.display(),
                    revision = state.revision,
                    "wrote store snapshot"
                ),
                // The log still holds everything; the next rotation tries again.
                Err(e) => tracing::warn!(error = %e, "store snapshot failed"),
            }
            flag.store(false, Ordering::Release);
        }));
    }
}

fn remove_segments_below(wal_dir: &std::path::Path, seq: u64) -> Result<()> {
    for old in wal::list_segments(wal_dir)?.into_iter().filter(|&s| s < seq) {
        let path = wal::segment_path(wal_dir, old);
        std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
    }
    Ok(())
}
