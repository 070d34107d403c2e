//! Run-time choice of backend.

use bytes::Bytes;

use crate::error::Result;
use crate::types::{KeyValue, ListOptions, ListResult, Revision};
use crate::watch::WatchStream;
use crate::{EmbeddedStore, EtcdStore, Store};

/// Either backend, chosen at start-up (`--etcd-endpoints` selects etcd).
#[derive(Clone, Debug)]
pub enum AnyStore {
    Embedded(EmbeddedStore),
    Etcd(EtcdStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Embedded($s) => $call.await,
            AnyStore::Etcd($s) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        dispatch!(self, s => s.get(key))
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        dispatch!(self, s => s.list(prefix, opts))
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        dispatch!(self, s => s.create(key, value))
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        dispatch!(self, s => s.update(key, value, expected))
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        dispatch!(self, s => s.delete(key, expected))
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<WatchStream> {
        dispatch!(self, s => s.watch(prefix, start))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        dispatch!(self, s => s.compact(revision))
    }

    async fn current_revision(&self) -> Result<Revision> {
        dispatch!(self, s => s.current_revision())
    }
}
