//! The file system under the embedded store. Everything the store makes durable goes
//! through [`Disk`], so that tests can put a disk that loses power under the real code;
//! [`RealDisk`] is plain files.
//!
//! Durability rules the store follows (and the simulated disk enforces): file data is on
//! disk after `sync_data`/`sync_all`; a name created, renamed or removed in a directory is
//! on disk after `sync_dir` of that directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Result, StoreError};

/// Files and directories, as the store uses them.
pub(crate) trait Disk: Send + Sync + std::fmt::Debug {
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The names in a directory.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` is a directory; false when nothing is there.
    fn is_dir(&self, path: &Path) -> io::Result<bool>;
    /// Whether anything is at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// Creates a file that must not exist yet, for appending.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Creates or empties a file, for writing from the start.
    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Opens an existing file for appending after its first `len` bytes; the rest is cut
    /// off (not yet durably: sync the file).
    fn open_at(&self, path: &Path, len: u64) -> io::Result<Box<dyn DiskFile>>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if missing) for as long as the returned
    /// guard lives; fails with `WouldBlock` if another process holds it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn std::any::Any + Send + Sync>>;
}

/// A file open for writing.
pub(crate) trait DiskFile: Send + std::fmt::Debug {
    /// Writes `buf` at the end of what this handle wrote so far.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// `fdatasync`.
    fn sync_data(&mut self) -> io::Result<()>;
    /// `fsync`.
    fn sync_all(&mut self) -> io::Result<()>;
}

/// Plain files.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RealDisk;

impl Disk for RealDisk {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        match fs::metadata(path) {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let file = OpenOptions::new().create_new(true).write(true).open(path)?;
        Ok(Box::new(RealFile(file)))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        Ok(Box::new(RealFile(File::create(path)?)))
    }

    fn open_at(&self, path: &Path, len: u64) -> io::Result<Box<dyn DiskFile>> {
        let mut file = OpenOptions::new().write(true).open(path)?;
        if file.metadata()?.len() != len {
            file.set_len(len)?;
        }
        file.seek(SeekFrom::Start(len))?;
        Ok(Box::new(RealFile(file)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn std::any::Any + Send + Sync>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.try_lock().map_err(io::Error::from)?;
        Ok(Box::new(file))
    }
}

#[derive(Debug)]
struct RealFile(File);

impl DiskFile for RealFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

/// Writes `path` so that it is either absent (or its old content) or complete, even across
/// a power loss: a synced temporary file renamed over it, then the directory synced.
pub(crate) fn write_atomically(disk: &dyn Disk, path: &Path, content: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let io = |p: &Path, e| StoreError::io(p, e);
    let mut f = disk.create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(content).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    drop(f);
    disk.rename(&tmp, path).map_err(|e| io(path, e))?;
    sync_dir(disk, parent(path))
}

/// Creates `dir` and any missing parents so that they survive a power loss: each new
/// directory's name is synced in its parent.
pub(crate) fn create_dir_all(disk: &dyn Disk, dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !disk.exists(at).map_err(|e| StoreError::io(at, e))? {
        missing.push(at);
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => break,
        }
    }
    for new in missing.into_iter().rev() {
        match disk.create_dir(new) {
            Ok(()) => {}
            // Someone else created it meanwhile; its name may not be synced yet.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io(new, e)),
        }
        sync_dir(disk, parent(new))?;
    }
    Ok(())
}

/// Makes creations, renames and removals in `dir` durable.
pub(crate) fn sync_dir(disk: &dyn Disk, dir: &Path) -> Result<()> {
    disk.sync_dir(dir).map_err(|e| StoreError::io(dir, e))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_disk_appends_after_a_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let disk = RealDisk;
        let mut f = disk.create_new(&path).unwrap();
        f.write_all(b"hello world").unwrap();
        f.sync_data().unwrap();
        drop(f);
        assert!(
            disk.create_new(&path).is_err(),
            "create_new never overwrites"
        );
        let mut f = disk.open_at(&path, 5).unwrap();
        f.write_all(b", there").unwrap();
        f.sync_all().unwrap();
        assert_eq!(disk.read(&path).unwrap(), b"hello, there");
        assert_eq!(disk.list(dir.path()).unwrap(), vec!["f".to_owned()]);
    }

    #[test]
    fn create_dir_all_creates_every_missing_level() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all(&RealDisk, &deep).unwrap();
        assert!(RealDisk.is_dir(&deep).unwrap());
        create_dir_all(&RealDisk, &deep).unwrap();
    }

    #[test]
    fn a_second_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LOCK");
        let _held = RealDisk.lock(&path).unwrap();
        let err = RealDisk.lock(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
