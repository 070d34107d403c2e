//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use std::process::Command;

use anyhow::Result;

use crate::{cmd, setup};

const EBPF_MANIFEST: &str = "dataplane-ebpf/programs/Cargo.toml";

pub fn run() -> Result<()> {
    if !setup::missing().is_empty() {
        setup::run()?;
    }
    cmd::run("cargo", ["fmt", "--all", "--check"])?;
    cmd::run(
        "cargo",
        ["fmt", "--manifest-path", EBPF_MANIFEST, "--check"],
    )?;
    cmd::run(
        "cargo",
        [
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The eBPF programs are linted for their own target, with the toolchain that builds them.
    cmd::run(
        "cargo",
        [
            "+nightly",
            "clippy",
            "--manifest-path",
            EBPF_MANIFEST,
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--release",
            "--locked",
            "--target-dir",
            "target/ebpf-clippy",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // `--all-targets` also runs every criterion benchmark once in test mode, so they
    // cannot rot; real measurements come from `cargo bench` and `skiff bench`.
    let mut test = Command::new("cargo");
    test.args(["test", "--workspace", "--all-targets", "--locked"])
        .env("SKIFF_REQUIRE_PRIVILEGED_TESTS", "1");
    cmd::run_command(&mut test)?;
    // The scheduler's lock-free protocol, model-checked over every interleaving. Its own
    // target directory: `--cfg skiff_loom` changes every crate's fingerprint.
    let mut loom = Command::new("cargo");
    loom.args([
        "test",
        "-p",
        "skiff-scheduler",
        "--test",
        "loom",
        "--release",
        "--locked",
        "--target-dir",
        "target/loom",
    ])
    .env("RUSTFLAGS", "--cfg skiff_loom");
    cmd::run_command(&mut loom)?;
    println!("ci: all checks passed.");
    Ok(())
}
