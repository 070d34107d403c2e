//! A simulated disk that loses power, for the power-loss tests.
//!
//! Each file has what reads see (the page cache) and what is on the platters; each directory
//! has its current names and its durable names. `sync_data`/`sync_all` make a file's data
//! durable, `sync_dir` a directory's names. A power loss ([`SimDisk::power_loss`]) keeps the
//! durable state plus whatever the [`Fate`] lets through of the rest: for every file, its
//! unsynced appended bytes dropped, kept, torn at any byte, or kept with sectors missing
//! (zero) or garbled; for every directory, a prefix of its unsynced name changes (a
//! journalling file system commits them in order). The disk can also be set to lose power at
//! its n-th mutating operation, or to fail one operation with an I/O error and carry on, and
//! tests can flip, zero or delete anything afterwards.

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::disk::{Disk, DiskFile};

/// A small deterministic random source (splitmix64), so a failing case replays exactly.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What a power loss does to data and names that were not synced.
#[derive(Clone, Debug)]
pub(crate) struct Fate {
    pub seed: u64,
}

/// Sector size of the simulated disk: a power loss loses or keeps whole sectors.
const SECTOR: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    File(usize),
    Dir,
}

#[derive(Clone, Debug)]
enum DirOp {
    Set(String, Node),
    Remove(String),
    Rename(String, String),
}

impl DirOp {
    fn apply(&self, names: &mut BTreeMap<String, Node>) {
        match self {
            DirOp::Set(name, node) => {
                names.insert(name.clone(), node.clone());
            }
            DirOp::Remove(name) => {
                names.remove(name);
            }
            DirOp::Rename(from, to) => {
                if let Some(node) = names.remove(from) {
                    names.insert(to.clone(), node);
                }
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Dir {
    names: BTreeMap<String, Node>,
    durable: BTreeMap<String, Node>,
    /// Changes since the last `sync_dir`, in order.
    pending: Vec<DirOp>,
}

#[derive(Clone, Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// Every write, as a byte range, in order (cut back when the file is cut).
    writes: Vec<Range<usize>>,
}

/// An injected failure: the n-th mutating operation fails and the disk carries on.
#[derive(Clone, Debug)]
struct Failure {
    at_op: u64,
    /// For a write: how much of it lands before the error, per mille.
    partial: u64,
}

#[derive(Debug)]
struct Sim {
    base: PathBuf,
    inodes: Vec<Inode>,
    dirs: BTreeMap<PathBuf, Dir>,
    ops: u64,
    crash_at: Option<(u64, Fate)>,
    /// Set by a power loss: the disk as it came back.
    crashed: Option<Box<Sim>>,
    failure: Option<Failure>,
    /// The operation and path that failed on purpose.
    failed: Option<(String, PathBuf)>,
    sync_delay: Duration,
}

/// The simulated disk. Clones share it.
#[derive(Clone, Debug)]
pub(crate) struct SimDisk {
    sim: Arc<Mutex<Sim>>,
}

fn power_off() -> io::Error {
    io::Error::other("simulated power loss: the disk is off")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: not found", path.display()),
    )
}

impl SimDisk {
    /// An empty disk where only `base` exists (durably).
    pub fn new(base: &Path) -> Self {
        let mut dirs = BTreeMap::new();
        dirs.insert(base.to_owned(), Dir::default());
        SimDisk::from(Sim {
            base: base.to_owned(),
            inodes: Vec::new(),
            dirs,
            ops: 0,
            crash_at: None,
            crashed: None,
            failure: None,
            failed: None,
            sync_delay: Duration::ZERO,
        })
    }

    fn from(sim: Sim) -> Self {
        SimDisk {
            sim: Arc::new(Mutex::new(sim)),
        }
    }

    /// Each sync takes this long (outside the disk's lock), so writes pile up behind it.
    pub fn set_sync_delay(&self, delay: Duration) {
        self.sim.lock().sync_delay = delay;
    }

    /// Loses power at the `n`-th mutating operation from now (that operation fails).
    pub fn crash_at(&self, n: u64, fate: Fate) {
        let mut sim = self.sim.lock();
        sim.crash_at = Some((sim.ops + n, fate));
    }

    /// Fails the `n`-th mutating operation from now with an I/O error (a write lands
    /// `partial` per mille of its bytes first); the disk carries on.
    pub fn fail_at(&self, n: u64, partial: u64) {
        let mut sim = self.sim.lock();
        sim.failure = Some(Failure {
            at_op: sim.ops + n,
            partial,
        });
    }

    /// The operation and path that failed on purpose, if one did.
    pub fn failed(&self) -> Option<(String, PathBuf)> {
        self.sim.lock().failed.clone()
    }

    /// Mutating operations so far.
    pub fn ops(&self) -> u64 {
        self.sim.lock().ops
    }

    /// The disk after the power loss, if one happened.
    pub fn after_crash(&self) -> Option<SimDisk> {
        let sim = self.sim.lock();
        sim.crashed
            .as_ref()
            .map(|s| SimDisk::from(s.restarted(sim.sync_delay)))
    }

    /// Loses power now: the disk as it comes back.
    pub fn power_loss(&self, fate: &Fate) -> SimDisk {
        let sim = self.sim.lock();
        let delay = sim.sync_delay;
        SimDisk::from(sim.image(fate).restarted(delay))
    }

    /// The process died but the machine did not: everything written is still there.
    pub fn restart(&self) -> SimDisk {
        let sim = self.sim.lock();
        let mut back = sim.restarted(sim.sync_delay);
        for inode in &mut back.inodes {
            inode.durable = inode.data.clone();
        }
        for dir in back.dirs.values_mut() {
            dir.durable = dir.names.clone();
            dir.pending.clear();
        }
        SimDisk::from(back)
    }

    /// Every file under `dir` (recursively), with its length.
    pub fn files(&self, dir: &Path) -> Vec<(PathBuf, usize)> {
        let sim = self.sim.lock();
        let mut out = Vec::new();
        sim.walk(dir, &mut out);
        out
    }

    /// The byte range of the last write that is in `path`'s content.
    pub fn last_write(&self, path: &Path) -> Option<Range<usize>> {
        let sim = self.sim.lock();
        let inode = &sim.inodes[sim.file(path).ok()?];
        inode
            .writes
            .iter()
            .rev()
            .find(|w| w.start < inode.data.len())
            .map(|w| w.start..w.end.min(inode.data.len()))
    }

    /// Changes one byte of a file on disk (as media damage would).
    pub fn damage(&self, path: &Path, offset: usize, change: impl FnOnce(u8) -> u8) {
        let mut sim = self.sim.lock();
        let id = sim.file(path).expect("damaged file exists");
        let inode = &mut sim.inodes[id];
        inode.data[offset] = change(inode.data[offset]);
        inode.durable = inode.data.clone();
    }

    /// Deletes a file or an empty directory's name for good.
    pub fn delete(&self, path: &Path) {
        let mut sim = self.sim.lock();
        let (parent, name) = split(path);
        let dir = sim.dirs.get_mut(&parent).expect("parent exists");
        dir.names.remove(&name);
        dir.durable.remove(&name);
    }

    /// Counts a mutating operation; fails it if the disk is off, loses power or fails here.
    fn begin(&self, sim: &mut Sim, what: &str, path: &Path) -> io::Result<Option<Failure>> {
        if sim.crashed.is_some() {
            return Err(power_off());
        }
        sim.ops += 1;
        if let Some((at, fate)) = &sim.crash_at
            && *at == sim.ops
        {
            let image = sim.image(fate);
            sim.crashed = Some(Box::new(image));
            return Err(power_off());
        }
        if let Some(f) = &sim.failure
            && f.at_op == sim.ops
        {
            sim.failed = Some((what.to_owned(), path.to_owned()));
            return Ok(sim.failure.take());
        }
        Ok(None)
    }

    fn injected(what: &str) -> io::Error {
        io::Error::other(format!("injected I/O error in {what}"))
    }
}

fn split(path: &Path) -> (PathBuf, String) {
    (
        path.parent().expect("absolute path").to_owned(),
        path.file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned(),
    )
}

impl Sim {
    fn node(&self, path: &Path) -> io::Result<Node> {
        if self.dirs.contains_key(path) && self.is_live_dir(path) {
            return Ok(Node::Dir);
        }
        let (parent, name) = split(path);
        if !self.is_live_dir(&parent) {
            return Err(not_found(path));
        }
        self.dirs[&parent]
            .names
            .get(&name)
            .cloned()
            .ok_or_else(|| not_found(path))
    }

    /// Whether `path` is a directory that exists now (reachable from the base).
    fn is_live_dir(&self, path: &Path) -> bool {
        if path == self.base {
            return true;
        }
        if !path.starts_with(&self.base) || !self.dirs.contains_key(path) {
            return false;
        }
        let (parent, name) = split(path);
        self.is_live_dir(&parent) && self.dirs[&parent].names.get(&name) == Some(&Node::Dir)
    }

    fn file(&self, path: &Path) -> io::Result<usize> {
        match self.node(path)? {
            Node::File(id) => Ok(id),
            Node::Dir => Err(io::Error::other(format!(
                "{}: is a directory",
                path.display()
            ))),
        }
    }

    fn change_dir(&mut self, dir: &Path, op: DirOp) -> io::Result<()> {
        if !self.is_live_dir(dir) {
            return Err(not_found(dir));
        }
        let d = self.dirs.get_mut(dir).expect("live");
        op.apply(&mut d.names);
        d.pending.push(op);
        Ok(())
    }

    fn new_file(&mut self, path: &Path) -> io::Result<usize> {
        let (parent, name) = split(path);
        let id = self.inodes.len();
        self.change_dir(&parent, DirOp::Set(name, Node::File(id)))?;
        self.inodes.push(Inode::default());
        Ok(id)
    }

    fn walk(&self, dir: &Path, out: &mut Vec<(PathBuf, usize)>) {
        let Some(d) = self.dirs.get(dir).filter(|_| self.is_live_dir(dir)) else {
            return;
        };
        for (name, node) in &d.names {
            let path = dir.join(name);
            match node {
                Node::File(id) => out.push((path, self.inodes[*id].data.len())),
                Node::Dir => self.walk(&path, out),
            }
        }
    }

    /// The disk after a power loss now, with `fate` deciding what unsynced state survives.
    fn image(&self, fate: &Fate) -> Sim {
        let mut rng = Rng::new(fate.seed);
        let mut dirs = BTreeMap::new();
        for (path, dir) in &self.dirs {
            let mut names = dir.durable.clone();
            let kept = match rng.below(3) {
                0 => 0,
                1 => dir.pending.len(),
                _ => rng.below(dir.pending.len() as u64 + 1) as usize,
            };
            for op in &dir.pending[..kept] {
                op.apply(&mut names);
            }
            dirs.insert(
                path.clone(),
                Dir {
                    names: names.clone(),
                    durable: names,
                    pending: Vec::new(),
                },
            );
        }
        let inodes = self
            .inodes
            .iter()
            .map(|inode| {
                let data = survive(inode, &mut rng);
                let writes = inode
                    .writes
                    .iter()
                    .filter(|w| w.start < data.len())
                    .map(|w| w.start..w.end.min(data.len()))
                    .collect();
                Inode {
                    durable: data.clone(),
                    data,
                    writes,
                }
            })
            .collect();
        Sim {
            base: self.base.clone(),
            inodes,
            dirs,
            ops: 0,
            crash_at: None,
            crashed: None,
            failure: None,
            failed: None,
            sync_delay: self.sync_delay,
        }
    }

    /// A copy of this disk's current content, for a new boot.
    fn restarted(&self, sync_delay: Duration) -> Sim {
        Sim {
            base: self.base.clone(),
            inodes: self.inodes.clone(),
            dirs: self.dirs.clone(),
            ops: 0,
            crash_at: None,
            crashed: None,
            failure: None,
            failed: None,
            sync_delay,
        }
    }
}

/// What of a file survives a power loss.
fn survive(inode: &Inode, rng: &mut Rng) -> Vec<u8> {
    let (data, durable) = (&inode.data, &inode.durable);
    if data == durable {
        return data.clone();
    }
    if !data.starts_with(durable) {
        // Rewritten in place (cut back) since the last sync: old or new.
        return if rng.chance(50) {
            durable.clone()
        } else {
            data.clone()
        };
    }
    let mut out = data.clone();
    let tail = data.len() - durable.len();
    match rng.below(7) {
        // Nothing of the unsynced bytes reached the disk.
        0 => out.truncate(durable.len()),
        // All of them did.
        1 => {}
        // The write was torn at a byte.
        2 | 3 => out.truncate(durable.len() + rng.below(tail as u64) as usize),
        // One sector did not reach the disk; the ones after it did.
        4 => {
            let at = durable.len() + rng.below(tail as u64) as usize;
            let sector = at / SECTOR * SECTOR;
            out[sector.max(durable.len())..(sector + SECTOR).min(data.len())].fill(0);
        }
        // Sectors reached the disk in any order: some are missing (zero) or garbled.
        _ => {
            let first = durable.len() / SECTOR;
            let last = data.len().div_ceil(SECTOR);
            for sector in first..last {
                let range =
                    (sector * SECTOR).max(durable.len())..((sector + 1) * SECTOR).min(out.len());
                match rng.below(3) {
                    0 => out[range].fill(0),
                    1 => {
                        for b in &mut out[range] {
                            *b = rng.next() as u8;
                        }
                    }
                    _ => {}
                }
            }
            if rng.chance(30) {
                out.truncate(durable.len() + rng.below(tail as u64 + 1) as usize);
            }
        }
    }
    out
}

impl Disk for SimDisk {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let sim = self.sim.lock();
        if sim.crashed.is_some() {
            return Err(power_off());
        }
        let id = sim.file(path)?;
        Ok(sim.inodes[id].data.clone())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let sim = self.sim.lock();
        if sim.crashed.is_some() {
            return Err(power_off());
        }
        if !sim.is_live_dir(dir) {
            return Err(not_found(dir));
        }
        Ok(sim.dirs[dir].names.keys().cloned().collect())
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        let sim = self.sim.lock();
        Ok(sim.is_live_dir(path))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let sim = self.sim.lock();
        if !path.starts_with(&sim.base) {
            return Ok(true); // outside the simulated part: the machine's own directories
        }
        Ok(sim.node(path).is_ok())
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        let mut sim = self.sim.lock();
        if self.begin(&mut sim, "create_dir", path)?.is_some() {
            return Err(Self::injected("create_dir"));
        }
        if sim.node(path).is_ok() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists"));
        }
        let (parent, name) = split(path);
        sim.change_dir(&parent, DirOp::Set(name, Node::Dir))?;
        sim.dirs.insert(path.to_owned(), Dir::default());
        Ok(())
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut sim = self.sim.lock();
        if self.begin(&mut sim, "create_new", path)?.is_some() {
            return Err(Self::injected("create_new"));
        }
        if sim.node(path).is_ok() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists"));
        }
        let id = sim.new_file(path)?;
        Ok(Box::new(SimFile {
            disk: self.clone(),
            path: path.to_owned(),
            id,
            pos: 0,
        }))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut sim = self.sim.lock();
        if self.begin(&mut sim, "create", path)?.is_some() {
            return Err(Self::injected("create"));
        }
        // A new file under the name (what survives a crash is the old one or the new one).
        let id = sim.new_file(path)?;
        Ok(Box::new(SimFile {
            disk: self.clone(),
            path: path.to_owned(),
            id,
            pos: 0,
        }))
    }

    fn open_at(&self, path: &Path, len: u64) -> io::Result<Box<dyn DiskFile>> {
        let mut sim = self.sim.lock();
        if self.begin(&mut sim, "open_at", path)?.is_some() {
            return Err(Self::injected("open_at"));
        }
        let id = sim.file(path)?;
        let len = len as usize;
        let inode = &mut sim.inodes[id];
        inode.data.resize(len, 0);
        inode.writes.retain(|w| w.start < len);
        if let Some(w) = inode.writes.last_mut() {
            w.end = w.end.min(len);
        }
        Ok(Box::new(SimFile {
            disk: self.clone(),
            path: path.to_owned(),
            id,
            pos: len,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut sim = self.sim.lock();
        if self.begin(&mut sim, "rename", from)?.is_some() {
            return Err(Self::injected("rename"));
        }
        let (dir, from_name) = split(from);
        let (to_dir, to_name) = split(to);
        assert_eq!(dir, to_dir, "the store renames within a directory");
        sim.file(from)?;
        sim.change_dir(&dir, DirOp::Rename(from_name, to_name))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut sim = self.sim.lock();
        if self.begin(&mut sim, "remove_file", path)?.is_some() {
            return Err(Self::injected("remove_file"));
        }
        sim.file(path)?;
        let (dir, name) = split(path);
        sim.change_dir(&dir, DirOp::Remove(name))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let delay = {
            let mut sim = self.sim.lock();
            if self.begin(&mut sim, "sync_dir", dir)?.is_some() {
                return Err(Self::injected("sync_dir"));
            }
            if !sim.is_live_dir(dir) {
                return Err(not_found(dir));
            }
            let d = sim.dirs.get_mut(dir).expect("live");
            d.durable = d.names.clone();
            d.pending.clear();
            sim.sync_delay
        };
        std::thread::sleep(delay);
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn std::any::Any + Send + Sync>> {
        let exists = self.sim.lock().node(path).is_ok();
        if !exists {
            drop(self.create_new(path)?);
        }
        Ok(Box::new(()))
    }
}

#[derive(Debug)]
struct SimFile {
    disk: SimDisk,
    path: PathBuf,
    id: usize,
    pos: usize,
}

impl SimFile {
    fn sync(&mut self, what: &str) -> io::Result<()> {
        let delay = {
            let mut sim = self.disk.sim.lock();
            if self.disk.begin(&mut sim, what, &self.path)?.is_some() {
                return Err(SimDisk::injected(what));
            }
            let inode = &mut sim.inodes[self.id];
            inode.durable = inode.data.clone();
            sim.sync_delay
        };
        std::thread::sleep(delay);
        Ok(())
    }
}

impl DiskFile for SimFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut sim = self.disk.sim.lock();
        let failure = self.disk.begin(&mut sim, "write", &self.path)?;
        let landed = match &failure {
            Some(f) => buf.len() * f.partial as usize / 1000,
            None => buf.len(),
        };
        let inode = &mut sim.inodes[self.id];
        let end = self.pos + landed;
        if inode.data.len() < end {
            inode.data.resize(end, 0);
        }
        inode.data[self.pos..end].copy_from_slice(&buf[..landed]);
        inode.writes.push(self.pos..end);
        self.pos = end;
        match failure {
            Some(_) => Err(SimDisk::injected("write")),
            None => Ok(()),
        }
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.sync("sync_data")
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync("sync_all")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PathBuf {
        PathBuf::from("/sim")
    }

    #[test]
    fn only_synced_data_and_names_survive_when_nothing_else_does() {
        let disk = SimDisk::new(&base());
        let dir = base().join("d");
        disk.create_dir(&dir).unwrap();
        disk.sync_dir(&base()).unwrap();
        let mut f = disk.create_new(&dir.join("f")).unwrap();
        f.write_all(b"synced").unwrap();
        f.sync_data().unwrap();
        f.write_all(b" and not").unwrap();
        // The name was never synced: a power loss that keeps no pending change loses it.
        let seeds_losing_the_name = (0..64)
            .filter(|&seed| {
                let back = disk.power_loss(&Fate { seed });
                !back.exists(&dir.join("f")).unwrap()
            })
            .count();
        assert!(seeds_losing_the_name > 0);
        disk.sync_dir(&dir).unwrap();
        for seed in 0..64 {
            let back = disk.power_loss(&Fate { seed });
            let data = back.read(&dir.join("f")).unwrap();
            assert!(data.starts_with(b"synced"), "{data:?}");
            assert!(data.len() <= b"synced and not".len());
        }
    }

    #[test]
    fn a_crash_point_turns_the_disk_off() {
        let disk = SimDisk::new(&base());
        disk.crash_at(2, Fate { seed: 1 });
        let mut f = disk.create_new(&base().join("f")).unwrap();
        assert!(f.write_all(b"x").is_err());
        assert!(disk.read(&base().join("f")).is_err(), "off");
        let back = disk.after_crash().unwrap();
        assert_eq!(back.ops(), 0);
    }

    #[test]
    fn an_injected_failure_lands_part_of_a_write() {
        let disk = SimDisk::new(&base());
        let mut f = disk.create_new(&base().join("f")).unwrap();
        disk.fail_at(1, 500);
        assert!(f.write_all(b"0123456789").is_err());
        assert_eq!(disk.failed(), Some(("write".into(), base().join("f"))));
        assert_eq!(disk.read(&base().join("f")).unwrap(), b"01234");
        f.write_all(b"!").unwrap();
    }
}
