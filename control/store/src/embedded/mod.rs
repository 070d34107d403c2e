//! The embedded backend: a durable store in one local directory, no external process.
//!
//! Reads are served from an in-memory MVCC state ([`state::State`]) under a read lock.
//! Writes go through a two-stage pipeline ([`committer`] admits, [`syncer`] persists and
//! applies) that group-commits them to a checksummed write-ahead log ([`wal`]) before
//! making them visible. Snapshots ([`snapshot`]) bound the log; the [`manifest`] says which
//! segments and snapshot must exist. Opening runs [`recovery`]. The directory layout is in
//! [`layout`]; every file goes through [`disk`], where tests put a disk that loses power.

mod codec;
mod committer;
mod disk;
mod frame;
mod layout;
mod manifest;
mod recovery;
mod snapshot;
mod state;
mod syncer;
mod wal;
mod watch;

#[cfg(test)]
mod power_loss;
#[cfg(test)]
mod sim_disk;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::{Result, StoreError};
use crate::types::{Event, KeyValue, ListOptions, ListResult, Revision};
use crate::watch::WatchStream;
use crate::{Store, check_size};
use committer::{Committer, Request};
use disk::{Disk, RealDisk};
pub use recovery::{RecoveryReport, TornTail};
use state::{Outcome, State, WriteOp};
pub(crate) use watch::Watch;

/// Events of one committed batch, shared by every watcher.
pub(crate) type EventBatch = Arc<Vec<Event>>;

/// Batches a slow watcher may fall behind before it re-reads from history.
const WATCH_BUFFER_BATCHES: usize = 4096;
/// Writes that may wait for the committer before writers are slowed down.
const REQUEST_QUEUE: usize = 16384;
/// Batches admitted but not yet written before the committer waits for the syncer.
const PIPELINE_DEPTH: usize = 64;

/// Tuning for [`EmbeddedStore`].
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// Start a new log segment (and write a snapshot) once the current one is this large.
    pub segment_bytes: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            segment_bytes: 64 << 20,
        }
    }
}

/// State shared by readers, watchers and the committer.
pub(crate) struct Shared {
    state: RwLock<State>,
    /// Weak so that the channel closes when the committer stops.
    events: broadcast::WeakSender<EventBatch>,
}

/// The embedded, durable store. Cheap to clone; the last clone dropped stops the committer
/// and releases the data directory.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    path: PathBuf,
    recovery: RecoveryReport,
    shared: Arc<Shared>,
    requests: Option<mpsc::Sender<Request>>,
    /// The syncer and the committer.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue stops the committer, which stops the syncer once it has
        // written, synced and answered everything in flight.
        self.requests.take();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

impl EmbeddedStore {
    /// Opens (or initialises) the store in `path`, recovering everything acknowledged before
    /// the last shutdown or crash. A directory that is not a skiff store, or is damaged, is an
    /// error naming the path and the problem; it is never replaced by an empty store.
    pub fn open(path: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        Self::open_on(Arc::new(RealDisk), path.as_ref(), options)
    }

    /// Opens the store in `path` on `disk`.
    fn open_on(disk: Arc<dyn Disk>, path: &Path, options: EmbeddedOptions) -> Result<Self> {
        let layout = layout::Layout::open(disk.as_ref(), path)?;
        let recovery::Recovered {
            state,
            wal,
            manifest,
            report,
        } = recovery::recover(Arc::clone(&disk), &layout)?;
        if let Some(torn) = &report.torn_tail {
            tracing::warn!(
                segment = %torn.segment.display(),
                offset = torn.offset,
                bytes = torn.bytes,
                intact_frames = torn.intact_frames,
                damaged = torn.damaged,
                "cut off the last log write, which a crash interrupted (it was never acknowledged)"
            );
        }
        tracing::info!(
            path = %path.display(),
            revision = state.revision,
            keys = state.kvs.len(),
            created = report.created,
            snapshot_revision = report.snapshot_revision,
            segments = report.segments_replayed,
            frames = report.frames_replayed,
            "opened embedded store"
        );
        let (events, _) = broadcast::channel(WATCH_BUFFER_BATCHES);
        let (revision, compact_revision) = (state.revision, state.compact_revision);
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            events: events.downgrade(),
        });
        let pipeline = Arc::new(syncer::Pipeline::new(revision));
        let (to_syncer, written) = std::sync::mpsc::sync_channel(PIPELINE_DEPTH);
        let syncer = syncer::Syncer {
            shared: Arc::clone(&shared),
            events,
            written,
            pipeline: Arc::clone(&pipeline),
            disk,
            wal,
            manifest,
            layout,
            segment_bytes: options.segment_bytes,
            snapshots: syncer::Snapshots::default(),
        };
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        let committer = Committer {
            shared: Arc::clone(&shared),
            requests: rx,
            to_syncer,
            pipeline,
            revision,
            compact_revision,
            overlay: state::Overlay::default(),
        };
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| StoreError::io(path, e))
        };
        let threads = vec![
            spawn("store-syncer", Box::new(move || syncer.run()))?,
            spawn("store-committer", Box::new(move || committer.run()))?,
        ];
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                recovery: report,
                shared,
                requests: Some(tx),
                threads: Mutex::new(threads),
            }),
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// What opening the store found and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    async fn submit(&self, op: WriteOp) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        let queue = self.inner.requests.as_ref().ok_or(StoreError::Closed)?;
        queue
            .send(Request { op, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn unexpected(outcome: Outcome) -> StoreError {
    StoreError::Failed {
        cause: format!("internal error: unexpected commit outcome {outcome:?}"),
    }
}

impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let state = self.inner.shared.state.read();
        Ok((state.get(key), state.revision))
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        self.inner.shared.state.read().list(prefix, &opts)
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_size(key, &value)?;
        let op = WriteOp::Create {
            key: key.to_owned(),
            value,
        };
        match self.submit(op).await? {
            Outcome::Written(kv) => Ok(kv),
            other => Err(unexpected(other)),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        check_size(key, &value)?;
        let op = WriteOp::Update {
            key: key.to_owned(),
            value,
            expected,
        };
        match self.submit(op).await? {
            Outcome::Written(kv) => Ok(kv),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        let op = WriteOp::Delete {
            key: key.to_owned(),
            expected,
        };
        match self.submit(op).await? {
            Outcome::Deleted(prev, revision) => Ok((prev, revision)),
            other => Err(unexpected(other)),
        }
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<WatchStream> {
        let watch = Watch::new(Arc::clone(&self.inner.shared), prefix, start)?;
        Ok(WatchStream::embedded(watch))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.shared.state.read().check_compact(revision)?;
        match self.submit(WriteOp::Compact { revision }).await? {
            Outcome::Compacted => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.inner.shared.state.read().revision)
    }
}
