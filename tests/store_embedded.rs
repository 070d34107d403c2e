//! Behaviour only the embedded backend has: durability across restarts, snapshots, and
//! refusing damaged or foreign data directories.

use std::path::Path;
use std::time::{Duration, Instant};

use skiff_store::{Bytes, EmbeddedOptions, EmbeddedStore, ListOptions, Store, StoreError};

fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(dir, EmbeddedOptions::default()).expect("open store")
}

fn value(i: usize, len: usize) -> Bytes {
    let mut v = format!("{i}:").into_bytes();
    v.resize(len, b'v');
    Bytes::from(v)
}

#[tokio::test]
async fn a_restart_keeps_every_value_revision_and_the_compaction_point() {
    let dir = tempfile::tempdir().unwrap();
    let (before, compacted_at) = {
        let store = open(dir.path());
        for i in 0..50 {
            store
                .create(&format!("/r/{i:02}"), value(i, 100))
                .await
                .unwrap();
        }
        let kv = store.get("/r/07").await.unwrap().0.unwrap();
        store
            .update("/r/07", value(700, 10), kv.mod_revision)
            .await
            .unwrap();
        store.delete("/r/08", None).await.unwrap();
        let cut = store.current_revision().await.unwrap() - 5;
        store.compact(cut).await.unwrap();
        store.create("/r/new", value(1, 1)).await.unwrap();
        (
            store.list("/r/", ListOptions::default()).await.unwrap(),
            cut,
        )
    };
    let store = open(dir.path());
    let after = store.list("/r/", ListOptions::default()).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(store.current_revision().await.unwrap(), before.revision);
    let old = ListOptions {
        revision: compacted_at - 1,
        ..Default::default()
    };
    assert!(matches!(
        store.list("/r/", old).await,
        Err(StoreError::Compacted { .. })
    ));
    // History after the compaction point survives the restart.
    let mut w = store.watch("/r/", compacted_at).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 6 {
        seen.extend(w.next().await.unwrap().unwrap().iter().cloned());
    }
    assert_eq!(seen.first().unwrap().revision(), compacted_at);
    assert_eq!(seen.last().unwrap().kv.key, "/r/new");
    // And writing continues from the recovered revision.
    let kv = store.create("/r/later", value(2, 2)).await.unwrap();
    assert_eq!(kv.mod_revision, before.revision + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_bound_the_log_and_recovery_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        segment_bytes: 64 << 10,
    };
    let wal_dir = dir.path().join("wal");
    let snap_dir = dir.path().join("snap");
    let count = |d: &Path| std::fs::read_dir(d).unwrap().count();
    {
        let store = EmbeddedStore::open(dir.path(), options.clone()).unwrap();
        for i in 0..1000 {
            store
                .create(&format!("/s/{i:04}"), value(i, 1000))
                .await
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while count(&snap_dir) == 0 {
            assert!(Instant::now() < deadline, "no snapshot was written");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // ~1 MB of writes in 64 KiB segments: without snapshots there would be ~17 segments. A
    // snapshot is due once the log written since the last one reaches that snapshot's size,
    // so what remains is at most the last snapshot's size plus the open segment.
    let bytes = |d: &Path| -> u64 {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let (segments, log_bytes) = (count(&wal_dir), bytes(&wal_dir));
    assert!(
        segments <= 8 && log_bytes <= bytes(&snap_dir) + options.segment_bytes,
        "{segments} log segments ({log_bytes} bytes) remain after snapshotting"
    );
    assert_eq!(count(&snap_dir), 1, "older snapshots are removed");
    let store = EmbeddedStore::open(dir.path(), options).unwrap();
    let all = store.list("/s/", ListOptions::default()).await.unwrap();
    assert_eq!(all.kvs.len(), 1000);
    assert!(
        all.kvs
            .iter()
            .enumerate()
            .all(|(i, kv)| kv.value == value(i, 1000))
    );
    // Uncompacted history is part of the snapshot: a watch from revision 1 still works.
    let mut w = store.watch("/s/", 1).await.unwrap();
    let first = w.next().await.unwrap().unwrap();
    assert_eq!(first[0].kv.key, "/s/0000");
}

#[tokio::test]
async fn damage_inside_the_log_is_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        for i in 0..20 {
            store
                .create(&format!("/d/{i}"), value(i, 200))
                .await
                .unwrap();
        }
    }
    let segment = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut data = std::fs::read(&segment).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0x55;
    std::fs::write(&segment, &data).unwrap();
    let err = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{msg}");
    assert!(msg.contains(&segment.display().to_string()), "{msg}");
    assert!(msg.contains("checksum mismatch"), "{msg}");
}

#[test]
fn a_foreign_directory_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("postgresql.conf"), "x").unwrap();
    let err = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("is not a skiff store directory"), "{msg}");
    assert!(msg.contains("postgresql.conf"), "{msg}");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "nothing was created");
}

#[test]
fn only_one_process_opens_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("in use by another skiff process"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_falls_far_behind_still_gets_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut w = store.watch("/lag/", 0).await.unwrap();
    // More single-write batches than the live channel holds, while nobody reads.
    const N: usize = 5000;
    for i in 0..N {
        store
            .create(&format!("/lag/{i:05}"), value(i, 10))
            .await
            .unwrap();
    }
    let mut revs = Vec::new();
    while revs.len() < N {
        let events = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .expect("events arrive")
            .unwrap()
            .unwrap();
        revs.extend(events.iter().map(|e| e.revision()));
    }
    assert_eq!(revs.len(), N);
    assert!(
        revs.windows(2).all(|p| p[1] == p[0] + 1),
        "in order, none missing"
    );
}

/// Writes `n` values one by one (one write group each) with small segments, so the log has
/// several segments and a snapshot; returns the data directory.
async fn fill(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), small_segments()).unwrap();
    for i in 0..n {
        store
            .create(&format!("/f/{i:04}"), value(i, 300))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(dir.path().join("snap")).unwrap().count() == 0 {
        assert!(Instant::now() < deadline, "no snapshot was written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dir
}

fn small_segments() -> EmbeddedOptions {
    EmbeddedOptions {
        segment_bytes: 16 << 10,
    }
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut s: Vec<_> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    s.sort();
    s
}

fn corrupt(err: &StoreError) -> (&Path, Option<u64>, &str) {
    match err {
        StoreError::Corrupt {
            path,
            offset,
            detail,
        } => (path, *offset, detail),
        other => panic!("expected corruption, got: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_newest_segment_is_detected() {
    let dir = fill(300).await;
    let newest = segments(dir.path()).pop().unwrap();
    std::fs::remove_file(&newest).unwrap();
    let err = EmbeddedStore::open(dir.path(), small_segments()).unwrap_err();
    let (path, _, detail) = corrupt(&err);
    assert_eq!(path, newest, "{err}");
    assert!(detail.contains("is missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_lost_next_to_a_snapshot_is_detected() {
    let dir = fill(300).await;
    for segment in segments(dir.path()) {
        std::fs::remove_file(segment).unwrap();
    }
    let err = EmbeddedStore::open(dir.path(), small_segments()).unwrap_err();
    assert!(corrupt(&err).2.contains("is missing"), "{err}");
    std::fs::remove_dir(dir.path().join("wal")).unwrap();
    let err = EmbeddedStore::open(dir.path(), small_segments()).unwrap_err();
    let (path, _, detail) = corrupt(&err);
    assert_eq!(path, dir.path().join("wal"));
    assert!(detail.contains("directory is missing"), "{err}");
}

/// A frame header whose length points past the end of the file, or that was zeroed, is
/// damage to acknowledged data when acknowledged frames follow it: not a torn tail.
#[tokio::test]
async fn a_damaged_frame_header_before_acknowledged_writes_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        for i in 0..20 {
            store
                .create(&format!("/h/{i}"), value(i, 200))
                .await
                .unwrap();
        }
    }
    let segment = segments(dir.path()).pop().unwrap();
    let original = std::fs::read(&segment).unwrap();
    // The first frame header follows the 32-byte segment header.
    const FIRST_FRAME: usize = 32;
    let mut past_the_end = original.clone();
    past_the_end[FIRST_FRAME..FIRST_FRAME + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut zeroed = original.clone();
    zeroed[FIRST_FRAME..FIRST_FRAME + 36].fill(0);
    for damaged in [past_the_end, zeroed] {
        std::fs::write(&segment, &damaged).unwrap();
        let err = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap_err();
        let (path, offset, detail) = corrupt(&err);
        assert_eq!(path, segment, "{err}");
        assert_eq!(offset, Some(FIRST_FRAME as u64), "{err}");
        assert!(detail.contains("had been synced"), "{err}");
        assert_eq!(
            std::fs::read(&segment).unwrap(),
            damaged,
            "nothing was cut off"
        );
    }
    std::fs::write(&segment, &original).unwrap();
    let store = open(dir.path());
    assert_eq!(store.current_revision().await.unwrap(), 20);
    assert!(store.recovery().torn_tail.is_none());
}

#[test]
fn a_store_of_the_old_format_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("skiff-store", b"skiff-store format 1\n".to_vec()),
        ("wal/00000000000000000001.wal", {
            let mut v1 = b"SKIFFWAL".to_vec();
            v1.extend_from_slice(&1u32.to_le_bytes());
            v1.extend_from_slice(&[7; 100]);
            v1
        }),
    ];
    std::fs::create_dir_all(dir.path().join("wal")).unwrap();
    std::fs::create_dir_all(dir.path().join("snap")).unwrap();
    for (name, content) in &files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let err = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::UnsupportedFormat { .. }), "{msg}");
    assert!(msg.contains("format 1"), "{msg}");
    assert!(msg.contains("new, empty data directory"), "{msg}");
    for (name, content) in &files {
        assert_eq!(&std::fs::read(dir.path().join(name)).unwrap(), content);
    }
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["skiff-store", "snap", "wal"], "nothing was added");
}
