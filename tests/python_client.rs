//! The official Python `kubernetes` client drives skiff through its typed API.

mod support;

use std::process::Command;

use support::cluster::Cluster;

#[test]
fn python_client_creates_lists_watches_patches_and_deletes() {
    let cluster = Cluster::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_test.py");
    let out = Command::new("python3")
        .arg(script)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .output()
        .expect("run python3 (install the client with `cargo xtask setup`)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("python client: ok"), "{stdout}");
}
