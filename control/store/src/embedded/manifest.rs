//! The manifest: which log segments and which snapshot a complete store has, so that a lost
//! file is an error instead of a store that silently restarts from less.
//!
//! `DIR/MANIFEST` (40 bytes): `SKIFFMAN` | version u32 | first segment u64 | last segment u64
//! | snapshot revision i64 | crc32c u32. Replaced atomically (synced temporary file, rename,
//! directory sync) whenever it changes:
//! - after a new segment is created and synced (last = new), before anything is written to it;
//! - after a snapshot is durable (first = the first segment it does not cover, snapshot
//!   revision = its revision), before the covered segments are deleted.
//!
//! So at every instant the segments `first..=last` exist, and a snapshot at least as new as
//! the recorded revision exists. At most one segment beyond `last` can exist, one whose
//! creation a crash interrupted: it holds no frames.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::codec::{Decoder, Encoder};
use super::disk::{Disk, write_atomically};
use crate::error::{Result, StoreError};

const MAGIC: &[u8; 8] = b"SKIFFMAN";
const VERSION: u32 = 1;
pub(crate) const FILE: &str = "MANIFEST";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// The oldest segment recovery needs (older ones are covered by the snapshot).
    pub first_segment: u64,
    /// The newest segment; appends go there.
    pub last_segment: u64,
    /// The revision of the newest durable snapshot, 0 if none.
    pub snapshot_revision: i64,
}

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        let mut enc = Encoder::default();
        enc.buf.extend_from_slice(MAGIC);
        enc.u32(VERSION);
        enc.u64(self.first_segment);
        enc.u64(self.last_segment);
        enc.i64(self.snapshot_revision);
        let crc = crc32c::crc32c(&enc.buf);
        enc.u32(crc);
        enc.buf
    }

    pub fn decode(data: &[u8]) -> Result<Manifest, String> {
        if data.len() < MAGIC.len() + 4 || &data[..8] != MAGIC {
            return Err("not a skiff store manifest (bad magic)".into());
        }
        let (body, crc) = data.split_at(data.len() - 4);
        if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err("manifest checksum mismatch".into());
        }
        let mut dec = Decoder::new(&body[8..]);
        let version = dec.u32()?;
        if version != VERSION {
            return Err(format!(
                "manifest version {version} is not supported (this skiff reads {VERSION})"
            ));
        }
        let m = Manifest {
            first_segment: dec.u64()?,
            last_segment: dec.u64()?,
            snapshot_revision: dec.i64()?,
        };
        if !dec.is_empty() {
            return Err("trailing bytes in the manifest".into());
        }
        if m.first_segment == 0 || m.first_segment > m.last_segment {
            return Err(format!(
                "manifest lists segments {}..={}",
                m.first_segment, m.last_segment
            ));
        }
        Ok(m)
    }
}

pub(crate) fn path(root: &Path) -> PathBuf {
    root.join(FILE)
}

/// Reads the manifest; `None` when there is none.
pub(crate) fn load(disk: &dyn Disk, root: &Path) -> Result<Option<Manifest>> {
    let path = path(root);
    match disk.read(&path) {
        Ok(data) => Manifest::decode(&data)
            .map(Some)
            .map_err(|detail| StoreError::corrupt(&path, detail)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

pub(crate) fn store(disk: &dyn Disk, root: &Path, manifest: &Manifest) -> Result<()> {
    write_atomically(disk, &path(root), &manifest.encode())
}

/// The manifest of an open store, shared by the syncer (new segments) and the snapshot
/// thread (new snapshots); each change is durable before the call returns.
#[derive(Debug, Clone)]
pub(crate) struct ManifestFile {
    disk: Arc<dyn Disk>,
    root: PathBuf,
    current: Arc<Mutex<Manifest>>,
}

impl ManifestFile {
    pub fn new(disk: Arc<dyn Disk>, root: &Path, current: Manifest) -> Self {
        ManifestFile {
            disk,
            root: root.to_owned(),
            current: Arc::new(Mutex::new(current)),
        }
    }

    /// Applies `change` and makes the result durable. On failure the manifest on disk is
    /// the old one or the new one; the in-memory copy is left unchanged.
    pub fn update(&self, change: impl FnOnce(&mut Manifest)) -> Result<()> {
        let mut current = self.current.lock();
        let mut next = *current;
        change(&mut next);
        if next != *current {
            store(self.disk.as_ref(), &self.root, &next)?;
            *current = next;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_damage() {
        let m = Manifest {
            first_segment: 3,
            last_segment: 7,
            snapshot_revision: 1234,
        };
        let data = m.encode();
        assert_eq!(Manifest::decode(&data).unwrap(), m);
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x10;
            assert!(Manifest::decode(&bad).is_err(), "flip at {i}");
        }
        assert!(Manifest::decode(&data[..20]).is_err());
    }
}
