//! Kubernetes objects (k8s-openapi types) to the scheduler's model.
//!
//! Semantics follow kube-scheduler: effective requests count init containers and sidecars the
//! way the kubelet admits them, `matchLabelKeys` are merged into selectors with the incoming
//! pod's label values, an empty `namespaceSelector` means every namespace, and a node's
//! capacity is `status.allocatable` (falling back to `status.capacity`).

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use skiff_api::quantity;

use crate::model::*;

/// The scheduler name pods get by default; it selects the bin-packing profile.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";
/// The scheduler name that selects the spreading (least-allocated) profile.
pub const SPREAD_SCHEDULER: &str = "skiff-spread-scheduler";

/// The profile a pod's `spec.schedulerName` asks for; `None` when the pod belongs to another
/// scheduler (skiff leaves it alone, as kube-scheduler does).
pub fn profile_for(scheduler_name: Option<&str>) -> Option<Profile> {
    match scheduler_name.unwrap_or(DEFAULT_SCHEDULER) {
        "" | DEFAULT_SCHEDULER => Some(Profile::BinPack),
        SPREAD_SCHEDULER => Some(Profile::Spread),
        _ => None,
    }
}

/// A quantity in the scheduler's base units: millicores for CPU, whole units (bytes, pods,
/// devices) for everything else, rounded up. Malformed or negative amounts count as zero:
/// the API server rejects them before they get here.
pub fn amount(resource: &str, q: &Quantity) -> u64 {
    let Ok(milli) = quantity::parse(&q.0) else {
        return 0;
    };
    let v = if resource == CPU {
        milli.0
    } else {
        milli.ceil_units()
    };
    v.clamp(0, u64::MAX as i128) as u64
}

fn add_amounts(into: &mut Resources, from: &Resources) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_insert(0);
        *e = e.saturating_add(*v);
    }
}

fn max_amounts(into: &mut Resources, from: &Resources) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_insert(0);
        *e = (*e).max(*v);
    }
}

/// A container's requests; a resource with a limit but no request requests its limit (the
/// API server's defaulting, applied again in case the object skipped it).
fn container_requests(c: &core::Container) -> Resources {
    let mut out = Resources::new();
    let Some(res) = &c.resources else {
        return out;
    };
    if let Some(limits) = &res.limits {
        for (k, q) in limits {
            out.insert(k.clone(), amount(k, q));
        }
    }
    if let Some(requests) = &res.requests {
        for (k, q) in requests {
            out.insert(k.clone(), amount(k, q));
        }
    }
    out
}

/// Effective requests of a pod, as kube-scheduler computes them: the sum of the regular
/// containers and sidecars (restartable init containers), or the largest init container
/// plus the sidecars started before it if that is more, plus the pod overhead.
pub fn effective_requests(spec: &core::PodSpec) -> Resources {
    let mut reqs = Resources::new();
    for c in &spec.containers {
        add_amounts(&mut reqs, &container_requests(c));
    }
    let mut sidecars = Resources::new();
    let mut init_peak = Resources::new();
    for c in spec.init_containers.iter().flatten() {
        let own = container_requests(c);
        let during = if c.restart_policy.as_deref() == Some("Always") {
            add_amounts(&mut reqs, &own);
            add_amounts(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut r = own;
            add_amounts(&mut r, &sidecars);
            r
        };
        max_amounts(&mut init_peak, &during);
    }
    max_amounts(&mut reqs, &init_peak);
    if let Some(overhead) = &spec.overhead {
        let o: Resources = overhead
            .iter()
            .map(|(k, q)| (k.clone(), amount(k, q)))
            .collect();
        add_amounts(&mut reqs, &o);
    }
    reqs.retain(|_, v| *v > 0);
    reqs
}

/// A Node object as the scheduler sees it.
pub fn node(n: &core::Node) -> Node {
    let status = n.status.as_ref();
    let quantities = status
        .and_then(|s| s.allocatable.as_ref())
        .or_else(|| status.and_then(|s| s.capacity.as_ref()));
    let allocatable = quantities
        .map(|m| m.iter().map(|(k, q)| (k.clone(), amount(k, q))).collect())
        .unwrap_or_default();
    let spec = n.spec.as_ref();
    Node {
        name: n.metadata.name.clone().unwrap_or_default(),
        labels: n.metadata.labels.clone().unwrap_or_default(),
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .map(|ts| ts.iter().filter_map(taint).collect())
            .unwrap_or_default(),
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        allocatable,
    }
}

fn taint_effect(s: &str) -> Option<TaintEffect> {
    match s {
        "NoSchedule" => Some(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
        "NoExecute" => Some(TaintEffect::NoExecute),
        _ => None,
    }
}

fn taint(t: &core::Taint) -> Option<Taint> {
    Some(Taint {
        key: t.key.clone(),
        value: t.value.clone().unwrap_or_default(),
        effect: taint_effect(&t.effect)?,
    })
}

fn toleration(t: &core::Toleration) -> Toleration {
    Toleration {
        key: t.key.clone().unwrap_or_default(),
        operator: match t.operator.as_deref() {
            Some("Exists") => TolerationOperator::Exists,
            _ => TolerationOperator::Equal,
        },
        value: t.value.clone().unwrap_or_default(),
        effect: t.effect.as_deref().and_then(taint_effect),
    }
}

fn node_selector_requirement(r: &core::NodeSelectorRequirement) -> Option<NodeSelectorRequirement> {
    let operator = match r.operator.as_str() {
        "In" => NodeSelectorOperator::In,
        "NotIn" => NodeSelectorOperator::NotIn,
        "Exists" => NodeSelectorOperator::Exists,
        "DoesNotExist" => NodeSelectorOperator::DoesNotExist,
        "Gt" => NodeSelectorOperator::Gt,
        "Lt" => NodeSelectorOperator::Lt,
        _ => return None,
    };
    Some(NodeSelectorRequirement {
        key: r.key.clone(),
        operator,
        values: r.values.clone().unwrap_or_default(),
    })
}

fn node_selector_term(t: &core::NodeSelectorTerm) -> NodeSelectorTerm {
    // An unknown operator is dropped by validation upstream; here it would make the term
    // match nothing rather than everything, so it is kept as an impossible requirement.
    let convert = |rs: &Option<Vec<core::NodeSelectorRequirement>>| {
        rs.iter()
            .flatten()
            .map(|r| {
                node_selector_requirement(r).unwrap_or(NodeSelectorRequirement {
                    key: r.key.clone(),
                    operator: NodeSelectorOperator::In,
                    values: Vec::new(),
                })
            })
            .collect()
    };
    NodeSelectorTerm {
        match_expressions: convert(&t.match_expressions),
        match_fields: convert(&t.match_fields),
    }
}

fn node_affinity(a: &core::NodeAffinity) -> NodeAffinity {
    NodeAffinity {
        required: a
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .map(|s| {
                s.node_selector_terms
                    .iter()
                    .map(node_selector_term)
                    .collect()
            }),
        preferred: a
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|p| PreferredSchedulingTerm {
                weight: p.weight,
                preference: node_selector_term(&p.preference),
            })
            .collect(),
    }
}

/// A label selector in canonical form (requirement values sorted, requirements sorted), so
/// equal selectors compare and hash equal.
pub fn label_selector(s: &meta::LabelSelector) -> LabelSelector {
    let mut match_expressions: Vec<SelectorRequirement> = s
        .match_expressions
        .iter()
        .flatten()
        .map(|r| {
            let mut values = r.values.clone().unwrap_or_default();
            values.sort();
            values.dedup();
            SelectorRequirement {
                key: r.key.clone(),
                operator: match r.operator.as_str() {
                    "In" => SelectorOperator::In,
                    "NotIn" => SelectorOperator::NotIn,
                    "Exists" => SelectorOperator::Exists,
                    "DoesNotExist" => SelectorOperator::DoesNotExist,
                    // Rejected by validation; an impossible requirement if it gets here.
                    _ => {
                        values.clear();
                        SelectorOperator::In
                    }
                },
                values,
            }
        })
        .collect();
    match_expressions.sort();
    LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions,
    }
}

/// Adds `key In (value of key in labels)` for each match key and `key NotIn (...)` for each
/// mismatch key the pod carries (keys the pod lacks are ignored, as in Kubernetes).
fn merge_label_keys(
    selector: &mut LabelSelector,
    labels: &Labels,
    match_keys: Option<&Vec<String>>,
    mismatch_keys: Option<&Vec<String>>,
) {
    for (keys, operator) in [
        (match_keys, SelectorOperator::In),
        (mismatch_keys, SelectorOperator::NotIn),
    ] {
        for key in keys.into_iter().flatten() {
            if let Some(v) = labels.get(key) {
                selector.match_expressions.push(SelectorRequirement {
                    key: key.clone(),
                    operator,
                    values: vec![v.clone()],
                });
            }
        }
    }
    selector.match_expressions.sort();
    selector.match_expressions.dedup();
}

fn affinity_term(t: &core::PodAffinityTerm, labels: &Labels) -> PodAffinityTerm {
    let selector = t.label_selector.as_ref().map(|s| {
        let mut sel = label_selector(s);
        merge_label_keys(
            &mut sel,
            labels,
            t.match_label_keys.as_ref(),
            t.mismatch_label_keys.as_ref(),
        );
        sel
    });
    let names = t.namespaces.clone().unwrap_or_default();
    let namespaces = match &t.namespace_selector {
        Some(s)
            if s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && s.match_expressions.as_ref().is_none_or(|e| e.is_empty()) =>
        {
            Some(Namespaces::All)
        }
        Some(s) => Some(Namespaces::Some {
            names: sorted(names),
            selector: Some(label_selector(s)),
        }),
        None if names.is_empty() => None,
        None => Some(Namespaces::Some {
            names: sorted(names),
            selector: None,
        }),
    };
    PodAffinityTerm {
        selector,
        namespaces,
        topology_key: t.topology_key.clone(),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

fn pod_affinity(
    required: Option<&Vec<core::PodAffinityTerm>>,
    preferred: Option<&Vec<core::WeightedPodAffinityTerm>>,
    labels: &Labels,
) -> PodAffinity {
    PodAffinity {
        required: required
            .into_iter()
            .flatten()
            .map(|t| affinity_term(t, labels))
            .collect(),
        preferred: preferred
            .into_iter()
            .flatten()
            .map(|w| WeightedPodAffinityTerm {
                weight: w.weight,
                term: affinity_term(&w.pod_affinity_term, labels),
            })
            .collect(),
    }
}

fn inclusion(s: Option<&str>, default: InclusionPolicy) -> InclusionPolicy {
    match s {
        Some("Honor") => InclusionPolicy::Honor,
        Some("Ignore") => InclusionPolicy::Ignore,
        _ => default,
    }
}

fn spread_constraint(c: &core::TopologySpreadConstraint, labels: &Labels) -> SpreadConstraint {
    let when = match c.when_unsatisfiable.as_str() {
        "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
        _ => WhenUnsatisfiable::DoNotSchedule,
    };
    let selector = c.label_selector.as_ref().map(|s| {
        let mut sel = label_selector(s);
        merge_label_keys(&mut sel, labels, c.match_label_keys.as_ref(), None);
        sel
    });
    SpreadConstraint {
        max_skew: c.max_skew.max(1) as u32,
        topology_key: c.topology_key.clone(),
        when_unsatisfiable: when,
        selector,
        min_domains: match when {
            WhenUnsatisfiable::DoNotSchedule => c.min_domains.map(|m| m.max(1) as u32),
            WhenUnsatisfiable::ScheduleAnyway => None,
        },
        node_affinity_policy: inclusion(c.node_affinity_policy.as_deref(), InclusionPolicy::Honor),
        node_taints_policy: inclusion(c.node_taints_policy.as_deref(), InclusionPolicy::Ignore),
    }
}

/// The scheduling-relevant spec of a pod; `None` when another scheduler owns it.
pub fn pod_spec(spec: &core::PodSpec, labels: &Labels) -> Option<PodSpec> {
    let profile = profile_for(spec.scheduler_name.as_deref())?;
    let affinity = spec.affinity.as_ref();
    let anti = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
    let aff = affinity.and_then(|a| a.pod_affinity.as_ref());
    Some(PodSpec {
        requests: effective_requests(spec),
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        node_affinity: affinity
            .and_then(|a| a.node_affinity.as_ref())
            .map(node_affinity)
            .unwrap_or_default(),
        pod_affinity: pod_affinity(
            aff.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            aff.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            labels,
        ),
        pod_anti_affinity: pod_affinity(
            anti.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            anti.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            labels,
        ),
        tolerations: spec.tolerations.iter().flatten().map(toleration).collect(),
        spread: spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(|c| spread_constraint(c, labels))
            .collect(),
        preemption_policy: match spec.preemption_policy.as_deref() {
            Some("Never") => PreemptionPolicy::Never,
            _ => PreemptionPolicy::PreemptLowerPriority,
        },
        profile,
    })
}

/// Shares equal specs and label sets between pods, so the pods of one workload point at one
/// `Arc` and the scheduler prepares their decision once. Entries no pod uses any more are
/// dropped as the table grows.
#[derive(Debug, Default)]
pub struct Interner {
    specs: HashSet<Arc<PodSpec>>,
    labels: HashSet<Arc<Labels>>,
}

impl Interner {
    pub fn spec(&mut self, spec: PodSpec) -> Arc<PodSpec> {
        intern(&mut self.specs, spec)
    }

    pub fn labels(&mut self, labels: Labels) -> Arc<Labels> {
        intern(&mut self.labels, labels)
    }

    /// A Pod object as the scheduler sees it; `None` when another scheduler owns it.
    pub fn pod(&mut self, p: &core::Pod) -> Option<Pod> {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        let spec = p.spec.as_ref()?;
        let model = pod_spec(spec, &labels)?;
        Some(Pod {
            key: PodKey::new(
                p.metadata.namespace.as_deref().unwrap_or("default"),
                p.metadata.name.as_deref().unwrap_or_default(),
            ),
            labels: self.labels(labels),
            priority: spec.priority.unwrap_or(0),
            spec: self.spec(model),
        })
    }
}

fn intern<T: Eq + std::hash::Hash>(set: &mut HashSet<Arc<T>>, value: T) -> Arc<T> {
    if let Some(found) = set.get(&value) {
        return found.clone();
    }
    if set.len() >= 1024 && set.len() == set.capacity() {
        set.retain(|a| Arc::strong_count(a) > 1);
    }
    let a = Arc::new(value);
    set.insert(a.clone());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn container(reqs: &[(&str, &str)], restart: Option<&str>) -> core::Container {
        core::Container {
            name: "c".into(),
            restart_policy: restart.map(Into::into),
            resources: Some(core::ResourceRequirements {
                requests: Some(
                    reqs.iter()
                        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn effective_requests_count_init_containers_and_sidecars_like_kubernetes() {
        let spec = core::PodSpec {
            containers: vec![
                container(&[("cpu", "100m"), ("memory", "64Mi")], None),
                container(&[("cpu", "200m")], None),
            ],
            init_containers: Some(vec![
                // A sidecar: runs alongside everything after it.
                container(&[("cpu", "50m"), ("memory", "16Mi")], Some("Always")),
                // A big init container: 500m plus the sidecar's 50m while it runs.
                container(&[("cpu", "500m")], None),
            ]),
            overhead: Some([("cpu".to_owned(), Quantity("10m".into()))].into()),
            ..Default::default()
        };
        let r = effective_requests(&spec);
        assert_eq!(r["cpu"], 550 + 10);
        assert_eq!(r["memory"], 80 << 20);
    }

    #[test]
    fn limits_stand_in_for_missing_requests_and_quantities_round_up() {
        let c = core::Container {
            name: "c".into(),
            resources: Some(core::ResourceRequirements {
                limits: Some(
                    [
                        ("cpu".to_owned(), Quantity("1.5".into())),
                        ("memory".to_owned(), Quantity("1Gi".into())),
                    ]
                    .into(),
                ),
                requests: Some([("cpu".to_owned(), Quantity("0.1m".into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = container_requests(&c);
        assert_eq!(r["cpu"], 1, "0.1m rounds up to 1m");
        assert_eq!(r["memory"], 1 << 30);
    }

    #[test]
    fn namespace_selector_and_match_label_keys() {
        let labels: Labels = [("app".into(), "web".into()), ("rev".into(), "7".into())].into();
        let term = core::PodAffinityTerm {
            label_selector: Some(meta::LabelSelector {
                match_labels: Some([("app".into(), "web".into())].into()),
                ..Default::default()
            }),
            namespace_selector: Some(meta::LabelSelector::default()),
            match_label_keys: Some(vec!["rev".into(), "absent".into()]),
            topology_key: HOSTNAME_LABEL.into(),
            ..Default::default()
        };
        let t = affinity_term(&term, &labels);
        assert_eq!(t.namespaces, Some(Namespaces::All));
        let sel = t.selector.unwrap();
        assert_eq!(sel.match_expressions.len(), 1);
        assert_eq!(sel.match_expressions[0].key, "rev");
        assert_eq!(sel.match_expressions[0].values, vec!["7".to_owned()]);

        let own = core::PodAffinityTerm {
            topology_key: "zone".into(),
            ..Default::default()
        };
        let t = affinity_term(&own, &labels);
        assert_eq!(t.namespaces, None, "no namespaces: the pod's own");
        assert_eq!(t.selector, None, "no selector matches no pod");
    }

    #[test]
    fn scheduler_name_selects_the_profile_or_another_scheduler() {
        assert_eq!(profile_for(None), Some(Profile::BinPack));
        assert_eq!(profile_for(Some(SPREAD_SCHEDULER)), Some(Profile::Spread));
        assert_eq!(profile_for(Some("volcano")), None);
    }

    #[test]
    fn interner_shares_equal_specs() {
        let mut i = Interner::default();
        let a = i.spec(PodSpec::default());
        let b = i.spec(PodSpec::default());
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn node_uses_allocatable_and_keeps_taints() {
        let n = core::Node {
            metadata: meta::ObjectMeta {
                name: Some("n1".into()),
                ..Default::default()
            },
            spec: Some(core::NodeSpec {
                taints: Some(vec![core::Taint {
                    key: "dedicated".into(),
                    value: Some("gpu".into()),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                }]),
                unschedulable: Some(true),
                ..Default::default()
            }),
            status: Some(core::NodeStatus {
                capacity: Some([("cpu".to_owned(), Quantity("8".into()))].into()),
                allocatable: Some([("cpu".to_owned(), Quantity("7500m".into()))].into()),
                ..Default::default()
            }),
        };
        let m = node(&n);
        assert_eq!(m.allocatable["cpu"], 7500);
        assert!(m.unschedulable);
        assert_eq!(m.taints[0].value, "gpu");
    }
}
