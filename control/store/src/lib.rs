//! The revisioned key-value store every skiff object lives in.
//!
//! Semantics are etcd's, because the Kubernetes API is built on them:
//! - one global revision that increases by one with every successful write;
//! - per key: `create_revision`, `mod_revision` and `version` (writes since creation);
//! - create-if-absent, and update/delete guarded by the key's `mod_revision` (compare-and-swap);
//! - get and prefix list at the current revision or at an older retained one;
//! - watch a prefix from a revision, receiving every later change in revision order, with
//!   [`StoreError::Compacted`] when that revision is no longer retained;
//! - compaction, which forgets history older than a revision.
//!
//! Two backends implement [`Store`]: [`EmbeddedStore`] (the default, a durable local log) and
//! [`EtcdStore`]. [`AnyStore`] picks one at run time. One conformance suite
//! (`tests/store_conformance.rs`) runs against both.

mod any;
mod embedded;
mod error;
mod etcd;
mod types;
mod watch;

use std::future::Future;

pub use any::AnyStore;
pub use bytes::Bytes;
pub use embedded::{EmbeddedOptions, EmbeddedStore, RecoveryReport, TornTail};
pub use error::{Result, StoreError};
pub use etcd::EtcdStore;
pub use types::{Event, EventKind, Events, KeyValue, ListOptions, ListResult, Revision};
pub use watch::WatchStream;

/// Largest accepted `key + value`, in bytes: etcd's default request limit (1.5 MiB) minus
/// room for the transaction that carries the write. Both backends enforce the same limit
/// so an object that fits one fits the other.
pub const MAX_ENTRY_BYTES: usize = 1_572_864 - 4096;

/// A revisioned key-value store with watch. See the crate docs for the semantics.
///
/// Revisions are `i64` like etcd's; revision 0 means "current" where a revision is optional.
pub trait Store: Send + Sync + 'static {
    /// The value of `key` (if present) and the revision the read saw.
    fn get(&self, key: &str) -> impl Future<Output = Result<(Option<KeyValue>, Revision)>> + Send;

    /// Keys starting with `prefix`, in key order, as of `opts.revision` (0 = current).
    fn list(
        &self,
        prefix: &str,
        opts: ListOptions,
    ) -> impl Future<Output = Result<ListResult>> + Send;

    /// Creates `key`; fails with [`StoreError::AlreadyExists`] if it is present.
    fn create(&self, key: &str, value: Bytes) -> impl Future<Output = Result<KeyValue>> + Send;

    /// Replaces `key` if its `mod_revision` is still `expected`; fails with
    /// [`StoreError::Conflict`] (carrying the current value) or [`StoreError::NotFound`].
    fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> impl Future<Output = Result<KeyValue>> + Send;

    /// Deletes `key`, only if its `mod_revision` is `expected` when given. Returns the deleted
    /// value and the revision of the deletion.
    fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> impl Future<Output = Result<(KeyValue, Revision)>> + Send;

    /// Every change under `prefix` with revision `>= start` (0 = changes after now), in order.
    fn watch(
        &self,
        prefix: &str,
        start: Revision,
    ) -> impl Future<Output = Result<WatchStream>> + Send;

    /// Forgets history before `revision`: later reads and watches at older revisions fail with
    /// [`StoreError::Compacted`].
    fn compact(&self, revision: Revision) -> impl Future<Output = Result<()>> + Send;

    /// The store's current revision.
    fn current_revision(&self) -> impl Future<Output = Result<Revision>> + Send;
}

/// Checks the size limit shared by both backends.
fn check_size(key: &str, value: &[u8]) -> Result<()> {
    let size = key.len() + value.len();
    if size > MAX_ENTRY_BYTES {
        return Err(StoreError::TooLarge {
            key: key.to_owned(),
            size,
            limit: MAX_ENTRY_BYTES,
        });
    }
    Ok(())
}

/// The exclusive end of the key range covering every key that starts with `prefix`.
/// `None` means "no upper bound" (the prefix is empty or all 0xff bytes).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
