//! Snapshots bound recovery time and log size: the full state (current values and the
//! retained history) at one revision, written to `snap/<revision>.snap` atomically.
//!
//! Layout: `SKIFFSNP`, version u32, revision i64, compact revision i64, entry count u64,
//! entries, event count u64, events, then crc32c (u32) of everything before it.

use std::path::{Path, PathBuf};

use super::codec::{Decoder, Encoder};
use super::disk::{Disk, DiskFile, sync_dir};
use super::state::State;
use crate::error::{Result, StoreError};

const MAGIC: &[u8; 8] = b"SKIFFSNP";
const VERSION: u32 = 1;
const FLUSH_BYTES: usize = 1 << 20;

fn snapshot_path(snap_dir: &Path, revision: i64) -> PathBuf {
    snap_dir.join(format!("{revision:020}.snap"))
}

/// Snapshot revisions present in `snap_dir`, ascending. Leftover temporary files from an
/// interrupted write are removed.
fn list(disk: &dyn Disk, snap_dir: &Path) -> Result<Vec<i64>> {
    let mut revs = Vec::new();
    for name in disk
        .list(snap_dir)
        .map_err(|e| StoreError::io(snap_dir, e))?
    {
        let path = snap_dir.join(&name);
        if name.ends_with(".tmp") {
            disk.remove_file(&path)
                .map_err(|e| StoreError::io(&path, e))?;
        } else if let Some(stem) = name.strip_suffix(".snap") {
            let rev = stem
                .parse::<i64>()
                .map_err(|_| StoreError::corrupt(&path, "snapshot name is not a revision"))?;
            revs.push(rev);
        }
    }
    revs.sort_unstable();
    Ok(revs)
}

/// Loads the newest snapshot, if any.
pub(crate) fn load_latest(disk: &dyn Disk, snap_dir: &Path) -> Result<Option<State>> {
    let Some(&rev) = list(disk, snap_dir)?.last() else {
        return Ok(None);
    };
    let path = snapshot_path(snap_dir, rev);
    let data = disk.read(&path).map_err(|e| StoreError::io(&path, e))?;
    let state = decode(&data).map_err(|detail| StoreError::corrupt(&path, detail))?;
    if state.revision != rev {
        return Err(StoreError::corrupt(
            &path,
            format!(
                "file name says revision {rev} but it holds revision {}",
                state.revision
            ),
        ));
    }
    Ok(Some(state))
}

fn decode(data: &[u8]) -> Result<State, String> {
    if data.len() < MAGIC.len() + 4 + 4 || &data[..8] != MAGIC {
        return Err("not a skiff snapshot (bad magic)".into());
    }
    let (body, crc) = data.split_at(data.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32c::crc32c(body) != stored {
        return Err("checksum mismatch: the snapshot is damaged".into());
    }
    let mut dec = Decoder::new(&body[8..]);
    let version = dec.u32()?;
    if version != VERSION {
        return Err(format!(
            "snapshot format version {version} is not supported (this skiff reads {VERSION})"
        ));
    }
    let mut state = State {
        revision: dec.i64()?,
        compact_revision: dec.i64()?,
        ..State::default()
    };
    for _ in 0..dec.u64()? {
        let (key, entry) = dec.entry()?;
        state.kvs.insert(key, entry);
    }
    for _ in 0..dec.u64()? {
        state.history.push_back(dec.event()?);
    }
    if !dec.is_empty() {
        return Err("trailing bytes after the last event".into());
    }
    Ok(state)
}

/// Writes `state` as a snapshot, durably (file and name), then removes older snapshots.
/// Returns its path and size.
pub(crate) fn write(disk: &dyn Disk, snap_dir: &Path, state: &State) -> Result<(PathBuf, u64)> {
    let path = snapshot_path(snap_dir, state.revision);
    let tmp = path.with_extension("tmp");
    let io = |e| StoreError::io(&tmp, e);
    let mut out = disk.create(&tmp).map_err(io)?;
    let mut crc = 0u32;
    let mut bytes = 0u64;
    let mut enc = Encoder::default();
    let mut flush = |enc: &mut Encoder, out: &mut Box<dyn DiskFile>, force: bool| {
        if force || enc.buf.len() >= FLUSH_BYTES {
            crc = crc32c::crc32c_append(crc, &enc.buf);
            bytes += enc.buf.len() as u64;
            out.write_all(&enc.buf)?;
            enc.buf.clear();
        }
        Ok::<(u32, u64), std::io::Error>((crc, bytes))
    };
    enc.buf.extend_from_slice(MAGIC);
    enc.u32(VERSION);
    enc.i64(state.revision);
    enc.i64(state.compact_revision);
    enc.u64(state.kvs.len() as u64);
    for (key, entry) in &state.kvs {
        enc.entry(key, entry);
        flush(&mut enc, &mut out, false).map_err(io)?;
    }
    enc.u64(state.history.len() as u64);
    for event in &state.history {
        enc.event(event);
        flush(&mut enc, &mut out, false).map_err(io)?;
    }
    let (crc, bytes) = flush(&mut enc, &mut out, true).map_err(io)?;
    out.write_all(&crc.to_le_bytes()).map_err(io)?;
    out.sync_all().map_err(io)?;
    drop(out);
    disk.rename(&tmp, &path)
        .map_err(|e| StoreError::io(&path, e))?;
    sync_dir(disk, snap_dir)?;
    // Older snapshots are not needed any more; if a crash brings one back, the newest wins.
    for old in list(disk, snap_dir)?
        .into_iter()
        .filter(|&r| r < state.revision)
    {
        let old = snapshot_path(snap_dir, old);
        disk.remove_file(&old)
            .map_err(|e| StoreError::io(&old, e))?;
    }
    Ok((path, bytes + 4))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::disk::RealDisk;
    use super::super::state::Record;
    use super::*;

    fn sample() -> State {
        let mut s = State::default();
        for i in 1..=10 {
            s.apply(&Record::Put {
                revision: i,
                key: format!("/k/{}", i % 4),
                value: Bytes::from(format!("v{i}")),
            });
        }
        s.apply(&Record::Delete {
            revision: 11,
            key: "/k/1".into(),
        });
        s.apply(&Record::Compact { revision: 6 });
        s
    }

    #[test]
    fn round_trips_and_replaces_older_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sample();
        write(&RealDisk, dir.path(), &s).unwrap();
        s.apply(&Record::Put {
            revision: 12,
            key: "/z".into(),
            value: Bytes::new(),
        });
        write(&RealDisk, dir.path(), &s).unwrap();
        assert_eq!(list(&RealDisk, dir.path()).unwrap(), vec![12]);
        let back = load_latest(&RealDisk, dir.path()).unwrap().unwrap();
        assert_eq!(back.kvs, s.kvs);
        assert_eq!(back.history, s.history);
        assert_eq!((back.revision, back.compact_revision), (12, 6));
    }

    #[test]
    fn damage_is_reported_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write(&RealDisk, dir.path(), &sample()).unwrap();
        let mut data = std::fs::read(&path).unwrap();
        data[30] ^= 1;
        std::fs::write(&path, data).unwrap();
        let msg = load_latest(&RealDisk, dir.path()).unwrap_err().to_string();
        assert!(msg.contains("checksum mismatch"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
}
