//! Pods and pod templates: the defaults and checks every workload shares.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, Pod, PodSpec, PodStatus, PodTemplateSpec, Probe, ResourceRequirements, Toleration,
    Volume,
};
use serde_json::{Value, json};

use super::Object;
use crate::error::Cause;
use crate::quantity;
use crate::validation::{Errors, dns1123_label_error, port_name_error};

/// The image pull policy Kubernetes defaults to: `Always` for `:latest` or untagged
/// images, else `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_probe(p: &mut Option<Probe>) {
    if let Some(p) = p {
        p.timeout_seconds.get_or_insert(1);
        p.period_seconds.get_or_insert(10);
        p.success_threshold.get_or_insert(1);
        p.failure_threshold.get_or_insert(3);
        if let Some(h) = &mut p.http_get {
            h.scheme.get_or_insert_with(|| "HTTP".into());
        }
    }
}

fn default_container(c: &mut Container) {
    c.termination_message_path
        .get_or_insert_with(|| "/dev/termination-log".into());
    c.termination_message_policy
        .get_or_insert_with(|| "File".into());
    if c.image_pull_policy.is_none() {
        let policy = default_pull_policy(c.image.as_deref().unwrap_or_default());
        c.image_pull_policy = Some(policy.into());
    }
    c.resources
        .get_or_insert_with(ResourceRequirements::default);
    for port in c.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".into());
    }
    for env in c.env.iter_mut().flatten() {
        if let Some(f) = env.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            f.api_version.get_or_insert_with(|| "v1".into());
        }
    }
    default_probe(&mut c.liveness_probe);
    default_probe(&mut c.readiness_probe);
    default_probe(&mut c.startup_probe);
}

fn default_volume(v: &mut Volume) {
    if let Some(s) = &mut v.secret {
        s.default_mode.get_or_insert(0o644);
    }
    if let Some(c) = &mut v.config_map {
        c.default_mode.get_or_insert(0o644);
    }
}

/// Defaults of a pod spec, in pods and in templates alike.
pub fn default_pod_spec(spec: &mut PodSpec) {
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
    spec.security_context.get_or_insert_with(Default::default);
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".into());
    spec.enable_service_links.get_or_insert(true);
    for c in spec.containers.iter_mut() {
        default_container(c);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        default_container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
}

pub fn default_template(t: &mut PodTemplateSpec) {
    if let Some(spec) = &mut t.spec {
        default_pod_spec(spec);
    }
}

/// What admission adds to pods beyond plain defaults: the service account, priority, and the
/// tolerations for not-ready and unreachable nodes (5 minutes), as kube-apiserver's
/// ServiceAccount, Priority and DefaultTolerationSeconds admission plugins do.
fn admit_pod_spec(spec: &mut PodSpec) {
    if spec
        .service_account_name
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        spec.service_account_name = Some("default".into());
    }
    spec.service_account = spec.service_account_name.clone();
    spec.priority.get_or_insert(0);
    spec.preemption_policy
        .get_or_insert_with(|| "PreemptLowerPriority".into());
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let present = tolerations.iter().any(|t| {
            t.key.as_deref() == Some(key) && t.effect.as_deref().is_none_or(|e| e == "NoExecute")
        });
        if !present {
            tolerations.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(300),
                value: None,
            });
        }
    }
    // Limits without requests: the request is the limit.
    for c in spec.containers.iter_mut() {
        if let Some(r) = &mut c.resources
            && let Some(limits) = &r.limits
        {
            let requests = r.requests.get_or_insert_with(BTreeMap::new);
            for (k, v) in limits {
                requests.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// Guaranteed, Burstable or BestEffort, from the containers' requests and limits.
fn qos_class(spec: &PodSpec) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let r = c.resources.as_ref();
        let requests = r.and_then(|r| r.requests.as_ref());
        let limits = r.and_then(|r| r.limits.as_ref());
        for res in ["cpu", "memory"] {
            let req = requests.and_then(|m| m.get(res));
            let lim = limits.and_then(|m| m.get(res));
            any |= req.is_some() || lim.is_some();
            match (req, lim) {
                (Some(q), Some(l)) if quantity::parse(&q.0) == quantity::parse(&l.0) => {}
                _ => guaranteed = false,
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

impl Object for Pod {
    fn set_defaults(&mut self) {
        if let Some(spec) = &mut self.spec {
            default_pod_spec(spec);
            admit_pod_spec(spec);
            let status = self.status.get_or_insert_with(PodStatus::default);
            status.phase.get_or_insert_with(|| "Pending".into());
            status
                .qos_class
                .get_or_insert_with(|| qos_class(spec).into());
        }
    }

    fn validate(&self, errs: &mut Errors) {
        match &self.spec {
            Some(spec) => validate_pod_spec(spec, "spec", errs),
            None => errs.required("spec"),
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let (Some(new), Some(old)) = (&self.spec, &old.spec) else {
            return;
        };
        // Only images, activeDeadlineSeconds, tolerations and the grace period may change.
        let mut allowed = old.clone();
        for (a, n) in allowed.containers.iter_mut().zip(&new.containers) {
            a.image = n.image.clone();
        }
        for (a, n) in allowed
            .init_containers
            .iter_mut()
            .flatten()
            .zip(new.init_containers.iter().flatten())
        {
            a.image = n.image.clone();
        }
        allowed.active_deadline_seconds = new.active_deadline_seconds;
        allowed.tolerations = new.tolerations.clone();
        allowed.termination_grace_period_seconds = new.termination_grace_period_seconds;
        if &allowed != new {
            errs.push(Cause::forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,\
                 `spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,\
                 `spec.tolerations` (only additions to existing tolerations),\
                 `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was \
                 previously negative)",
            ));
        }
    }
}

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];

fn one_of(errs: &mut Errors, field: &str, value: Option<&String>, allowed: &[&str]) {
    if let Some(v) = value
        && !allowed.contains(&v.as_str())
    {
        errs.push(Cause::not_supported(field, &json!(v), allowed));
    }
}

/// Checks a pod spec found at `path` (`spec`, `spec.template.spec`, ...).
pub fn validate_pod_spec(spec: &PodSpec, path: &str, errs: &mut Errors) {
    let mut volumes = BTreeSet::new();
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let at = format!("{path}.volumes[{i}]");
        if v.name.is_empty() {
            errs.required(&format!("{at}.name"));
        } else if let Some(e) = dns1123_label_error(&v.name) {
            errs.invalid(&format!("{at}.name"), json!(v.name), e);
        } else if !volumes.insert(v.name.as_str()) {
            errs.push(Cause::duplicate(format!("{at}.name"), &json!(v.name)));
        }
        let sources = serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.len().saturating_sub(1)))
            .unwrap_or(0);
        if sources == 0 {
            errs.push(Cause::required_because(at, "must specify a volume type"));
        } else if sources > 1 {
            errs.push(Cause::forbidden(
                at,
                "may not specify more than 1 volume type",
            ));
        }
    }
    if spec.containers.is_empty() {
        errs.required(&format!("{path}.containers"));
    }
    let mut names = BTreeSet::new();
    let mut port_names = BTreeSet::new();
    let lists = [
        (
            "initContainers",
            spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("containers", spec.containers.as_slice()),
    ];
    for (list, containers) in lists {
        for (i, c) in containers.iter().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            validate_container(c, &at, &volumes, &mut names, &mut port_names, errs);
        }
    }
    one_of(
        errs,
        &format!("{path}.restartPolicy"),
        spec.restart_policy.as_ref(),
        RESTART_POLICIES,
    );
    one_of(
        errs,
        &format!("{path}.dnsPolicy"),
        spec.dns_policy.as_ref(),
        DNS_POLICIES,
    );
    if let Some(g) = spec.termination_grace_period_seconds
        && g < 0
    {
        errs.invalid(
            &format!("{path}.terminationGracePeriodSeconds"),
            json!(g),
            "must be greater than or equal to 0",
        );
    }
}

fn validate_container<'a>(
    c: &'a Container,
    at: &str,
    volumes: &BTreeSet<&str>,
    names: &mut BTreeSet<&'a str>,
    port_names: &mut BTreeSet<&'a str>,
    errs: &mut Errors,
) {
    if c.name.is_empty() {
        errs.required(&format!("{at}.name"));
    } else if let Some(e) = dns1123_label_error(&c.name) {
        errs.invalid(&format!("{at}.name"), json!(c.name), e);
    } else if !names.insert(c.name.as_str()) {
        errs.push(Cause::duplicate(format!("{at}.name"), &json!(c.name)));
    }
    if c.image.as_deref().unwrap_or_default().trim().is_empty() {
        errs.required(&format!("{at}.image"));
    }
    one_of(
        errs,
        &format!("{at}.imagePullPolicy"),
        c.image_pull_policy.as_ref(),
        PULL_POLICIES,
    );
    for (j, p) in c.ports.iter().flatten().enumerate() {
        let pat = format!("{at}.ports[{j}]");
        errs.port(&format!("{pat}.containerPort"), p.container_port);
        if let Some(h) = p.host_port
            && h != 0
        {
            errs.port(&format!("{pat}.hostPort"), h);
        }
        one_of(
            errs,
            &format!("{pat}.protocol"),
            p.protocol.as_ref(),
            PROTOCOLS,
        );
        if let Some(name) = &p.name {
            if let Some(e) = port_name_error(name) {
                errs.invalid(&format!("{pat}.name"), json!(name), e);
            } else if !port_names.insert(name.as_str()) {
                errs.push(Cause::duplicate(format!("{pat}.name"), &json!(name)));
            }
        }
    }
    let mut mounts = BTreeSet::new();
    for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
        let mat = format!("{at}.volumeMounts[{j}]");
        if m.name.is_empty() {
            errs.required(&format!("{mat}.name"));
        } else if !volumes.contains(m.name.as_str()) {
            errs.push(Cause {
                reason: "FieldValueNotFound",
                field: format!("{mat}.name"),
                message: format!("Not found: {:?}", m.name),
            });
        }
        if m.mount_path.is_empty() {
            errs.required(&format!("{mat}.mountPath"));
        } else if !mounts.insert(m.mount_path.as_str()) {
            errs.invalid(
                &format!("{mat}.mountPath"),
                json!(m.mount_path),
                "must be unique",
            );
        }
    }
    for (j, e) in c.env.iter().flatten().enumerate() {
        if e.name.is_empty() {
            errs.required(&format!("{at}.env[{j}].name"));
        }
    }
    validate_resources(c.resources.as_ref(), &format!("{at}.resources"), errs);
}

fn validate_resources(r: Option<&ResourceRequirements>, at: &str, errs: &mut Errors) {
    let Some(r) = r else { return };
    let mut parsed = BTreeMap::new();
    for (which, map) in [("requests", &r.requests), ("limits", &r.limits)] {
        for (name, q) in map.iter().flatten() {
            match quantity::parse(&q.0) {
                Ok(v) if v.0 < 0 => errs.invalid(
                    &format!("{at}.{which}[{name}]"),
                    json!(q.0),
                    "must be greater than or equal to 0",
                ),
                Ok(v) => {
                    parsed.insert((which, name.as_str()), v);
                }
                Err(e) => errs.invalid(&format!("{at}.{which}[{name}]"), json!(q.0), e),
            }
        }
    }
    for ((which, name), req) in &parsed {
        if *which != "requests" {
            continue;
        }
        if let Some(lim) = parsed.get(&("limits", name))
            && req > lim
        {
            let q = r
                .requests
                .as_ref()
                .and_then(|m| m.get(*name))
                .map(|q| q.0.clone());
            let l = r
                .limits
                .as_ref()
                .and_then(|m| m.get(*name))
                .map(|q| q.0.clone());
            errs.invalid(
                &format!("{at}.requests"),
                json!(q.unwrap_or_default()),
                format!(
                    "must be less than or equal to {name} limit of {}",
                    l.unwrap_or_default()
                ),
            );
        }
    }
}

/// Checks a workload's template: labels present, matched by the selector, a valid pod spec
/// with an allowed restart policy.
pub fn validate_template(
    template: &PodTemplateSpec,
    path: &str,
    selector: Option<&crate::selector::Selector>,
    restart_policies: &[&str],
    errs: &mut Errors,
) {
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    errs.labels(&format!("{path}.metadata.labels"), Some(&labels));
    if let Some(sel) = selector
        && !sel.matches(&labels)
    {
        errs.invalid(
            &format!("{path}.metadata.labels"),
            Value::String(
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            "`selector` does not match template `labels`",
        );
    }
    match &template.spec {
        Some(spec) => {
            validate_pod_spec(spec, &format!("{path}.spec"), errs);
            one_of(
                errs,
                &format!("{path}.spec.restartPolicy"),
                spec.restart_policy.as_ref(),
                restart_policies,
            );
        }
        None => errs.required(&format!("{path}.spec")),
    }
}
