//! The write-ahead log: numbered segment files of checksummed frames, one frame per
//! committed batch. A batch is acknowledged only after its frame is written and
//! `fdatasync`ed, so every acknowledged write is on disk.
//!
//! Segment layout: `SKIFFWAL` + format version (u32), then frames of
//! `len: u32 | crc32c(payload): u32 | payload`, where the payload is a run of records.
//!
//! Recovery tolerates exactly one kind of damage, the kind a crash causes: an incomplete
//! final frame at the end of the newest segment (it was never acknowledged). It is cut off.
//! Anything else (a bad frame followed by more data, a gap in revisions, a damaged older
//! segment) is reported as corruption naming the file and offset; nothing is dropped silently.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::codec::{Decoder, Encoder};
use super::layout::sync_dir;
use super::state::{Record, State};
use crate::error::{Result, StoreError};

const MAGIC: &[u8; 8] = b"SKIFFWAL";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 12;
const FRAME_HEADER_LEN: usize = 8;

pub(crate) fn segment_path(wal_dir: &Path, seq: u64) -> PathBuf {
    wal_dir.join(format!("{seq:020}.wal"))
}

/// Segment sequence numbers present in `wal_dir`, ascending.
pub(crate) fn list_segments(wal_dir: &Path) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    let entries = fs::read_dir(wal_dir).map_err(|e| StoreError::io(wal_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(wal_dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        let seq = stem.parse::<u64>().map_err(|_| {
            StoreError::corrupt(entry.path(), "log segment name is not a sequence number")
        })?;
        seqs.push(seq);
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Where appends continue after recovery.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tail {
    pub seq: u64,
    /// Length of the valid prefix of the segment; anything after it is a torn write.
    pub valid_len: u64,
}

/// Replays every segment into `state`, skipping records the state (loaded from a snapshot)
/// already holds. Returns the newest segment's tail, or `None` if there are no segments.
pub(crate) fn replay(wal_dir: &Path, state: &mut State) -> Result<Option<Tail>> {
    let seqs = list_segments(wal_dir)?;
    let mut tail = None;
    for (i, &seq) in seqs.iter().enumerate() {
        let is_last = i + 1 == seqs.len();
        let path = segment_path(wal_dir, seq);
        let data = fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        let valid_len = replay_segment(&path, &data, is_last, state)?;
        tail = Some(Tail { seq, valid_len });
    }
    Ok(tail)
}

fn replay_segment(path: &Path, data: &[u8], is_last: bool, state: &mut State) -> Result<u64> {
    if (data.len() as u64) < HEADER_LEN {
        // A crash while creating the newest segment leaves it shorter than its header.
        if is_last && MAGIC.starts_with(&data[..data.len().min(MAGIC.len())]) {
            return Ok(0);
        }
        return Err(StoreError::corrupt(
            path,
            "log segment is shorter than its header",
        ));
    }
    if &data[..8] != MAGIC {
        return Err(StoreError::corrupt(
            path,
            "not a skiff log segment (bad magic)",
        ));
    }
    let version = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
    if version != VERSION {
        return Err(StoreError::corrupt(
            path,
            format!("log format version {version} is not supported (this skiff reads {VERSION})"),
        ));
    }
    let mut pos = HEADER_LEN as usize;
    while pos < data.len() {
        match check_frame(data, pos) {
            Frame::Valid { payload, end } => {
                apply_payload(path, pos, payload, state)?;
                pos = end;
            }
            Frame::Torn if is_last => {
                tracing::warn!(
                    path = %path.display(),
                    offset = pos,
                    dropped_bytes = data.len() - pos,
                    "discarding an incomplete final log frame left by a crash (never acknowledged)"
                );
                return Ok(pos as u64);
            }
            Frame::Torn => {
                return Err(StoreError::corrupt(
                    path,
                    format!("incomplete frame at offset {pos}, but newer segments follow it"),
                ));
            }
            Frame::Corrupt(detail) => {
                return Err(StoreError::corrupt(path, format!("offset {pos}: {detail}")));
            }
        }
    }
    Ok(pos as u64)
}

enum Frame<'a> {
    Valid {
        payload: &'a [u8],
        end: usize,
    },
    /// Damage confined to the end of the file: what a crash mid-write leaves.
    Torn,
    Corrupt(String),
}

fn check_frame(data: &[u8], pos: usize) -> Frame<'_> {
    let rest = &data[pos..];
    if rest.len() < FRAME_HEADER_LEN || rest.iter().all(|&b| b == 0) {
        return Frame::Torn;
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    let Some(end) = FRAME_HEADER_LEN
        .checked_add(len)
        .filter(|&n| n <= rest.len())
    else {
        return Frame::Torn;
    };
    let payload = &rest[FRAME_HEADER_LEN..end];
    if crc32c::crc32c(payload) == crc {
        Frame::Valid {
            payload,
            end: pos + end,
        }
    } else if end == rest.len() {
        Frame::Torn
    } else {
        Frame::Corrupt(format!(
            "checksum mismatch in a {len}-byte frame followed by {} more bytes",
            rest.len() - end
        ))
    }
}

fn apply_payload(path: &Path, at: usize, payload: &[u8], state: &mut State) -> Result<()> {
    let corrupt =
        |detail: String| StoreError::corrupt(path, format!("frame at offset {at}: {detail}"));
    let mut dec = Decoder::new(payload);
    while !dec.is_empty() {
        let record = dec.record().map_err(corrupt)?;
        match &record {
            Record::Put { revision, .. } | Record::Delete { revision, .. } => {
                if *revision <= state.revision {
                    continue; // already in the snapshot
                }
                if *revision != state.revision + 1 {
                    return Err(corrupt(format!(
                        "revision {revision} follows revision {}: revisions {}..{} are missing",
                        state.revision,
                        state.revision + 1,
                        revision - 1
                    )));
                }
            }
            Record::Compact { revision } => {
                if *revision <= state.compact_revision {
                    continue;
                }
                if *revision > state.revision {
                    return Err(corrupt(format!(
                        "compaction to revision {revision} is ahead of revision {}",
                        state.revision
                    )));
                }
            }
        }
        state.apply(&record);
    }
    Ok(())
}

/// Encodes `records` as one frame: `len | crc32c | payload`.
pub(crate) fn encode_frame(records: &[Record]) -> Vec<u8> {
    let mut enc = Encoder::default();
    enc.buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    for r in records {
        enc.record(r);
    }
    let payload_len = (enc.buf.len() - FRAME_HEADER_LEN) as u32;
    let crc = crc32c::crc32c(&enc.buf[FRAME_HEADER_LEN..]);
    enc.buf[0..4].copy_from_slice(&payload_len.to_le_bytes());
    enc.buf[4..8].copy_from_slice(&crc.to_le_bytes());
    enc.buf
}

/// Appends frames to the newest segment.
#[derive(Debug)]
pub(crate) struct WalWriter {
    wal_dir: PathBuf,
    seq: u64,
    file: File,
    size: u64,
}

impl WalWriter {
    /// Starts a new, empty segment.
    pub fn create(wal_dir: &Path, seq: u64) -> Result<Self> {
        let path = segment_path(wal_dir, seq);
        let io = |e| StoreError::io(&path, e);
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&VERSION.to_le_bytes());
        file.write_all(&header).map_err(io)?;
        file.sync_all().map_err(io)?;
        sync_dir(wal_dir)?;
        Ok(WalWriter {
            wal_dir: wal_dir.to_owned(),
            seq,
            file,
            size: HEADER_LEN,
        })
    }

    /// Continues the segment left by recovery, cutting off a torn final frame.
    pub fn resume(wal_dir: &Path, tail: Tail) -> Result<Self> {
        if tail.valid_len < HEADER_LEN {
            let path = segment_path(wal_dir, tail.seq);
            fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            return Self::create(wal_dir, tail.seq);
        }
        let path = segment_path(wal_dir, tail.seq);
        let io = |e| StoreError::io(&path, e);
        let mut file = OpenOptions::new().write(true).open(&path).map_err(io)?;
        if file.metadata().map_err(io)?.len() != tail.valid_len {
            file.set_len(tail.valid_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(tail.valid_len)).map_err(io)?;
        Ok(WalWriter {
            wal_dir: wal_dir.to_owned(),
            seq: tail.seq,
            file,
            size: tail.valid_len,
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

    /// Writes encoded frames and waits until they are on disk.
    pub fn append(&mut self, frames: &[u8]) -> std::io::Result<()> {
        let result = self
            .file
            .write_all(frames)
            .and_then(|()| self.file.sync_data());
        self.size += frames.len() as u64;
        result
    }

    /// Closes this segment and starts the next one.
    pub fn rotate(&mut self) -> Result<()> {
        *self = Self::create(&self.wal_dir, self.seq + 1)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn put(revision: i64, key: &str) -> Record {
        Record::Put {
            revision,
            key: key.into(),
            value: Bytes::from(vec![b'v'; 100]),
        }
    }

    fn write_two_frames(dir: &Path) -> PathBuf {
        let mut w = WalWriter::create(dir, 1).unwrap();
        w.append(&encode_frame(&[put(1, "a"), put(2, "b")]))
            .unwrap();
        w.append(&encode_frame(&[put(3, "c")])).unwrap();
        w.path()
    }

    #[test]
    fn replays_what_was_appended() {
        let dir = tempfile::tempdir().unwrap();
        write_two_frames(dir.path());
        let mut state = State::default();
        let tail = replay(dir.path(), &mut state).unwrap().unwrap();
        assert_eq!(state.revision, 3);
        assert_eq!(tail.seq, 1);
        assert_eq!(
            tail.valid_len,
            fs::metadata(segment_path(dir.path(), 1)).unwrap().len()
        );
    }

    #[test]
    fn a_torn_final_frame_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_two_frames(dir.path());
        let full = fs::read(&path).unwrap();
        // Every possible crash point inside the last frame loses only that frame.
        let last_frame_start = full.len() - (FRAME_HEADER_LEN + 1 + 8 + 4 + 1 + 4 + 100);
        for cut in last_frame_start + 1..full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            let mut state = State::default();
            let tail = replay(dir.path(), &mut state).unwrap().unwrap();
            assert_eq!(state.revision, 2, "cut at {cut}");
            assert_eq!(tail.valid_len as usize, last_frame_start);
        }
        // Zero-filled tail (allocated but unwritten blocks).
        let mut zeroed = full[..last_frame_start].to_vec();
        zeroed.extend_from_slice(&[0; 4096]);
        fs::write(&path, &zeroed).unwrap();
        let mut state = State::default();
        replay(dir.path(), &mut state).unwrap();
        assert_eq!(state.revision, 2);
    }

    #[test]
    fn damage_before_the_end_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_two_frames(dir.path());
        let mut data = fs::read(&path).unwrap();
        data[HEADER_LEN as usize + FRAME_HEADER_LEN + 20] ^= 0xff;
        fs::write(&path, &data).unwrap();
        let err = replay(dir.path(), &mut State::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("checksum mismatch"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }

    #[test]
    fn a_gap_in_revisions_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(dir.path(), 1).unwrap();
        w.append(&encode_frame(&[put(1, "a")])).unwrap();
        w.append(&encode_frame(&[put(3, "c")])).unwrap();
        let err = replay(dir.path(), &mut State::default()).unwrap_err();
        assert!(
            err.to_string().contains("revisions 2..2 are missing"),
            "{err}"
        );
    }

    #[test]
    fn resume_continues_after_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_two_frames(dir.path());
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 5]).unwrap();
        let mut state = State::default();
        let tail = replay(dir.path(), &mut state).unwrap().unwrap();
        let mut w = WalWriter::resume(dir.path(), tail).unwrap();
        w.append(&encode_frame(&[put(3, "again")])).unwrap();
        drop(w);
        let mut state = State::default();
        replay(dir.path(), &mut state).unwrap();
        assert_eq!(state.revision, 3);
        assert!(state.get("again").is_some());
    }
}
