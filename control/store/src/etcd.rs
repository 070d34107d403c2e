//! The etcd backend: the same operations mapped onto etcd transactions, revisions and
//! watches, for clusters that outgrow one machine.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType,
    GetOptions, KvClient, PutOptions, Txn, TxnOp, TxnOpResponse, WatchClient, WatchOptions,
};

use crate::error::{Result, StoreError};
use crate::types::{Event, EventKind, Events, KeyValue, ListOptions, ListResult, Revision};
use crate::watch::WatchStream;
use crate::{Store, check_size, prefix_end};

/// Responses (a big LIST) may be far larger than gRPC's 4 MiB default.
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// A store kept in an etcd cluster. Cheap to clone.
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Clients>,
}

struct Clients {
    endpoints: Vec<String>,
    kv: KvClient,
    watch: WatchClient,
    client: Client,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.inner.endpoints)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to etcd at `endpoints` (e.g. `http://127.0.0.1:2379`) and checks that it answers.
    pub async fn connect(endpoints: &[String]) -> Result<Self> {
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        let unreachable = |e: etcd_client::Error| {
            StoreError::Etcd(format!(
                "cannot reach etcd at {}: {e}. Is etcd running there? (--etcd-endpoints)",
                endpoints.join(",")
            ))
        };
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(unreachable)?;
        let store = EtcdStore {
            inner: Arc::new(Clients {
                endpoints: endpoints.to_vec(),
                kv: client
                    .kv_client()
                    .max_decoding_message_size(MAX_RESPONSE_BYTES),
                watch: client
                    .watch_client()
                    .max_decoding_message_size(MAX_RESPONSE_BYTES),
                client,
            }),
        };
        store.current_revision_raw().await.map_err(unreachable)?;
        Ok(store)
    }

    async fn current_revision_raw(&self) -> std::result::Result<Revision, etcd_client::Error> {
        let resp = self
            .inner
            .kv
            .clone()
            .get("\0", Some(GetOptions::new().with_count_only()))
            .await?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    /// Turns an etcd error into the store error it means.
    async fn error(&self, e: etcd_client::Error, requested: Revision, key: &str) -> StoreError {
        let msg = e.to_string();
        if msg.contains("required revision has been compacted") {
            StoreError::Compacted {
                requested,
                compacted: None,
            }
        } else if msg.contains("required revision is a future revision") {
            StoreError::FutureRevision {
                requested,
                current: self.current_revision_raw().await.unwrap_or(0),
            }
        } else if msg.contains("request is too large") {
            StoreError::TooLarge {
                key: key.to_owned(),
                size: 0,
                limit: crate::MAX_ENTRY_BYTES,
            }
        } else {
            StoreError::Etcd(msg)
        }
    }

    /// Runs a transaction whose failure branch reads `key`; returns the response, or the
    /// key's current value (if any) when the comparison failed.
    async fn txn(
        &self,
        key: &str,
        when: Compare,
        then: TxnOp,
    ) -> Result<std::result::Result<etcd_client::TxnResponse, Option<KeyValue>>> {
        let txn = Txn::new()
            .when([when])
            .and_then([then])
            .or_else([TxnOp::get(key, None)]);
        let resp = match self.inner.kv.clone().txn(txn).await {
            Ok(r) => r,
            Err(e) => return Err(self.error(e, 0, key).await),
        };
        if resp.succeeded() {
            return Ok(Ok(resp));
        }
        let current = match resp.op_responses().into_iter().next() {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().map(convert_kv).transpose()?,
            _ => None,
        };
        Ok(Err(current))
    }
}

fn revision_of(resp: &etcd_client::TxnResponse) -> Revision {
    resp.header().map_or(0, |h| h.revision())
}

fn convert_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = kv
        .key_str()
        .map_err(|_| StoreError::Etcd(format!("etcd holds a non-UTF-8 key {:?}", kv.key())))?;
    Ok(KeyValue {
        key: key.to_owned(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
    })
}

fn conflict(key: &str, expected: Revision, current: Option<KeyValue>) -> StoreError {
    match current {
        Some(current) => StoreError::Conflict {
            key: key.to_owned(),
            expected,
            current: Box::new(current),
        },
        None => StoreError::NotFound {
            key: key.to_owned(),
        },
    }
}

impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let resp = match self.inner.kv.clone().get(key, None).await {
            Ok(r) => r,
            Err(e) => return Err(self.error(e, 0, key).await),
        };
        let kv = resp.kvs().first().map(convert_kv).transpose()?;
        Ok((kv, resp.header().map_or(0, |h| h.revision())))
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let start = match &opts.start {
            Some(s) if s.as_str() > prefix => s.clone(),
            _ => prefix.to_owned(),
        };
        let end = prefix_end(prefix.as_bytes()).unwrap_or_else(|| vec![0]);
        let mut get = GetOptions::new().with_range(end);
        if opts.limit > 0 {
            get = get.with_limit(opts.limit as i64);
        }
        if opts.revision > 0 {
            get = get.with_revision(opts.revision);
        }
        let resp = match self.inner.kv.clone().get(start, Some(get)).await {
            Ok(r) => r,
            Err(e) => return Err(self.error(e, opts.revision, prefix).await),
        };
        let kvs = resp
            .kvs()
            .iter()
            .map(convert_kv)
            .collect::<Result<Vec<_>>>()?;
        let revision = if opts.revision > 0 {
            opts.revision
        } else {
            resp.header().map_or(0, |h| h.revision())
        };
        Ok(ListResult {
            kvs,
            revision,
            more: resp.more(),
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_size(key, &value)?;
        let when = Compare::create_revision(key, CompareOp::Equal, 0);
        let then = TxnOp::put(key, value.to_vec(), None);
        match self.txn(key, when, then).await? {
            Ok(resp) => {
                let revision = revision_of(&resp);
                Ok(KeyValue {
                    key: key.to_owned(),
                    value,
                    create_revision: revision,
                    mod_revision: revision,
                    version: 1,
                })
            }
            Err(_) => Err(StoreError::AlreadyExists {
                key: key.to_owned(),
            }),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        check_size(key, &value)?;
        let when = Compare::mod_revision(key, CompareOp::Equal, expected);
        let then = TxnOp::put(key, value.to_vec(), Some(PutOptions::new().with_prev_key()));
        match self.txn(key, when, then).await? {
            Ok(resp) => {
                let prev = match resp.op_responses().into_iter().next() {
                    Some(TxnOpResponse::Put(put)) => put.prev_key().map(convert_kv).transpose()?,
                    _ => None,
                };
                let prev = prev.ok_or_else(|| {
                    StoreError::Etcd(format!("etcd did not return the previous value of {key:?}"))
                })?;
                Ok(KeyValue {
                    key: key.to_owned(),
                    value,
                    create_revision: prev.create_revision,
                    mod_revision: revision_of(&resp),
                    version: prev.version + 1,
                })
            }
            Err(current) => Err(conflict(key, expected, current)),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        let when = match expected {
            Some(rev) => Compare::mod_revision(key, CompareOp::Equal, rev),
            None => Compare::create_revision(key, CompareOp::Greater, 0),
        };
        let then = TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key()));
        match self.txn(key, when, then).await? {
            Ok(resp) => {
                let prev = match resp.op_responses().into_iter().next() {
                    Some(TxnOpResponse::Delete(del)) => {
                        del.prev_kvs().first().map(convert_kv).transpose()?
                    }
                    _ => None,
                };
                let prev = prev.ok_or_else(|| StoreError::NotFound {
                    key: key.to_owned(),
                })?;
                Ok((prev, revision_of(&resp)))
            }
            Err(current) => Err(match expected {
                Some(rev) => conflict(key, rev, current),
                None => StoreError::NotFound {
                    key: key.to_owned(),
                },
            }),
        }
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<WatchStream> {
        let mut options = WatchOptions::new()
            .with_prev_key()
            .with_start_revision(start);
        options = match prefix_end(prefix.as_bytes()) {
            Some(end) => options.with_range(end),
            None => options.with_all_keys(),
        };
        let (watcher, stream) = match self.inner.watch.clone().watch(prefix, Some(options)).await {
            Ok(w) => w,
            Err(e) => return Err(self.error(e, start, prefix).await),
        };
        Ok(WatchStream::etcd(Watch {
            _watcher: watcher,
            stream,
            requested: start,
            done: false,
        }))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let options = CompactionOptions::new().with_physical();
        match self
            .inner
            .client
            .clone()
            .compact(revision, Some(options))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(e, revision, "").await),
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        match self.current_revision_raw().await {
            Ok(r) => Ok(r),
            Err(e) => Err(self.error(e, 0, "").await),
        }
    }
}

/// An etcd watch. Dropping it drops the watcher, which cancels the watch on the server.
pub(crate) struct Watch {
    _watcher: etcd_client::Watcher,
    stream: etcd_client::WatchStream,
    requested: Revision,
    done: bool,
}

impl Watch {
    pub async fn next(&mut self) -> Option<Result<Events>> {
        while !self.done {
            let resp = match self.stream.message().await {
                Ok(Some(resp)) => resp,
                Ok(None) => break,
                Err(e) => {
                    self.done = true;
                    return Some(Err(StoreError::Etcd(format!("watch failed: {e}"))));
                }
            };
            if resp.compact_revision() > 0 {
                self.done = true;
                return Some(Err(StoreError::Compacted {
                    requested: self.requested,
                    compacted: Some(resp.compact_revision()),
                }));
            }
            if resp.canceled() {
                self.done = true;
                return Some(Err(StoreError::Etcd(format!(
                    "watch canceled by etcd: {}",
                    resp.cancel_reason()
                ))));
            }
            let events = resp
                .events()
                .iter()
                .map(convert_event)
                .collect::<Result<Vec<_>>>();
            match events {
                Ok(events) if events.is_empty() => continue,
                Ok(events) => return Some(Ok(events.into())),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

fn convert_event(e: &etcd_client::Event) -> Result<Event> {
    let kv = e
        .kv()
        .map(convert_kv)
        .transpose()?
        .ok_or_else(|| StoreError::Etcd("etcd sent a watch event without a key".into()))?;
    let prev = e.prev_kv().map(convert_kv).transpose()?;
    let kind = match e.event_type() {
        EventType::Put => EventKind::Put,
        EventType::Delete => EventKind::Delete,
    };
    Ok(Event { kind, kv, prev })
}
