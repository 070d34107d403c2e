//! The status and binding subresources as node agents and schedulers use them: over HTTPS
//! (curl, and the real kubectl's `--subresource=status`), against `skiff up` on the embedded
//! store and on etcd.

mod support;

use serde_json::{Value, json};
use support::cluster::Cluster;

const PODS: &str = "/api/v1/namespaces/default/pods";

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn get(c: &Cluster, name: &str) -> Value {
    let (code, body) = c.curl("GET", &format!("{PODS}/{name}"), "", b"", None);
    assert_eq!(code, 200, "{body}");
    parse(&body)
}

fn send(c: &Cluster, method: &str, path: &str, ty: &str, body: &Value) -> (u16, Value) {
    let (code, text) = c.curl(method, path, ty, body.to_string().as_bytes(), None);
    (code, parse(&text))
}

fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn status_writes_change_only_the_status(c: &Cluster) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let (code, created) = send(c, "POST", PODS, "application/json", &pod);
    assert_eq!(code, 201, "{created}");
    let status = format!("{PODS}/p/status");

    // The real kubectl: a merge patch of status, spec and labels keeps only the status.
    let k = c.kubectl("1.33");
    k.ok(&[
        "patch",
        "pod",
        "p",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running","podIP":"10.1.2.3"},"spec":{"nodeName":"elsewhere"},"metadata":{"labels":{"app":"changed"}}}"#,
    ]);
    let after = get(c, "p");
    assert_eq!(after["status"]["phase"], "Running");
    assert_eq!(after["status"]["podIP"], "10.1.2.3");
    assert_eq!(
        after["status"]["qosClass"], created["status"]["qosClass"],
        "a merge patch keeps the rest of the status"
    );
    assert_eq!(after["spec"], created["spec"]);
    assert_eq!(after["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(after["metadata"]["uid"], created["metadata"]["uid"]);
    assert!(rv(&after) > rv(&created));
    assert_eq!(
        k.ok(&["get", "pod", "p", "-o", "jsonpath={.status.podIP}"]),
        "10.1.2.3"
    );

    // The same patch again changes nothing and writes nothing.
    let (code, same) = send(
        c,
        "PATCH",
        &status,
        "application/merge-patch+json",
        &json!({"status": {"phase": "Running"}}),
    );
    assert_eq!(code, 200, "{same}");
    assert_eq!(rv(&same), rv(&after));

    // A JSON patch may address anything; only what it does to the status stands.
    let (code, patched) = send(
        c,
        "PATCH",
        &status,
        "application/json-patch+json",
        &json!([{"op": "replace", "path": "/status/phase", "value": "Succeeded"},
                {"op": "add", "path": "/metadata/labels/extra", "value": "x"}]),
    );
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["status"]["phase"], "Succeeded");
    assert_eq!(get(c, "p")["metadata"]["labels"], json!({"app": "web"}));

    // PUT replaces the status, under optimistic concurrency.
    let mut body = get(c, "p");
    body["status"] = json!({"phase": "Failed", "message": "replaced"});
    let mut stale = body.clone();
    stale["metadata"]["resourceVersion"] = json!(rv(&after).to_string());
    let (code, conflict) = send(c, "PUT", &status, "application/json", &stale);
    assert_eq!(code, 409, "{conflict}");
    assert_eq!(conflict["reason"], "Conflict");
    let (code, put) = send(c, "PUT", &status, "application/json", &body);
    assert_eq!(code, 200, "{put}");
    assert_eq!(put["status"]["message"], "replaced");
    assert!(put["status"].get("podIP").is_none(), "PUT replaces: {put}");

    // The schema still applies to status: wrong types and, when strict, unknown fields.
    let (code, wrong) = send(
        c,
        "PATCH",
        &status,
        "application/merge-patch+json",
        &json!({"status": {"phase": 7}}),
    );
    assert_eq!(code, 400, "{wrong}");
    assert!(
        wrong["message"].as_str().unwrap().contains("status.phase"),
        "{wrong}"
    );
    let (code, strict) = send(
        c,
        "PATCH",
        &format!("{status}?fieldValidation=Strict"),
        "application/merge-patch+json",
        &json!({"status": {"bogus": 1}}),
    );
    assert_eq!(code, 400, "{strict}");
    assert!(
        strict["message"].as_str().unwrap().contains("status.bogus"),
        "{strict}"
    );

    // A dry run answers with the result and stores nothing.
    let before = get(c, "p");
    let (code, dry) = send(
        c,
        "PATCH",
        &format!("{status}?dryRun=All"),
        "application/merge-patch+json",
        &json!({"status": {"message": "dry"}}),
    );
    assert_eq!(code, 200, "{dry}");
    assert_eq!(dry["status"]["message"], "dry");
    assert_eq!(get(c, "p"), before);
}

fn binding_assigns_once(c: &Cluster) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    assert_eq!(send(c, "POST", PODS, "application/json", &pod).0, 201);
    let binding = format!("{PODS}/b/binding");
    let target = |node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"},
               "target": {"kind": "Node", "name": node}})
    };
    let (code, ok) = send(c, "POST", &binding, "application/json", &target("n1"));
    assert_eq!(code, 201, "{ok}");
    let bound = get(c, "b");
    assert_eq!(bound["spec"]["nodeName"], "n1");
    let scheduled: Vec<&Value> = bound["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "PodScheduled")
        .collect();
    assert_eq!(scheduled.len(), 1, "{bound}");
    assert_eq!(scheduled[0]["status"], "True");
    assert_eq!(bound["status"]["phase"], "Pending");
    let (code, again) = send(c, "POST", &binding, "application/json", &target("n2"));
    assert_eq!(code, 409, "{again}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains(r#"already assigned to node "n1""#),
        "{again}"
    );
    let (code, missing) = send(
        c,
        "POST",
        &binding,
        "application/json",
        &json!({"target": {}}),
    );
    assert_eq!(code, 422, "{missing}");

    // A bound pod being deleted waits for its node through status writes, and goes when
    // the node confirms with a zero grace period.
    let (code, deleting) = send(
        c,
        "DELETE",
        &format!("{PODS}/b"),
        "application/json",
        &json!({}),
    );
    assert_eq!(code, 200, "{deleting}");
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    let (code, _) = send(
        c,
        "PATCH",
        &format!("{PODS}/b/status"),
        "application/merge-patch+json",
        &json!({"status": {"phase": "Succeeded"}}),
    );
    assert_eq!(code, 200);
    assert_eq!(get(c, "b")["status"]["phase"], "Succeeded");
    let (code, _) = send(
        c,
        "DELETE",
        &format!("{PODS}/b"),
        "application/json",
        &json!({"gracePeriodSeconds": 0}),
    );
    assert_eq!(code, 200);
    assert_eq!(c.curl("GET", &format!("{PODS}/b"), "", b"", None).0, 404);
}

#[test]
fn status_and_binding_on_the_embedded_store() {
    let c = Cluster::start_with(&["--no-scheduler"]);
    status_writes_change_only_the_status(&c);
    binding_assigns_once(&c);
}

#[test]
fn status_and_binding_on_etcd() {
    let c = Cluster::start_with_etcd_and(&["--no-scheduler"]);
    status_writes_change_only_the_status(&c);
    binding_assigns_once(&c);
}
