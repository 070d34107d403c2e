//! Bad input gets the Kubernetes Status a client expects: the right code, reason and a
//! message that says what was wrong. Requests go over HTTPS with curl, as any client's would.

mod support;

use serde_json::{Value, json};
use support::cluster::Cluster;

const CM: &str = "/api/v1/namespaces/default/configmaps";

fn status(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a Status ({e}): {body}"))
}

/// Asserts a Status with `code` and `reason` whose message contains `text`.
fn check(got: (u16, String), code: u16, reason: &str, text: &str) -> Value {
    let (c, body) = got;
    let s = status(&body);
    assert_eq!(c, code, "{body}");
    assert_eq!(s["kind"], "Status", "{body}");
    assert_eq!(s["code"], code, "{body}");
    assert_eq!(s["reason"], reason, "{body}");
    let message = s["message"].as_str().unwrap_or_default();
    assert!(message.contains(text), "message {message:?} lacks {text:?}");
    s
}

fn post(c: &Cluster, path: &str, obj: &Value) -> (u16, String) {
    c.curl(
        "POST",
        path,
        "application/json",
        obj.to_string().as_bytes(),
        None,
    )
}

#[test]
fn authentication_is_required_except_for_version_and_health() {
    let c = Cluster::start();
    check(
        c.curl("GET", "/api/v1/namespaces", "", b"", Some("")),
        401,
        "Unauthorized",
        "Unauthorized",
    );
    check(
        c.curl("GET", "/api/v1/namespaces", "", b"", Some("wrong")),
        401,
        "Unauthorized",
        "Unauthorized",
    );
    let (code, body) = c.curl("GET", "/version", "", b"", Some(""));
    assert_eq!(code, 200);
    assert_eq!(status(&body)["minor"], "33");
    assert_eq!(
        c.curl("GET", "/healthz", "", b"", Some("")),
        (200, "ok".into())
    );
    assert_eq!(c.curl("GET", "/api/v1/namespaces", "", b"", None).0, 200);
}

#[test]
fn each_error_class_gets_its_status() {
    let c = Cluster::start();
    // 404: a missing object, a missing type, a missing namespace.
    let s = check(
        c.curl("GET", &format!("{CM}/nope"), "", b"", None),
        404,
        "NotFound",
        r#"configmaps "nope" not found"#,
    );
    assert_eq!(s["details"]["kind"], "configmaps");
    check(
        c.curl("GET", "/api/v1/widgets", "", b"", None),
        404,
        "NotFound",
        "could not find the requested resource",
    );
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    check(
        post(&c, "/api/v1/namespaces/nope/configmaps", &cm),
        404,
        "NotFound",
        r#"namespaces "nope" not found"#,
    );

    // 409: create twice; update with a stale resourceVersion.
    assert_eq!(post(&c, CM, &cm).0, 201);
    check(
        post(&c, CM, &cm),
        409,
        "AlreadyExists",
        r#"configmaps "c" already exists"#,
    );
    let (_, body) = c.curl("GET", &format!("{CM}/c"), "", b"", None);
    let mut current = status(&body);
    let stale = current["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    current["data"]["k"] = json!("v2");
    assert_eq!(
        c.curl(
            "PUT",
            &format!("{CM}/c"),
            "application/json",
            current.to_string().as_bytes(),
            None
        )
        .0,
        200
    );
    current["metadata"]["resourceVersion"] = json!(stale);
    current["data"]["k"] = json!("v3");
    check(
        c.curl(
            "PUT",
            &format!("{CM}/c"),
            "application/json",
            current.to_string().as_bytes(),
            None,
        ),
        409,
        "Conflict",
        "the object has been modified",
    );

    // 422: invalid objects name every field at fault.
    let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "web"}]}}}});
    let s = check(
        post(&c, "/apis/apps/v1/namespaces/default/deployments", &bad),
        422,
        "Invalid",
        r#"Deployment.apps "web" is invalid"#,
    );
    let fields: Vec<&str> = s["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"spec.template.metadata.labels"),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"spec.template.spec.containers[0].image"),
        "{fields:?}"
    );

    // 400: malformed JSON says where; kinds and versions must match the URL.
    check(
        c.curl(
            "POST",
            CM,
            "application/json",
            b"{\"metadata\": {\"name\": ",
            None,
        ),
        400,
        "BadRequest",
        "unexpected end of JSON input",
    );
    let pod_as_cm = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}});
    check(
        post(&c, CM, &pod_as_cm),
        400,
        "BadRequest",
        "Pod in version \"v1\" cannot be handled as a ConfigMap",
    );
    let wrong_version =
        json!({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    check(
        post(&c, CM, &wrong_version),
        400,
        "BadRequest",
        r#"no kind "ConfigMap" is registered for version "apps/v1""#,
    );
    let typed = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "three"}});
    check(
        post(&c, "/apis/apps/v1/namespaces/default/deployments", &typed),
        400,
        "BadRequest",
        "spec.replicas",
    );
    let unknown = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u"}, "spec": {"x": 1}});
    check(
        c.curl(
            "POST",
            &format!("{CM}?fieldValidation=Strict"),
            "application/json",
            unknown.to_string().as_bytes(),
            None,
        ),
        400,
        "BadRequest",
        r#"strict decoding error: unknown field "spec""#,
    );

    // 413 and 415.
    let huge = vec![b' '; 3 * 1024 * 1024 + 1];
    check(
        c.curl("POST", CM, "application/json", &huge, None),
        413,
        "RequestEntityTooLarge",
        "3145728",
    );
    check(
        c.curl("POST", CM, "text/plain", b"hello", None),
        415,
        "UnsupportedMediaType",
        "text/plain",
    );
    check(
        c.curl("PATCH", &format!("{CM}/c"), "application/json", b"{}", None),
        415,
        "UnsupportedMediaType",
        "application/strategic-merge-patch+json",
    );

    // 405.
    check(
        c.curl("POST", &format!("{CM}/c"), "application/json", b"{}", None),
        405,
        "MethodNotAllowed",
        "does not allow this method",
    );

    // YAML bodies are fine.
    let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n";
    assert_eq!(c.curl("POST", CM, "application/yaml", yaml, None).0, 201);
}

#[test]
fn service_addresses_and_ports_are_checked_and_reserved() {
    let c = Cluster::start();
    let svc = |name: &str, spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec});
    let path = "/api/v1/namespaces/default/services";
    let (code, body) = post(
        &c,
        path,
        &svc(
            "a",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30100}]}),
        ),
    );
    assert_eq!(code, 201, "{body}");
    let a = status(&body);
    let ip = a["spec"]["clusterIP"].as_str().unwrap().to_owned();
    assert!(ip.starts_with("10."), "{ip}");
    let s = check(
        post(
            &c,
            path,
            &svc(
                "b",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30100}]}),
            ),
        ),
        422,
        "Invalid",
        "provided port is already allocated",
    );
    assert_eq!(s["details"]["causes"][0]["field"], "spec.ports[0].nodePort");
    check(
        post(
            &c,
            path,
            &svc(
                "c",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}),
            ),
        ),
        422,
        "Invalid",
        "The range of valid ports is 30000-32767",
    );
    check(
        post(
            &c,
            path,
            &svc("d", json!({"clusterIP": ip, "ports": [{"port": 80}]})),
        ),
        422,
        "Invalid",
        "provided IP is already allocated",
    );
    check(
        post(
            &c,
            path,
            &svc(
                "e",
                json!({"clusterIP": "192.168.0.1", "ports": [{"port": 80}]}),
            ),
        ),
        422,
        "Invalid",
        "The range of valid IPs is 10.96.0.0/12",
    );
    let (code, body) = post(
        &c,
        path,
        &svc("f", json!({"clusterIP": "None", "ports": [{"port": 80}]})),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(status(&body)["spec"]["clusterIP"], "None");
    // Deleting releases both the address and the port.
    assert_eq!(c.curl("DELETE", &format!("{path}/a"), "", b"", None).0, 200);
    let (code, body) = post(
        &c,
        path,
        &svc(
            "g",
            json!({"type": "NodePort", "clusterIP": ip, "ports": [{"port": 80, "nodePort": 30100}]}),
        ),
    );
    assert_eq!(code, 201, "{body}");
}

#[test]
fn terminating_namespaces_refuse_new_objects() {
    let c = Cluster::start();
    assert_eq!(
        post(
            &c,
            "/api/v1/namespaces",
            &json!({"metadata": {"name": "doomed"}})
        )
        .0,
        201
    );
    let held = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}});
    assert_eq!(
        post(&c, "/api/v1/namespaces/doomed/configmaps", &held).0,
        201
    );
    assert_eq!(
        c.curl("DELETE", "/api/v1/namespaces/doomed", "", b"", None)
            .0,
        200
    );
    let (_, body) = c.curl("GET", "/api/v1/namespaces/doomed", "", b"", None);
    assert_eq!(status(&body)["status"]["phase"], "Terminating");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}});
    check(
        post(&c, "/api/v1/namespaces/doomed/configmaps", &cm),
        403,
        "Forbidden",
        "because it is being terminated",
    );
    // Releasing the finalizer lets the namespace go.
    let patch = json!({"metadata": {"finalizers": null}});
    let (code, body) = c.curl(
        "PATCH",
        "/api/v1/namespaces/doomed/configmaps/held",
        "application/merge-patch+json",
        patch.to_string().as_bytes(),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        c.curl("GET", "/api/v1/namespaces/doomed", "", b"", None).0 == 404
    });
    assert!(gone, "the namespace was not removed once empty");
}

#[test]
fn watches_and_lists_from_compacted_revisions_get_410() {
    let c = Cluster::start_with(&["--compaction-interval", "300ms"]);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}, "data": {"n": "0"}});
    let (_, body) = post(&c, CM, &cm);
    let first = status(&body)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 1..5 {
        let patch = json!({"data": {"n": n.to_string()}});
        c.curl(
            "PATCH",
            &format!("{CM}/w"),
            "application/merge-patch+json",
            patch.to_string().as_bytes(),
            None,
        );
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (code, body) = c.curl(
        "GET",
        &format!("{CM}?watch=true&resourceVersion={first}&timeoutSeconds=2"),
        "",
        b"",
        None,
    );
    assert_eq!(code, 200);
    let event: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(event["type"], "ERROR", "{body}");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
    // A watch from a current revision works.
    let (_, body) = c.curl("GET", CM, "", b"", None);
    let rv = status(&body)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, body) = c.curl(
        "GET",
        &format!("{CM}?watch=true&resourceVersion={rv}&timeoutSeconds=1"),
        "",
        b"",
        None,
    );
    assert_eq!((code, body.as_str()), (200, ""));
}
