use serde_json::{Value, json};

use super::ops;
use crate::error::ApiError;
use crate::resources::by_kind;

fn admit(group: &str, kind: &str, obj: Value) -> Result<Value, ApiError> {
    let rt = by_kind(group, kind).unwrap();
    ops(rt).admit(rt, obj, None).map(|a| a.object)
}

fn causes(err: &ApiError) -> Vec<String> {
    err.details
        .as_ref()
        .unwrap()
        .causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect()
}

fn deployment(labels: Value, selector: Value, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}}
    })
}

#[test]
fn deployment_defaults_match_kubernetes() {
    let d = admit(
        "apps",
        "Deployment",
        deployment(
            json!({"app": "web"}),
            json!({"app": "web"}),
            json!([{"name": "web", "image": "nginx:1.25"}]),
        ),
    )
    .unwrap();
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["schedulerName"], "default-scheduler");
    let c = &pod["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
}

#[test]
fn selector_must_match_template_and_containers_must_be_valid() {
    let err = admit(
        "apps",
        "Deployment",
        deployment(
            json!({"app": "other"}),
            json!({"app": "web"}),
            json!([{"name": "Web_1"}, {"name": "Web_1", "image": "x", "ports": [{"containerPort": 70000}]}]),
        ),
    )
    .unwrap_err();
    assert_eq!(err.code, 422);
    let c = causes(&err);
    let has = |prefix: &str| c.iter().any(|x| x.starts_with(prefix));
    assert!(
        has(
            "spec.template.metadata.labels: Invalid value: \"app=other\": `selector` does not match template `labels`"
        ),
        "{c:#?}"
    );
    assert!(
        has("spec.template.spec.containers[0].name: Invalid value: \"Web_1\""),
        "{c:#?}"
    );
    assert!(
        has("spec.template.spec.containers[0].image: Required value"),
        "{c:#?}"
    );
    assert!(
        has("spec.template.spec.containers[1].ports[0].containerPort: Invalid value: 70000"),
        "{c:#?}"
    );
    assert!(
        err.message
            .starts_with("Deployment.apps \"web\" is invalid: ["),
        "{}",
        err.message
    );
}

#[test]
fn selector_is_immutable() {
    let rt = by_kind("apps", "Deployment").unwrap();
    let c = json!([{"name": "web", "image": "nginx"}]);
    let old = admit(
        "apps",
        "Deployment",
        deployment(json!({"app": "web"}), json!({"app": "web"}), c.clone()),
    )
    .unwrap();
    let new = deployment(json!({"app": "web2"}), json!({"app": "web2"}), c);
    let err = ops(rt).admit(rt, new, Some(&old)).unwrap_err();
    assert!(
        causes(&err)
            .iter()
            .any(|c| c.starts_with("spec.selector: Invalid value")
                && c.ends_with("field is immutable")),
        "{err}"
    );
}

#[test]
fn unknown_fields_are_dropped_and_reported() {
    let rt = by_kind("", "ConfigMap").unwrap();
    let a = ops(rt)
        .admit(rt, json!({"metadata": {"name": "c", "namespace": "d", "bogus": 1}, "data": {"k": "v"}, "extra": {"x": 1}}), None)
        .unwrap();
    let mut unknown = a.unknown_fields.clone();
    unknown.sort();
    assert_eq!(unknown, ["extra", "metadata.bogus"]);
    assert_eq!(a.object["data"]["k"], "v");
    assert!(a.object.get("extra").is_none());
}

#[test]
fn type_errors_are_bad_requests_naming_the_field() {
    let err = admit(
        "apps",
        "Deployment",
        json!({"metadata": {"name": "x", "namespace": "d"}, "spec": {"replicas": "three"}}),
    )
    .unwrap_err();
    assert_eq!(err.code, 400);
    assert!(err.message.contains("spec.replicas"), "{}", err.message);
    assert!(
        err.message
            .starts_with("Deployment in version \"v1\" cannot be handled as a Deployment"),
        "{}",
        err.message
    );
}

#[test]
fn pods_get_admission_defaults() {
    let p = admit("", "Pod", json!({"metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}})).unwrap();
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(
        p["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "1"
    );
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p["status"]["qosClass"], "Guaranteed");
    let tolerations = p["spec"]["tolerations"].as_array().unwrap();
    assert_eq!(tolerations.len(), 2);
    assert_eq!(tolerations[0]["tolerationSeconds"], 300);
}

#[test]
fn pod_updates_are_limited() {
    let rt = by_kind("", "Pod").unwrap();
    let base = json!({"metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}});
    let old = admit("", "Pod", base.clone()).unwrap();
    let mut image = old.clone();
    image["spec"]["containers"][0]["image"] = json!("busybox:2");
    assert!(ops(rt).admit(rt, image, Some(&old)).is_ok());
    let mut restart = old.clone();
    restart["spec"]["restartPolicy"] = json!("Never");
    let err = ops(rt).admit(rt, restart, Some(&old)).unwrap_err();
    assert!(
        err.message
            .contains("pod updates may not change fields other than"),
        "{}",
        err.message
    );
}

#[test]
fn services_default_and_validate() {
    let svc = admit(
        "",
        "Service",
        json!({"metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .unwrap();
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    let err = admit(
        "",
        "Service",
        json!({"metadata": {"name": "1web", "namespace": "default"},
        "spec": {"ports": [{"port": 80}, {"port": 0, "nodePort": 30001}]}}),
    )
    .unwrap_err();
    let c = causes(&err);
    assert!(
        c.iter()
            .any(|x| x.starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label")),
        "{c:#?}"
    );
    assert!(
        c.iter().any(|x| x == "spec.ports[0].name: Required value"),
        "{c:#?}"
    );
    assert!(
        c.iter()
            .any(|x| x.starts_with("spec.ports[1].port: Invalid value: 0")),
        "{c:#?}"
    );
    assert!(
        c.iter().any(|x| x.starts_with(
            "spec.ports[1].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
        )),
        "{c:#?}"
    );
}

#[test]
fn jobs_get_a_generated_selector() {
    let j = admit("batch", "Job", json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u-1"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}})).unwrap();
    assert_eq!(
        j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        "u-1"
    );
    assert_eq!(
        j["spec"]["template"]["metadata"]["labels"]["job-name"],
        "pi"
    );
    assert_eq!(j["spec"]["completions"], 1);
    assert_eq!(j["spec"]["backoffLimit"], 6);
    let err = admit(
        "batch",
        "Job",
        json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u-1"},
        "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}}),
    )
    .unwrap_err();
    assert!(
        causes(&err)
            .iter()
            .any(|c| c
                .starts_with("spec.template.spec.restartPolicy: Unsupported value: \"Always\"")),
        "{err}"
    );
}

#[test]
fn config_keys_and_names() {
    let err = admit("", "ConfigMap", json!({"metadata": {"name": "Bad", "namespace": "d", "labels": {"a": "-x"}}, "data": {"bad key": "v"}})).unwrap_err();
    let c = causes(&err);
    assert!(
        c.iter()
            .any(|x| x.starts_with("metadata.name: Invalid value: \"Bad\"")),
        "{c:#?}"
    );
    assert!(
        c.iter()
            .any(|x| x.starts_with("metadata.labels: Invalid value: \"-x\"")),
        "{c:#?}"
    );
    assert!(
        c.iter()
            .any(|x| x.starts_with("data[bad key]: Invalid value")),
        "{c:#?}"
    );
    let ns = admit("", "Namespace", json!({"metadata": {"name": "team-a"}})).unwrap();
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team-a"
    );
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
}

#[test]
fn cronjob_schedule_is_checked() {
    let err = admit("batch", "CronJob", json!({"metadata": {"name": "c", "namespace": "d"},
        "spec": {"schedule": "every minute", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "x"}]}}}}}})).unwrap_err();
    assert!(
        causes(&err)
            .iter()
            .any(|c| c.starts_with("spec.schedule: Invalid value: \"every minute\"")),
        "{err}"
    );
}

#[test]
fn secret_string_data_becomes_data() {
    let s = admit(
        "",
        "Secret",
        json!({"metadata": {"name": "s", "namespace": "d"},
        "data": {"a": "YQ=="}, "stringData": {"b": "bee"}}),
    )
    .unwrap();
    assert_eq!(s["data"], json!({"a": "YQ==", "b": "YmVl"}));
    assert!(s.get("stringData").is_none());
    assert_eq!(s["type"], "Opaque");
}

fn update(group: &str, kind: &str, obj: Value, old: Value) -> Result<Value, ApiError> {
    let rt = by_kind(group, kind).unwrap();
    let old = ops(rt).admit(rt, old, None).unwrap().object;
    ops(rt).admit(rt, obj, Some(&old)).map(|a| a.object)
}

fn priority_class(name: &str, value: i64, extra: Value) -> Value {
    let mut pc = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                        "metadata": {"name": name}, "value": value});
    if let (Some(pc), Some(extra)) = (pc.as_object_mut(), extra.as_object()) {
        pc.extend(extra.clone());
    }
    pc
}

#[test]
fn priority_classes_are_validated_as_kubernetes_does() {
    let pc = admit(
        "scheduling.k8s.io",
        "PriorityClass",
        priority_class("high", 1000, json!({})),
    )
    .unwrap();
    assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
    let err = |obj| causes(&admit("scheduling.k8s.io", "PriorityClass", obj).unwrap_err());
    assert_eq!(
        err(priority_class("huge", 1_000_000_001, json!({}))),
        ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
    );
    assert_eq!(
        err(priority_class("system-mine", 5, json!({}))),
        [
            "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only"
        ]
    );
    assert_eq!(
        err(priority_class(
            "p",
            1,
            json!({"preemptionPolicy": "Sometimes"})
        )),
        [
            "preemptionPolicy: Unsupported value: \"Sometimes\": supported values: \"Never\", \"PreemptLowerPriority\""
        ]
    );
    // The system classes exist with their own values only.
    assert!(
        admit(
            "scheduling.k8s.io",
            "PriorityClass",
            priority_class("system-node-critical", 2_000_001_000, json!({}))
        )
        .is_ok()
    );
    assert!(
        admit(
            "scheduling.k8s.io",
            "PriorityClass",
            priority_class("system-node-critical", 7, json!({}))
        )
        .is_err()
    );
    let changed = update(
        "scheduling.k8s.io",
        "PriorityClass",
        priority_class("high", 5, json!({})),
        priority_class("high", 1000, json!({})),
    )
    .unwrap_err();
    assert_eq!(
        causes(&changed),
        ["value: Forbidden: may not be changed in an update."]
    );
}

#[test]
fn status_writes_admit_only_the_status_against_the_schema() {
    let rt = by_kind("", "Pod").unwrap();
    let admitted = ops(rt)
        .admit_status(
            rt,
            Some(json!({"phase": "Running", "podIP": "10.0.0.2", "bogus": 1})),
        )
        .unwrap();
    let status = admitted.status.unwrap();
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["podIP"], "10.0.0.2");
    assert!(status.get("bogus").is_none());
    assert_eq!(admitted.unknown_fields, ["status.bogus"]);
    let wrong = ops(rt)
        .admit_status(rt, Some(json!({"phase": 7})))
        .unwrap_err();
    assert_eq!(wrong.code, 400);
    assert!(wrong.message.contains("status.phase"), "{}", wrong.message);
    let deployments = by_kind("apps", "Deployment").unwrap();
    // A status written away is Go's empty status, which kube writes as `{}`.
    let cleared = ops(deployments).admit_status(deployments, None).unwrap();
    assert_eq!(cleared.status, Some(json!({})));
}

/// What kube writes for fields a Go struct always has (and Go's `null` for unset times),
/// whatever the client sent.
#[test]
fn empty_statuses_and_structs_are_written_as_kube_writes_them() {
    let svc = admit(
        "",
        "Service",
        json!({"metadata": {"name": "s", "namespace": "default"},
               "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    assert_eq!(svc["status"], json!({"loadBalancer": {}}));
    let node = admit("", "Node", json!({"metadata": {"name": "n"}})).unwrap();
    assert_eq!(node["spec"], json!({}));
    assert_eq!(
        node["status"]["daemonEndpoints"],
        json!({"kubeletEndpoint": {"Port": 0}})
    );
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "");
    assert_eq!(node["status"]["nodeInfo"]["machineID"], "");
    let labels = json!({"app": "web"});
    let d = admit(
        "apps",
        "Deployment",
        deployment(
            labels.clone(),
            labels.clone(),
            json!([{"name": "c", "image": "i"}]),
        ),
    )
    .unwrap();
    assert_eq!(d["status"], json!({}));
    assert_eq!(
        d["spec"]["template"]["metadata"],
        json!({"labels": labels, "creationTimestamp": null})
    );
    let mut rs = deployment(
        labels.clone(),
        labels.clone(),
        json!([{"name": "c", "image": "i"}]),
    );
    rs["apiVersion"] = json!("apps/v1");
    rs["kind"] = json!("ReplicaSet");
    assert_eq!(
        admit("apps", "ReplicaSet", rs.clone()).unwrap()["status"],
        json!({"replicas": 0})
    );
    rs["kind"] = json!("StatefulSet");
    assert_eq!(
        admit("apps", "StatefulSet", rs.clone()).unwrap()["status"],
        json!({"replicas": 0, "availableReplicas": 0})
    );
    rs["kind"] = json!("DaemonSet");
    assert_eq!(
        admit("apps", "DaemonSet", rs).unwrap()["status"],
        json!({"currentNumberScheduled": 0, "numberMisscheduled": 0,
               "desiredNumberScheduled": 0, "numberReady": 0})
    );
    let event = admit(
        "",
        "Event",
        json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {}}),
    )
    .unwrap();
    for null in ["firstTimestamp", "lastTimestamp", "eventTime"] {
        assert_eq!(event[null], Value::Null, "{null}");
        assert!(event.get(null).is_some(), "{null}");
    }
    assert_eq!(event["source"], json!({}));
    assert_eq!(event["reportingComponent"], "");
}

#[test]
fn local_api_services_are_available_and_name_no_service() {
    let svc = admit(
        "apiregistration.k8s.io",
        "APIService",
        json!({"metadata": {"name": "v1.apps"},
               "spec": {"group": "apps", "version": "v1", "groupPriorityMinimum": 17800,
                        "versionPriority": 15}}),
    )
    .unwrap();
    assert!(svc["spec"].get("service").is_some_and(Value::is_null));
    let available = &svc["status"]["conditions"][0];
    assert_eq!(available["type"], "Available");
    assert_eq!(available["status"], "True");
    assert_eq!(available["reason"], "Local");
    let misnamed = admit(
        "apiregistration.k8s.io",
        "APIService",
        json!({"metadata": {"name": "v2.apps"},
               "spec": {"group": "apps", "version": "v1", "groupPriorityMinimum": 1,
                        "versionPriority": 1}}),
    )
    .unwrap_err();
    assert_eq!(misnamed.code, 422);
}

#[test]
fn type_errors_read_as_kube_unstructured_converter_writes_them() {
    let pod = by_kind("", "Pod").unwrap();
    let labels = json!({"metadata": {"name": "p", "labels": "invalid"}});
    assert_eq!(
        ops(pod).type_error(&labels).as_deref(),
        Some("cannot restore map from string")
    );
    let containers = json!({"metadata": {"name": "p"}, "spec": {"containers": 5}});
    assert_eq!(
        ops(pod).type_error(&containers).as_deref(),
        Some("cannot restore slice from int64")
    );
    let meta = json!({"metadata": [1]});
    assert_eq!(
        ops(pod).type_error(&meta).as_deref(),
        Some("cannot restore struct from: slice")
    );
    let fine = json!({"metadata": {"name": "p"}, "spec": {"containers": []}});
    assert_eq!(ops(pod).type_error(&fine), None);
}
