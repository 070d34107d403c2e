//! The embedded store's data directory:
//!
//! ```text
//! DIR/skiff-store     marker naming the format; a directory without it is never touched
//! DIR/LOCK            held (flock) by the one process that has the store open
//! DIR/MANIFEST        which segments and snapshot the store has (manifest.rs)
//! DIR/wal/*.wal       log segments, by sequence number
//! DIR/snap/*.snap     snapshots, by revision
//! ```
//!
//! A new store is created marker first, so that a crash while creating it leaves a
//! directory recovery recognises as an unfinished creation (marker, no manifest, no data).

use std::path::{Path, PathBuf};

use super::disk::{self, Disk, write_atomically};
use crate::error::{Result, StoreError};

const MARKER: &str = "skiff-store";
/// Format 2: frame headers with their own checksum, revision and write group; the manifest.
const FORMAT: u32 = 2;

fn marker_content(format: u32) -> String {
    format!("skiff-store format {format}\n")
}

#[derive(Debug)]
pub(crate) struct Layout {
    pub root: PathBuf,
    pub wal: PathBuf,
    pub snap: PathBuf,
    /// Keeps the directory locked for as long as the store is open.
    _lock: Box<dyn std::any::Any + Send + Sync>,
}

impl Layout {
    /// Opens `root`, marking it as a store when it is missing or empty. Refuses a directory
    /// that holds anything but a skiff store of this format, and one that another process
    /// has open.
    pub fn open(disk: &dyn Disk, root: &Path) -> Result<Self> {
        disk::create_dir_all(disk, root)?;
        let marker = root.join(MARKER);
        match disk.read(&marker) {
            Ok(content) if content == marker_content(FORMAT).as_bytes() => {}
            Ok(content) => return Err(refuse(root, &marker, &content)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => mark(disk, root, &marker)?,
            Err(e) => return Err(StoreError::io(&marker, e)),
        }
        let lock_path = root.join("LOCK");
        let lock = disk.lock(&lock_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                StoreError::Io {
                    path: lock_path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        format!("the data directory is in use by another skiff process ({e})"),
                    ),
                }
            } else {
                StoreError::io(&lock_path, e)
            }
        })?;
        Ok(Layout {
            root: root.to_owned(),
            wal: root.join("wal"),
            snap: root.join("snap"),
            _lock: lock,
        })
    }
}

/// The error for a marker of another format.
fn refuse(root: &Path, marker: &Path, content: &[u8]) -> StoreError {
    let content = String::from_utf8_lossy(content);
    let older = (1..FORMAT).find(|&f| content == marker_content(f));
    match older {
        Some(found) => StoreError::UnsupportedFormat {
            path: root.to_owned(),
            detail: format!(
                "{} says format {found}, and this skiff reads only format {FORMAT}. Format \
                 {found} logs cannot tell a damaged frame header from an interrupted write, \
                 so they are not converted; the directory has not been changed. Run the skiff \
                 release that wrote it to keep using that data, or give this one a new, empty \
                 data directory",
                marker.display()
            ),
        },
        None => StoreError::Foreign {
            path: root.to_owned(),
            detail: format!(
                "{} says {:?}, not {:?}; it was written by an incompatible version",
                marker.display(),
                content.trim(),
                marker_content(FORMAT).trim()
            ),
        },
    }
}

/// Marks an empty directory as a store (the rest is created by recovery).
fn mark(disk: &dyn Disk, root: &Path, marker: &Path) -> Result<()> {
    let mut entries = disk
        .list(root)
        .map_err(|e| StoreError::io(root, e))?
        .into_iter()
        // A crash while writing the marker leaves its temporary file.
        .filter(|name| *name != format!("{MARKER}.tmp"))
        .collect::<Vec<_>>();
    if !entries.is_empty() {
        entries.sort();
        entries.truncate(5);
        return Err(StoreError::Foreign {
            path: root.to_owned(),
            detail: format!(
                "it is not empty (it holds {}) and has no {MARKER} marker; refusing to start an \
                 empty store over it. Use an empty or new directory, or the right one",
                entries.join(", ")
            ),
        });
    }
    write_atomically(disk, marker, marker_content(FORMAT).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::super::disk::RealDisk;
    use super::*;

    #[test]
    fn refuses_a_foreign_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("important.db"), b"data").unwrap();
        let err = Layout::open(&RealDisk, dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("not a skiff store directory"), "{msg}");
        assert!(msg.contains("important.db"), "{msg}");
        assert_eq!(
            std::fs::read(dir.path().join("important.db")).unwrap(),
            b"data"
        );
    }

    #[test]
    fn refuses_an_unknown_format() {
        let dir = tempfile::tempdir().unwrap();
        drop(Layout::open(&RealDisk, dir.path()).unwrap());
        std::fs::write(dir.path().join(MARKER), "skiff-store format 99\n").unwrap();
        let msg = Layout::open(&RealDisk, dir.path()).unwrap_err().to_string();
        assert!(msg.contains("incompatible version"), "{msg}");
    }

    #[test]
    fn one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Layout::open(&RealDisk, dir.path()).unwrap();
        let msg = Layout::open(&RealDisk, dir.path()).unwrap_err().to_string();
        assert!(msg.contains("in use by another skiff process"), "{msg}");
    }

    #[test]
    fn a_marker_left_half_written_by_a_crash_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("skiff-store.tmp"), "skiff-st").unwrap();
        drop(Layout::open(&RealDisk, dir.path()).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(MARKER)).unwrap(),
            marker_content(FORMAT)
        );
    }
}
