//! Store errors. Each message says what went wrong and, where it helps, what to do.

use std::path::PathBuf;

use crate::types::{KeyValue, Revision};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key:?} not found")]
    NotFound { key: String },

    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },

    #[error(
        "key {key:?} was modified concurrently: expected mod revision {expected}, found {}",
        current.mod_revision
    )]
    Conflict {
        key: String,
        expected: Revision,
        /// The key's current value, so callers can retry without another read.
        current: Box<KeyValue>,
    },

    #[error(
        "revision {requested} has been compacted{}; list again and continue from the revision \
         the list returns",
        compacted.map(|c| format!(" (oldest retained revision is {c})")).unwrap_or_default()
    )]
    Compacted {
        requested: Revision,
        /// The oldest retained revision, when the backend reports it.
        compacted: Option<Revision>,
    },

    #[error("revision {requested} is in the future (current revision is {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },

    #[error("entry for key {key:?} is {size} bytes, above the store limit of {limit} bytes")]
    TooLarge {
        key: String,
        size: usize,
        limit: usize,
    },

    #[error(
        "store data at {path} is corrupt{}: {detail}",
        offset.map(|o| format!(" at offset {o}")).unwrap_or_default()
    )]
    Corrupt {
        path: PathBuf,
        /// Where in the file, when the damage can be located (log segments).
        offset: Option<u64>,
        detail: String,
    },

    #[error("{path} is not a skiff store directory: {detail}")]
    Foreign { path: PathBuf, detail: String },

    #[error("{path} holds a skiff store in an older on-disk format: {detail}")]
    UnsupportedFormat { path: PathBuf, detail: String },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the store refuses writes after a failed disk write ({cause}); fix the disk and restart"
    )]
    Failed { cause: String },

    #[error("etcd: {0}")]
    Etcd(String),

    #[error("the store has been shut down")]
    Closed,
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            path: path.into(),
            offset: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn corrupt_at(
        path: impl Into<PathBuf>,
        offset: u64,
        detail: impl Into<String>,
    ) -> Self {
        StoreError::Corrupt {
            path: path.into(),
            offset: Some(offset),
            detail: detail.into(),
        }
    }
}
