//! Builds the eBPF programs in `dataplane-ebpf/programs` for the BPF target with the nightly
//! toolchain (aya-build), so the object can be embedded in this crate.

use std::path::Path;

fn main() {
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dataplane-ebpf/programs");
    let programs = programs
        .canonicalize()
        .expect("dataplane-ebpf/programs exists");
    for needed in ["bpf-linker"] {
        if which(needed).is_none() {
            panic!(
                "`{needed}` is not installed; the eBPF programs cannot be built. \
                 Run `cargo xtask setup` once (it installs bpf-linker and nightly rust-src)."
            );
        }
    }
    // The programs are their own cargo workspace; aya-build runs cargo in the current dir.
    std::env::set_current_dir(&programs).expect("enter dataplane-ebpf/programs");
    // aya-build turns every line the inner cargo prints into a build warning; keep only
    // real diagnostics.
    // SAFETY: build scripts are single-threaded here; nothing reads the environment
    // concurrently.
    unsafe { std::env::set_var("CARGO_TERM_QUIET", "true") };
    let root = programs.to_str().expect("UTF-8 path");
    let package = aya_build::Package {
        name: "skiff-ebpf",
        root_dir: root,
        ..Default::default()
    };
    if let Err(e) = aya_build::build_ebpf([package], aya_build::Toolchain::Nightly) {
        panic!("building the eBPF programs failed: {e:#}");
    }
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
