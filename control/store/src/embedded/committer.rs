//! The write path, stage 1 of 2: admission. Together with the [`syncer`](super::syncer) it
//! is the only writer of the embedded store.
//!
//! The committer thread drains every waiting request into a batch, decides each against the
//! state plus the effects of batches still in the pipeline (the overlay), and encodes the
//! admitted records as one log frame. The syncer writes, syncs and applies the frames; while
//! it waits for the disk, the committer admits the next requests, so one `fdatasync` covers
//! everything that arrived during the previous one (group commit).
//!
//! Readers never see a write that is not yet durable: the state changes only in the syncer,
//! after the sync.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::Shared;
use super::state::{Batch, Outcome, Overlay, WriteOp};
use super::syncer::{Pipeline, Written};
use super::wal;
use crate::error::{Result, StoreError};
use crate::types::Revision;

/// Most requests folded into one log frame.
const MAX_BATCH_OPS: usize = 4096;
/// Stop adding to a batch once its payload reaches this size.
const MAX_BATCH_BYTES: usize = 8 << 20;

pub(crate) type Reply = oneshot::Sender<Result<Outcome>>;

pub(crate) struct Request {
    pub op: WriteOp,
    pub reply: Reply,
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
    pub to_syncer: std::sync::mpsc::SyncSender<Written>,
    pub pipeline: Arc<Pipeline>,
    /// Revision of the last admitted write (applied or still in the pipeline).
    pub revision: Revision,
    /// Compaction point after every admitted compaction.
    pub compact_revision: Revision,
    /// Effects of admitted batches the syncer has not applied yet.
    pub overlay: Overlay,
}

impl Committer {
    /// Runs until every store handle is dropped; the syncer then drains what is left.
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
            if !self.commit(batch) {
                break;
            }
        }
    }

    /// Admits a batch and hands it to the syncer. False once the syncer is gone.
    fn commit(&mut self, requests: Vec<Request>) -> bool {
        if let Some(cause) = self.pipeline.failure() {
            for r in requests {
                let _ = r.reply.send(Err(StoreError::Failed {
                    cause: cause.clone(),
                }));
            }
            return true;
        }
        self.overlay.forget_applied(self.pipeline.applied());
        let (records, replies) = {
            let state = self.shared.state.read();
            let mut batch = Batch::new(
                &state,
                &mut self.overlay,
                self.revision,
                self.compact_revision,
            );
            let replies: Vec<_> = requests
                .into_iter()
                .map(|r| (r.reply, batch.admit(r.op)))
                .collect();
            self.revision = batch.revision;
            self.compact_revision = batch.compact_revision;
            (std::mem::take(&mut batch.records), replies)
        };
        let frame = (!records.is_empty()).then(|| wal::encode_frame(&records, self.revision));
        self.to_syncer
            .send(Written {
                frame,
                records,
                replies,
            })
            .is_ok()
    }
}
