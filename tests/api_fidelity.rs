//! What real clients compare against kube-apiserver: bodies byte for byte (Status field
//! order, trailing newlines), what a delete answers per kind, the status objects kube always
//! writes, kube's error texts, the system namespaces and `kubernetes` Service that repair
//! themselves, and the PodTemplate, APIService and streaming-subresource endpoints. Over
//! HTTPS with curl, and with the real kubectl where what users see is the point.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::cluster::{Cluster, Kubectl};

const NS: &str = "/api/v1/namespaces/default";

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn send(c: &Cluster, method: &str, path: &str, ct: &str, body: &Value) -> (u16, String) {
    c.curl(method, path, ct, body.to_string().as_bytes(), None)
}

fn post(c: &Cluster, path: &str, body: &Value) -> (u16, String) {
    send(c, "POST", path, "application/json", body)
}

fn created(c: &Cluster, path: &str, body: &Value) -> Value {
    let (code, text) = post(c, path, body);
    assert_eq!(code, 201, "{text}");
    parse(&text)
}

/// Retries `check` for up to `secs` seconds.
fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what} did not happen within {secs}s");
}

fn svc(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
           "spec": {"ports": [{"port": 80}]}})
}

/// A delete answers with the object for the kinds kube-apiserver's stores return it for
/// (services, service accounts, volumes, claims, ...), and with a Success Status, byte for
/// byte as kube writes it, for the rest.
fn deletes_answer_per_kind(c: &Cluster) {
    created(c, &format!("{NS}/services"), &svc("gone"));
    let (code, body) = c.curl("DELETE", &format!("{NS}/services/gone"), "", b"", None);
    assert_eq!(code, 200, "{body}");
    let deleted = parse(&body);
    assert_eq!(deleted["kind"], "Service", "{body}");
    assert_eq!(deleted["metadata"]["name"], "gone");
    assert_eq!(deleted["spec"]["ports"][0]["port"], 80);
    for (path, obj) in [
        (
            format!("{NS}/serviceaccounts"),
            json!({"metadata": {"name": "sa"}}),
        ),
        (
            format!("{NS}/persistentvolumeclaims"),
            json!({"metadata": {"name": "pvc"}, "spec": {"accessModes": ["ReadWriteOnce"],
                   "resources": {"requests": {"storage": "1Gi"}}}}),
        ),
        (
            "/api/v1/persistentvolumes".into(),
            json!({"metadata": {"name": "pv"}, "spec": {"accessModes": ["ReadWriteOnce"],
                   "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/tmp/pv"}}}),
        ),
    ] {
        let name = created(c, &path, &obj)["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let (code, body) = c.curl("DELETE", &format!("{path}/{name}"), "", b"", None);
        assert_eq!(code, 200, "{body}");
        assert_eq!(parse(&body)["metadata"]["name"], name.as_str(), "{body}");
        assert_ne!(parse(&body)["kind"], "Status", "{body}");
    }
    // A collection delete answers with the objects as they were listed.
    let listed = created(
        c,
        &format!("{NS}/configmaps"),
        &json!({"metadata": {"name": "dc", "labels": {"batch": "x"}}}),
    );
    let (code, body) = c.curl(
        "DELETE",
        &format!("{NS}/configmaps?labelSelector=batch%3Dx"),
        "",
        b"",
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        parse(&body)["items"][0]["metadata"]["resourceVersion"],
        listed["metadata"]["resourceVersion"]
    );
    let cm = created(
        c,
        &format!("{NS}/configmaps"),
        &json!({"metadata": {"name": "c"}}),
    );
    let uid = cm["metadata"]["uid"].as_str().unwrap();
    let (code, body) = c.curl("DELETE", &format!("{NS}/configmaps/c"), "", b"", None);
    assert_eq!(code, 200);
    assert_eq!(
        body,
        format!(
            "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Success\",\
             \"details\":{{\"name\":\"c\",\"kind\":\"configmaps\",\"uid\":\"{uid}\"}}}}\n"
        )
    );
}

/// Status objects kube always writes: a Service's `{loadBalancer: {}}` on create, get and
/// patch; a Deployment's `{}`; a Node's status kept as its agent sent it.
fn empty_statuses_are_written(c: &Cluster) {
    let svc_path = format!("{NS}/services/lb");
    let made = created(c, &format!("{NS}/services"), &svc("lb"));
    assert_eq!(made["status"], json!({"loadBalancer": {}}));
    let (_, body) = c.curl("GET", &svc_path, "", b"", None);
    assert_eq!(parse(&body)["status"], json!({"loadBalancer": {}}));
    let (code, body) = send(
        c,
        "PATCH",
        &svc_path,
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"a": "b"}}}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(parse(&body)["status"], json!({"loadBalancer": {}}));
    let deploy = created(
        c,
        "/apis/apps/v1/namespaces/default/deployments",
        &json!({"metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
    );
    assert_eq!(deploy["status"], json!({}));
    assert!(
        deploy["spec"]["template"]["metadata"]
            .get("creationTimestamp")
            .is_some_and(Value::is_null),
        "{deploy}"
    );

    let node = json!({"metadata": {"name": "n1"}, "status": {
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        "nodeInfo": {"kubeletVersion": "v1.33.0", "machineID": "m", "systemUUID": "s",
                     "bootID": "b", "kernelVersion": "6", "osImage": "o",
                     "containerRuntimeVersion": "c", "kubeProxyVersion": "",
                     "operatingSystem": "linux", "architecture": "amd64"}}});
    let made = created(c, "/api/v1/nodes", &node);
    assert_eq!(made["status"]["capacity"]["cpu"], "4", "{made}");
    let (_, body) = c.curl("GET", "/api/v1/nodes/n1", "", b"", None);
    let got = parse(&body);
    assert_eq!(got["status"]["conditions"][0]["type"], "Ready", "{got}");
    assert_eq!(got["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0");
    assert_eq!(
        got["status"]["daemonEndpoints"],
        json!({"kubeletEndpoint": {"Port": 0}})
    );
    // Other kinds start from an empty status whatever was sent.
    let mut with_status = svc("sent");
    with_status["status"] = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}});
    let made = created(c, &format!("{NS}/services"), &with_status);
    assert_eq!(made["status"], json!({"loadBalancer": {}}));
}

/// PUT with `resourceVersion` "0" or "" is an unconditional update, as in kube.
fn unconditional_updates(c: &Cluster) {
    let path = format!("{NS}/configmaps/u");
    created(
        c,
        &format!("{NS}/configmaps"),
        &json!({"metadata": {"name": "u"}, "data": {"k": "0"}}),
    );
    for (n, rv) in [(1, "0"), (2, "")] {
        let body =
            json!({"metadata": {"name": "u", "resourceVersion": rv}, "data": {"k": n.to_string()}});
        let (code, text) = send(c, "PUT", &path, "application/json", &body);
        assert_eq!(code, 200, "resourceVersion {rv:?}: {text}");
        assert_eq!(parse(&text)["data"]["k"], n.to_string());
    }
    let stale = json!({"metadata": {"name": "u", "resourceVersion": "1"}, "data": {"k": "x"}});
    assert_eq!(send(c, "PUT", &path, "application/json", &stale).0, 409);
}

fn every_store(check: fn(&Cluster)) {
    check(&Cluster::start());
    check(&Cluster::start_with_etcd());
}

#[test]
fn deletes_answer_with_the_object_or_a_status_per_kind() {
    every_store(deletes_answer_per_kind);
}

#[test]
fn status_objects_are_written_as_kube_writes_them() {
    every_store(empty_statuses_are_written);
}

#[test]
fn resource_version_zero_updates_unconditionally() {
    every_store(unconditional_updates);
}

#[test]
fn error_statuses_are_byte_for_byte_kubes() {
    let c = Cluster::start();
    let (code, body) = c.curl("GET", &format!("{NS}/configmaps/nope"), "", b"", None);
    assert_eq!(code, 404);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
         \"message\":\"configmaps \\\"nope\\\" not found\",\"reason\":\"NotFound\",\
         \"details\":{\"name\":\"nope\",\"kind\":\"configmaps\"},\"code\":404}\n"
    );
    let (code, body) = c.curl("GET", "/api/v1/namespaces", "", b"", Some("wrong"));
    assert_eq!(code, 401);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
         \"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}\n"
    );
    let (code, body) = post(
        &c,
        &format!("{NS}/configmaps"),
        &json!({"metadata": {"name": "Bad_Name"}}),
    );
    assert_eq!(code, 422);
    assert!(
        body.ends_with(
            "\"reason\":\"Invalid\",\"details\":{\"name\":\"Bad_Name\",\"kind\":\"ConfigMap\",\
             \"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \
             \\\"Bad_Name\\\": a lowercase RFC 1123 subdomain must consist of lower case \
             alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
             character (e.g. 'example.com', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\",\
             \"field\":\"metadata.name\"}]},\"code\":422}\n"
        ),
        "{body}"
    );
    // Objects end with a newline too, as kube's encoder writes them.
    let (_, body) = c.curl("GET", "/api/v1/namespaces/default", "", b"", None);
    assert!(body.ends_with("}\n"), "{body:?}");
}

#[test]
fn bodies_kube_cannot_decode_get_its_messages() {
    let c = Cluster::start();
    let cms = format!("{NS}/configmaps");
    let unrecognized = |body: &[u8], ct: &str| {
        let (code, text) = c.curl("POST", &cms, ct, body, None);
        assert_eq!(code, 400, "{text}");
        let s = parse(&text);
        assert_eq!(s["reason"], "BadRequest");
        s["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        unrecognized(b"apiVersion: v1\nkind: ConfigMap\n", "application/json"),
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get \
         version/kind; json parse error: invalid character 'a' looking for beginning of value \
         (61706956657273696f6e3a2076310a6b696e643a20436f6e6669674d6170 ...)"
    );
    assert_eq!(
        unrecognized(b"[]", "application/json"),
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get \
         version/kind; json parse error: json: cannot unmarshal array into Go value of type \
         struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \
         \"json:\\\"kind,omitempty\\\"\" } (5b5d)"
    );
    assert_eq!(
        unrecognized(b"{\"metadata\": {\"name\": ", "application/json"),
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get \
         version/kind; json parse error: unexpected end of JSON input ({\"metadata\": {\"name\": )"
    );
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}});
    assert_eq!(
        unrecognized(pod.to_string().as_bytes(), "application/json"),
        "Pod in version \"v1\" cannot be handled as a ConfigMap: converting (v1.Pod) to \
         (core.ConfigMap): unknown conversion"
    );
}

#[test]
fn strategic_merge_type_errors_are_kubes_422() {
    let c = Cluster::start();
    created(
        &c,
        &format!("{NS}/configmaps"),
        &json!({"metadata": {"name": "p"}}),
    );
    let (code, body) = c.curl(
        "PATCH",
        &format!("{NS}/configmaps/p"),
        "application/strategic-merge-patch+json",
        br#"{"metadata":{"labels":"invalid"}}"#,
        None,
    );
    assert_eq!(code, 422);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
         \"message\":\" \\\"\\\" is invalid: patch: Invalid value: \
         \\\"map[metadata:map[labels:invalid]]\\\": cannot restore map from string\",\
         \"reason\":\"Invalid\",\"details\":{\"causes\":[{\"reason\":\"FieldValueInvalid\",\
         \"message\":\"Invalid value: \\\"map[metadata:map[labels:invalid]]\\\": cannot restore \
         map from string\",\"field\":\"patch\"}]},\"code\":422}\n"
    );
    let err = c.kubectl("1.33").fails(&[
        "patch",
        "cm",
        "p",
        "-p",
        r#"{"metadata":{"labels":"invalid"}}"#,
    ]);
    assert!(err.contains("cannot restore map from string"), "{err}");
}

#[test]
fn apply_patches_may_be_yaml() {
    let c = Cluster::start();
    let path = format!("{NS}/configmaps/applied?fieldManager=test");
    let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: one\n";
    let (code, body) = c.curl("PATCH", &path, "application/apply-patch+yaml", yaml, None);
    assert_eq!(code, 201, "{body}");
    assert_eq!(parse(&body)["data"]["k"], "one");
    let again = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: two\n";
    let (code, body) = c.curl("PATCH", &path, "application/apply-patch+yaml", again, None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(parse(&body)["data"]["k"], "two");
    let (code, body) = c.curl(
        "PATCH",
        &path,
        "application/apply-patch+yaml",
        b"data: [",
        None,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        parse(&body)["message"]
            .as_str()
            .unwrap()
            .starts_with("error decoding YAML"),
        "{body}"
    );
}

/// kube's NamespaceLifecycle refuses deleting the immortal namespaces; its bootstrap and
/// system-namespaces controllers put back `kube-node-lease` and the `kubernetes` Service.
fn system_objects_stay(c: &Cluster) {
    let k = c.kubectl("1.33");
    let (code, body) = c.curl("DELETE", "/api/v1/namespaces/default", "", b"", None);
    assert_eq!(code, 403);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
         \"message\":\"namespaces \\\"default\\\" is forbidden: this namespace may not be deleted\",\
         \"reason\":\"Forbidden\",\"details\":{\"name\":\"default\",\"kind\":\"namespaces\"},\
         \"code\":403}\n"
    );
    let out = k.run(&["delete", "ns", "--all", "--wait=false"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for ns in ["default", "kube-system", "kube-public"] {
        let want = format!(
            "Error from server (Forbidden): namespaces \"{ns}\" is forbidden: this namespace may not be deleted"
        );
        assert!(stderr.contains(&want), "{stderr}");
    }
    k.ok(&["delete", "svc", "kubernetes"]);
    eventually(30, "the kubernetes Service coming back", || {
        k.run(&["get", "svc", "kubernetes"], None).status.success()
    });
    let svc = k.ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(svc, "10.96.0.1");
    eventually(30, "kube-node-lease coming back", || {
        let out = k.run(
            &[
                "get",
                "ns",
                "kube-node-lease",
                "-o",
                "jsonpath={.status.phase}",
            ],
            None,
        );
        out.status.success() && String::from_utf8_lossy(&out.stdout) == "Active"
    });
}

#[test]
fn system_namespaces_and_the_kubernetes_service_stay() {
    every_store(system_objects_stay);
}

/// PodTemplates and APIServices as kubectl shows them, and the streaming subresources
/// listed in discovery with a clear 503 until a node agent serves them.
fn pod_templates_api_services_and_streams(k: &Kubectl, c: &Cluster) {
    let template = "apiVersion: v1\nkind: PodTemplate\nmetadata:\n  name: web\ntemplate:\n  \
                    metadata:\n    labels:\n      app: web\n  spec:\n    containers:\n    \
                    - name: web\n      image: nginx\n";
    assert_eq!(
        k.ok_with(&["create", "-f", "-"], Some(template)).trim(),
        "podtemplate/web created"
    );
    let rows: Vec<String> = k
        .ok(&["get", "podtemplates"])
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        rows,
        ["NAME CONTAINERS IMAGES POD LABELS", "web web nginx app=web"]
    );

    let services = k.ok(&["get", "apiservices"]);
    let rows: Vec<String> = services
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(rows[0], "NAME SERVICE AVAILABLE AGE");
    for name in ["v1.", "v1.apps", "v1.batch", "v2.autoscaling"] {
        assert!(
            rows.iter()
                .any(|r| r.starts_with(&format!("{name} Local True "))),
            "{services}"
        );
    }
    let core: Value =
        serde_json::from_str(&k.ok(&["get", "apiservice", "v1.", "-o", "json"])).unwrap();
    assert!(
        core["spec"].get("service").is_some_and(Value::is_null),
        "{core}"
    );
    assert_eq!(core["status"]["conditions"][0]["reason"], "Local");
    let err = k.fails(&["delete", "apiservice", "v1.apps"]);
    assert!(err.contains("MethodNotAllowed"), "{err}");

    let resources = k.ok(&["api-resources"]);
    let row = |name: &str| {
        resources
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row:\n{resources}"))
    };
    assert_eq!(row("podtemplates"), "podtemplates v1 true PodTemplate");
    assert_eq!(
        row("apiservices"),
        "apiservices apiregistration.k8s.io/v1 false APIService"
    );

    let (_, body) = c.curl("GET", "/api/v1", "", b"", None);
    let listed = parse(&body);
    let names: Vec<&str> = listed["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for sub in [
        "pods/exec",
        "pods/attach",
        "pods/portforward",
        "pods/proxy",
        "services/proxy",
        "nodes/proxy",
    ] {
        assert!(names.contains(&sub), "{sub} missing: {names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "kube lists resources in path order");

    let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n9",
        "containers": [{"name": "c", "image": "busybox"}]}});
    created(c, &format!("{NS}/pods"), &pod);
    let (code, body) = c.curl(
        "POST",
        &format!("{NS}/pods/p/exec?command=ls"),
        "",
        b"",
        None,
    );
    assert_eq!(code, 503, "{body}");
    assert_eq!(
        parse(&body)["message"],
        "no node agent is serving node \"n9\", so exec into container \"c\" of pod p is not available"
    );
    let (code, body) = c.curl(
        "GET",
        &format!("{NS}/pods/p/exec?container=nope"),
        "",
        b"",
        None,
    );
    assert_eq!(code, 400, "{body}");
    let (code, _) = c.curl(
        "GET",
        &format!("{NS}/services/kubernetes/proxy/x"),
        "",
        b"",
        None,
    );
    assert_eq!(code, 503);
    let err = k.fails(&["exec", "p", "--", "ls"]);
    assert!(err.contains("no node agent is serving node"), "{err}");
}

#[test]
fn pod_templates_api_services_and_streaming_subresources_with_kubectl_1_33() {
    let c = Cluster::start();
    pod_templates_api_services_and_streams(&c.kubectl("1.33"), &c);
}

#[test]
fn pod_templates_api_services_and_streaming_subresources_with_kubectl_1_27() {
    let c = Cluster::start();
    pod_templates_api_services_and_streams(&c.kubectl("1.27"), &c);
}
