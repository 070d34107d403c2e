//! Plain data exchanged with a store.

use std::ops::{Deref, Range};
use std::sync::Arc;

use bytes::Bytes;

/// A store revision. Revisions start at 1; 0 means "current" where a revision is optional.
pub type Revision = i64;

/// One key with its value and revisions, as etcd reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created the key (since its last deletion).
    pub create_revision: Revision,
    /// Revision of the last write to the key.
    pub mod_revision: Revision,
    /// Number of writes since creation: 1 after create.
    pub version: i64,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For `Put`, the new value. For `Delete`, the key with an empty value, `mod_revision`
    /// set to the deletion's revision and `create_revision`/`version` zero (as etcd does).
    pub kv: KeyValue,
    /// The value before this change, if the key existed.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision at which this change happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// Events delivered by a watch: consecutive revisions, in order. A cheap view into a batch
/// that may be shared with other watchers, so fanning out to many watchers copies nothing.
#[derive(Clone, Debug)]
pub struct Events {
    batch: Arc<Vec<Event>>,
    range: Range<usize>,
}

impl Events {
    /// The events `range` of a shared batch.
    pub(crate) fn shared(batch: Arc<Vec<Event>>, range: Range<usize>) -> Self {
        debug_assert!(range.end <= batch.len());
        Events { batch, range }
    }
}

impl From<Vec<Event>> for Events {
    fn from(events: Vec<Event>) -> Self {
        let range = 0..events.len();
        Events {
            batch: Arc::new(events),
            range,
        }
    }
}

impl Deref for Events {
    type Target = [Event];

    fn deref(&self) -> &[Event] {
        &self.batch[self.range.clone()]
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Options for [`crate::Store::list`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Read as of this revision; 0 reads the current state.
    pub revision: Revision,
    /// Start at this key (inclusive) instead of at the prefix; used to continue a paged list.
    pub start: Option<String>,
    /// Return at most this many keys; 0 means no limit.
    pub limit: usize,
}

/// The answer to a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListResult {
    pub kvs: Vec<KeyValue>,
    /// The revision the list reflects: the requested one, or the current one.
    pub revision: Revision,
    /// True when `limit` cut the result short.
    pub more: bool,
}
