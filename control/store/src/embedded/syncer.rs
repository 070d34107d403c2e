//! The write path, stage 2 of 2 (see [`committer`](super::committer)): writes the frames
//! admitted so far to the log in one go, makes them durable with one `fdatasync`, then
//! applies them to the state, publishes their events and answers the callers. It also
//! rotates log segments and starts snapshots, at points where the state holds exactly the
//! records of the closed segments. After a failed write or sync it does neither: the
//! newest segment may end in a partial frame, which recovery can only cut off while that
//! segment is the newest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::committer::Reply;
use super::disk::{Disk, sync_dir};
use super::layout::Layout;
use super::manifest::ManifestFile;
use super::snapshot;
use super::state::{Outcome, Record};
use super::wal::{self, WalWriter};
use super::{EventBatch, Shared};
use crate::error::{Result, StoreError};

/// A batch the committer has admitted, encoded and not yet written.
pub(crate) struct Written {
    /// The encoded log frame, or `None` when no record was admitted (every request in the
    /// batch failed its checks).
    pub frame: Option<Vec<u8>>,
    pub records: Vec<Record>,
    pub replies: Vec<(Reply, Result<Outcome>)>,
}

/// What the two stages share.
#[derive(Default)]
pub(crate) struct Pipeline {
    /// The state's revision: every write up to it has been applied.
    applied: AtomicI64,
    /// Set after a failed disk write: what is on disk is unknown, so writes stop.
    failed: Mutex<Option<String>>,
}

impl Pipeline {
    pub fn new(applied: i64) -> Self {
        Pipeline {
            applied: AtomicI64::new(applied),
            failed: Mutex::new(None),
        }
    }

    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    fn fail(&self, cause: &str) {
        tracing::error!(%cause, "store write failed; refusing further writes");
        self.failed.lock().get_or_insert_with(|| cause.to_owned());
    }

    pub fn failure(&self) -> Option<String> {
        self.failed.lock().clone()
    }
}

pub(crate) struct Syncer {
    pub shared: Arc<Shared>,
    pub events: broadcast::Sender<EventBatch>,
    pub written: std::sync::mpsc::Receiver<Written>,
    pub pipeline: Arc<Pipeline>,
    pub disk: Arc<dyn Disk>,
    pub wal: WalWriter,
    pub manifest: ManifestFile,
    pub layout: Layout,
    pub segment_bytes: u64,
    pub snapshots: Snapshots,
}

impl Syncer {
    pub fn run(mut self) {
        while let Ok(first) = self.written.recv() {
            let mut group = vec![first];
            group.extend(self.written.try_iter());
            match self.persist(&group) {
                Ok(()) => self.publish(group),
                Err(cause) => {
                    self.pipeline.fail(&cause);
                    fail_all(group, &cause);
                }
            }
            if self.pipeline.failure().is_none() && self.wal.size() >= self.segment_bytes {
                self.rotate();
            }
        }
        self.snapshots.wait();
    }

    /// Writes the group's frames with one write and one `fdatasync`.
    fn persist(&mut self, group: &[Written]) -> std::result::Result<(), String> {
        if let Some(cause) = self.pipeline.failure() {
            return Err(cause);
        }
        self.wal
            .append(group.iter().filter_map(|w| w.frame.as_deref()))
    }

    /// Applies durable batches and sends their events under the write lock, so a watch that
    /// registers under the read lock sees each event exactly once; then answers the callers.
    fn publish(&self, group: Vec<Written>) {
        {
            let mut state = self.shared.state.write();
            let events: Vec<_> = group
                .iter()
                .flat_map(|w| &w.records)
                .filter_map(|r| state.apply(r))
                .collect();
            if !events.is_empty() {
                // No receivers is fine: nobody is watching.
                let _ = self.events.send(Arc::new(events));
            }
            self.pipeline
                .applied
                .store(state.revision, Ordering::Release);
        }
        for w in group {
            for (reply, outcome) in w.replies {
                let _ = reply.send(outcome);
            }
        }
    }

    /// Starts a new segment. The state now holds exactly the closed segments' records, so
    /// this is where a snapshot can be taken.
    fn rotate(&mut self) {
        let closed = self.wal.size();
        let revision = self.pipeline.applied();
        // The new segment is listed in the manifest before anything is written to it.
        let started = self.wal.rotate(revision).and_then(|()| {
            let seq = self.wal.seq();
            self.manifest.update(|m| m.last_segment = seq)
        });
        if let Err(e) = started {
            self.pipeline
                .fail(&format!("could not start a new log segment: {e}"));
            return;
        }
        self.snapshots.logged(closed, self.segment_bytes);
        if self.snapshots.due() {
            let state = self.shared.state.read().clone();
            self.snapshots.start(
                state,
                &self.disk,
                &self.layout,
                &self.manifest,
                self.wal.seq(),
            );
        }
    }
}

fn fail_all(group: Vec<Written>, cause: &str) {
    for w in group {
        for (reply, _) in w.replies {
            let _ = reply.send(Err(StoreError::Failed {
                cause: cause.to_owned(),
            }));
        }
    }
}

/// When to snapshot, and the background thread that writes them.
///
/// A snapshot is due once the bytes logged since the last one reach one segment and the
/// size of the last snapshot, so the bytes spent on snapshots never exceed the bytes logged.
#[derive(Default)]
pub(crate) struct Snapshots {
    logged: u64,
    due_at: u64,
    last_bytes: Arc<AtomicU64>,
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Snapshots {
    fn logged(&mut self, bytes: u64, segment_bytes: u64) {
        self.logged += bytes;
        self.due_at = segment_bytes.max(self.last_bytes.load(Ordering::Acquire));
    }

    fn due(&self) -> bool {
        self.logged >= self.due_at && !self.running.load(Ordering::Acquire)
    }

    /// Writes `state` in the background, records it in the manifest, then deletes the
    /// segments before `first_kept`.
    fn start(
        &mut self,
        state: super::state::State,
        disk: &Arc<dyn Disk>,
        layout: &Layout,
        manifest: &ManifestFile,
        first_kept: u64,
    ) {
        self.wait();
        self.logged = 0;
        self.running.store(true, Ordering::Release);
        let snap_dir = layout.snap.clone();
        let wal_dir = layout.wal.clone();
        let running = Arc::clone(&self.running);
        let last_bytes = Arc::clone(&self.last_bytes);
        let disk = Arc::clone(disk);
        let manifest = manifest.clone();
        let spawned = std::thread::Builder::new()
            .name("store-snapshot".into())
            .spawn(move || {
                lower_priority();
                let d = disk.as_ref();
                let result = snapshot::write(d, &snap_dir, &state).and_then(|written| {
                    manifest.update(|m| {
                        m.first_segment = first_kept;
                        m.snapshot_revision = state.revision;
                    })?;
                    remove_segments_below(d, &wal_dir, first_kept)?;
                    Ok(written)
                });
                match result {
                    Ok((path, bytes)) => {
                        last_bytes.store(bytes, Ordering::Release);
                        tracing::info!(
                            path = %path.display(),
                            revision = state.revision,
                            bytes,
                            "wrote store snapshot"
                        );
                    }
                    // The log still holds everything; a later rotation tries again.
                    Err(e) => tracing::warn!(error = %e, "store snapshot failed"),
                }
                running.store(false, Ordering::Release);
            });
        match spawned {
            Ok(t) => self.thread = Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "could not start the snapshot thread");
                self.running.store(false, Ordering::Release);
            }
        }
    }

    fn wait(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Snapshots are background work: let the write path and readers have the CPU first.
fn lower_priority() {
    // SAFETY: gettid and setpriority have no memory-safety preconditions; a failure only
    // leaves the thread at normal priority.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// Deletes the segments a durable snapshot covers (recovery finishes this after a crash).
fn remove_segments_below(disk: &dyn Disk, wal_dir: &std::path::Path, seq: u64) -> Result<()> {
    for old in wal::list_segments(disk, wal_dir)?
        .into_iter()
        .filter(|&s| s < seq)
    {
        let path = wal::segment_path(wal_dir, old);
        disk.remove_file(&path)
            .map_err(|e| StoreError::io(&path, e))?;
    }
    sync_dir(disk, wal_dir)
}
