//! `cargo xtask setup`: idempotent installation of everything skiff needs on a fresh
//! Debian 12 machine. Every step checks first and only acts when something is missing,
//! so a second run does nothing and says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Debian packages and why skiff needs each one.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("docker.io", "container runtime for real nodes"),
    ("etcd-server", "the distributed store backend and its tests"),
    ("protobuf-compiler", "protoc, needed to build etcd-client"),
    (
        "iproute2",
        "network namespaces and veth pairs for dataplane tests",
    ),
    (
        "iptables",
        "the kube-proxy-style baseline in dataplane benchmarks",
    ),
    (
        "busybox-static",
        "a tiny root filesystem for locally built test images",
    ),
    (
        "strace",
        "tests that check on the real system calls that files and directories are synced",
    ),
];

/// The bpf-linker release that builds against the nightly toolchain's LLVM 22.
const BPF_LINKER_VERSION: &str = "0.13.0";
const BPF_LINKER_LLVM_FEATURE: &str = "llvm-22";

/// What `setup` found missing; `ci` uses it to decide whether to run setup at all.
pub fn missing() -> Vec<String> {
    let mut missing: Vec<String> = missing_packages()
        .into_iter()
        .map(|p| format!("Debian package {p}"))
        .collect();
    if !nightly_installed() {
        missing.push("nightly Rust toolchain".into());
    } else if !rust_src_installed() {
        missing.push("rust-src for the nightly toolchain".into());
    }
    if !bpf_linker_installed() {
        missing.push(format!("bpf-linker {BPF_LINKER_VERSION}"));
    }
    if !python_kubernetes_installed() {
        missing.push("Python package kubernetes".into());
    }
    missing
}

pub fn run() -> Result<()> {
    let missing = missing();
    if missing.is_empty() {
        println!("setup: everything is already installed; nothing to do.");
        return Ok(());
    }
    println!("setup: installing {}", missing.join(", "));
    install_packages()?;
    install_nightly_rust_src()?;
    install_bpf_linker()?;
    install_python_kubernetes()?;
    let still = self::missing();
    if !still.is_empty() {
        bail!(
            "setup finished but these are still missing: {}",
            still.join(", ")
        );
    }
    println!("setup: done.");
    Ok(())
}

fn is_root() -> bool {
    cmd::output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

fn missing_packages() -> Vec<&'static str> {
    DEBIAN_PACKAGES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !package_installed(name))
        .collect()
}

fn package_installed(name: &str) -> bool {
    cmd::output("dpkg-query", &["-W", "-f=${Status}", name])
        .is_some_and(|s| s.trim() == "install ok installed")
}

fn install_packages() -> Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        let why: Vec<String> = DEBIAN_PACKAGES
            .iter()
            .filter(|(n, _)| missing.contains(n))
            .map(|(n, why)| format!("  {n}: {why}"))
            .collect();
        bail!(
            "these Debian packages are missing and installing them needs root:\n{}\n\
             Re-run as root (`sudo -E cargo xtask setup`) or install them with apt-get.",
            why.join("\n")
        );
    }
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            // Packages such as etcd-server ship a service; skiff starts its own processes.
            .env("RUNLEVEL", "1");
        cmd::run_command(&mut c)
    };
    apt(&["update", "-q"]).context(
        "could not read the Debian package lists (apt-get update failed): check that this machine \
         can reach its configured apt mirror",
    )?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args).context("apt-get install failed; see its output above")?;
    stop_packaged_etcd();
    Ok(())
}

/// Debian's etcd-server may start a system etcd on the default ports on install. skiff's
/// tests start their own etcd on free loopback ports, so a stray system one is stopped.
fn stop_packaged_etcd() {
    let _ = Command::new("service").args(["etcd", "stop"]).output();
}

fn nightly_installed() -> bool {
    cmd::output("rustup", &["toolchain", "list"])
        .is_some_and(|list| list.lines().any(|l| l.starts_with("nightly")))
}

fn rust_src_installed() -> bool {
    cmd::output(
        "rustup",
        &["component", "list", "--toolchain", "nightly", "--installed"],
    )
    .is_some_and(|list| list.lines().any(|l| l.starts_with("rust-src")))
}

fn install_nightly_rust_src() -> Result<()> {
    if !nightly_installed() {
        cmd::run(
            "rustup",
            ["toolchain", "install", "nightly", "--profile", "minimal"],
        )
        .context("installing the nightly Rust toolchain (needed to build eBPF programs)")?;
    }
    if !rust_src_installed() {
        cmd::run(
            "rustup",
            ["component", "add", "rust-src", "--toolchain", "nightly"],
        )
        .context("adding rust-src to the nightly toolchain (needed for -Z build-std=core)")?;
    }
    Ok(())
}

fn bpf_linker_installed() -> bool {
    cmd::output("bpf-linker", &["--version"]).is_some_and(|v| v.contains(BPF_LINKER_VERSION))
}

/// bpf-linker must link against the same LLVM that the nightly rustc uses. The default
/// features want a system LLVM; instead point `LLVM_PREFIX` at a directory whose `lib/`
/// holds `libLLVM.so` -> the nightly sysroot's own LLVM shared library.
fn install_bpf_linker() -> Result<()> {
    if bpf_linker_installed() {
        return Ok(());
    }
    let sysroot = cmd::output("rustc", &["+nightly", "--print", "sysroot"])
        .context("`rustc +nightly --print sysroot` failed: is the nightly toolchain installed?")?;
    let lib_dir = PathBuf::from(sysroot.trim()).join("lib");
    let llvm = find_llvm_library(&lib_dir)?;
    let prefix = std::env::temp_dir().join("skiff-bpf-linker-llvm");
    let prefix_lib = prefix.join("lib");
    std::fs::create_dir_all(&prefix_lib)
        .with_context(|| format!("creating {}", prefix_lib.display()))?;
    let link = prefix_lib.join("libLLVM.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&llvm, &link)
        .with_context(|| format!("linking {} -> {}", link.display(), llvm.display()))?;
    let mut c = Command::new("cargo");
    c.args([
        "install",
        "bpf-linker",
        "--locked",
        "--version",
        BPF_LINKER_VERSION,
        "--no-default-features",
        "--features",
        BPF_LINKER_LLVM_FEATURE,
    ])
    .env("LLVM_PREFIX", &prefix)
    // The linker must find the library at run time too.
    .env(
        "RUSTFLAGS",
        format!("-C link-arg=-Wl,-rpath,{}", lib_dir.display()),
    );
    cmd::run_command(&mut c).context("building bpf-linker against the nightly toolchain's LLVM")
}

fn find_llvm_library(lib_dir: &Path) -> Result<PathBuf> {
    let entries =
        std::fs::read_dir(lib_dir).with_context(|| format!("reading {}", lib_dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("libLLVM.so.") {
            return Ok(entry.path());
        }
    }
    bail!(
        "no libLLVM.so.* in {}: the nightly toolchain should ship its LLVM as a shared library",
        lib_dir.display()
    )
}

fn python_kubernetes_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import kubernetes"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn install_python_kubernetes() -> Result<()> {
    if python_kubernetes_installed() {
        return Ok(());
    }
    cmd::run("python3", ["-m", "pip", "install", "--quiet", "kubernetes"])
        .context("installing the Python kubernetes client with pip (needs access to PyPI)")
}
