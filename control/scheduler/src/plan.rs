//! A plan: everything about a pod that does not change while a batch is placed, worked out
//! once per group of identical pods (same spec, namespace and labels).

use std::sync::Arc;

use crate::filter::{
    node_affinity_matches, optional_selector_matches, unschedulable_blocks, untolerated_taint,
};
use crate::model::{
    HOSTNAME_LABEL, InclusionPolicy, Labels, Namespaces, Node, NodeSelectorOperator,
    PodAffinityTerm, PodSpec, Profile, SpreadConstraint, WhenUnsatisfiable,
};
use crate::nodes::{ClassId, NodeId};
use crate::resources::Demand;
use crate::state::State;
use crate::sync::{AtomicU32, SC};
use crate::terms::{Level, TermId, TermKey};

#[derive(Debug)]
pub struct Plan {
    pub spec: Arc<PodSpec>,
    pub namespace: Arc<str>,
    pub labels: Arc<Labels>,
    /// The demand, or the name of a requested resource no node has.
    pub demand: Result<Demand, String>,
    /// Classes that pass the node-level filters (unschedulable, taints and, unless
    /// `per_node_affinity`, node selector and affinity).
    pub classes: Vec<ClassId>,
    /// The node affinity names nodes (hostname or `metadata.name`): check it on each node.
    pub per_node_affinity: bool,
    /// The only nodes the pod may run on, when its affinity lists them by name.
    pub pinned: Option<Vec<NodeId>>,
    /// Terms whose selector matches this pod (their `matchers` count it once placed).
    pub matched: Vec<TermId>,
    /// Own required anti-affinity terms, and whether the pod matches each itself.
    pub anti: Vec<(TermId, bool)>,
    /// Others' required anti-affinity terms this pod matches, and whether it carries each too.
    pub repelled_by: Vec<(TermId, bool)>,
    /// Own required affinity terms, and whether the pod matches each itself.
    pub affinity: Vec<(TermId, bool)>,
    /// Hard topology spread constraints.
    pub spread: Vec<SpreadCheck>,
    /// Soft constraints, for scoring.
    pub preferred_pods: Vec<(TermId, i64)>,
    pub soft_spread: Vec<TermId>,
    pub profile: Profile,
    /// Placed by one thread, after the parallel phase: required pod affinity needs to see the
    /// placements before it (the first pod of a group goes anywhere, the rest follow it).
    pub serial: bool,
    /// A node-level term to start the search from (where the last matching pod went).
    pub cursor: Option<TermId>,
}

#[derive(Debug)]
pub struct SpreadCheck {
    pub term: TermId,
    pub max_skew: u32,
    pub self_match: bool,
    pub min_domains: Option<u32>,
    /// Units (classes or nodes) whose pods count, per kube's inclusion policies.
    pub counted: Vec<bool>,
    /// A lower bound of the smallest committed count over the counted domains.
    pub min: AtomicU32,
}

impl Plan {
    pub fn demand(&self) -> Option<&Demand> {
        self.demand.as_ref().ok()
    }

    /// Recomputes the cached spread minima; needed after pods were removed, since the
    /// placement path relies on them never being above the true minimum.
    pub fn refresh_minima(&self, state: &State) {
        for check in &self.spread {
            check.min.store(exact_min(state, check), SC);
        }
    }
}

fn term_namespaces(term: &PodAffinityTerm, namespace: &str) -> Namespaces {
    term.namespaces.clone().unwrap_or_else(|| Namespaces::Some {
        names: vec![namespace.to_owned()],
        selector: None,
    })
}

/// Resolving a term against the namespace of the pod carrying it.
pub trait TermKeyOf {
    fn key_in(&self, namespace: &str) -> TermKey;
}

impl TermKeyOf for PodAffinityTerm {
    fn key_in(&self, namespace: &str) -> TermKey {
        term_key(self, namespace)
    }
}

/// The key of one pod (anti-)affinity term, resolved against the pod's namespace.
pub fn term_key(term: &PodAffinityTerm, namespace: &str) -> TermKey {
    TermKey {
        selector: term.selector.clone(),
        namespaces: term_namespaces(term, namespace),
        topology_key: term.topology_key.clone(),
        also: Vec::new(),
    }
}

/// The key of required affinity term `i` of `terms`: it counts pods matching all of them.
pub fn affinity_key(terms: &[PodAffinityTerm], i: usize, namespace: &str) -> TermKey {
    let mut key = term_key(&terms[i], namespace);
    key.also = terms
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, t)| (t.selector.clone(), term_namespaces(t, namespace)))
        .collect();
    key
}

pub fn spread_key(c: &SpreadConstraint, namespace: &str) -> TermKey {
    TermKey {
        selector: c.selector.clone(),
        namespaces: Namespaces::Some {
            names: vec![namespace.to_owned()],
            selector: None,
        },
        topology_key: c.topology_key.clone(),
        also: Vec::new(),
    }
}

/// Every term key of a spec, with whether it is a required anti-affinity term.
pub fn term_keys(spec: &PodSpec, namespace: &str) -> Vec<(TermKey, bool)> {
    let mut keys = Vec::new();
    for t in &spec.pod_anti_affinity.required {
        keys.push((term_key(t, namespace), true));
    }
    for i in 0..spec.pod_affinity.required.len() {
        keys.push((
            affinity_key(&spec.pod_affinity.required, i, namespace),
            false,
        ));
    }
    for w in spec
        .pod_affinity
        .preferred
        .iter()
        .chain(&spec.pod_anti_affinity.preferred)
    {
        keys.push((term_key(&w.term, namespace), false));
    }
    for c in &spec.spread {
        keys.push((spread_key(c, namespace), false));
    }
    keys
}

/// Node names a node affinity pins the pod to, when every way to satisfy it names nodes.
fn pinned_names(spec: &PodSpec) -> Option<Vec<String>> {
    if let Some(host) = spec.node_selector.get(HOSTNAME_LABEL) {
        return Some(vec![host.clone()]);
    }
    let terms = spec.node_affinity.required.as_ref()?;
    let mut names = Vec::new();
    for term in terms {
        let pin = term
            .match_fields
            .iter()
            .chain(&term.match_expressions)
            .find(|r| {
                r.operator == NodeSelectorOperator::In
                    && (r.key == "metadata.name" || r.key == HOSTNAME_LABEL)
            })?;
        names.extend(pin.values.iter().cloned());
    }
    Some(names)
}

fn mentions_node_identity(spec: &PodSpec) -> bool {
    spec.node_selector.contains_key(HOSTNAME_LABEL)
        || spec.node_affinity.required.iter().flatten().any(|t| {
            !t.match_fields.is_empty()
                || t.match_expressions.iter().any(|r| r.key == HOSTNAME_LABEL)
        })
}

/// A node standing for its class: the class labels without a hostname.
fn class_node(state: &State, class: ClassId) -> Node {
    let c = state.nodes.class(class);
    Node {
        name: String::new(),
        labels: c.labels.clone(),
        taints: c.taints.clone(),
        unschedulable: c.unschedulable,
        allocatable: Default::default(),
    }
}

/// Whether nodes of `class` pass the filters that depend only on the class.
pub fn class_passes(state: &State, spec: &PodSpec, class: ClassId, with_affinity: bool) -> bool {
    let node = class_node(state, class);
    !unschedulable_blocks(&node, &spec.tolerations)
        && untolerated_taint(&node.taints, &spec.tolerations).is_none()
        && (!with_affinity
            || node_affinity_matches(&spec.node_selector, &spec.node_affinity, "", &node.labels))
}

/// Whether a node passes the pod's node selector and required affinity.
pub fn node_affinity_ok(spec: &PodSpec, node: &Node) -> bool {
    node_affinity_matches(
        &spec.node_selector,
        &spec.node_affinity,
        &node.name,
        &node.labels,
    )
}

pub fn build(
    state: &State,
    spec: &Arc<PodSpec>,
    namespace: &Arc<str>,
    labels: &Arc<Labels>,
) -> Plan {
    let nodes = &state.nodes;
    let terms = &state.terms;
    let per_node_affinity = mentions_node_identity(spec);
    let classes: Vec<ClassId> = (0..nodes.classes.len() as ClassId)
        .filter(|&c| nodes.class(c).live > 0 && class_passes(state, spec, c, !per_node_affinity))
        .collect();
    let pinned = per_node_affinity
        .then(|| pinned_names(spec))
        .flatten()
        .map(|names| {
            let mut ids: Vec<NodeId> = names.iter().filter_map(|n| nodes.id(n)).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        });
    let ns_labels = terms.namespace_labels.get(&**namespace);
    let matched: Vec<TermId> = terms
        .terms
        .iter()
        .enumerate()
        .filter(|(_, t)| t.matches(namespace, labels, ns_labels))
        .map(|(i, _)| i as TermId)
        .collect();
    let id = |t: &PodAffinityTerm| {
        terms
            .find(&term_key(t, namespace))
            .expect("terms are registered before plans are built")
    };
    let is_matched = |t: TermId| matched.binary_search(&t).is_ok();
    let anti: Vec<(TermId, bool)> = spec
        .pod_anti_affinity
        .required
        .iter()
        .map(|t| {
            let t = id(t);
            (t, is_matched(t))
        })
        .collect();
    let repelled_by = matched
        .iter()
        .filter(|&&t| terms.get(t).repels)
        .map(|&t| (t, anti.iter().any(|(a, _)| *a == t)))
        .collect();
    let affinity: Vec<(TermId, bool)> = (0..spec.pod_affinity.required.len())
        .map(|i| {
            let key = affinity_key(&spec.pod_affinity.required, i, namespace);
            let t = terms.find(&key).expect("registered");
            (t, is_matched(t))
        })
        .collect();
    let mut preferred_pods: Vec<(TermId, i64)> = Vec::new();
    for w in &spec.pod_affinity.preferred {
        preferred_pods.push((id(&w.term), i64::from(w.weight)));
    }
    for w in &spec.pod_anti_affinity.preferred {
        preferred_pods.push((id(&w.term), -i64::from(w.weight)));
    }
    let hard: Vec<&SpreadConstraint> = spec
        .spread
        .iter()
        .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
        .collect();
    let spread: Vec<SpreadCheck> = hard
        .iter()
        .map(|c| spread_check(state, spec, c, &hard, namespace, labels))
        .collect();
    let soft_spread = spec
        .spread
        .iter()
        .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
        .map(|c| terms.find(&spread_key(c, namespace)).expect("registered"))
        .collect();
    let cursor = anti
        .iter()
        .filter(|(_, self_match)| *self_match)
        .map(|(t, _)| *t)
        .chain(spread.iter().filter(|s| s.self_match).map(|s| s.term))
        .find(|&t| terms.get(t).level == Level::Node);
    Plan {
        spec: spec.clone(),
        namespace: namespace.clone(),
        labels: labels.clone(),
        demand: nodes.resources.demand(&spec.requests),
        classes,
        per_node_affinity,
        pinned,
        matched,
        anti,
        repelled_by,
        serial: !affinity.is_empty(),
        affinity,
        spread,
        preferred_pods,
        soft_spread,
        profile: spec.profile,
        cursor,
    }
}

fn spread_check(
    state: &State,
    spec: &PodSpec,
    c: &SpreadConstraint,
    hard: &[&SpreadConstraint],
    namespace: &str,
    labels: &Labels,
) -> SpreadCheck {
    let nodes = &state.nodes;
    let term_id = state
        .terms
        .find(&spread_key(c, namespace))
        .expect("registered");
    let term = state.terms.get(term_id);
    // kube counts pods on nodes that have every hard constraint's key and pass the
    // inclusion policies of this constraint.
    let counts_node = |n: &Node| {
        hard.iter().all(|h| n.labels.contains_key(&h.topology_key))
            && (c.node_taints_policy == InclusionPolicy::Ignore
                || untolerated_taint(&n.taints, &spec.tolerations).is_none())
    };
    // With a node affinity that names nodes, a class cannot answer it; such classes count
    // (an approximation for that rare combination with a class-level spread key).
    let per_node = mentions_node_identity(spec);
    let counted: Vec<bool> = match term.level {
        Level::Class => (0..nodes.classes.len() as ClassId)
            .map(|class| {
                let mut node = class_node(state, class);
                // The hostname is the one label a class does not fix; every node has it.
                node.labels.insert(HOSTNAME_LABEL.to_owned(), String::new());
                let affinity_ok = c.node_affinity_policy == InclusionPolicy::Ignore
                    || per_node
                    || node_affinity_ok(spec, &node);
                nodes.class(class).live > 0 && affinity_ok && counts_node(&node)
            })
            .collect(),
        Level::Node => (0..nodes.id_bound() as NodeId)
            .map(|n| {
                nodes.get(n).is_some_and(|i| {
                    (c.node_affinity_policy == InclusionPolicy::Ignore
                        || node_affinity_ok(spec, &i.node))
                        && counts_node(&i.node)
                })
            })
            .collect(),
    };
    let check = SpreadCheck {
        term: term_id,
        max_skew: c.max_skew,
        self_match: optional_selector_matches(c.selector.as_ref(), labels),
        min_domains: c.min_domains,
        counted,
        min: AtomicU32::new(0),
    };
    check.min.store(exact_min(state, &check), SC);
    check
}

/// The smallest committed count over the domains `check` counts (0 with fewer domains than
/// `minDomains`, or none at all).
pub fn exact_min(state: &State, check: &SpreadCheck) -> u32 {
    let term = state.terms.get(check.term);
    let (domains, min) = match term.level {
        Level::Node => {
            let mut domains = 0u32;
            let mut min = u32::MAX;
            for (n, _) in check.counted.iter().enumerate().filter(|(_, c)| **c) {
                domains += 1;
                min = min.min(term.matchers.committed(n as u32));
            }
            (domains, min)
        }
        Level::Class => {
            let d = &state.terms.domains[&term.key.topology_key];
            let mut domains = 0u32;
            let mut min = u32::MAX;
            for classes in &d.classes {
                let mut counted = false;
                let mut sum = 0;
                for &c in classes {
                    if check.counted[c as usize] {
                        counted = true;
                        sum += term.matchers.committed(c);
                    }
                }
                if counted {
                    domains += 1;
                    min = min.min(sum);
                }
            }
            (domains, min)
        }
    };
    if domains == 0 || check.min_domains.is_some_and(|m| domains < m) {
        0
    } else {
        min
    }
}

/// The committed count of `check`'s term in the domain of `unit`, counting only counted units.
pub fn counted_in_domain(state: &State, check: &SpreadCheck, unit: u32, pending: bool) -> u32 {
    let term = state.terms.get(check.term);
    state
        .terms
        .domain_units(term, unit)
        .iter()
        .filter(|&u| check.counted.get(u as usize).copied().unwrap_or(false))
        .map(|u| {
            if pending {
                term.matchers.pending(u)
            } else {
                term.matchers.committed(u)
            }
        })
        .sum()
}
