//! Table layouts of pods and workloads.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, Column, NAME, RowFn, age, col, containers_images, int, list, name, num, or_none, s,
    selector_text, text, wide,
};

const CONTAINERS: Column = wide("Containers", "Names of each container in the template.");
const IMAGES: Column = wide(
    "Images",
    "Images referenced by each container in the template.",
);
const SELECTOR: Column = wide("Selector", "Label selector for pods.");

pub(super) fn layout(kind: &str) -> Option<(&'static [Column], RowFn)> {
    Some(match kind {
        "Pod" => (
            const {
                &[
                    NAME,
                    col(
                        "Ready",
                        "The aggregate readiness state of this pod for accepting traffic.",
                    ),
                    col(
                        "Status",
                        "The aggregate status of the containers in this pod.",
                    ),
                    int(
                        "Restarts",
                        "The number of times the containers in this pod have been restarted.",
                    ),
                    AGE,
                    wide("IP", "IP address allocated to the pod."),
                    wide("Node", "Name of the Node this pod is scheduled to."),
                    wide(
                        "Nominated Node",
                        "Name of the Node this pod is nominated to, for preemption.",
                    ),
                    wide("Readiness Gates", "Pod readiness gates."),
                ]
            },
            pod_row,
        ),
        "Deployment" => (
            const {
                &[
                    NAME,
                    col("Ready", "Number of the pod with ready state"),
                    int(
                        "Up-to-date",
                        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                    ),
                    int(
                        "Available",
                        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                    ),
                    AGE,
                    CONTAINERS,
                    IMAGES,
                    SELECTOR,
                ]
            },
            |o, now| {
                let (c, i) = containers_images(o, "/spec/template/spec");
                vec![
                    name(o),
                    s(format!(
                        "{}/{}",
                        num(o, "/status/readyReplicas"),
                        num(o, "/spec/replicas")
                    )),
                    json!(num(o, "/status/updatedReplicas")),
                    json!(num(o, "/status/availableReplicas")),
                    age(o, now),
                    c,
                    i,
                    selector_text(o, "/spec/selector"),
                ]
            },
        ),
        "ReplicaSet" => (
            const {
                &[
                    NAME,
                    int("Desired", "Number of desired pods."),
                    int("Current", "Number of actual pods."),
                    int("Ready", "Number of ready pods."),
                    AGE,
                    CONTAINERS,
                    IMAGES,
                    SELECTOR,
                ]
            },
            |o, now| {
                let (c, i) = containers_images(o, "/spec/template/spec");
                vec![
                    name(o),
                    json!(num(o, "/spec/replicas")),
                    json!(num(o, "/status/replicas")),
                    json!(num(o, "/status/readyReplicas")),
                    age(o, now),
                    c,
                    i,
                    selector_text(o, "/spec/selector"),
                ]
            },
        ),
        "DaemonSet" => (
            const {
                &[
                    NAME,
                    int(
                        "Desired",
                        "The desired number of nodes that should be running the daemon pod.",
                    ),
                    int(
                        "Current",
                        "The number of nodes that are running at least 1 daemon pod.",
                    ),
                    int(
                        "Ready",
                        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
                    ),
                    int(
                        "Up-to-date",
                        "The total number of nodes that are running updated daemon pod.",
                    ),
                    int(
                        "Available",
                        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
                    ),
                    col(
                        "Node Selector",
                        "NodeSelector is a selector which must be true for the pod to fit on a node.",
                    ),
                    AGE,
                    CONTAINERS,
                    IMAGES,
                    SELECTOR,
                ]
            },
            |o, now| {
                let (c, i) = containers_images(o, "/spec/template/spec");
                vec![
                    name(o),
                    json!(num(o, "/status/desiredNumberScheduled")),
                    json!(num(o, "/status/currentNumberScheduled")),
                    json!(num(o, "/status/numberReady")),
                    json!(num(o, "/status/updatedNumberScheduled")),
                    json!(num(o, "/status/numberAvailable")),
                    super::map_text(o, "/spec/template/spec/nodeSelector"),
                    age(o, now),
                    c,
                    i,
                    selector_text(o, "/spec/selector"),
                ]
            },
        ),
        "StatefulSet" => (
            const {
                &[
                    NAME,
                    col("Ready", "Number of the pod with ready state"),
                    AGE,
                    CONTAINERS,
                    IMAGES,
                ]
            },
            |o, now| {
                let (c, i) = containers_images(o, "/spec/template/spec");
                vec![
                    name(o),
                    s(format!(
                        "{}/{}",
                        num(o, "/status/readyReplicas"),
                        num(o, "/spec/replicas")
                    )),
                    age(o, now),
                    c,
                    i,
                ]
            },
        ),
        "Job" => (
            const {
                &[
                    NAME,
                    col("Status", "Status of the job."),
                    col("Completions", "The completion status of the job."),
                    col("Duration", "Time required to complete the job."),
                    AGE,
                    CONTAINERS,
                    IMAGES,
                    SELECTOR,
                ]
            },
            job_row,
        ),
        "CronJob" => (
            const {
                &[
                    NAME,
                    col("Schedule", "The schedule in Cron format."),
                    col("Timezone", "The time zone for the given schedule."),
                    col("Suspend", "Whether subsequent executions are suspended."),
                    int("Active", "Number of currently running jobs."),
                    col(
                        "Last Schedule",
                        "When the job was last successfully scheduled.",
                    ),
                    AGE,
                    CONTAINERS,
                    IMAGES,
                    SELECTOR,
                ]
            },
            |o, now| {
                let (c, i) = containers_images(o, "/spec/jobTemplate/spec/template/spec");
                let last =
                    text(o, "/status/lastScheduleTime").map(|t| crate::time::age(Some(&t), now));
                vec![
                    name(o),
                    s(text(o, "/spec/schedule").unwrap_or_default()),
                    or_none(text(o, "/spec/timeZone")),
                    s(text(o, "/spec/suspend")
                        .unwrap_or_else(|| "False".into())
                        .replace("false", "False")
                        .replace("true", "True")),
                    json!(list(o, "/status/active").len()),
                    or_none(last),
                    age(o, now),
                    c,
                    i,
                    selector_text(o, "/spec/jobTemplate/spec/selector"),
                ]
            },
        ),
        "HorizontalPodAutoscaler" => (
            const {
                &[
                    NAME,
                    col("Reference", "The reference to the autoscaled resource."),
                    col("Targets", "The current and target metric values."),
                    int("MinPods", "The lower limit for the number of pods."),
                    int("MaxPods", "The upper limit for the number of pods."),
                    int(
                        "Replicas",
                        "Current number of replicas of pods managed by this autoscaler.",
                    ),
                    AGE,
                ]
            },
            |o, now| {
                vec![
                    name(o),
                    s(format!(
                        "{}/{}",
                        text(o, "/spec/scaleTargetRef/kind").unwrap_or_default(),
                        text(o, "/spec/scaleTargetRef/name").unwrap_or_default()
                    )),
                    s(hpa_targets(o)),
                    json!(num(o, "/spec/minReplicas").max(1)),
                    json!(num(o, "/spec/maxReplicas")),
                    json!(num(o, "/status/currentReplicas")),
                    age(o, now),
                ]
            },
        ),
        "ControllerRevision" => (
            const {
                &[
                    NAME,
                    col("Controller", "Controller of the object."),
                    int("Revision", "Revision of the ControllerRevision."),
                    AGE,
                ]
            },
            |o, now| {
                let owner = crate::meta::controller_ref(o).map(|r| {
                    format!(
                        "{}/{}",
                        r.get("kind")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_lowercase(),
                        r.get("name").and_then(Value::as_str).unwrap_or_default()
                    )
                });
                vec![
                    name(o),
                    or_none(owner),
                    json!(num(o, "/revision")),
                    age(o, now),
                ]
            },
        ),
        _ => return None,
    })
}

fn hpa_targets(o: &Value) -> String {
    let specs = list(o, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let current = list(o, "/status/currentMetrics");
    let parts: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let target = m
                .pointer("/resource/target/averageUtilization")
                .map(|v| format!("{v}%"))
                .or_else(|| {
                    m.pointer("/resource/target/averageValue")
                        .map(|v| v.as_str().unwrap_or_default().to_owned())
                })
                .unwrap_or_else(|| "<unknown>".into());
            let now = current
                .get(i)
                .and_then(|c| c.pointer("/resource/current/averageUtilization"))
                .map(|v| format!("{v}%"))
                .unwrap_or_else(|| "<unknown>".into());
            let kind = m
                .pointer("/resource/name")
                .and_then(Value::as_str)
                .unwrap_or("metric");
            format!("{kind}: {now}/{target}")
        })
        .collect();
    parts.join(", ")
}

fn pod_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let total = list(o, "/spec/containers").len();
    let mut reason = text(o, "/status/reason")
        .or_else(|| text(o, "/status/phase"))
        .unwrap_or_else(|| "Pending".into());
    let mut restarts = 0;
    let mut ready = 0;
    let mut initializing = false;
    let inits = list(o, "/status/initContainerStatuses");
    let init_total = list(o, "/spec/initContainers").len();
    for (i, c) in inits.iter().enumerate() {
        restarts += c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        let term = c.pointer("/state/terminated");
        let waiting = c.pointer("/state/waiting/reason").and_then(Value::as_str);
        if let Some(t) = term {
            if t.get("exitCode").and_then(Value::as_i64) == Some(0) {
                continue;
            }
            reason = match t.get("reason").and_then(Value::as_str) {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => format!(
                    "Init:ExitCode:{}",
                    t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                ),
            };
        } else if let Some(w) = waiting.filter(|w| !w.is_empty() && *w != "PodInitializing") {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        restarts = 0;
        let mut running = false;
        for c in list(o, "/status/containerStatuses").iter().rev() {
            restarts += c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            let waiting = c.pointer("/state/waiting/reason").and_then(Value::as_str);
            let term = c.pointer("/state/terminated");
            if let Some(w) = waiting.filter(|w| !w.is_empty()) {
                reason = w.to_owned();
            } else if let Some(t) = term {
                reason = match t.get("reason").and_then(Value::as_str) {
                    Some(r) if !r.is_empty() => r.to_owned(),
                    _ => format!(
                        "ExitCode:{}",
                        t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                    ),
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && c.pointer("/state/running").is_some()
            {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = "Running".into();
        }
    }
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        reason = if text(o, "/status/reason").as_deref() == Some("NodeLost") {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let gates = list(o, "/spec/readinessGates");
    let gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let conditions = list(o, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = g.get("conditionType");
                conditions.iter().any(|c| {
                    c.get("type") == t && c.get("status").and_then(Value::as_str) == Some("True")
                })
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        name(o),
        s(format!("{ready}/{total}")),
        s(reason),
        json!(restarts),
        age(o, now),
        or_none(text(o, "/status/podIP")),
        or_none(text(o, "/spec/nodeName")),
        or_none(text(o, "/status/nominatedNodeName")),
        s(gates),
    ]
}

fn job_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let (c, i) = containers_images(o, "/spec/template/spec");
    let succeeded = num(o, "/status/succeeded");
    let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(n) => format!("{succeeded}/{n}"),
        None => format!("{succeeded}/1 of {}", num(o, "/spec/parallelism").max(1)),
    };
    let condition = |t: &str| {
        list(o, "/status/conditions").iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some(t)
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    };
    let status = if condition("Complete") {
        "Complete"
    } else if condition("Failed") {
        "Failed"
    } else if condition("FailureTarget") {
        "FailureTarget"
    } else if condition("Suspended") {
        "Suspended"
    } else if condition("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let start = text(o, "/status/startTime").and_then(|t| t.parse::<Timestamp>().ok());
    let end = text(o, "/status/completionTime").and_then(|t| t.parse::<Timestamp>().ok());
    let duration = match (start, end) {
        (Some(s), Some(e)) => crate::time::human_duration(e.as_second() - s.as_second()),
        (Some(s), None) => crate::time::human_duration(now.as_second() - s.as_second()),
        _ => String::new(),
    };
    vec![
        name(o),
        s(status),
        s(completions),
        s(duration),
        age(o, now),
        c,
        i,
        selector_text(o, "/spec/selector"),
    ]
}
