//! The cluster's credentials, created on first start and kept in the data directory:
//! a CA, the API server's serving certificate, the admin bearer token and the key that
//! encrypts Secrets at rest. The admin kubeconfig is written next to them.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Paths of everything this module keeps under `DIR/pki`.
#[derive(Clone, Debug)]
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub token: String,
    pub encryption_key: [u8; 32],
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "skiff-ca");
    dn.push(DnType::OrganizationName, "skiff");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2124, 1, 1);
    p
}

/// Writes `content` to `path` readable only by the owner, atomically and durably: the
/// directory is synced after the rename, so a power loss cannot take back a key that Secrets
/// were already sealed with.
fn write_private(path: &Path, content: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(content)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    sync_dir(parent(path))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes the names created or renamed in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

/// Creates `dir` and its missing parents, syncing each new directory's parent.
fn create_dir_durably(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    create_dir_durably(parent(dir))?;
    match fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(e).with_context(|| format!("creating {}", dir.display()));
        }
        _ => {}
    }
    sync_dir(parent(dir))
}

fn read(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b);
    b
}

impl Pki {
    /// Loads the credentials under `data_dir/pki`, creating what is missing. The serving
    /// certificate is reissued when it does not cover every name in `sans`.
    pub fn ensure(data_dir: &Path, sans: &[String]) -> Result<Self> {
        let dir = data_dir.join("pki");
        create_dir_durably(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let ca_key = match read(&dir.join("ca.key"))? {
            Some(pem) => KeyPair::from_pem(&pem)
                .with_context(|| format!("{} is not a valid key", dir.join("ca.key").display()))?,
            None => {
                let key = KeyPair::generate()?;
                write_private(&dir.join("ca.key"), key.serialize_pem().as_bytes())?;
                let _ = fs::remove_file(dir.join("ca.crt"));
                key
            }
        };
        let ca_pem = match read(&dir.join("ca.crt"))? {
            Some(pem) => pem,
            None => {
                let cert = ca_params().self_signed(&ca_key)?;
                write_private(&dir.join("ca.crt"), cert.pem().as_bytes())?;
                let _ = fs::remove_file(dir.join("apiserver.sans"));
                cert.pem()
            }
        };
        let wanted = sans.join("\n");
        let covered = read(&dir.join("apiserver.sans"))?;
        let current = (
            read(&dir.join("apiserver.crt"))?,
            read(&dir.join("apiserver.key"))?,
        );
        let (cert_pem, key_pem) = match (covered, current) {
            (Some(c), (Some(cert), Some(key))) if c == wanted => (cert, key),
            _ => {
                let issuer = Issuer::new(ca_params(), &ca_key);
                let key = KeyPair::generate()?;
                let mut p = CertificateParams::default();
                p.distinguished_name
                    .push(DnType::CommonName, "skiff-apiserver");
                p.subject_alt_names = sans
                    .iter()
                    .map(|s| match s.parse() {
                        Ok(ip) => Ok(SanType::IpAddress(ip)),
                        Err(_) => Ok(SanType::DnsName(s.clone().try_into()?)),
                    })
                    .collect::<Result<_, rcgen::Error>>()?;
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ];
                p.not_before = rcgen::date_time_ymd(2024, 1, 1);
                p.not_after = rcgen::date_time_ymd(2124, 1, 1);
                let cert = p.signed_by(&key, &issuer)?;
                write_private(&dir.join("apiserver.crt"), cert.pem().as_bytes())?;
                write_private(&dir.join("apiserver.key"), key.serialize_pem().as_bytes())?;
                write_private(&dir.join("apiserver.sans"), wanted.as_bytes())?;
                (cert.pem(), key.serialize_pem())
            }
        };
        let token = match read(&dir.join("admin.token"))? {
            Some(t) if !t.trim().is_empty() => t.trim().to_owned(),
            _ => {
                let t = hex(&random_bytes::<24>());
                write_private(&dir.join("admin.token"), t.as_bytes())?;
                t
            }
        };
        let key_path = dir.join("encryption.key");
        let encryption_key = match read(&key_path)? {
            Some(b64) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .with_context(|| format!("{} is not base64", key_path.display()))?;
                bytes.try_into().map_err(|_| {
                    anyhow::anyhow!("{} must hold a 32-byte key", key_path.display())
                })?
            }
            None => {
                let key = random_bytes::<32>();
                let b64 = base64::engine::general_purpose::STANDARD.encode(key);
                write_private(&key_path, b64.as_bytes())?;
                key
            }
        };
        Ok(Pki {
            ca_pem,
            cert_pem,
            key_pem,
            token,
            encryption_key,
        })
    }

    /// The TLS configuration for the API server (HTTP/2 and HTTP/1.1).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("parsing the serving certificate")?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .context("parsing the serving key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Writes the admin kubeconfig for `server` (e.g. `https://127.0.0.1:6443`) to `path`.
    pub fn write_kubeconfig(&self, path: &Path, server: &str) -> Result<()> {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let config = format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: skiff\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
             users:\n\
             - name: skiff-admin\n  user:\n    token: {token}\n\
             contexts:\n\
             - name: skiff\n  context:\n    cluster: skiff\n    user: skiff-admin\n    namespace: default\n\
             current-context: skiff\n",
            token = self.token
        );
        write_private(path, config.as_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::process::Command;

    use super::*;

    /// A new key, the directory it is renamed into and every directory created on the way
    /// are synced: checked on the real system calls, with strace.
    #[test]
    fn a_new_key_and_the_directories_holding_it_are_synced() {
        const CHILD: &str = "SKIFF_PKI_SYNC_CHILD";
        if let Some(dir) = std::env::var_os(CHILD) {
            Pki::ensure(Path::new(&dir), &["localhost".to_owned()]).unwrap();
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("new/data");
        let log = tmp.path().join("strace.log");
        let status = Command::new("strace")
            .args(["-f", "-qq", "-e"])
            .arg("trace=openat,fsync,rename,renameat,renameat2,mkdir,mkdirat")
            .arg("-o")
            .arg(&log)
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "pki::tests::a_new_key_and_the_directories_holding_it_are_synced",
                "--test-threads=1",
            ])
            .env(CHILD, &data)
            .status()
            .unwrap_or_else(|e| {
                panic!("this test needs strace (`cargo xtask setup` installs it): {e}")
            });
        assert!(status.success(), "the traced run failed");
        let trace = fs::read_to_string(&log).unwrap();
        // Directories synced after each step: (index of the step, path synced).
        let mut open: HashMap<String, String> = HashMap::new();
        let mut synced = Vec::new();
        let mut steps = Vec::new();
        for (i, line) in trace.lines().enumerate() {
            let quoted: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
            if line.contains("openat(") {
                if let (Some(path), Some(fd)) = (quoted.first(), line.rsplit("= ").next()) {
                    open.insert(fd.trim().to_owned(), (*path).to_owned());
                }
            } else if let Some(fd) = line.split("fsync(").nth(1) {
                let fd = fd.split(')').next().unwrap();
                if let Some(path) = open.get(fd) {
                    synced.push((i, path.clone()));
                }
            } else if (line.contains("rename") || line.contains("mkdir"))
                && let Some(target) = quoted.last()
            {
                steps.push((i, (*target).to_owned()));
            }
        }
        let synced_after = |step: &str, dir: &Path| {
            let (at, _) = steps
                .iter()
                .find(|(_, t)| t == step)
                .unwrap_or_else(|| panic!("{step} never happened:\n{trace}"));
            synced.iter().any(|(i, p)| i > at && Path::new(p) == dir)
        };
        let pki = data.join("pki");
        let key = pki.join("encryption.key");
        assert!(
            synced_after(key.to_str().unwrap(), &pki),
            "the key's directory is not synced after the key is written:\n{trace}"
        );
        for new in [tmp.path().join("new"), data.clone(), pki.clone()] {
            assert!(
                synced_after(new.to_str().unwrap(), new.parent().unwrap()),
                "{} is not synced after {} is created:\n{trace}",
                new.parent().unwrap().display(),
                new.display()
            );
        }
    }

    #[test]
    fn credentials_persist_and_the_cert_follows_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let first = Pki::ensure(dir.path(), &names).unwrap();
        let again = Pki::ensure(dir.path(), &names).unwrap();
        assert_eq!(first.token, again.token);
        assert_eq!(first.cert_pem, again.cert_pem);
        assert_eq!(first.encryption_key, again.encryption_key);
        first.server_config().unwrap();
        let more = vec!["localhost".to_owned(), "10.0.0.5".to_owned()];
        let reissued = Pki::ensure(dir.path(), &more).unwrap();
        assert_ne!(
            reissued.cert_pem, first.cert_pem,
            "a new address needs a new cert"
        );
        assert_eq!(reissued.ca_pem, first.ca_pem, "signed by the same CA");
        let mode = fs::metadata(dir.path().join("pki/admin.token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let kc = dir.path().join("kubeconfig");
        first
            .write_kubeconfig(&kc, "https://127.0.0.1:6443")
            .unwrap();
        let text = fs::read_to_string(kc).unwrap();
        assert!(text.contains(&format!("token: {}", first.token)));
        assert!(text.contains("server: https://127.0.0.1:6443"));
    }
}
