//! Network namespaces and cgroups that a test creates for itself and removes afterwards, so
//! kernel-level tests touch nothing outside them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A network namespace with only a loopback interface (up). Nothing sent inside it can leave
/// the machine. Deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    pub fn new(prefix: &str) -> Result<Self> {
        let name = unique(prefix);
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = NetNs { name };
        run(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]))?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` on a thread that has entered the namespace. Sockets it creates stay in the
    /// namespace after it returns.
    pub fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let path = Path::new("/var/run/netns").join(&self.name);
        let file = std::fs::File::open(&path).with_context(|| format!("opening {path:?}"))?;
        let handle = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            // SAFETY: setns only changes the calling thread's network namespace; the fd is a
            // valid namespace file kept open for the duration of the call.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(f())
        });
        let result = handle
            .join()
            .map_err(|_| anyhow::anyhow!("thread in namespace panicked"))?;
        result.context("entering the network namespace")
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A fresh child cgroup in the cgroup v2 hierarchy (mounted for the test if the machine
/// has none). Removed on drop; its processes must have exited by then.
#[derive(Debug)]
pub struct TestCgroup {
    path: PathBuf,
    own_mount: Option<tempfile::TempDir>,
}

impl TestCgroup {
    pub fn new(prefix: &str) -> Result<Self> {
        let (root, own_mount) = match find_cgroup2()? {
            Some(root) => (root, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("skiff-cgroup2-")
                    .tempdir()?;
                run(Command::new("mount")
                    .args(["-t", "cgroup2", "none"])
                    .arg(dir.path()))
                .context("mounting a cgroup v2 hierarchy")?;
                (dir.path().to_owned(), Some(dir))
            }
        };
        let path = root.join(unique(prefix));
        std::fs::create_dir(&path).with_context(|| format!("creating cgroup {path:?}"))?;
        Ok(TestCgroup { path, own_mount })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
        if let Some(dir) = &self.own_mount {
            let _ = Command::new("umount").arg(dir.path()).output();
        }
    }
}

fn find_cgroup2() -> Result<Option<PathBuf>> {
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    Ok(mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, dir, fstype) = (fields.next()?, fields.next()?, fields.next()?);
        (fstype == "cgroup2").then(|| PathBuf::from(dir))
    }))
}
