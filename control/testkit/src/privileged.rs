//! Tests that need root (eBPF, network namespaces, mounts) say so explicitly.

/// Fails the calling test with a clear message unless it runs as root. Such tests are never
/// skipped silently: CI runs as root, and a developer without root sees why the test fails.
pub fn require_root(what: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "this test needs root because it {what}; run the test suite as root \
         (CI does: `cargo xtask ci`)"
    );
}
