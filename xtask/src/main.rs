//! `cargo xtask <command>`: the single entry point for project automation.
//!
//! - `setup`: install everything skiff needs on a fresh Debian 12 machine (idempotent).
//! - `ci`: setup when something is missing, then formatting, lints, every test and a
//!   smoke run of the benchmarks. `.ci/run` calls exactly this.
//! - `up`: setup when something is missing, build skiff, and start a cluster.

mod ci;
mod cmd;
mod setup;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup   install Debian packages, nightly rust-src, bpf-linker and the Python
          kubernetes client; does nothing when everything is present
  ci      setup (when needed), cargo fmt --check, clippy -D warnings, all tests
          (both store backends, eBPF as root), benchmark smoke run
  up      setup (when needed), build skiff in release mode and run `skiff up`;
          arguments after `up` go to skiff up (e.g. --data-dir DIR)";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("ci") => ci::run(),
        Some("up") => up(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown xtask command `{other}`\n\n{USAGE}"),
    }
}

/// Builds skiff and runs `skiff up`, after setup if anything is missing.
fn up(args: &[String]) -> Result<()> {
    if !setup::missing().is_empty() {
        setup::run()?;
    }
    cmd::run(
        "cargo",
        ["build", "--release", "--locked", "--bin", "skiff"],
    )?;
    // `cargo xtask up -- --data-dir X` and `cargo xtask up --data-dir X` mean the same.
    let args = args.strip_prefix(&["--".to_owned()]).unwrap_or(args);
    let mut skiff = std::process::Command::new("target/release/skiff");
    skiff.arg("up").args(args);
    cmd::run_command(&mut skiff)
}
