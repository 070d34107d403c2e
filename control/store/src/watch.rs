//! A watch on either backend.

use crate::embedded;
use crate::error::Result;
use crate::etcd;
use crate::types::Events;

/// Changes under a prefix, in revision order. Each item holds the events of one or more
/// consecutive revisions. The stream ends (`None`) when the store shuts down; an error item
/// (for example [`crate::StoreError::Compacted`]) is the last item.
pub struct WatchStream {
    inner: Inner,
}

enum Inner {
    Embedded(embedded::Watch),
    Etcd(Box<etcd::Watch>),
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.inner {
            Inner::Embedded(_) => "embedded",
            Inner::Etcd(_) => "etcd",
        };
        f.debug_struct("WatchStream")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl WatchStream {
    pub(crate) fn embedded(w: embedded::Watch) -> Self {
        WatchStream {
            inner: Inner::Embedded(w),
        }
    }

    pub(crate) fn etcd(w: etcd::Watch) -> Self {
        WatchStream {
            inner: Inner::Etcd(Box::new(w)),
        }
    }

    /// The next group of events, `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<Result<Events>> {
        match &mut self.inner {
            Inner::Embedded(w) => w.next().await,
            Inner::Etcd(w) => w.next().await,
        }
    }
}
