//! `skiff bench e2e` runs the whole control plane (API server on both store backends, the
//! scheduler, simulated nodes) until every pod is Running, and checks the final state. Here
//! at a small size, so the benchmark cannot rot; its figures come from full-size runs.

use std::process::Command;

#[test]
fn bench_e2e_runs_every_pod_on_both_stores_and_checks_the_result() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["bench", "e2e", "--nodes", "20", "--pods", "600", "--out"])
        .arg(out.path())
        .output()
        .expect("run skiff bench e2e");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("embedded: 600 pods Running"), "{stderr}");
    assert!(stderr.contains("etcd: 600 pods Running"), "{stderr}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("e2e.json")).unwrap()).unwrap();
    assert_eq!(report["columns"], serde_json::json!(["embedded", "etcd"]));
    let row = |metric: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["metric"] == metric)
            .unwrap_or_else(|| panic!("no {metric} row"))["raw"]
            .clone()
    };
    assert_eq!(row("violations"), serde_json::json!([0.0, 0.0]));
    // 600 pods of 100m fill 15 nodes of 4 CPUs. Bin-packing stays there (a race between
    // the two scheduling threads may open one more node); spreading would use all 20.
    for used in row("nodes used").as_array().unwrap() {
        let used = used.as_f64().unwrap();
        assert!((15.0..=16.0).contains(&used), "{used} nodes used");
    }
    for t in row("all pods Running").as_array().unwrap() {
        assert!(t.as_f64().unwrap() > 0.0);
    }
    let svg = std::fs::read_to_string(out.path().join("e2e.svg")).unwrap();
    assert!(
        svg.contains("embedded: ") && svg.contains("etcd: "),
        "{svg}"
    );
}
