//! The real store on a simulated disk that loses power ([`SimDisk`]): random workloads of
//! concurrent writers, a power loss (or an I/O error) at a random operation, random fates for
//! whatever was not synced, and sometimes damage to what was. After each crash the store is
//! reopened and must hold exactly the acknowledged writes (every one of them, plus possibly
//! some in-flight writes, each complete), or, after damage to synced data, refuse to open
//! with `Corrupt` naming the file (and the offset, in the log).
//!
//! Damage to the last write of the newest segment is left out of the random damage: it is
//! indistinguishable from a write a crash interrupted (see ARCHITECTURE.md), and
//! `frame::tests::any_damage_inside_the_last_write_is_torn` pins down what happens then.
//!
//! The harness counts the recovery paths the cases went through and fails if any was never
//! taken, so the test cannot pass by testing less than it claims.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::sim_disk::{Fate, Rng, SimDisk};
use super::{EmbeddedOptions, EmbeddedStore};
use crate::types::EventKind;
use crate::{Store, StoreError};

const CASES: u32 = 400;

fn base() -> PathBuf {
    PathBuf::from("/sim")
}

/// Two levels below the base do not exist yet: creating them must sync their parents.
fn root() -> PathBuf {
    base().join("data/store")
}

fn options() -> EmbeddedOptions {
    EmbeddedOptions {
        segment_bytes: 4096,
    }
}

#[derive(Clone, Debug)]
enum Crash {
    /// Power loss at the n-th disk operation of the round (or after the round).
    PowerLoss { at: u64, fate: u64 },
    /// The n-th operation fails with an I/O error; then the process restarts (or the
    /// machine loses power).
    IoError {
        at: u64,
        partial: u64,
        power_loss: Option<u64>,
    },
}

#[derive(Clone, Debug)]
struct Round {
    writers: usize,
    ops: usize,
    seed: u64,
    crash: Crash,
}

#[derive(Clone, Debug)]
enum Damage {
    /// One byte changed, in a file of the kind `target` picks.
    Byte {
        target: Target,
        pick: u64,
        change: Change,
    },
    RemoveNewestSegment,
    RemoveAllSegments,
    RemoveLogDir,
}

#[derive(Clone, Copy, Debug)]
enum Target {
    Anywhere,
    Log,
    SegmentHeaders,
    Manifest,
}

#[derive(Clone, Copy, Debug)]
enum Change {
    Flip(u8),
    Zero,
}

#[derive(Clone, Debug)]
struct Case {
    rounds: Vec<Round>,
    damage: Option<Damage>,
}

fn crash() -> impl Strategy<Value = Crash> {
    prop_oneof![
        3 => (1..120u64, any::<u64>()).prop_map(|(at, fate)| Crash::PowerLoss { at, fate }),
        1 => (1..120u64, 0..=1000u64, proptest::option::of(any::<u64>())).prop_map(
            |(at, partial, power_loss)| Crash::IoError { at, partial, power_loss }
        ),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    let target = prop_oneof![
        Just(Target::Anywhere),
        Just(Target::Log),
        Just(Target::SegmentHeaders),
        Just(Target::Manifest),
    ];
    let change = prop_oneof![
        2 => (1..=255u8).prop_map(Change::Flip),
        1 => Just(Change::Zero),
    ];
    prop_oneof![
        6 => (target, any::<u64>(), change).prop_map(|(target, pick, change)| Damage::Byte {
            target,
            pick,
            change
        }),
        1 => Just(Damage::RemoveNewestSegment),
        1 => Just(Damage::RemoveAllSegments),
        1 => Just(Damage::RemoveLogDir),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let round =
        (1..=8usize, 2..=18usize, any::<u64>(), crash()).prop_map(|(writers, ops, seed, crash)| {
            Round {
                writers,
                ops,
                seed,
                crash,
            }
        });
    (
        proptest::collection::vec(round, 1..=3),
        proptest::option::weighted(0.4, damage()),
    )
        .prop_map(|(rounds, damage)| Case { rounds, damage })
}

/// How often each recovery path ran, over all cases.
#[derive(Debug, Default)]
struct Paths {
    crashes: usize,
    io_errors: usize,
    refused_after_io_error: usize,
    torn_tails: usize,
    torn_ends_missing: usize,
    torn_with_unreadable_frames: usize,
    torn_groups_of_several_frames: usize,
    torn_groups_of_several_frames_with_unreadable_ones: usize,
    in_flight_kept: usize,
    in_flight_lost: usize,
    unfinished_segments_removed: usize,
    covered_segments_removed: usize,
    creation_finished_after_crash: usize,
    snapshots_loaded: usize,
    corrupt_frames: usize,
    corrupt_segment_headers: usize,
    corrupt_manifests: usize,
    corrupt_snapshots: usize,
    missing_segments: usize,
    missing_log_dirs: usize,
    harmless_damage: usize,
}

/// What the store must hold: every write a reopen has confirmed, by revision.
#[derive(Debug, Default)]
struct Model {
    /// revision -> (key, value; `None` for a delete)
    history: BTreeMap<i64, (String, Option<Bytes>)>,
}

/// One writer's outcome in a round.
#[derive(Debug, Default)]
struct Writes {
    acked: Vec<(i64, String, Option<Bytes>)>,
    /// Sent but not acknowledged (the store failed or the disk went off).
    in_doubt: Option<(String, Option<Bytes>)>,
}

fn value(seed: u64, w: usize, i: usize) -> Bytes {
    let mut rng = Rng::new(seed ^ ((w as u64) << 32) ^ i as u64);
    let len = 1 + rng.below(900) as usize;
    Bytes::from((0..len).map(|_| rng.next() as u8).collect::<Vec<_>>())
}

/// One writer: creates, updates and deletes its own keys until done or refused.
async fn writer(store: EmbeddedStore, round: usize, w: usize, r: &Round) -> Writes {
    let mut rng = Rng::new(r.seed.wrapping_add(w as u64));
    let mut out = Writes::default();
    let mut live: Vec<(String, i64)> = Vec::new();
    for i in 0..r.ops {
        // Requests arriving apart while the disk syncs become separate frames of one write.
        if rng.chance(50) {
            std::thread::sleep(Duration::from_micros(rng.below(150)));
        }
        let choice = rng.below(10);
        let v = value(r.seed, w, i);
        let result = if live.is_empty() || choice < 6 {
            let key = format!("/r{round}/w{w}/k{i}");
            out.in_doubt = Some((key.clone(), Some(v.clone())));
            store.create(&key, v.clone()).await.map(|kv| {
                live.push((key.clone(), kv.mod_revision));
                (kv.mod_revision, key, Some(v))
            })
        } else {
            let at = rng.below(live.len() as u64) as usize;
            let (key, rev) = live[at].clone();
            if choice < 9 {
                out.in_doubt = Some((key.clone(), Some(v.clone())));
                store.update(&key, v.clone(), rev).await.map(|kv| {
                    live[at].1 = kv.mod_revision;
                    (kv.mod_revision, key, Some(v))
                })
            } else {
                out.in_doubt = Some((key.clone(), None));
                store.delete(&key, Some(rev)).await.map(|(_, deleted)| {
                    live.remove(at);
                    (deleted, key, None)
                })
            }
        };
        match result {
            Ok(done) => {
                out.acked.push(done);
                out.in_doubt = None;
            }
            Err(StoreError::Failed { .. } | StoreError::Closed) => break,
            Err(e) => panic!("unexpected error from the store: {e}"),
        }
    }
    out
}

/// After an injected I/O error: if it hit the log, the store is poisoned and refuses every
/// write without touching the disk. (A failed snapshot only postpones the snapshot.)
async fn probe_after_failure(
    store: &EmbeddedStore,
    round: usize,
    disk: &SimDisk,
    (op, path): &(String, PathBuf),
    paths: &mut Paths,
) -> Writes {
    // The newest segment and its length (a snapshot may still be removing older ones).
    let newest = || disk.files(&root().join("wal")).into_iter().max();
    let before = newest();
    let key = format!("/probe-after-failure/{round}");
    match store.create(&key, Bytes::new()).await {
        Err(StoreError::Failed { .. }) => {
            assert_eq!(newest(), before, "nothing reaches the log after a failure");
            paths.refused_after_io_error += 1;
            Writes::default()
        }
        Ok(kv) => {
            let log_write = path.extension().is_some_and(|e| e == "wal")
                && matches!(op.as_str(), "write" | "sync_data");
            assert!(
                !log_write,
                "a write was accepted after {op} of {} failed",
                path.display()
            );
            Writes {
                acked: vec![(kv.mod_revision, key, Some(Bytes::new()))],
                in_doubt: None,
            }
        }
        Err(e) => panic!("unexpected error after an injected failure: {e}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs one round on `disk` with its crash armed; returns the disk as it comes back and
/// what the writers saw.
fn run_round(disk: &SimDisk, n: usize, r: &Round, paths: &mut Paths) -> (SimDisk, Vec<Writes>) {
    match &r.crash {
        Crash::PowerLoss { at, fate } => disk.crash_at(*at, Fate { seed: *fate }),
        Crash::IoError { at, partial, .. } => disk.fail_at(*at, *partial),
    }
    let opened = EmbeddedStore::open_on(Arc::new(disk.clone()), &root(), options());
    let writes = match opened {
        Ok(store) => {
            let writes = runtime().block_on(async {
                let tasks: Vec<_> = (0..r.writers)
                    .map(|w| {
                        let (store, r) = (store.clone(), r.clone());
                        tokio::spawn(async move { writer(store, n, w, &r).await })
                    })
                    .collect();
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await.unwrap());
                }
                if let Some(failed) = disk.failed() {
                    out.push(probe_after_failure(&store, n, disk, &failed, paths).await);
                }
                out
            });
            drop(store);
            writes
        }
        Err(e) => {
            assert!(
                disk.after_crash().is_some() || disk.failed().is_some(),
                "open failed without a fault: {e}"
            );
            Vec::new()
        }
    };
    let back = match &r.crash {
        Crash::PowerLoss { fate, .. } => {
            paths.crashes += 1;
            disk.after_crash()
                .unwrap_or_else(|| disk.power_loss(&Fate { seed: *fate }))
        }
        Crash::IoError { power_loss, .. } => {
            if disk.failed().is_some() {
                paths.io_errors += 1;
            }
            match power_loss {
                Some(seed) => disk.power_loss(&Fate { seed: *seed }),
                None => disk.restart(),
            }
        }
    };
    (back, writes)
}

/// Reopens the store and checks it against the model and the round's writes; the model
/// then holds what was recovered.
fn verify(store: &EmbeddedStore, model: &mut Model, writes: &[Writes], paths: &mut Paths) {
    let state = store.inner.shared.state.read();
    let history: BTreeMap<i64, (String, Option<Bytes>)> = state
        .history
        .iter()
        .map(|e| {
            let value = (e.kind == EventKind::Put).then(|| e.kv.value.clone());
            (e.revision(), (e.kv.key.clone(), value))
        })
        .collect();
    assert_eq!(
        history.keys().copied().collect::<Vec<_>>(),
        (1..=state.revision).collect::<Vec<_>>(),
        "the history is every revision up to the current one"
    );
    for (rev, expected) in &model.history {
        assert_eq!(history.get(rev), Some(expected), "confirmed revision {rev}");
    }
    let mut acked = BTreeMap::new();
    for w in writes {
        for (rev, key, value) in &w.acked {
            acked.insert(*rev, (key.clone(), value.clone()));
        }
    }
    let mut in_doubt: Vec<_> = writes.iter().filter_map(|w| w.in_doubt.clone()).collect();
    let doubtful = in_doubt.len();
    for (rev, entry) in &history {
        if model.history.contains_key(rev) {
            continue;
        }
        match acked.remove(rev) {
            Some(expected) => assert_eq!(entry, &expected, "acknowledged revision {rev}"),
            None => {
                let Some(at) = in_doubt.iter().position(|d| d == entry) else {
                    panic!("revision {rev} ({entry:?}) was neither acknowledged nor sent");
                };
                in_doubt.swap_remove(at);
            }
        }
    }
    assert!(
        acked.is_empty(),
        "acknowledged writes lost: revisions {:?}",
        acked.keys().collect::<Vec<_>>()
    );
    paths.in_flight_kept += doubtful - in_doubt.len();
    paths.in_flight_lost += in_doubt.len();
    model.history = history;
}

fn count_report(store: &EmbeddedStore, after_crash: bool, paths: &mut Paths) {
    let report = store.recovery();
    if let Some(torn) = &report.torn_tail {
        paths.torn_tails += 1;
        paths.torn_ends_missing += usize::from(!torn.damaged);
        paths.torn_with_unreadable_frames += usize::from(torn.damaged);
        // An intact frame of the torn write besides the missing or damaged one.
        paths.torn_groups_of_several_frames += usize::from(torn.intact_frames > 0);
        paths.torn_groups_of_several_frames_with_unreadable_ones +=
            usize::from(torn.intact_frames > 0 && torn.damaged);
    }
    paths.unfinished_segments_removed += usize::from(report.unfinished_segment_removed);
    paths.covered_segments_removed += report.covered_segments_removed;
    paths.creation_finished_after_crash += usize::from(report.created && after_crash);
    paths.snapshots_loaded += usize::from(report.snapshot_revision.is_some());
}

/// The byte ranges damage may hit: everything of the `target` kind under the store but the
/// marker and the last write of the newest segment (see the module docs).
fn damageable(disk: &SimDisk, target: Target) -> Vec<(PathBuf, std::ops::Range<usize>)> {
    let files = disk.files(&root());
    let newest_segment = files
        .iter()
        .filter(|(p, len)| p.extension().is_some_and(|e| e == "wal") && *len > 32)
        .map(|(p, _)| p.clone())
        .max();
    let mut out = Vec::new();
    for (path, len) in files {
        let segment = path.extension().is_some_and(|e| e == "wal");
        let wanted = match target {
            Target::Anywhere => path.file_name().is_some_and(|n| n != "skiff-store"),
            Target::Log | Target::SegmentHeaders => segment,
            Target::Manifest => path.file_name().is_some_and(|n| n == "MANIFEST"),
        };
        if !wanted {
            continue;
        }
        let mut end = match (&newest_segment, disk.last_write(&path)) {
            (Some(newest), Some(last)) if *newest == path => last.start,
            _ => len,
        };
        if let Target::SegmentHeaders = target {
            end = end.min(32);
        }
        if end > 0 {
            out.push((path, 0..end));
        }
    }
    out
}

fn segments(disk: &SimDisk) -> Vec<PathBuf> {
    disk.files(&root().join("wal"))
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// Applies `damage`; returns the damaged file and offset (for a byte), or the removed path.
fn apply(disk: &SimDisk, damage: &Damage) -> Option<(PathBuf, Option<usize>)> {
    let pick = |target: Target, pick: u64| {
        let targets = damageable(disk, target);
        let total: usize = targets.iter().map(|(_, r)| r.len()).sum();
        let mut at = (pick % total.max(1) as u64) as usize;
        for (path, range) in targets {
            if at < range.len() {
                return Some((path, range.start + at));
            }
            at -= range.len();
        }
        None
    };
    match damage {
        Damage::Byte {
            target,
            pick: p,
            change,
        } => {
            let (path, offset) = pick(*target, *p)?;
            match change {
                Change::Flip(mask) => disk.damage(&path, offset, |b| b ^ mask),
                Change::Zero => disk.damage(&path, offset, |_| 0),
            }
            Some((path, Some(offset)))
        }
        Damage::RemoveNewestSegment => {
            let newest = segments(disk).into_iter().max()?;
            disk.delete(&newest);
            Some((newest, None))
        }
        Damage::RemoveAllSegments => {
            let all = segments(disk);
            for s in &all {
                disk.delete(s);
            }
            Some((root().join("wal"), None))
        }
        Damage::RemoveLogDir => {
            let wal = root().join("wal");
            if !disk.files(&root()).iter().any(|(p, _)| p.starts_with(&wal)) {
                return None;
            }
            for s in segments(disk) {
                disk.delete(&s);
            }
            disk.delete(&wal);
            Some((wal, None))
        }
    }
}

/// Checks a refusal to open after damage: `Corrupt`, naming the damaged file (or, for a
/// removed file, something under the log) and an offset at or before the damaged byte.
fn check_refusal(err: &StoreError, damaged: &Path, offset: Option<usize>, paths: &mut Paths) {
    let StoreError::Corrupt {
        path,
        offset: reported,
        detail,
    } = err
    else {
        panic!("damage to synced data must be reported as corruption, got: {err}");
    };
    match offset {
        Some(offset) => {
            assert_eq!(path, damaged, "{err}");
            if let Some(reported) = reported {
                assert!(*reported as usize <= offset, "{err}");
            }
            let name = path.to_string_lossy();
            if name.ends_with(".wal") {
                assert!(reported.is_some(), "a log error names the offset: {err}");
                if reported.is_some_and(|r| r < 32) {
                    paths.corrupt_segment_headers += 1;
                } else {
                    paths.corrupt_frames += 1;
                }
            } else if name.ends_with(".snap") {
                paths.corrupt_snapshots += 1;
            } else if name.ends_with("MANIFEST") {
                paths.corrupt_manifests += 1;
            } else {
                panic!("unexpected file reported: {err}");
            }
        }
        None => {
            assert!(path.starts_with(root().join("wal")), "{err}");
            if detail.contains("directory is missing") {
                paths.missing_log_dirs += 1;
            } else {
                assert!(detail.contains("is missing"), "{err}");
                paths.missing_segments += 1;
            }
        }
    }
}

fn run_case(case: &Case, paths: &mut Paths) {
    let mut disk = SimDisk::new(&base());
    disk.set_sync_delay(Duration::from_micros(200));
    let mut model = Model::default();
    for (n, round) in case.rounds.iter().enumerate() {
        let (back, writes) = run_round(&disk, n, round, paths);
        disk = back;
        let last = n + 1 == case.rounds.len();
        let damaged = match (&case.damage, last) {
            (Some(d), true) => apply(&disk, d),
            _ => None,
        };
        let reopened = EmbeddedStore::open_on(Arc::new(disk.clone()), &root(), options());
        match (reopened, damaged) {
            (Ok(store), damaged) => {
                verify(&store, &mut model, &writes, paths);
                count_report(&store, true, paths);
                paths.harmless_damage += usize::from(damaged.is_some());
            }
            (Err(e), Some((path, offset))) => {
                check_refusal(&e, &path, offset, paths);
                return;
            }
            (Err(e), None) => panic!("the store does not reopen after round {n}: {e}"),
        }
    }
}

#[test]
fn recovery_after_power_loss_keeps_exactly_the_acknowledged_writes() {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let paths = Mutex::new(Paths::default());
    let result = runner.run(&case(), |case| {
        run_case(&case, &mut paths.lock());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let p = paths.into_inner();
    println!("{p:#?}");
    let counts = [
        ("power losses", p.crashes),
        ("I/O errors", p.io_errors),
        (
            "writes refused after an I/O error",
            p.refused_after_io_error,
        ),
        ("torn tails", p.torn_tails),
        ("torn tails with only the end missing", p.torn_ends_missing),
        (
            "torn tails with unreadable frames",
            p.torn_with_unreadable_frames,
        ),
        (
            "torn groups of several frames",
            p.torn_groups_of_several_frames,
        ),
        (
            "torn groups of several frames, some unreadable",
            p.torn_groups_of_several_frames_with_unreadable_ones,
        ),
        ("in-flight writes kept", p.in_flight_kept),
        ("in-flight writes lost", p.in_flight_lost),
        ("unfinished segments removed", p.unfinished_segments_removed),
        ("covered segments removed", p.covered_segments_removed),
        (
            "interrupted creations finished",
            p.creation_finished_after_crash,
        ),
        ("snapshots loaded", p.snapshots_loaded),
        ("corrupt frames", p.corrupt_frames),
        ("corrupt segment headers", p.corrupt_segment_headers),
        ("corrupt manifests", p.corrupt_manifests),
        ("corrupt snapshots", p.corrupt_snapshots),
        ("missing segments", p.missing_segments),
        ("missing log directories", p.missing_log_dirs),
        ("harmless damage", p.harmless_damage),
    ];
    let never: Vec<_> = counts
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(what, _)| *what)
        .collect();
    assert!(
        never.is_empty(),
        "recovery paths never exercised: {never:?}\n{p:#?}"
    );
}
