//! The embedded store's data directory:
//!
//! ```text
//! DIR/skiff-store     marker naming the format; a directory without it is never touched
//! DIR/LOCK            held (flock) by the one process that has the store open
//! DIR/wal/*.wal       log segments, by sequence number
//! DIR/snap/*.snap     snapshots, by revision
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

const MARKER: &str = "skiff-store";
const MARKER_CONTENT: &str = "skiff-store format 1\n";

#[derive(Debug)]
pub(crate) struct Layout {
    pub wal: PathBuf,
    pub snap: PathBuf,
    /// Keeps the directory locked for as long as the store is open.
    _lock: File,
}

impl Layout {
    /// Opens `root`, initialising it when it is missing or empty. Refuses a directory that
    /// holds anything but a skiff store, and one that another process has open.
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root).map_err(|e| StoreError::io(root, e))?;
        let marker = root.join(MARKER);
        match fs::read_to_string(&marker) {
            Ok(content) if content == MARKER_CONTENT => {}
            Ok(content) => {
                return Err(StoreError::Foreign {
                    path: root.to_owned(),
                    detail: format!(
                        "{} says {:?}, not {:?}; it was written by an incompatible version",
                        marker.display(),
                        content.trim(),
                        MARKER_CONTENT.trim()
                    ),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => initialise(root, &marker)?,
            Err(e) => return Err(StoreError::io(&marker, e)),
        }
        let lock_path = root.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(&lock_path, e))?;
        if let Err(e) = lock.try_lock() {
            return Err(StoreError::Io {
                path: lock_path,
                source: std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!("the data directory is in use by another skiff process ({e})"),
                ),
            });
        }
        let layout = Layout {
            wal: root.join("wal"),
            snap: root.join("snap"),
            _lock: lock,
        };
        for dir in [&layout.wal, &layout.snap] {
            if !dir.is_dir() {
                return Err(StoreError::corrupt(
                    dir,
                    "directory is missing from the store (was it deleted?)",
                ));
            }
        }
        Ok(layout)
    }
}

fn initialise(root: &Path, marker: &Path) -> Result<()> {
    let mut entries = fs::read_dir(root)
        .map_err(|e| StoreError::io(root, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
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
    for sub in ["wal", "snap"] {
        let dir = root.join(sub);
        fs::create_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
    }
    write_atomically(marker, MARKER_CONTENT.as_bytes())
}

/// Writes `path` so that it is either absent or complete, even across a crash.
pub(crate) fn write_atomically(path: &Path, content: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let io = |p: &Path, e| StoreError::io(p, e);
    let mut f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(content).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes creations, renames and removals in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_foreign_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("important.db"), b"data").unwrap();
        let err = Layout::open(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("not a skiff store directory"), "{msg}");
        assert!(msg.contains("important.db"), "{msg}");
        assert_eq!(fs::read(dir.path().join("important.db")).unwrap(), b"data");
    }

    #[test]
    fn refuses_an_unknown_format() {
        let dir = tempfile::tempdir().unwrap();
        drop(Layout::open(dir.path()).unwrap());
        fs::write(dir.path().join(MARKER), "skiff-store format 99\n").unwrap();
        let msg = Layout::open(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("incompatible version"), "{msg}");
    }

    #[test]
    fn one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Layout::open(dir.path()).unwrap();
        let msg = Layout::open(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("in use by another skiff process"), "{msg}");
    }
}
