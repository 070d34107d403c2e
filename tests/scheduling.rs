//! Scheduling end to end, as a user sees it: `skiff up` with simulated nodes (embedded store
//! and etcd), real kubectl applying pods, the scheduler binding them, the simulated nodes
//! running them; and the standalone `skiff scheduler` and `skiff node` commands.

mod support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cluster::{Cluster, Kubectl};

fn pod_manifest(name: &str, cpu: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {app}\nspec:\n{extra}  containers:\n  - name: c\n    image: nginx\n    resources:\n      requests:\n        cpu: \"{cpu}\"\n",
        app = name.split('-').next().unwrap()
    )
}

/// Waits until `f` holds, polling; panics with `what` after `secs`.
fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// `name node ip phase` of every pod.
fn pods(k: &Kubectl) -> Vec<(String, String, String, String)> {
    k.ok(&[
        "get",
        "pods",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP} {.status.phase}{\"\\n\"}{end}",
    ])
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f[0].into(), f[1].into(), f[2].into(), f[3].into())
    })
    .collect()
}

fn schedule_and_run(cluster: &Cluster) {
    let k = cluster.kubectl("1.33");
    eventually(30, "20 Ready nodes", || {
        k.ok(&["get", "nodes", "--no-headers"])
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count()
            == 20
    });
    // 30 pods of 500m on 20 nodes of 2 CPU, and one replica per node of an anti-affine app.
    let mut manifests = String::new();
    for i in 0..30 {
        manifests.push_str(&pod_manifest(&format!("web-{i}"), "500m", ""));
        manifests.push_str("---\n");
    }
    let anti = "  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector:\n          matchLabels:\n            app: db\n        topologyKey: kubernetes.io/hostname\n";
    for i in 0..5 {
        manifests.push_str(&pod_manifest(&format!("db-{i}"), "100m", anti));
        manifests.push_str("---\n");
    }
    k.ok_with(&["apply", "-f", "-"], Some(&manifests));
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "--all",
        "--timeout=60s",
    ]);
    let all = pods(&k);
    assert_eq!(all.len(), 35);
    let mut cpu: BTreeMap<&str, u32> = BTreeMap::new();
    let mut db_nodes = Vec::new();
    let mut ips = Vec::new();
    for (name, node, ip, phase) in &all {
        assert_eq!(phase, "Running", "{name}");
        assert!(ip.starts_with("10."), "{name} has IP {ip:?}");
        ips.push(ip.clone());
        *cpu.entry(node).or_default() += if name.starts_with("web") { 500 } else { 100 };
        if name.starts_with("db") {
            db_nodes.push(node.clone());
        }
    }
    assert!(cpu.values().all(|&c| c <= 2000), "over-committed: {cpu:?}");
    // Bin-packing: the web pods fill 8 nodes; the db replicas need 5 distinct nodes, which
    // may be new ones when they arrive after the web pods filled the first. Spreading would
    // use all 20.
    assert!(cpu.len() <= 13, "{} nodes used: {cpu:?}", cpu.len());
    assert!(
        cpu.values().filter(|&&c| c == 2000).count() >= 7,
        "nodes are filled: {cpu:?}"
    );
    db_nodes.sort();
    db_nodes.dedup();
    assert_eq!(db_nodes.len(), 5, "anti-affinity: one db per node");
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 35, "pod IPs are unique");

    // A pod that fits nowhere says why, the way kube-scheduler does.
    k.ok_with(
        &["apply", "-f", "-"],
        Some(&pod_manifest("huge-0", "64", "")),
    );
    eventually(30, "the FailedScheduling event", || {
        k.ok(&["describe", "pod", "huge-0"])
            .contains("FailedScheduling  ")
    });
    let described = k.ok(&["describe", "pod", "huge-0"]);
    assert!(
        described.contains("default-scheduler  0/20 nodes are available: 20 Insufficient cpu. preemption: 0/20 nodes are available: 20 No preemption victims found for incoming pod."),
        "{described}"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "huge-0",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}"
        ]),
        "Unschedulable"
    );

    // Deleting a running pod: the node confirms, kubectl's wait for deletion returns.
    k.ok(&["delete", "pod", "web-0", "--timeout=30s"]);
    assert!(!pods(&k).iter().any(|p| p.0 == "web-0"));

    // A cordoned node takes no new pods.
    let node = &all.iter().find(|p| p.0 == "web-1").unwrap().1;
    k.ok(&["cordon", node]);
    k.ok_with(
        &["apply", "-f", "-"],
        Some(&pod_manifest("late-0", "100m", "")),
    );
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/late-0",
        "--timeout=30s",
    ]);
    let late = pods(&k).into_iter().find(|p| p.0 == "late-0").unwrap();
    assert_ne!(&late.1, node, "scheduled onto a cordoned node");
}

const SIM: [&str; 4] = ["--simulated-nodes", "20", "--node-cpu", "2"];

#[test]
fn kubectl_pods_are_scheduled_onto_simulated_nodes_and_run() {
    let cluster = Cluster::start_with(&SIM);
    schedule_and_run(&cluster);
}

#[test]
fn kubectl_pods_are_scheduled_and_run_on_etcd() {
    let cluster = Cluster::start_with_etcd_and(&SIM);
    schedule_and_run(&cluster);
}

/// A child process killed on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(args: &[&str], kubeconfig: &std::path::Path) -> Agent {
    Agent(
        Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .stdout(Stdio::null())
            .spawn()
            .expect("start a skiff agent"),
    )
}

#[test]
fn standalone_scheduler_and_nodes_join_a_cluster_by_kubeconfig() {
    let cluster = Cluster::start_with(&["--no-scheduler"]);
    let k = cluster.kubectl("1.33");
    let _nodes = agent(
        &["node", "--simulated", "3", "--node-prefix", "edge"],
        &cluster.kubeconfig,
    );
    eventually(30, "3 nodes", || {
        k.ok(&["get", "nodes", "--no-headers"]).lines().count() == 3
    });
    k.ok_with(
        &["apply", "-f", "-"],
        Some(&pod_manifest("solo-0", "100m", "")),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(pods(&k)[0].1, "", "no scheduler yet: the pod stays Pending");
    let _scheduler = agent(&["scheduler"], &cluster.kubeconfig);
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/solo-0",
        "--timeout=30s",
    ]);
    let p = &pods(&k)[0];
    assert!(p.1.starts_with("edge-"), "{p:?}");
    assert!(
        k.ok(&["get", "lease", "-n", "kube-node-lease"])
            .contains("edge-00002")
    );
}

const CLASSES: &str = "\
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: batch
value: 10
globalDefault: true
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: critical
value: 1000
";

#[test]
fn priority_classes_set_pod_priority_and_preemption_makes_room() {
    let cluster = Cluster::start_with(&["--simulated-nodes", "2", "--node-cpu", "2"]);
    let k = cluster.kubectl("1.33");
    let pcs = k.ok(&["get", "priorityclasses"]);
    assert!(
        pcs.contains("system-cluster-critical   2000000000"),
        "{pcs}"
    );
    k.ok_with(&["apply", "-f", "-"], Some(CLASSES));
    eventually(30, "2 Ready nodes", || {
        k.ok(&["get", "nodes", "--no-headers"])
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count()
            == 2
    });
    // Four 1-CPU pods of the default class fill both nodes.
    let fillers: String = (0..4)
        .map(|i| pod_manifest(&format!("filler-{i}"), "1", "") + "---\n")
        .collect();
    k.ok_with(&["apply", "-f", "-"], Some(&fillers));
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "--all",
        "--timeout=60s",
    ]);
    let priority = |pod: &str| {
        k.ok(&[
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.spec.priorityClassName} {.spec.priority}",
        ])
    };
    assert_eq!(priority("filler-0"), "batch 10");

    // A critical pod evicts one of them and runs in its place.
    k.ok_with(
        &["apply", "-f", "-"],
        Some(&pod_manifest(
            "vip-0",
            "1",
            "  priorityClassName: critical\n",
        )),
    );
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/vip-0",
        "--timeout=60s",
    ]);
    assert_eq!(priority("vip-0"), "critical 1000");
    eventually(30, "one filler preempted", || {
        pods(&k)
            .iter()
            .filter(|p| p.0.starts_with("filler"))
            .count()
            == 3
    });
    let vip = pods(&k).into_iter().find(|p| p.0 == "vip-0").unwrap();
    let uid = k.ok(&["get", "pod", "vip-0", "-o", "jsonpath={.metadata.uid}"]);
    eventually(30, "the Preempted event", || {
        k.ok(&["get", "events"])
            .contains(&format!("Preempted by pod {uid} on node {}", vip.1))
    });

    // What kube's Priority admission refuses.
    let unknown = k.fails(&[
        "run",
        "stray",
        "--image=nginx",
        "--overrides={\"spec\":{\"priorityClassName\":\"nope\"}}",
    ]);
    assert!(
        unknown.contains("pods \"stray\" is forbidden: no PriorityClass with name nope was found"),
        "{unknown}"
    );
    let direct = k.fails(&[
        "run",
        "sneaky",
        "--image=nginx",
        "--overrides={\"spec\":{\"priority\":999}}",
    ]);
    assert!(
        direct.contains("the integer value of priority (999) must not be provided in pod spec"),
        "{direct}"
    );
    let second_default = k.fails(&[
        "create",
        "priorityclass",
        "other",
        "--value=5",
        "--global-default",
    ]);
    assert!(
        second_default.contains(
            "PriorityClass batch is already marked as default. Only one default can exist"
        ),
        "{second_default}"
    );
}
