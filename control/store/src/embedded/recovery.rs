//! Opening a store: from the manifest, the newest snapshot and the log back to the state of
//! the last write that reached the disk, reporting what was found on the way.
//!
//! Only what a crash leaves is repaired: a torn last write in the newest segment (cut off),
//! a segment whose creation was interrupted (removed), segments a snapshot covers whose
//! removal was interrupted (removed), and a store whose creation was interrupted (finished).
//! Everything else is [`StoreError::Corrupt`] naming the file (and, in the log, the offset).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::disk::{Disk, sync_dir};
use super::layout::Layout;
use super::manifest::{self, Manifest, ManifestFile};
use super::snapshot;
use super::state::State;
use super::wal::{self, WalWriter};
use crate::error::{Result, StoreError};

/// What opening the store found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The store was created by this open (or its interrupted creation was finished).
    pub created: bool,
    /// The revision of the snapshot recovery started from, if any.
    pub snapshot_revision: Option<i64>,
    /// Log segments read.
    pub segments_replayed: usize,
    /// Log frames read (each a batch of writes).
    pub frames_replayed: usize,
    /// The revision the store continues from.
    pub revision: i64,
    /// The newest segment ended in a write that a crash interrupted; it was cut off.
    pub torn_tail: Option<TornTail>,
    /// A segment whose creation a crash interrupted (never written to) was removed.
    pub unfinished_segment_removed: bool,
    /// Segments a snapshot already covered, left by a crash before their removal, removed.
    pub covered_segments_removed: usize,
}

/// The interrupted write cut off the end of the newest segment. It was never acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub segment: PathBuf,
    /// Where the write began; the segment now ends here.
    pub offset: u64,
    /// Bytes cut off.
    pub bytes: u64,
    /// Frames of that write that were intact, dropped with it.
    pub intact_frames: usize,
    /// Whether frames inside the write were unreadable (rather than only its end missing).
    pub damaged: bool,
}

/// A store read back from disk, ready to continue.
pub(crate) struct Recovered {
    pub state: State,
    pub wal: WalWriter,
    pub manifest: ManifestFile,
    pub report: RecoveryReport,
}

pub(crate) fn recover(disk: Arc<dyn Disk>, layout: &Layout) -> Result<Recovered> {
    let d = disk.as_ref();
    let Some(manifest) = manifest::load(d, &layout.root)? else {
        return create(disk, layout);
    };
    for dir in [&layout.wal, &layout.snap] {
        if !d.is_dir(dir).map_err(|e| StoreError::io(dir, e))? {
            return Err(StoreError::corrupt(
                dir,
                "directory is missing from the store (was it deleted?)",
            ));
        }
    }
    let mut report = RecoveryReport::default();
    let snapshot = snapshot::load_latest(d, &layout.snap)?;
    report.snapshot_revision = snapshot.as_ref().map(|s| s.revision);
    let mut state = snapshot.unwrap_or_default();
    if state.revision < manifest.snapshot_revision {
        return Err(StoreError::corrupt(
            &layout.snap,
            format!(
                "the snapshot of revision {} is missing (the manifest records it; the log \
                 before it is gone)",
                manifest.snapshot_revision
            ),
        ));
    }
    let (first, last) = (manifest.first_segment, manifest.last_segment);
    let present = wal::list_segments(d, &layout.wal)?;
    let covered: Vec<u64> = present.iter().copied().filter(|&s| s < first).collect();
    let unfinished = match present
        .iter()
        .copied()
        .filter(|&s| s > last)
        .collect::<Vec<_>>()[..]
    {
        [] => None,
        [next] if next == last + 1 => {
            let path = wal::segment_path(&layout.wal, next);
            let data = d.read(&path).map_err(|e| StoreError::io(&path, e))?;
            if !wal::is_unfinished(&data, next) {
                return Err(StoreError::corrupt(
                    &path,
                    format!(
                        "segment {next} holds data, but the manifest says the log ends with \
                         segment {last}"
                    ),
                ));
            }
            Some(path)
        }
        [next, ..] => {
            return Err(StoreError::corrupt(
                wal::segment_path(&layout.wal, next),
                format!("segment {next} is beyond the manifest's last segment {last}"),
            ));
        }
    };
    // A started next segment proves the last write of this one was synced.
    let (tail, replayed) = wal::replay(
        d,
        &layout.wal,
        first..=last,
        unfinished.is_none(),
        &mut state,
    )?;
    // Repairs, now that everything needed has been read.
    if let Some(path) = &unfinished {
        d.remove_file(path).map_err(|e| StoreError::io(path, e))?;
        report.unfinished_segment_removed = true;
    }
    for &seq in &covered {
        let path = wal::segment_path(&layout.wal, seq);
        d.remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
    }
    report.covered_segments_removed = covered.len();
    if unfinished.is_some() || !covered.is_empty() {
        sync_dir(d, &layout.wal)?;
    }
    let wal = WalWriter::resume(Arc::clone(&disk), &layout.wal, &tail)?;
    report.segments_replayed = (last - first + 1) as usize;
    report.frames_replayed = replayed.frames;
    report.revision = state.revision;
    report.torn_tail = tail.torn.as_ref().map(|t| TornTail {
        segment: wal.path(),
        offset: t.group_start,
        bytes: t.len - t.group_start,
        intact_frames: t.intact_frames,
        damaged: t.damaged,
    });
    Ok(Recovered {
        state,
        wal,
        manifest: ManifestFile::new(disk, &layout.root, manifest),
        report,
    })
}

/// A marked directory without a manifest: a new store, or one whose creation a crash
/// interrupted. Finishes it, unless anything in it holds data (then the manifest was lost).
fn create(disk: Arc<dyn Disk>, layout: &Layout) -> Result<Recovered> {
    let d = disk.as_ref();
    let lost = |path: &Path| {
        StoreError::corrupt(
            path,
            format!(
                "the store holds data but its manifest {} is missing",
                manifest::path(&layout.root).display()
            ),
        )
    };
    let mut created_dir = false;
    for dir in [&layout.wal, &layout.snap] {
        if !d.exists(dir).map_err(|e| StoreError::io(dir, e))? {
            d.create_dir(dir).map_err(|e| StoreError::io(dir, e))?;
            created_dir = true;
        }
    }
    if created_dir {
        sync_dir(d, &layout.root)?;
    }
    if let Some(name) = d
        .list(&layout.snap)
        .map_err(|e| StoreError::io(&layout.snap, e))?
        .into_iter()
        .find(|n| n.ends_with(".snap"))
    {
        return Err(lost(&layout.snap.join(name)));
    }
    let segments = wal::list_segments(d, &layout.wal)?;
    for &seq in &segments {
        let path = wal::segment_path(&layout.wal, seq);
        let data = d.read(&path).map_err(|e| StoreError::io(&path, e))?;
        if seq != 1 || !wal::is_unfinished(&data, seq) {
            return Err(lost(&path));
        }
        d.remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
    }
    if !segments.is_empty() {
        sync_dir(d, &layout.wal)?;
    }
    let wal = WalWriter::create(Arc::clone(&disk), &layout.wal, 1, 0)?;
    let manifest = Manifest {
        first_segment: 1,
        last_segment: 1,
        snapshot_revision: 0,
    };
    manifest::store(d, &layout.root, &manifest)?;
    Ok(Recovered {
        state: State::default(),
        wal,
        manifest: ManifestFile::new(disk, &layout.root, manifest),
        report: RecoveryReport {
            created: true,
            segments_replayed: 0,
            ..RecoveryReport::default()
        },
    })
}
