//! Builders for nodes and pods in scheduler tests.
#![allow(dead_code)]

use std::sync::Arc;

use skiff_scheduler::*;

pub const GI: u64 = 1 << 30;
pub const MI: u64 = 1 << 20;

pub fn node(name: &str, zone: &str, cpu_millis: u64, memory: u64) -> Node {
    let mut allocatable = resources(cpu_millis, memory);
    allocatable.insert(PODS.into(), 110);
    Node {
        name: name.into(),
        labels: [
            (HOSTNAME_LABEL.to_owned(), name.to_owned()),
            ("topology.kubernetes.io/zone".to_owned(), zone.to_owned()),
        ]
        .into(),
        taints: vec![],
        unschedulable: false,
        allocatable,
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

pub fn selector(pairs: &[(&str, &str)]) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: labels(pairs),
        match_expressions: vec![],
    })
}

pub fn term(app: &str, topology_key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        selector: selector(&[("app", app)]),
        namespaces: None,
        topology_key: topology_key.into(),
    }
}

pub fn spread(app: &str, topology_key: &str, max_skew: u32) -> SpreadConstraint {
    SpreadConstraint {
        max_skew,
        topology_key: topology_key.into(),
        when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
        selector: selector(&[("app", app)]),
        min_domains: None,
        node_affinity_policy: InclusionPolicy::Honor,
        node_taints_policy: InclusionPolicy::Ignore,
    }
}

pub const ZONE: &str = "topology.kubernetes.io/zone";

/// Pods sharing one spec and label set, like a Deployment's.
#[derive(Clone, Debug)]
pub struct Template {
    pub spec: Arc<PodSpec>,
    pub labels: Arc<Labels>,
    pub priority: i32,
}

impl Template {
    pub fn new(cpu_millis: u64, memory: u64) -> Self {
        Template {
            spec: Arc::new(PodSpec {
                requests: resources(cpu_millis, memory),
                ..PodSpec::default()
            }),
            labels: Arc::default(),
            priority: 0,
        }
    }

    pub fn app(mut self, app: &str) -> Self {
        self.labels = Arc::new(labels(&[("app", app)]));
        self
    }

    pub fn priority(mut self, p: i32) -> Self {
        self.priority = p;
        self
    }

    pub fn with(mut self, f: impl FnOnce(&mut PodSpec)) -> Self {
        f(Arc::make_mut(&mut self.spec));
        self
    }

    pub fn pod(&self, name: &str) -> Pod {
        Pod {
            key: PodKey::new("default", name),
            labels: self.labels.clone(),
            priority: self.priority,
            spec: self.spec.clone(),
        }
    }

    pub fn pods(&self, prefix: &str, n: usize) -> Vec<Pod> {
        (0..n).map(|i| self.pod(&format!("{prefix}-{i}"))).collect()
    }
}

pub fn bound_node(d: &Decision) -> Option<&str> {
    match &d.outcome {
        Outcome::Bound { node } | Outcome::Preempting { node, .. } => Some(node),
        Outcome::Unschedulable { .. } => None,
    }
}

pub fn message(d: &Decision) -> String {
    match &d.outcome {
        Outcome::Unschedulable { error, .. } => error.to_string(),
        other => panic!("{} was not rejected: {other:?}", d.key),
    }
}

pub fn scheduler(nodes: &[Node], workers: usize) -> Scheduler {
    let mut s = Scheduler::new(Config {
        workers,
        candidates: 4,
    });
    for n in nodes {
        s.set_node(n.clone());
    }
    s
}

/// Runs the independent verifier on the scheduler's final placements.
pub fn verify(s: &Scheduler, nodes: &[Node], rejected: &[Pod], removals: bool) -> Vec<String> {
    let placed: Vec<(&Pod, &str)> = s.placements().collect();
    let ns = Default::default();
    verify::check(&verify::Schedule {
        nodes,
        placed,
        rejected: rejected.iter().collect(),
        removals,
        namespace_labels: &ns,
    })
}

pub fn rejected(decisions: Vec<Decision>) -> Vec<Pod> {
    decisions
        .into_iter()
        .filter_map(|d| match d.outcome {
            Outcome::Unschedulable { pod, .. } => Some(pod),
            _ => None,
        })
        .collect()
}
