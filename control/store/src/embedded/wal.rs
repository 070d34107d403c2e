//! The write-ahead log: numbered segment files of checksummed frames, one frame per
//! committed batch, several frames per write (group commit). A batch is acknowledged only
//! after its frame is written and `fdatasync`ed, so every acknowledged write is on disk.
//! The encoding and what counts as a torn tail are in [`frame`](super::frame); which
//! segments must exist is in the [`manifest`](super::manifest).
//!
//! Replay checks more than checksums: each segment names its sequence number and the
//! revision it continues from, each frame the revision its records end at, and records must
//! follow each other revision by revision. Any break is corruption naming file and offset.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::codec::{Decoder, Encoder};
use super::disk::{Disk, DiskFile, sync_dir};
use super::frame::{self, Frame, HeaderError, SEGMENT_HEADER_LEN, Torn};
use super::state::{Record, State};
use crate::error::{Result, StoreError};

pub(crate) fn segment_path(wal_dir: &Path, seq: u64) -> PathBuf {
    wal_dir.join(format!("{seq:020}.wal"))
}

/// Segment sequence numbers present in `wal_dir`, ascending.
pub(crate) fn list_segments(disk: &dyn Disk, wal_dir: &Path) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for name in disk.list(wal_dir).map_err(|e| StoreError::io(wal_dir, e))? {
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        let seq = stem.parse::<u64>().map_err(|_| {
            StoreError::corrupt(
                wal_dir.join(&name),
                "log segment name is not a sequence number",
            )
        })?;
        seqs.push(seq);
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Encodes `records` as one frame that leaves the store at `revision`.
pub(crate) fn encode_frame(records: &[Record], revision: i64) -> Vec<u8> {
    let mut enc = Encoder::default();
    enc.buf.resize(frame::FRAME_HEADER_LEN, 0);
    for r in records {
        enc.record(r);
    }
    frame::set_payload(&mut enc.buf, revision);
    enc.buf
}

/// Where appends continue after recovery.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    pub seq: u64,
    /// Length of the segment's intact part; a torn last write after it is cut off.
    pub end: u64,
    pub torn: Option<Torn>,
}

/// What replay read.
#[derive(Debug, Default)]
pub(crate) struct Replayed {
    pub frames: usize,
    /// The revision the log ends at.
    pub revision: i64,
}

/// Replays segments `first..=last` into `state` (which may come from a snapshot; records it
/// holds are skipped). Every one of them must exist; only the last may end torn, and only
/// if `last_may_be_torn` (no newer segment was started, which happens only after a sync).
pub(crate) fn replay(
    disk: &dyn Disk,
    wal_dir: &Path,
    segments: std::ops::RangeInclusive<u64>,
    last_may_be_torn: bool,
    state: &mut State,
) -> Result<(Tail, Replayed)> {
    let last = *segments.end();
    let mut replayed = Replayed::default();
    let mut log_revision = None;
    let mut tail = None;
    for seq in segments.clone() {
        let path = segment_path(wal_dir, seq);
        let data = match disk.read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::corrupt(
                    &path,
                    format!(
                        "log segment {seq} is missing; the manifest lists segments \
                         {}..={last}, so acknowledged writes would be lost",
                        segments.start()
                    ),
                ));
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let header = frame::read_segment_header(&data).map_err(|e| header_error(&path, e))?;
        if header.seq != seq {
            return Err(StoreError::corrupt_at(
                &path,
                0,
                format!("the segment header says it is segment {}", header.seq),
            ));
        }
        let mut revision = match log_revision {
            None if header.base_revision > state.revision => {
                return Err(StoreError::corrupt_at(
                    &path,
                    0,
                    format!(
                        "the log starts after revision {}, but the snapshot ends at revision \
                         {}: revisions {}..={} are missing",
                        header.base_revision,
                        state.revision,
                        state.revision + 1,
                        header.base_revision
                    ),
                ));
            }
            Some(r) if header.base_revision != r => {
                return Err(StoreError::corrupt_at(
                    &path,
                    0,
                    format!(
                        "the segment continues from revision {}, but the previous one ends at \
                         revision {r}",
                        header.base_revision
                    ),
                ));
            }
            _ => header.base_revision,
        };
        let segment = frame::read_segment(&data, last_may_be_torn && seq == last)
            .map_err(|c| StoreError::corrupt_at(&path, c.offset, c.detail))?;
        for f in &segment.frames {
            apply_frame(&path, f, &mut revision, state)?;
        }
        replayed.frames += segment.frames.len();
        log_revision = Some(revision);
        tail = Some(Tail {
            seq,
            end: segment.end,
            torn: segment.torn,
        });
    }
    let (Some(tail), Some(revision)) = (tail, log_revision) else {
        return Err(StoreError::corrupt(
            wal_dir,
            "the manifest lists no segments",
        ));
    };
    if revision < state.revision {
        return Err(StoreError::corrupt(
            segment_path(wal_dir, last),
            format!(
                "the log ends at revision {revision}, before the snapshot's revision {}",
                state.revision
            ),
        ));
    }
    replayed.revision = revision;
    Ok((tail, replayed))
}

fn header_error(path: &Path, e: HeaderError) -> StoreError {
    match e {
        HeaderError::Short => StoreError::corrupt_at(
            path,
            0,
            "the file ends inside the segment header, but the segment was complete",
        ),
        HeaderError::Bad(detail) => StoreError::corrupt_at(path, 0, detail),
        HeaderError::Version(v) => StoreError::corrupt_at(
            path,
            8,
            format!(
                "log format version {v} is not supported (this skiff reads {})",
                frame::VERSION
            ),
        ),
    }
}

/// Whether a segment file beyond the manifest's last one is the leftover of a creation that
/// a crash interrupted (at most a header, no frames), which may be removed.
pub(crate) fn is_unfinished(data: &[u8], seq: u64) -> bool {
    match frame::read_segment_header(data) {
        Err(HeaderError::Short | HeaderError::Bad(_)) => data.len() <= SEGMENT_HEADER_LEN,
        Err(HeaderError::Version(_)) => false,
        Ok(h) => h.seq == seq && data.len() == SEGMENT_HEADER_LEN,
    }
}

/// Applies one frame's records, checking that they continue the log at `revision` and end
/// where the frame header says.
fn apply_frame(path: &Path, f: &Frame<'_>, revision: &mut i64, state: &mut State) -> Result<()> {
    let corrupt = |detail: String| StoreError::corrupt_at(path, f.offset as u64, detail);
    let mut dec = Decoder::new(f.payload);
    while !dec.is_empty() {
        let record = dec
            .record()
            .map_err(|e| corrupt(format!("frame payload: {e}")))?;
        match &record {
            Record::Put { revision: r, .. } | Record::Delete { revision: r, .. } => {
                if *r != *revision + 1 {
                    return Err(corrupt(format!(
                        "record of revision {r} follows revision {revision}"
                    )));
                }
                *revision = *r;
                if *r <= state.revision {
                    continue; // already in the snapshot
                }
            }
            Record::Compact { revision: r } => {
                if *r > *revision {
                    return Err(corrupt(format!(
                        "compaction to revision {r} is ahead of revision {revision}"
                    )));
                }
                if *r <= state.compact_revision {
                    continue;
                }
            }
        }
        state.apply(&record);
    }
    if f.header.revision != *revision {
        return Err(corrupt(format!(
            "the frame header says its records end at revision {}, but they end at {revision}",
            f.header.revision
        )));
    }
    Ok(())
}

/// Appends write groups to the newest segment.
#[derive(Debug)]
pub(crate) struct WalWriter {
    disk: Arc<dyn Disk>,
    wal_dir: PathBuf,
    seq: u64,
    file: Box<dyn DiskFile>,
    size: u64,
    /// Set by a failed write or sync: what the file holds after `size` is unknown, so this
    /// writer writes nothing more and starts no new segment (which would leave a partial
    /// frame in a segment that is not the newest). Reopening the store recovers.
    failed: Option<String>,
    buf: Vec<u8>,
}

impl WalWriter {
    /// Creates segment `seq`, continuing from `base_revision`, durably (file and name).
    pub fn create(
        disk: Arc<dyn Disk>,
        wal_dir: &Path,
        seq: u64,
        base_revision: i64,
    ) -> Result<Self> {
        let path = segment_path(wal_dir, seq);
        let io = |e| StoreError::io(&path, e);
        let mut file = disk.create_new(&path).map_err(io)?;
        file.write_all(&frame::segment_header(seq, base_revision))
            .map_err(io)?;
        file.sync_all().map_err(io)?;
        sync_dir(disk.as_ref(), wal_dir)?;
        Ok(WalWriter {
            disk,
            wal_dir: wal_dir.to_owned(),
            seq,
            file,
            size: SEGMENT_HEADER_LEN as u64,
            failed: None,
            buf: Vec::new(),
        })
    }

    /// Continues the segment recovery ended with, cutting off a torn last write durably.
    pub fn resume(disk: Arc<dyn Disk>, wal_dir: &Path, tail: &Tail) -> Result<Self> {
        let path = segment_path(wal_dir, tail.seq);
        let io = |e| StoreError::io(&path, e);
        let mut file = disk.open_at(&path, tail.end).map_err(io)?;
        if tail.torn.is_some() {
            file.sync_all().map_err(io)?;
        }
        Ok(WalWriter {
            disk,
            wal_dir: wal_dir.to_owned(),
            seq: tail.seq,
            file,
            size: tail.end,
            failed: None,
            buf: Vec::new(),
        })
    }

    pub fn path(&self) -> PathBuf {
        segment_path(&self.wal_dir, self.seq)
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Writes `frames` (from [`encode_frame`]) as one write group and waits until it is on
    /// disk. After an error the writer refuses everything.
    pub fn append<'a>(
        &mut self,
        frames: impl Iterator<Item = &'a [u8]> + Clone,
    ) -> std::result::Result<(), String> {
        if let Some(cause) = &self.failed {
            return Err(cause.clone());
        }
        self.buf.clear();
        frame::seal_group(frames, self.size, &mut self.buf);
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self
            .file
            .write_all(&self.buf)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let cause = format!("writing {}: {e}", self.path().display());
                self.failed = Some(cause.clone());
                Err(cause)
            }
        }
    }

    /// Starts segment `seq + 1`, continuing from `base_revision` (the revision of the last
    /// frame written). Refused after a failed write.
    pub fn rotate(&mut self, base_revision: i64) -> Result<()> {
        if let Some(cause) = &self.failed {
            return Err(StoreError::Failed {
                cause: cause.clone(),
            });
        }
        let next = Self::create(
            Arc::clone(&self.disk),
            &self.wal_dir,
            self.seq + 1,
            base_revision,
        )?;
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::disk::RealDisk;
    use super::*;

    fn put(revision: i64, key: &str) -> Record {
        Record::Put {
            revision,
            key: key.into(),
            value: Bytes::from(vec![b'v'; 100]),
        }
    }

    fn disk() -> Arc<dyn Disk> {
        Arc::new(RealDisk)
    }

    fn frame(records: &[Record]) -> Vec<u8> {
        let revision = records
            .iter()
            .filter_map(|r| match r {
                Record::Put { revision, .. } | Record::Delete { revision, .. } => Some(*revision),
                Record::Compact { .. } => None,
            })
            .max()
            .unwrap_or(0);
        encode_frame(records, revision)
    }

    fn write_two_groups(dir: &Path) -> WalWriter {
        let mut w = WalWriter::create(disk(), dir, 1, 0).unwrap();
        let (a, b) = (frame(&[put(1, "a"), put(2, "b")]), frame(&[put(3, "c")]));
        w.append([a.as_slice(), b.as_slice()].into_iter()).unwrap();
        w.append(std::iter::once(frame(&[put(4, "d")]).as_slice()))
            .unwrap();
        w
    }

    #[test]
    fn replays_what_was_appended() {
        let dir = tempfile::tempdir().unwrap();
        let w = write_two_groups(dir.path());
        let mut state = State::default();
        let (tail, replayed) = replay(&RealDisk, dir.path(), 1..=1, true, &mut state).unwrap();
        assert_eq!(
            (state.revision, replayed.revision, replayed.frames),
            (4, 4, 3)
        );
        assert_eq!((tail.seq, tail.end), (1, w.size()));
        assert!(tail.torn.is_none());
    }

    #[test]
    fn resume_cuts_a_torn_group_and_continues() {
        let dir = tempfile::tempdir().unwrap();
        let w = write_two_groups(dir.path());
        let path = w.path();
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 5]).unwrap();
        let mut state = State::default();
        let (tail, _) = replay(&RealDisk, dir.path(), 1..=1, true, &mut state).unwrap();
        assert_eq!(state.revision, 3);
        assert!(tail.torn.is_some());
        let mut w = WalWriter::resume(disk(), dir.path(), &tail).unwrap();
        w.append(std::iter::once(frame(&[put(4, "again")]).as_slice()))
            .unwrap();
        drop(w);
        let mut state = State::default();
        let (tail, _) = replay(&RealDisk, dir.path(), 1..=1, true, &mut state).unwrap();
        assert_eq!(state.revision, 4);
        assert!(state.get("again").is_some());
        assert!(tail.torn.is_none());
    }

    #[test]
    fn a_gap_in_revisions_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(disk(), dir.path(), 1, 0).unwrap();
        w.append(std::iter::once(frame(&[put(1, "a")]).as_slice()))
            .unwrap();
        let second_frame_at = w.size();
        w.append(std::iter::once(frame(&[put(3, "c")]).as_slice()))
            .unwrap();
        let err = replay(&RealDisk, dir.path(), 1..=1, true, &mut State::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("revision 3 follows revision 1"), "{msg}");
        assert!(msg.contains(&format!("offset {second_frame_at}")), "{msg}");
    }

    #[test]
    fn a_frame_header_that_misstates_its_revision_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(disk(), dir.path(), 1, 0).unwrap();
        w.append(std::iter::once(encode_frame(&[put(1, "a")], 2).as_slice()))
            .unwrap();
        let msg = replay(&RealDisk, dir.path(), 1..=1, true, &mut State::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("says its records end at revision 2"), "{msg}");
    }

    #[test]
    fn segments_must_continue_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = write_two_groups(dir.path());
        w.rotate(4).unwrap();
        w.append(std::iter::once(frame(&[put(5, "e")]).as_slice()))
            .unwrap();
        let mut state = State::default();
        replay(&RealDisk, dir.path(), 1..=2, true, &mut state).unwrap();
        assert_eq!(state.revision, 5);
        // A segment that claims to continue from another revision.
        drop(w);
        std::fs::remove_file(segment_path(dir.path(), 2)).unwrap();
        let mut w = WalWriter::create(disk(), dir.path(), 2, 3).unwrap();
        w.append(std::iter::once(frame(&[put(4, "x")]).as_slice()))
            .unwrap();
        let msg = replay(&RealDisk, dir.path(), 1..=2, true, &mut State::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("continues from revision 3"), "{msg}");
        // A missing segment is named.
        std::fs::remove_file(segment_path(dir.path(), 1)).unwrap();
        let msg = replay(&RealDisk, dir.path(), 1..=2, true, &mut State::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("log segment 1 is missing"), "{msg}");
    }

    #[test]
    fn after_a_failed_write_nothing_more_is_written_and_no_segment_is_started() {
        #[derive(Debug)]
        struct Broken;
        impl DiskFile for Broken {
            fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> {
                Err(std::io::Error::other("disk on fire"))
            }
            fn sync_data(&mut self) -> std::io::Result<()> {
                Ok(())
            }
            fn sync_all(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(disk(), dir.path(), 1, 0).unwrap();
        w.file = Box::new(Broken);
        let f = frame(&[put(1, "a")]);
        let err = w.append(std::iter::once(f.as_slice())).unwrap_err();
        assert!(err.contains("disk on fire"), "{err}");
        assert_eq!(w.append(std::iter::once(f.as_slice())), Err(err));
        assert!(matches!(w.rotate(1), Err(StoreError::Failed { .. })));
        assert_eq!(list_segments(&RealDisk, dir.path()).unwrap(), vec![1]);
    }
}
