//! What the scheduler sees of nodes and pods: plain data, independent of the API types.
//!
//! `convert.rs` builds these from Kubernetes objects. Pods of one workload share their
//! [`PodSpec`] and labels through `Arc`s, which is what lets the scheduler prepare a decision
//! once per workload rather than once per pod.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Label (or annotation) key/value pairs.
pub type Labels = BTreeMap<String, String>;

/// The label every node carries with its own name; it is the one label that does not make
/// nodes different for the scheduler's purposes (see `classes.rs`).
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// Resource names with special meaning.
pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// Resource amounts in base units: CPU in millicores, memory and storage in bytes, everything
/// else (pods, extended resources) in whole units.
pub type Resources = BTreeMap<String, u64>;

/// Shorthand for the common case of a CPU and memory amount.
pub fn resources(cpu_millis: u64, memory_bytes: u64) -> Resources {
    let mut r = Resources::new();
    r.insert(CPU.to_owned(), cpu_millis);
    r.insert(MEMORY.to_owned(), memory_bytes);
    r
}

/// A node as the scheduler needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (`kubectl cordon`).
    pub unschedulable: bool,
    /// `status.allocatable`; a resource missing here has zero capacity. `pods` should be set.
    pub allocatable: Resources,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: TaintEffect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TolerationOperator {
    Equal,
    Exists,
}

/// A toleration; an empty `key` with `Exists` tolerates every taint, a `None` effect every effect.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Toleration {
    pub key: String,
    pub operator: TolerationOperator,
    pub value: String,
    pub effect: Option<TaintEffect>,
}

/// Operators of node selector requirements (node affinity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeSelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: NodeSelectorOperator,
    pub values: Vec<String>,
}

/// One node selector term: every expression (on labels) and field requirement (only
/// `metadata.name` exists) must hold. A term with no requirements matches no node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeSelectorTerm {
    pub match_expressions: Vec<NodeSelectorRequirement>,
    pub match_fields: Vec<NodeSelectorRequirement>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PreferredSchedulingTerm {
    pub weight: i32,
    pub preference: NodeSelectorTerm,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeAffinity {
    /// Terms are ORed; `None` means no requirement.
    pub required: Option<Vec<NodeSelectorTerm>>,
    pub preferred: Vec<PreferredSchedulingTerm>,
}

/// Operators of label selector requirements (pod affinity, spread).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    /// Sorted, so equal selectors compare equal.
    pub values: Vec<String>,
}

/// A label selector. The empty selector matches every pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSelector {
    pub match_labels: Labels,
    pub match_expressions: Vec<SelectorRequirement>,
}

/// The namespaces a pod affinity term applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespaces {
    /// Every namespace (an empty `namespaceSelector`).
    All,
    /// The listed namespaces (sorted), plus those whose labels match `selector` when present.
    Some {
        names: Vec<String>,
        selector: Option<LabelSelector>,
    },
}

/// A pod (anti-)affinity term: pods matching `selector` in `namespaces`, counted per value of
/// the node label `topology_key`. A `None` selector matches no pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodAffinityTerm {
    pub selector: Option<LabelSelector>,
    /// `None`: the namespace of the pod carrying the term.
    pub namespaces: Option<Namespaces>,
    pub topology_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WeightedPodAffinityTerm {
    pub weight: i32,
    pub term: PodAffinityTerm,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodAffinity {
    pub required: Vec<PodAffinityTerm>,
    pub preferred: Vec<WeightedPodAffinityTerm>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InclusionPolicy {
    Honor,
    Ignore,
}

/// A topology spread constraint (`matchLabelKeys` already merged into `selector`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpreadConstraint {
    pub max_skew: u32,
    pub topology_key: String,
    pub when_unsatisfiable: WhenUnsatisfiable,
    pub selector: Option<LabelSelector>,
    pub min_domains: Option<u32>,
    pub node_affinity_policy: InclusionPolicy,
    pub node_taints_policy: InclusionPolicy,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PreemptionPolicy {
    #[default]
    PreemptLowerPriority,
    Never,
}

/// How nodes are scored among those that fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Most-allocated, balanced across resources: fill nodes before opening new ones.
    #[default]
    BinPack,
    /// Least-allocated, balanced: spread load over all nodes.
    Spread,
}

/// The scheduling-relevant part of a pod's spec, shared by the pods of one workload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodSpec {
    /// Effective requests (init containers and overhead counted the Kubernetes way, see
    /// `convert::effective_requests`), without the implicit `pods: 1`.
    pub requests: Resources,
    pub node_selector: Labels,
    pub node_affinity: NodeAffinity,
    pub pod_affinity: PodAffinity,
    pub pod_anti_affinity: PodAffinity,
    pub tolerations: Vec<Toleration>,
    pub spread: Vec<SpreadConstraint>,
    pub preemption_policy: PreemptionPolicy,
    pub profile: Profile,
}

/// Identifies a pod: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodKey {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

impl PodKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        PodKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for PodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A pod to schedule, or one already running somewhere.
#[derive(Clone, Debug, PartialEq)]
pub struct Pod {
    pub key: PodKey,
    pub labels: Arc<Labels>,
    pub priority: i32,
    pub spec: Arc<PodSpec>,
}

impl Pod {
    /// A pod with the given requests and nothing else, handy in tests and benchmarks.
    pub fn simple(namespace: &str, name: &str, requests: Resources) -> Self {
        Pod {
            key: PodKey::new(namespace, name),
            labels: Arc::default(),
            priority: 0,
            spec: Arc::new(PodSpec {
                requests,
                ..PodSpec::default()
            }),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.key.namespace
    }
}
