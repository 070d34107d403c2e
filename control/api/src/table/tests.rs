use jiff::Timestamp;
use serde_json::{Value, json};

use super::{IncludeObject, column_definitions, row};

fn now() -> Timestamp {
    "2026-01-01T01:00:00Z".parse().unwrap()
}

fn cells(kind: &str, obj: Value) -> Vec<Value> {
    row(kind, &obj, IncludeObject::None, now())["cells"]
        .as_array()
        .unwrap()
        .clone()
}

fn headers(kind: &str) -> Vec<String> {
    column_definitions(kind)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_uppercase();
            if c["priority"] == 1 {
                format!("|{name}")
            } else {
                name
            }
        })
        .collect()
}

#[test]
fn pod_columns_and_status() {
    assert_eq!(
        headers("Pod").join(" "),
        "NAME READY STATUS RESTARTS AGE |IP |NODE |NOMINATED NODE |READINESS GATES"
    );
    let pod = json!({"metadata": {"name": "web-1", "creationTimestamp": "2026-01-01T00:55:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
        "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 1, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
    assert_eq!(
        cells("Pod", pod),
        vec![
            json!("web-1"),
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!(3),
            json!("5m"),
            json!("10.0.0.5"),
            json!("n1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
    assert_eq!(cells("Pod", pending)[2], "Pending");
    let deleting = json!({"metadata": {"name": "p", "deletionTimestamp": "x"}, "spec": {"containers": []}, "status": {"phase": "Running"}});
    assert_eq!(cells("Pod", deleting)[2], "Terminating");
}

#[test]
fn workload_and_service_columns() {
    assert_eq!(
        headers("Deployment").join(" "),
        "NAME READY UP-TO-DATE AVAILABLE AGE |CONTAINERS |IMAGES |SELECTOR"
    );
    assert_eq!(
        headers("Service").join(" "),
        "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE |SELECTOR"
    );
    assert_eq!(
        headers("Node").join(" "),
        "NAME STATUS ROLES AGE VERSION |INTERNAL-IP |EXTERNAL-IP |OS-IMAGE |KERNEL-VERSION |CONTAINER-RUNTIME"
    );
    let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
        "template": {"spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        cells("Deployment", d),
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("<unknown>"),
            json!("c"),
            json!("nginx:1"),
            json!("app=web")
        ]
    );
    let svc = json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "clusterIP": "10.96.0.10",
        "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}], "selector": {"app": "web"}}});
    assert_eq!(
        cells("Service", svc),
        vec![
            json!("web"),
            json!("NodePort"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("80:30080/TCP"),
            json!("<unknown>"),
            json!("app=web")
        ]
    );
}

#[test]
fn rows_carry_partial_object_metadata() {
    let obj = json!({"metadata": {"name": "c", "namespace": "ns", "labels": {"a": "b"}}, "data": {"k": "v"}});
    let r = row("ConfigMap", &obj, IncludeObject::Metadata, now());
    assert_eq!(r["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(r["object"]["metadata"]["namespace"], "ns");
    assert_eq!(r["cells"][1], 1);
    let defs = column_definitions("ConfigMap");
    assert_eq!(defs[0]["format"], "name");
}

#[test]
fn pod_template_and_api_service_columns() {
    assert_eq!(
        headers("PodTemplate").join(" "),
        "NAME CONTAINERS IMAGES POD LABELS"
    );
    let template = json!({"metadata": {"name": "t"}, "template": {
        "metadata": {"labels": {"b": "2", "a": "1"}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}]}}});
    assert_eq!(
        cells("PodTemplate", template),
        [
            json!("t"),
            json!("web,log"),
            json!("nginx,busybox"),
            json!("a=1,b=2")
        ]
    );
    assert_eq!(
        headers("APIService").join(" "),
        "NAME SERVICE AVAILABLE AGE"
    );
    let local = json!({"metadata": {"name": "v1.apps", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"service": null},
        "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}});
    assert_eq!(
        cells("APIService", local),
        [
            json!("v1.apps"),
            json!("Local"),
            json!("True"),
            json!("60m")
        ]
    );
    let missing = json!({"metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
        "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}});
    let row = cells("APIService", missing);
    assert_eq!(row[1], "kube-system/metrics-server");
    assert_eq!(row[2], "False (MissingEndpoints)");
}
