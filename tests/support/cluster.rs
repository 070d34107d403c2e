//! A real `skiff up` process for a test, and the real kubectl binaries to drive it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use skiff_testkit::EtcdServer;

/// `skiff up` on a free loopback port with its own data directory; stopped on drop.
pub struct Cluster {
    child: Child,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub kubeconfig: PathBuf,
    _etcd: Option<EtcdServer>,
}

impl Cluster {
    /// On the embedded store.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("skiff-up-")
            .tempdir()
            .unwrap();
        Self::spawn(dir, &[], None)
    }

    /// On the embedded store, with extra `skiff up` flags.
    pub fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("skiff-up-")
            .tempdir()
            .unwrap();
        Self::spawn(dir, args, None)
    }

    /// On a real etcd started for this test.
    pub fn start_with_etcd() -> Self {
        Self::start_with_etcd_and(&[])
    }

    /// On a real etcd started for this test, with extra `skiff up` flags.
    pub fn start_with_etcd_and(args: &[&str]) -> Self {
        let etcd = EtcdServer::start().expect("start etcd");
        let dir = tempfile::Builder::new()
            .prefix("skiff-up-")
            .tempdir()
            .unwrap();
        let endpoint = etcd.endpoint().to_owned();
        let mut all = vec!["--etcd-endpoints", &endpoint];
        all.extend_from_slice(args);
        Self::spawn(dir, &all, Some(etcd))
    }

    /// Starts again on an existing data directory.
    pub fn restart(dir: tempfile::TempDir) -> Self {
        Self::spawn(dir, &[], None)
    }

    fn spawn(dir: tempfile::TempDir, extra: &[&str], etcd: Option<EtcdServer>) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .arg("up")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start skiff up");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("skiff is running at ") {
                        break rest.split_whitespace().next().unwrap().to_owned();
                    }
                }
                Err(_) => panic!("skiff up did not report it was running within 30s"),
            }
        };
        let kubeconfig = dir.path().join("kubeconfig");
        Cluster {
            child,
            url,
            kubeconfig,
            dir,
            _etcd: etcd,
        }
    }

    /// Stops the server with SIGTERM and waits; returns the data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.terminate();
        let dir = tempfile::Builder::new().tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    fn terminate(&mut self) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pki/admin.token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("pki/ca.crt")
    }

    pub fn kubectl(&self, version: &str) -> Kubectl {
        Kubectl::new(version, &self.kubeconfig)
    }

    /// An HTTPS request with curl (the admin token unless `token` says otherwise).
    /// Returns the status code and the body.
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        token: Option<&str>,
    ) -> (u16, String) {
        let token = token.map(str::to_owned).unwrap_or_else(|| self.token());
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--http1.1", "-X", method, "--cacert"])
            .arg(self.ca())
            .args(["-w", "\n%{http_code}"]);
        if !token.is_empty() {
            cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        if !content_type.is_empty() {
            cmd.args(["-H", &format!("Content-Type: {content_type}")]);
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.arg(format!("{}{path}", self.url));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run curl (Debian package curl)");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(body).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Where the machine's real kubectl binaries live (`kubectl.1.27` ... `kubectl.1.33`).
fn kubectl_dir() -> PathBuf {
    let resolved = std::fs::canonicalize("/usr/bin/kubectl")
        .expect("kubectl is not installed at /usr/bin/kubectl");
    resolved.parent().unwrap().to_owned()
}

/// A real kubectl of one minor version, with its own discovery cache.
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(version: &str, kubeconfig: &Path) -> Self {
        let bin = kubectl_dir().join(format!("kubectl.{version}"));
        assert!(
            bin.is_file(),
            "{} is missing: this machine kind ships kubectl 1.27-1.33 there",
            bin.display()
        );
        Kubectl {
            bin,
            kubeconfig: kubeconfig.to_owned(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path());
        c
    }

    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.command();
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("run kubectl");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, None)
    }

    pub fn ok_with(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            !out.status.success(),
            "kubectl {} should have failed",
            args.join(" ")
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
