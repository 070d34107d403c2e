//! The seed workflow with the real kubectl binaries (oldest and newest supported), against
//! `skiff up` on the embedded store and on etcd. Assertions are on what kubectl prints.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use support::cluster::{Cluster, Kubectl};

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/manifests/seed");

fn manifest(name: &str) -> String {
    format!("{SEED}/{name}")
}

/// Lines of a `kubectl get` table, whitespace-normalised.
fn rows(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

fn has_row(text: &str, prefix: &str) -> bool {
    rows(text).iter().any(|r| r.starts_with(prefix))
}

fn seed_workflow(k: &Kubectl) {
    // apply -f, in the seed's order
    assert_eq!(
        k.ok(&["apply", "-f", &manifest("mongo-config.yaml")])
            .trim(),
        "configmap/mongo-config created"
    );
    assert_eq!(
        k.ok(&["apply", "-f", &manifest("mongo-secret.yaml")])
            .trim(),
        "secret/mongo-secret created"
    );
    assert_eq!(
        rows(&k.ok(&["apply", "-f", &manifest("mongo.yaml")])),
        [
            "deployment.apps/mongo-deployment created",
            "service/mongo-service created"
        ]
    );
    assert_eq!(
        rows(&k.ok(&["apply", "-f", &manifest("webapp.yaml")])),
        [
            "deployment.apps/webapp-deployment created",
            "service/webapp-service created"
        ]
    );

    // get, plain and wide
    let deploys = k.ok(&["get", "deployments"]);
    assert_eq!(rows(&deploys)[0], "NAME READY UP-TO-DATE AVAILABLE AGE");
    assert!(has_row(&deploys, "mongo-deployment 0/1 0 0"), "{deploys}");
    let svcs = k.ok(&["get", "svc", "-o", "wide"]);
    assert_eq!(
        rows(&svcs)[0],
        "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR"
    );
    let web = rows(&svcs)
        .into_iter()
        .find(|r| r.starts_with("webapp-service"))
        .expect(&svcs);
    let cells: Vec<&str> = web.split(' ').collect();
    assert_eq!(cells[1], "NodePort");
    assert!(
        cells[2].starts_with("10."),
        "a ClusterIP from 10.96.0.0/12: {web}"
    );
    assert_eq!(cells[4], "3000:30100/TCP");
    assert_eq!(cells[6], "app=webapp");
    assert!(
        has_row(&svcs, "kubernetes ClusterIP 10.96.0.1 <none> 443/TCP"),
        "{svcs}"
    );

    // -o yaml / -o json
    let yaml = k.ok(&["get", "configmap", "mongo-config", "-o", "yaml"]);
    assert!(yaml.contains("mongo-url: mongo-service"), "{yaml}");
    assert!(yaml.contains("resourceVersion:"), "{yaml}");
    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "deployment", "mongo-deployment", "-o", "json"]))
            .unwrap();
    assert_eq!(json["spec"]["replicas"], 1);
    assert_eq!(
        json["spec"]["template"]["spec"]["containers"][0]["image"],
        "mongo:5.0"
    );
    assert!(
        json["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    let secret: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "secret", "mongo-secret", "-o", "json"])).unwrap();
    assert_eq!(secret["data"]["mongo-user"], "bW9uZ291c2Vy");

    // -l, -A, get all
    let web_only = k.ok(&["get", "deploy", "-l", "app=webapp", "-o", "name"]);
    assert_eq!(web_only.trim(), "deployment.apps/webapp-deployment");
    let all_ns = k.ok(&["get", "svc", "-A"]);
    assert_eq!(
        rows(&all_ns)[0],
        "NAMESPACE NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE"
    );
    assert!(
        has_row(&all_ns, "default mongo-service ClusterIP"),
        "{all_ns}"
    );
    let all = k.ok(&["get", "all"]);
    for want in [
        "service/kubernetes",
        "service/mongo-service",
        "deployment.apps/mongo-deployment",
        "deployment.apps/webapp-deployment",
    ] {
        assert!(all.contains(want), "get all lacks {want}:\n{all}");
    }
    let ns = k.ok(&["get", "namespaces"]);
    for want in [
        "default Active",
        "kube-system Active",
        "kube-public Active",
        "kube-node-lease Active",
    ] {
        assert!(has_row(&ns, want), "{ns}");
    }

    // describe
    let d = k.ok(&["describe", "deployment", "mongo-deployment"]);
    let d_rows = rows(&d);
    assert!(d_rows.contains(&"Name: mongo-deployment".to_owned()), "{d}");
    assert!(d_rows.contains(&"Selector: app=mongo".to_owned()), "{d}");
    assert!(
        d.contains("<set to the key 'mongo-user' in secret 'mongo-secret'>"),
        "{d}"
    );

    // label, annotate, scale, set image
    assert_eq!(
        k.ok(&["label", "deployment", "mongo-deployment", "tier=db"])
            .trim(),
        "deployment.apps/mongo-deployment labeled"
    );
    // kubectl 1.27 itself prints "annotate", later versions "annotated".
    let annotated = k.ok(&["annotate", "deployment", "mongo-deployment", "owner=team-a"]);
    assert!(
        annotated.starts_with("deployment.apps/mongo-deployment annotate"),
        "{annotated}"
    );
    let labelled = k.ok(&["get", "deploy", "-l", "tier=db", "--show-labels"]);
    assert!(has_row(&labelled, "mongo-deployment 0/1 0 0"), "{labelled}");
    assert!(labelled.contains("app=mongo,tier=db"), "{labelled}");
    assert_eq!(
        k.ok(&["scale", "deployment", "mongo-deployment", "--replicas=3"])
            .trim(),
        "deployment.apps/mongo-deployment scaled"
    );
    assert!(has_row(
        &k.ok(&["get", "deploy", "mongo-deployment"]),
        "mongo-deployment 0/3"
    ));
    assert_eq!(
        k.ok(&[
            "set",
            "image",
            "deployment/webapp-deployment",
            "webapp=nanajanashia/k8s-demo-app:v2.0"
        ])
        .trim(),
        "deployment.apps/webapp-deployment image updated"
    );
    let image = k.ok(&[
        "get",
        "deploy",
        "webapp-deployment",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}",
    ]);
    assert_eq!(image, "nanajanashia/k8s-demo-app:v2.0 2");

    // apply again: unchanged, then changed
    assert_eq!(
        rows(&k.ok(&["apply", "-f", &manifest("mongo-config.yaml")])),
        ["configmap/mongo-config unchanged"]
    );
    let changed = std::fs::read_to_string(manifest("mongo-config.yaml"))
        .unwrap()
        .replace("mongo-service", "mongo-service.default");
    assert_eq!(
        rows(&k.ok_with(&["apply", "-f", "-"], Some(&changed))),
        ["configmap/mongo-config configured"]
    );
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "mongo-config",
            "-o",
            "jsonpath={.data.mongo-url}"
        ]),
        "mongo-service.default"
    );

    // server-side apply, creating then updating
    let ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: \"1\"\n";
    assert_eq!(
        k.ok_with(&["apply", "--server-side", "-f", "-"], Some(ssa))
            .trim(),
        "configmap/ssa serverside-applied"
    );
    let ssa2 = ssa.replace("\"1\"", "\"2\"");
    assert_eq!(
        k.ok_with(&["apply", "--server-side", "-f", "-"], Some(&ssa2))
            .trim(),
        "configmap/ssa serverside-applied"
    );
    assert_eq!(k.ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]), "2");

    // create namespace (a protobuf body on kubectl 1.32+)
    assert_eq!(
        k.ok(&["create", "namespace", "xyz"]).trim(),
        "namespace/xyz created"
    );
    assert!(has_row(&k.ok(&["get", "ns", "xyz"]), "xyz Active"));

    // get -w sees a change
    let mut watch = k
        .command()
        .args(["get", "configmaps", "-w", "--request-timeout=30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the watch prints the table header");
    assert!(first.starts_with("NAME"), "{first}");
    k.ok(&["create", "configmap", "watched", "--from-literal=x=y"]);
    let seen = (0..20)
        .filter_map(|_| rx.recv_timeout(Duration::from_secs(1)).ok())
        .any(|l| l.starts_with("watched "));
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(seen, "kubectl get -w did not show the new configmap");

    // delete -f
    assert_eq!(
        rows(&k.ok(&["delete", "-f", &manifest("webapp.yaml")])),
        [
            "deployment.apps \"webapp-deployment\" deleted",
            "service \"webapp-service\" deleted"
        ]
    );
    let err = k.fails(&["get", "deployment", "webapp-deployment"]);
    assert!(
        err.contains(
            "Error from server (NotFound): deployments.apps \"webapp-deployment\" not found"
        ),
        "{err}"
    );
}

#[test]
fn seed_workflow_with_kubectl_1_33() {
    let cluster = Cluster::start();
    seed_workflow(&cluster.kubectl("1.33"));
}

#[test]
fn seed_workflow_with_kubectl_1_27() {
    let cluster = Cluster::start();
    seed_workflow(&cluster.kubectl("1.27"));
}

#[test]
fn seed_workflow_on_etcd_with_kubectl_1_33() {
    let cluster = Cluster::start_with_etcd();
    seed_workflow(&cluster.kubectl("1.33"));
}
