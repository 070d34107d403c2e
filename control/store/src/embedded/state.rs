//! The in-memory MVCC state of the embedded store: current values, the retained history of
//! changes, and the revision counters. Pure data and logic; no I/O, no locking.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;

use crate::error::{Result, StoreError};
use crate::types::{Event, EventKind, KeyValue, ListOptions, ListResult, Revision};

/// One durable change, as written to the log. Put and Delete each take the next revision;
/// Compact does not create a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Put {
        revision: Revision,
        key: String,
        value: Bytes,
    },
    Delete {
        revision: Revision,
        key: String,
    },
    Compact {
        revision: Revision,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub value: Bytes,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: i64,
}

impl Entry {
    fn to_kv(&self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
        }
    }
}

/// Current values plus every change since `compact_revision`.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    pub kvs: BTreeMap<String, Entry>,
    /// Revision of the last write; 0 for an empty store.
    pub revision: Revision,
    /// Oldest revision still readable/watchable; 0 when nothing was compacted.
    pub compact_revision: Revision,
    /// Every change with revision >= `compact_revision`, in revision order.
    pub history: VecDeque<Event>,
}

impl State {
    pub fn get(&self, key: &str) -> Option<KeyValue> {
        self.kvs.get(key).map(|e| e.to_kv(key))
    }

    /// Applies one durable record. Returns the watch event it produced, if any.
    /// The caller guarantees `Put`/`Delete` carry `self.revision + 1`.
    pub fn apply(&mut self, record: &Record) -> Option<Event> {
        let event = match record {
            Record::Put {
                revision,
                key,
                value,
            } => {
                debug_assert_eq!(*revision, self.revision + 1);
                let prev = self.get(key);
                let entry = Entry {
                    value: value.clone(),
                    create_revision: prev.as_ref().map_or(*revision, |p| p.create_revision),
                    mod_revision: *revision,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                };
                let kv = entry.to_kv(key);
                self.kvs.insert(key.clone(), entry);
                self.revision = *revision;
                Event {
                    kind: EventKind::Put,
                    kv,
                    prev,
                }
            }
            Record::Delete { revision, key } => {
                debug_assert_eq!(*revision, self.revision + 1);
                let prev = self.kvs.remove(key).map(|e| e.to_kv(key));
                self.revision = *revision;
                Event {
                    kind: EventKind::Delete,
                    kv: deleted_kv(key, *revision),
                    prev,
                }
            }
            Record::Compact { revision } => {
                self.compact_to(*revision);
                return None;
            }
        };
        self.history.push_back(event.clone());
        Some(event)
    }

    /// Validates a compaction request against the current state.
    pub fn check_compact(&self, revision: Revision) -> Result<()> {
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        if revision <= self.compact_revision {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: Some(self.compact_revision),
            });
        }
        Ok(())
    }

    fn compact_to(&mut self, revision: Revision) {
        if revision <= self.compact_revision {
            return;
        }
        let keep_from = self.history.partition_point(|e| e.revision() < revision);
        self.history.drain(..keep_from);
        self.compact_revision = revision;
    }

    /// Validates a read at `revision` (0 = current) and returns the effective revision.
    fn read_revision(&self, revision: Revision) -> Result<Revision> {
        if revision == 0 {
            return Ok(self.revision);
        }
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        if revision < self.compact_revision {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: Some(self.compact_revision),
            });
        }
        Ok(revision)
    }

    /// Lists keys under `prefix` as of `opts.revision`.
    pub fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult> {
        let at = self.read_revision(opts.revision)?;
        let start = match &opts.start {
            Some(s) if s.as_str() > prefix => s.as_str(),
            _ => prefix,
        };
        let limit = if opts.limit == 0 {
            usize::MAX
        } else {
            opts.limit
        };
        let current = self
            .kvs
            .range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix));
        let mut kvs = Vec::new();
        let mut more = false;
        if at == self.revision {
            for (key, entry) in current {
                if kvs.len() == limit {
                    more = true;
                    break;
                }
                kvs.push(entry.to_kv(key));
            }
        } else {
            // Undo every later change in the range, newest first: what remains for each key
            // is its value as of `at`.
            let mut past: BTreeMap<&str, Option<&KeyValue>> = BTreeMap::new();
            let later = self.history.partition_point(|e| e.revision() <= at);
            for event in self.history.range(later..).rev() {
                let key = event.kv.key.as_str();
                if key >= start && key.starts_with(prefix) {
                    past.insert(key, event.prev.as_ref());
                }
            }
            let merged = merge_past(current, &past);
            for kv in merged {
                if kvs.len() == limit {
                    more = true;
                    break;
                }
                kvs.push(kv);
            }
        }
        Ok(ListResult {
            kvs,
            revision: at,
            more,
        })
    }

    /// Retained events under `prefix` with revision >= `start` (0 = none: only the future).
    pub fn events_since(&self, prefix: &str, start: Revision) -> Result<Vec<Event>> {
        if start == 0 || start > self.revision {
            return Ok(Vec::new());
        }
        if start < self.compact_revision {
            return Err(StoreError::Compacted {
                requested: start,
                compacted: Some(self.compact_revision),
            });
        }
        let from = self.history.partition_point(|e| e.revision() < start);
        Ok(self
            .history
            .range(from..)
            .filter(|e| e.kv.key.starts_with(prefix))
            .cloned()
            .collect())
    }
}

/// The key/value a delete event carries, as etcd reports it.
pub(crate) fn deleted_kv(key: &str, revision: Revision) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Bytes::new(),
        create_revision: 0,
        mod_revision: revision,
        version: 0,
    }
}

/// Merges current entries with past overrides (key -> value as of the read revision, `None`
/// if absent then), in key order.
fn merge_past<'a>(
    current: impl Iterator<Item = (&'a String, &'a Entry)>,
    past: &BTreeMap<&str, Option<&KeyValue>>,
) -> Vec<KeyValue> {
    let mut out: BTreeMap<&str, KeyValue> = BTreeMap::new();
    for (key, entry) in current {
        if !past.contains_key(key.as_str()) {
            out.insert(key.as_str(), entry.to_kv(key));
        }
    }
    for (key, value) in past {
        if let Some(kv) = value {
            out.insert(key, (*kv).clone());
        }
    }
    out.into_values().collect()
}

/// The latest value of every key written by admitted writes the state may not hold yet
/// (`None`: deleted), so that admission can run ahead of the disk.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    latest: HashMap<String, (Revision, Option<KeyValue>)>,
    /// Keys in the order written, to forget them once applied.
    order: VecDeque<(Revision, String)>,
}

impl Overlay {
    fn get(&self, key: &str) -> Option<&Option<KeyValue>> {
        self.latest.get(key).map(|(_, v)| v)
    }

    fn insert(&mut self, key: String, revision: Revision, value: Option<KeyValue>) {
        self.order.push_back((revision, key.clone()));
        self.latest.insert(key, (revision, value));
    }

    /// Forgets writes up to `applied`: the state holds them (or newer) now.
    pub fn forget_applied(&mut self, applied: Revision) {
        while let Some((revision, _)) = self.order.front()
            && *revision <= applied
        {
            let (revision, key) = self.order.pop_front().expect("front exists");
            if self.latest.get(&key).is_some_and(|(r, _)| *r == revision) {
                self.latest.remove(&key);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.latest.len()
    }
}

/// Decides a batch of writes against the state plus the writes admitted before it that are
/// not yet applied (the overlay), without changing the state: the state changes only after
/// the batch is durable.
pub(crate) struct Batch<'a> {
    state: &'a State,
    overlay: &'a mut Overlay,
    /// Revision of the last admitted write.
    pub revision: Revision,
    /// Compaction point after the admitted compactions.
    pub compact_revision: Revision,
    pub records: Vec<Record>,
}

/// A write as a client asks for it.
#[derive(Debug)]
pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

/// What an admitted write will have done once durable.
#[derive(Debug)]
pub(crate) enum Outcome {
    Written(KeyValue),
    Deleted(KeyValue, Revision),
    Compacted,
}

impl<'a> Batch<'a> {
    /// A batch following the admitted writes up to `revision` and compactions up to
    /// `compact_revision`, whose unapplied effects are in `overlay`.
    pub fn new(
        state: &'a State,
        overlay: &'a mut Overlay,
        revision: Revision,
        compact_revision: Revision,
    ) -> Self {
        Batch {
            state,
            overlay,
            revision,
            compact_revision,
            records: Vec::new(),
        }
    }

    fn current(&self, key: &str) -> Option<KeyValue> {
        match self.overlay.get(key) {
            Some(v) => v.clone(),
            None => self.state.get(key),
        }
    }

    /// Checks `op` and, if it may proceed, appends its record to the batch.
    pub fn admit(&mut self, op: WriteOp) -> Result<Outcome> {
        match op {
            WriteOp::Create { key, value } => {
                if self.current(&key).is_some() {
                    return Err(StoreError::AlreadyExists { key });
                }
                Ok(Outcome::Written(self.put(key, value, None)))
            }
            WriteOp::Update {
                key,
                value,
                expected,
            } => {
                let Some(current) = self.current(&key) else {
                    return Err(StoreError::NotFound { key });
                };
                if current.mod_revision != expected {
                    return Err(StoreError::Conflict {
                        key,
                        expected,
                        current: Box::new(current),
                    });
                }
                Ok(Outcome::Written(self.put(key, value, Some(current))))
            }
            WriteOp::Delete { key, expected } => {
                let Some(current) = self.current(&key) else {
                    return Err(StoreError::NotFound { key });
                };
                if let Some(expected) = expected
                    && current.mod_revision != expected
                {
                    return Err(StoreError::Conflict {
                        key,
                        expected,
                        current: Box::new(current),
                    });
                }
                let revision = self.take_revision();
                self.overlay.insert(key.clone(), revision, None);
                self.records.push(Record::Delete { revision, key });
                Ok(Outcome::Deleted(current, revision))
            }
            WriteOp::Compact { revision } => {
                let latest = self.revision;
                if revision > latest {
                    return Err(StoreError::FutureRevision {
                        requested: revision,
                        current: latest,
                    });
                }
                if revision <= self.compact_revision {
                    return Err(StoreError::Compacted {
                        requested: revision,
                        compacted: Some(self.compact_revision),
                    });
                }
                self.compact_revision = revision;
                self.records.push(Record::Compact { revision });
                Ok(Outcome::Compacted)
            }
        }
    }

    fn take_revision(&mut self) -> Revision {
        self.revision += 1;
        self.revision
    }

    fn put(&mut self, key: String, value: Bytes, prev: Option<KeyValue>) -> KeyValue {
        let revision = self.take_revision();
        let kv = KeyValue {
            key: key.clone(),
            value: value.clone(),
            create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
            mod_revision: revision,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
        };
        self.overlay.insert(key.clone(), revision, Some(kv.clone()));
        self.records.push(Record::Put {
            revision,
            key,
            value,
        });
        kv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(s: &mut State, key: &str, value: &str) -> Event {
        let revision = s.revision + 1;
        s.apply(&Record::Put {
            revision,
            key: key.into(),
            value: Bytes::copy_from_slice(value.as_bytes()),
        })
        .unwrap()
    }

    fn del(s: &mut State, key: &str) -> Event {
        let revision = s.revision + 1;
        s.apply(&Record::Delete {
            revision,
            key: key.into(),
        })
        .unwrap()
    }

    fn keys_values(r: &ListResult) -> Vec<(String, String)> {
        r.kvs
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    String::from_utf8(kv.value.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn versions_and_revisions_follow_etcd() {
        let mut s = State::default();
        let e = put(&mut s, "a", "1");
        assert_eq!(
            (e.kv.create_revision, e.kv.mod_revision, e.kv.version),
            (1, 1, 1)
        );
        put(&mut s, "b", "x");
        let e = put(&mut s, "a", "2");
        assert_eq!(
            (e.kv.create_revision, e.kv.mod_revision, e.kv.version),
            (1, 3, 2)
        );
        assert_eq!(e.prev.unwrap().value, Bytes::from_static(b"1"));
        let e = del(&mut s, "a");
        assert_eq!(e.kind, EventKind::Delete);
        assert_eq!(e.kv.mod_revision, 4);
        assert_eq!(e.prev.unwrap().version, 2);
        let e = put(&mut s, "a", "3");
        assert_eq!((e.kv.create_revision, e.kv.version), (5, 1));
    }

    #[test]
    fn list_at_an_old_revision_undoes_later_changes() {
        let mut s = State::default();
        put(&mut s, "/p/a", "a1"); // 1
        put(&mut s, "/p/b", "b1"); // 2
        put(&mut s, "/q/z", "z1"); // 3
        put(&mut s, "/p/a", "a2"); // 4
        del(&mut s, "/p/b"); // 5
        put(&mut s, "/p/c", "c1"); // 6
        let at = |rev| {
            let opts = ListOptions {
                revision: rev,
                ..Default::default()
            };
            keys_values(&s.list("/p/", &opts).unwrap())
        };
        assert_eq!(at(0), pairs(&[("/p/a", "a2"), ("/p/c", "c1")]));
        assert_eq!(at(2), pairs(&[("/p/a", "a1"), ("/p/b", "b1")]));
        assert_eq!(at(4), pairs(&[("/p/a", "a2"), ("/p/b", "b1")]));
        assert_eq!(at(1), pairs(&[("/p/a", "a1")]));
    }

    #[test]
    fn paging_with_start_and_limit() {
        let mut s = State::default();
        for k in ["a", "b", "c", "d"] {
            put(&mut s, &format!("/p/{k}"), k);
        }
        put(&mut s, "/p/b", "b2");
        let page = |start: Option<&str>, rev| {
            let opts = ListOptions {
                revision: rev,
                start: start.map(str::to_owned),
                limit: 2,
            };
            let r = s.list("/p/", &opts).unwrap();
            (keys_values(&r), r.more)
        };
        assert_eq!(
            page(None, 0),
            (pairs(&[("/p/a", "a"), ("/p/b", "b2")]), true)
        );
        assert_eq!(
            page(Some("/p/c"), 0),
            (pairs(&[("/p/c", "c"), ("/p/d", "d")]), false)
        );
        assert_eq!(
            page(Some("/p/b"), 4),
            (pairs(&[("/p/b", "b"), ("/p/c", "c")]), true)
        );
    }

    #[test]
    fn compaction_forgets_old_revisions() {
        let mut s = State::default();
        for i in 0..5 {
            put(&mut s, "/k", &i.to_string());
        }
        s.apply(&Record::Compact { revision: 3 });
        assert_eq!(s.history.len(), 3);
        let opts = |revision| ListOptions {
            revision,
            ..Default::default()
        };
        assert!(matches!(
            s.list("/", &opts(2)),
            Err(StoreError::Compacted {
                requested: 2,
                compacted: Some(3)
            })
        ));
        assert_eq!(
            keys_values(&s.list("/", &opts(3)).unwrap()),
            pairs(&[("/k", "2")])
        );
        assert!(matches!(
            s.events_since("/", 2),
            Err(StoreError::Compacted { .. })
        ));
        assert_eq!(s.events_since("/", 3).unwrap().len(), 3);
        assert!(matches!(
            s.check_compact(3),
            Err(StoreError::Compacted { .. })
        ));
        assert!(matches!(
            s.check_compact(6),
            Err(StoreError::FutureRevision { .. })
        ));
    }

    #[test]
    fn batch_sees_its_own_earlier_writes() {
        let mut s = State::default();
        put(&mut s, "/k", "v");
        let mut overlay = Overlay::default();
        let mut b = Batch::new(&s, &mut overlay, s.revision, s.compact_revision);
        let created = |r: Result<Outcome>| match r {
            Ok(Outcome::Written(kv)) => kv,
            other => panic!("unexpected {other:?}"),
        };
        let kv = created(b.admit(WriteOp::Update {
            key: "/k".into(),
            value: Bytes::from_static(b"v2"),
            expected: 1,
        }));
        assert_eq!((kv.mod_revision, kv.version), (2, 2));
        // The same CAS again loses: the batch already moved the key on.
        assert!(matches!(
            b.admit(WriteOp::Update {
                key: "/k".into(),
                value: Bytes::from_static(b"v3"),
                expected: 1,
            }),
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            b.admit(WriteOp::Create {
                key: "/k".into(),
                value: Bytes::new()
            }),
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(matches!(
            b.admit(WriteOp::Delete {
                key: "/k".into(),
                expected: Some(2)
            }),
            Ok(Outcome::Deleted(_, 3))
        ));
        assert!(matches!(
            b.admit(WriteOp::Delete {
                key: "/k".into(),
                expected: None
            }),
            Err(StoreError::NotFound { .. })
        ));
        let records = std::mem::take(&mut b.records);
        assert_eq!(records.len(), 2);
        // A later batch, admitted before the first is applied, sees its effects.
        let mut next = Batch::new(&s, &mut overlay, 3, 0);
        assert!(matches!(
            next.admit(WriteOp::Create {
                key: "/k".into(),
                value: Bytes::new()
            }),
            Ok(Outcome::Written(kv)) if kv.mod_revision == 4
        ));
        let more = std::mem::take(&mut next.records);
        assert_eq!(s.revision, 1, "admitting does not change the state");
        for r in records.iter().chain(&more) {
            s.apply(r);
        }
        assert_eq!(s.revision, 4);
        assert_eq!(s.get("/k").unwrap().version, 1);
        // Once applied, the overlay forgets them; the state answers instead.
        overlay.forget_applied(3);
        assert_eq!(overlay.len(), 1, "revision 4 is still remembered");
        overlay.forget_applied(4);
        assert_eq!(overlay.len(), 0);
    }
}
