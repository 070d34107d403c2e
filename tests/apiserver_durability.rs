//! What survives a restart of `skiff up`, and what never reaches the disk in the clear.

mod support;

use std::path::Path;

use skiff_store::{EmbeddedOptions, EmbeddedStore, ListOptions, Store};
use support::cluster::Cluster;

const PLAINTEXT: &str = "hunter2-do-not-store-me";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every byte the store keeps on disk.
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for sub in ["wal", "snap"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
    all
}

#[test]
fn secrets_are_encrypted_at_rest_and_everything_survives_a_restart() {
    use base64::Engine;
    let cluster = Cluster::start();
    let k = cluster.kubectl("1.33");
    k.ok(&[
        "create",
        "secret",
        "generic",
        "db",
        &format!("--from-literal=password={PLAINTEXT}"),
    ]);
    let with_string_data = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db2\nstringData:\n  password: {PLAINTEXT}\n"
    );
    k.ok_with(&["apply", "-f", "-"], Some(&with_string_data));
    k.ok(&[
        "create",
        "service",
        "nodeport",
        "web",
        "--tcp=80:8080",
        "--node-port=30777",
    ]);
    let ip = k.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let dir = cluster.stop();

    // On disk: neither the value nor its base64 form.
    let encoded = base64::engine::general_purpose::STANDARD.encode(PLAINTEXT);
    let raw = store_bytes(&dir.path().join("store"));
    assert!(!raw.is_empty());
    assert!(!contains(&raw, PLAINTEXT), "plaintext secret on disk");
    assert!(!contains(&raw, &encoded[..16]), "base64 secret on disk");
    // In the store: sealed values.
    {
        let store =
            EmbeddedStore::open(dir.path().join("store"), EmbeddedOptions::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let list = rt
            .block_on(store.list("/registry/core/secrets/", ListOptions::default()))
            .unwrap();
        assert_eq!(list.kvs.len(), 2);
        for kv in &list.kvs {
            assert!(
                kv.value.starts_with(b"k8s:enc:aesgcm:v1:"),
                "{} is not sealed",
                kv.key
            );
        }
        let configs = rt
            .block_on(store.list("/registry/core/configmaps/", ListOptions::default()))
            .unwrap();
        assert!(
            configs.kvs.iter().all(|kv| kv.value.starts_with(b"{")),
            "other kinds stay plain JSON"
        );
    }

    // After a restart everything reads back, and allocations still hold.
    let cluster = Cluster::restart(dir);
    let k = cluster.kubectl("1.33");
    for name in ["db", "db2"] {
        let got = k.ok(&["get", "secret", name, "-o", "jsonpath={.data.password}"]);
        assert_eq!(got, encoded, "{name}");
    }
    assert_eq!(
        k.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]),
        ip
    );
    let err = k.fails(&[
        "create",
        "service",
        "nodeport",
        "web2",
        "--tcp=80:8080",
        "--node-port=30777",
    ]);
    assert!(err.contains("provided port is already allocated"), "{err}");
    assert!(k.ok(&["get", "ns"]).contains("kube-system"));
}
