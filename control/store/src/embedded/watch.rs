//! Watches on the embedded store: retained history first, then live batches from the
//! committer. A watcher that falls more than the channel's capacity behind re-reads what it
//! missed from history instead of losing events.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::{EventBatch, Shared};
use crate::error::{Result, StoreError};
use crate::types::{Event, Events, Revision};

/// Most events handed out at once when replaying history.
const BACKLOG_CHUNK: usize = 1024;

pub(crate) struct Watch {
    shared: Arc<Shared>,
    prefix: String,
    /// The lowest revision not yet delivered.
    next: Revision,
    backlog: VecDeque<Event>,
    live: Option<broadcast::Receiver<EventBatch>>,
}

impl Watch {
    pub fn new(shared: Arc<Shared>, prefix: &str, start: Revision) -> Result<Self> {
        let mut w = Watch {
            shared,
            prefix: prefix.to_owned(),
            next: start,
            backlog: VecDeque::new(),
            live: None,
        };
        w.subscribe(start)?;
        Ok(w)
    }

    /// Reads retained history from `start` and subscribes to what follows, atomically with
    /// respect to the committer (it publishes under the write lock).
    fn subscribe(&mut self, start: Revision) -> Result<()> {
        let state = self.shared.state.read();
        let sender = self.shared.events.upgrade().ok_or(StoreError::Closed)?;
        self.backlog = state.events_since(&self.prefix, start)?.into();
        self.next = if start == 0 {
            state.revision + 1
        } else {
            start
        };
        self.live = Some(sender.subscribe());
        Ok(())
    }

    pub async fn next(&mut self) -> Option<Result<Events>> {
        loop {
            if !self.backlog.is_empty() {
                let n = self.backlog.len().min(BACKLOG_CHUNK);
                let chunk: Vec<Event> = self.backlog.drain(..n).collect();
                self.next = chunk[chunk.len() - 1].revision() + 1;
                return Some(Ok(chunk.into()));
            }
            let live = self.live.as_mut()?;
            match live.recv().await {
                Ok(batch) => {
                    if let Some(events) = self.select(batch) {
                        self.next = events[events.len() - 1].revision() + 1;
                        return Some(Ok(events));
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    if let Err(e) = self.subscribe(self.next) {
                        self.live = None;
                        return Some(Err(e));
                    }
                }
                Err(RecvError::Closed) => {
                    self.live = None;
                    return None;
                }
            }
        }
    }

    /// The events of `batch` this watch wants. Shares the batch when they are a contiguous
    /// run of it (the usual case: one prefix per watcher); copies only a scattered selection.
    fn select(&self, batch: EventBatch) -> Option<Events> {
        let wanted = |e: &Event| e.revision() >= self.next && e.kv.key.starts_with(&self.prefix);
        let first = batch.iter().position(wanted)?;
        let len = batch[first..].iter().take_while(|e| wanted(e)).count();
        let end = first + len;
        if !batch[end..].iter().any(wanted) {
            return Some(Events::shared(batch, first..end));
        }
        let picked: Vec<Event> = batch[first..]
            .iter()
            .filter(|e| wanted(e))
            .cloned()
            .collect();
        Some(picked.into())
    }
}
