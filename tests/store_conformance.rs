//! One conformance suite for the store, run against both backends: the embedded store and
//! a real etcd started on a free loopback port.

mod support;

use std::sync::Arc;
use std::time::Duration;

use skiff_store::{
    AnyStore, Bytes, Event, EventKind, ListOptions, MAX_ENTRY_BYTES, Store, StoreError, WatchStream,
};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = crate::support::store::Harness::embedded();
                    crate::$name(&h.store).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = crate::support::store::Harness::etcd().await;
                    crate::$name(&h.store).await;
                }
            )*
        }
    };
}

conformance!(
    every_write_takes_the_next_revision,
    create_refuses_an_existing_key,
    update_and_delete_are_compare_and_swap,
    list_sees_only_its_prefix_in_key_order,
    list_pages_and_reads_old_revisions,
    reads_outside_the_retained_range_fail_clearly,
    watch_delivers_every_change_in_order,
    watch_replays_from_an_old_revision,
    watch_sees_only_its_prefix,
    compaction_forgets_old_revisions,
    concurrent_writers_lose_no_update,
    entries_up_to_the_size_limit_and_a_clear_error_above,
);

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// The next batch of events, or a panic after a generous timeout.
async fn next_events(w: &mut WatchStream) -> Vec<Event> {
    match tokio::time::timeout(Duration::from_secs(10), w.next()).await {
        Ok(Some(Ok(events))) => events.to_vec(),
        Ok(other) => panic!("watch ended unexpectedly: {other:?}"),
        Err(_) => panic!("no watch event within 10s"),
    }
}

/// Collects exactly `n` events, however the backend groups them.
async fn collect(w: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut all = Vec::new();
    while all.len() < n {
        all.extend(next_events(w).await);
    }
    assert_eq!(all.len(), n, "more events than expected: {all:?}");
    all
}

/// Starting a watch at a compacted revision fails either when it is created or on its
/// first item, depending on the backend; both must say "compacted".
async fn expect_compacted_watch(store: &AnyStore, prefix: &str, start: i64) {
    match store.watch(prefix, start).await {
        Err(StoreError::Compacted { requested, .. }) => assert_eq!(requested, start),
        Err(e) => panic!("expected Compacted, got {e}"),
        Ok(mut w) => match tokio::time::timeout(Duration::from_secs(10), w.next()).await {
            Ok(Some(Err(StoreError::Compacted { requested, .. }))) => assert_eq!(requested, start),
            other => panic!("expected a Compacted error from the watch, got {other:?}"),
        },
    }
}

fn summary(events: &[Event]) -> Vec<(EventKind, String, i64)> {
    events
        .iter()
        .map(|e| (e.kind, e.kv.key.clone(), e.revision()))
        .collect()
}

async fn every_write_takes_the_next_revision(store: &AnyStore) {
    let r0 = store.current_revision().await.unwrap();
    let a = store.create("/t/a", b("1")).await.unwrap();
    assert_eq!(
        (a.create_revision, a.mod_revision, a.version),
        (r0 + 1, r0 + 1, 1)
    );
    let bb = store.create("/t/b", b("x")).await.unwrap();
    assert_eq!(bb.mod_revision, r0 + 2);
    let a2 = store.update("/t/a", b("2"), a.mod_revision).await.unwrap();
    assert_eq!(
        (a2.create_revision, a2.mod_revision, a2.version),
        (r0 + 1, r0 + 3, 2)
    );
    let (prev, rev) = store.delete("/t/b", None).await.unwrap();
    assert_eq!((prev.value, rev), (b("x"), r0 + 4));
    let (got, rev) = store.get("/t/a").await.unwrap();
    assert_eq!(got, Some(a2));
    assert_eq!(rev, r0 + 4);
    assert_eq!(store.get("/t/b").await.unwrap().0, None);
    assert_eq!(store.current_revision().await.unwrap(), r0 + 4);
    // Re-creating a deleted key starts a new life: version 1, new create revision.
    let again = store.create("/t/b", b("y")).await.unwrap();
    assert_eq!((again.create_revision, again.version), (r0 + 5, 1));
}

async fn create_refuses_an_existing_key(store: &AnyStore) {
    store.create("/t/k", b("v")).await.unwrap();
    let rev = store.current_revision().await.unwrap();
    let err = store.create("/t/k", b("other")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists { key } if key == "/t/k"),
        "{err}"
    );
    assert_eq!(store.get("/t/k").await.unwrap().0.unwrap().value, b("v"));
    assert_eq!(
        store.current_revision().await.unwrap(),
        rev,
        "a failed write takes no revision"
    );
}

async fn update_and_delete_are_compare_and_swap(store: &AnyStore) {
    let v1 = store.create("/t/k", b("1")).await.unwrap();
    let v2 = store.update("/t/k", b("2"), v1.mod_revision).await.unwrap();
    match store.update("/t/k", b("lost"), v1.mod_revision).await {
        Err(StoreError::Conflict {
            key,
            expected,
            current,
        }) => {
            assert_eq!((key.as_str(), expected), ("/t/k", v1.mod_revision));
            assert_eq!(*current, v2);
        }
        other => panic!("stale update must conflict, got {other:?}"),
    }
    let err = store.update("/t/missing", b("x"), 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let err = store
        .delete("/t/k", Some(v1.mod_revision))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(
        store.get("/t/k").await.unwrap().0.is_some(),
        "a failed delete keeps the key"
    );
    let (prev, _) = store.delete("/t/k", Some(v2.mod_revision)).await.unwrap();
    assert_eq!(prev, v2);
    let err = store.delete("/t/k", None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let err = store
        .delete("/t/k", Some(v2.mod_revision))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

async fn list_sees_only_its_prefix_in_key_order(store: &AnyStore) {
    for key in ["/a/3", "/a/1", "/ab/1", "/b/1", "/a/2", "/a"] {
        store.create(key, b(key)).await.unwrap();
    }
    let rev = store.current_revision().await.unwrap();
    let list = store.list("/a/", ListOptions::default()).await.unwrap();
    let keys: Vec<_> = list.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/a/1", "/a/2", "/a/3"]);
    assert_eq!(list.revision, rev);
    assert!(!list.more);
    assert!(list.kvs.iter().all(|kv| kv.value == b(&kv.key)));
    let none = store.list("/c/", ListOptions::default()).await.unwrap();
    assert!(none.kvs.is_empty());
}

async fn list_pages_and_reads_old_revisions(store: &AnyStore) {
    for i in 0..5 {
        store.create(&format!("/p/{i}"), b("old")).await.unwrap();
    }
    let first = store
        .list(
            "/p/",
            ListOptions {
                limit: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first.kvs.len(), 2);
    assert!(first.more);
    // Changes after the first page must not show in later pages read at its revision.
    let p3 = store.get("/p/3").await.unwrap().0.unwrap();
    store
        .update("/p/3", b("new"), p3.mod_revision)
        .await
        .unwrap();
    store.delete("/p/4", None).await.unwrap();
    store.create("/p/5", b("new")).await.unwrap();
    let mut keys: Vec<String> = first.kvs.iter().map(|kv| kv.key.clone()).collect();
    let mut start = format!("{}\0", keys.last().unwrap());
    loop {
        let page = store
            .list(
                "/p/",
                ListOptions {
                    revision: first.revision,
                    start: Some(start.clone()),
                    limit: 2,
                },
            )
            .await
            .unwrap();
        assert_eq!(page.revision, first.revision);
        assert!(page.kvs.iter().all(|kv| kv.value == b("old")), "{page:?}");
        keys.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        if !page.more {
            break;
        }
        start = format!("{}\0", page.kvs.last().unwrap().key);
    }
    assert_eq!(keys, ["/p/0", "/p/1", "/p/2", "/p/3", "/p/4"]);
    let now = store.list("/p/", ListOptions::default()).await.unwrap();
    let now: Vec<_> = now.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(now, ["/p/0", "/p/1", "/p/2", "/p/3", "/p/5"]);
}

async fn reads_outside_the_retained_range_fail_clearly(store: &AnyStore) {
    for i in 0..3 {
        store.create(&format!("/r/{i}"), b("v")).await.unwrap();
    }
    let rev = store.current_revision().await.unwrap();
    let future = ListOptions {
        revision: rev + 100,
        ..Default::default()
    };
    let err = store.list("/r/", future).await.unwrap_err();
    assert!(matches!(err, StoreError::FutureRevision { requested, .. } if requested == rev + 100));
    assert!(err.to_string().contains("in the future"), "{err}");
    store.compact(rev).await.unwrap();
    let old = ListOptions {
        revision: rev - 1,
        ..Default::default()
    };
    let err = store.list("/r/", old).await.unwrap_err();
    assert!(matches!(err, StoreError::Compacted { requested, .. } if requested == rev - 1));
    assert!(err.to_string().contains("has been compacted"), "{err}");
}

async fn watch_delivers_every_change_in_order(store: &AnyStore) {
    let mut w = store.watch("/w/", 0).await.unwrap();
    let a = store.create("/w/a", b("1")).await.unwrap();
    let a2 = store.update("/w/a", b("2"), a.mod_revision).await.unwrap();
    store.create("/w/b", b("x")).await.unwrap();
    let (_, del_rev) = store.delete("/w/a", None).await.unwrap();
    let events = collect(&mut w, 4).await;
    let r = a.mod_revision;
    assert_eq!(
        summary(&events),
        [
            (EventKind::Put, "/w/a".into(), r),
            (EventKind::Put, "/w/a".into(), r + 1),
            (EventKind::Put, "/w/b".into(), r + 2),
            (EventKind::Delete, "/w/a".into(), r + 3),
        ]
    );
    assert_eq!(events[0].kv, a);
    assert_eq!(events[0].prev, None);
    assert_eq!(events[1].kv, a2);
    assert_eq!(events[1].prev.as_ref(), Some(&a));
    assert_eq!(events[3].kv.mod_revision, del_rev);
    assert_eq!(
        events[3].prev.as_ref(),
        Some(&a2),
        "a delete carries the last value"
    );
}

async fn watch_replays_from_an_old_revision(store: &AnyStore) {
    let first = store.create("/h/1", b("1")).await.unwrap();
    store.create("/h/2", b("2")).await.unwrap();
    store.create("/h/3", b("3")).await.unwrap();
    let mut w = store.watch("/h/", first.mod_revision + 1).await.unwrap();
    store.create("/h/4", b("4")).await.unwrap();
    let events = collect(&mut w, 3).await;
    let keys: Vec<_> = events.iter().map(|e| e.kv.key.as_str()).collect();
    assert_eq!(keys, ["/h/2", "/h/3", "/h/4"]);
    let revs: Vec<_> = events.iter().map(Event::revision).collect();
    assert!(revs.windows(2).all(|w| w[1] == w[0] + 1), "{revs:?}");
    // A watch can also start in the future and stays quiet until then.
    let now = store.current_revision().await.unwrap();
    let mut later = store.watch("/h/", now + 2).await.unwrap();
    store.create("/h/5", b("5")).await.unwrap();
    store.create("/h/6", b("6")).await.unwrap();
    let events = collect(&mut later, 1).await;
    assert_eq!(events[0].kv.key, "/h/6");
}

async fn watch_sees_only_its_prefix(store: &AnyStore) {
    let mut w = store.watch("/x/", 0).await.unwrap();
    store.create("/xy/1", b("no")).await.unwrap();
    store.create("/y/1", b("no")).await.unwrap();
    store.create("/x", b("no")).await.unwrap();
    store.create("/x/1", b("yes")).await.unwrap();
    let events = collect(&mut w, 1).await;
    assert_eq!(events[0].kv.key, "/x/1");
}

async fn compaction_forgets_old_revisions(store: &AnyStore) {
    let mut revs = Vec::new();
    let mut kv = store.create("/c/k", b("0")).await.unwrap();
    revs.push(kv.mod_revision);
    for i in 1..5 {
        kv = store
            .update("/c/k", b(&i.to_string()), kv.mod_revision)
            .await
            .unwrap();
        revs.push(kv.mod_revision);
    }
    let cut = revs[2];
    store.compact(cut).await.unwrap();
    expect_compacted_watch(store, "/c/", revs[1]).await;
    // The compaction revision itself and later ones stay readable and watchable.
    let at_cut = ListOptions {
        revision: cut,
        ..Default::default()
    };
    let list = store.list("/c/", at_cut).await.unwrap();
    assert_eq!(list.kvs[0].value, b("2"));
    let mut w = store.watch("/c/", cut).await.unwrap();
    let events = collect(&mut w, 3).await;
    let values: Vec<_> = events.iter().map(|e| e.kv.value.clone()).collect();
    assert_eq!(values, [b("2"), b("3"), b("4")]);
    let err = store.compact(cut).await.unwrap_err();
    assert!(matches!(err, StoreError::Compacted { .. }), "{err}");
    let now = store.current_revision().await.unwrap();
    let err = store.compact(now + 10).await.unwrap_err();
    assert!(matches!(err, StoreError::FutureRevision { .. }), "{err}");
}

async fn concurrent_writers_lose_no_update(store: &AnyStore) {
    const WRITERS: usize = 16;
    const INCREMENTS: usize = 25;
    let store = Arc::new(store.clone());
    store.create("/n/counter", b("0")).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for i in 0..INCREMENTS {
                store.create(&format!("/n/w{w}/{i}"), b("x")).await.unwrap();
                let (mut kv, _) = store.get("/n/counter").await.unwrap();
                loop {
                    let cur = kv.as_ref().unwrap();
                    let n: usize = std::str::from_utf8(&cur.value).unwrap().parse().unwrap();
                    match store
                        .update("/n/counter", b(&(n + 1).to_string()), cur.mod_revision)
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Conflict { current, .. }) => {
                            conflicts += 1;
                            kv = Some(*current);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let counter = store.get("/n/counter").await.unwrap().0.unwrap();
    assert_eq!(counter.value, b(&(WRITERS * INCREMENTS).to_string()));
    assert_eq!(counter.version as usize, WRITERS * INCREMENTS + 1);
    let keys = store.list("/n/w", ListOptions::default()).await.unwrap();
    assert_eq!(keys.kvs.len(), WRITERS * INCREMENTS);
    println!("{conflicts} compare-and-swap conflicts were retried");
}

async fn entries_up_to_the_size_limit_and_a_clear_error_above(store: &AnyStore) {
    let key = "/big/object";
    let fits = Bytes::from(vec![b'x'; MAX_ENTRY_BYTES - key.len()]);
    let kv = store.create(key, fits.clone()).await.unwrap();
    assert_eq!(store.get(key).await.unwrap().0.unwrap().value, fits);
    let rev = store.current_revision().await.unwrap();
    let too_big = Bytes::from(vec![b'x'; MAX_ENTRY_BYTES - key.len() + 1]);
    let err = store
        .update(key, too_big.clone(), kv.mod_revision)
        .await
        .map(|kv| kv.mod_revision)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { size, limit, .. } if size == MAX_ENTRY_BYTES + 1 && limit == MAX_ENTRY_BYTES),
        "{err}"
    );
    assert!(err.to_string().contains("above the store limit"), "{err}");
    let other = "/big/0bject"; // same length as `key`
    let err = store
        .create(other, too_big)
        .await
        .map(|kv| kv.mod_revision)
        .unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    assert_eq!(
        store.current_revision().await.unwrap(),
        rev,
        "nothing was written"
    );
    assert_eq!(store.get(key).await.unwrap().0.unwrap().value, fits);
}
