//! `cargo xtask <command>`: the single entry point for project automation.
//!
//! - `setup`: install everything skiff needs on a fresh Debian 12 machine (idempotent).
//! - `ci`: setup when something is missing, then formatting, lints, every test and a
//!   smoke run of the benchmarks. `.ci/run` calls exactly this.

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
          (both store backends, eBPF as root), benchmark smoke run";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("ci") => ci::run(),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown xtask command `{other}`\n\n{USAGE}"),
    }
}
