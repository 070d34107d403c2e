//! An independent check of a finished schedule: run after every benchmark and property test.
//! It recomputes everything from the final placements, with none of the scheduler's indexes.
//!
//! Checked: no node over-committed in any resource; every pod on a node that passes its
//! node-level filters (cordon, taints, node selector and affinity); required pod anti-affinity
//! in both directions; required pod affinity; hard topology spread (final max - min <= maxSkew,
//! which holds when no pod was removed); and every rejected pod fits nowhere under the
//! constraints that only tighten as pods are added (resources, node filters, anti-affinity).

use std::collections::HashMap;
use std::sync::Arc;

use crate::filter::{
    namespace_matches, node_affinity_matches, optional_selector_matches, unschedulable_blocks,
    untolerated_taint,
};
use crate::model::{
    InclusionPolicy, Labels, Namespaces, Node, PODS, Pod, PodAffinityTerm, Resources,
    WhenUnsatisfiable,
};

/// What a run produced.
#[derive(Debug)]
pub struct Schedule<'a> {
    pub nodes: &'a [Node],
    pub placed: Vec<(&'a Pod, &'a str)>,
    pub rejected: Vec<&'a Pod>,
    /// Pods were removed during the run (preemption): skip the checks that removals can
    /// legitimately break (spread skew, and affinity to a pod that was evicted).
    pub removals: bool,
    pub namespace_labels: &'a HashMap<String, Labels>,
}

/// Violations found, one line each; empty when the schedule is valid.
pub fn check(s: &Schedule<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let by_name: HashMap<&str, &Node> = s.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut on_node: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for (pod, node) in &s.placed {
        on_node.entry(node).or_default().push(pod);
    }
    // Resources.
    for (name, pods) in &on_node {
        let Some(node) = by_name.get(name) else {
            out.push(format!("pods placed on unknown node {name}"));
            continue;
        };
        let used = sum_requests(pods.iter().copied());
        for (resource, amount) in &used {
            let cap = node.allocatable.get(resource).copied().unwrap_or(0);
            if *amount > cap {
                out.push(format!(
                    "node {name} over-committed: {resource} {amount} > {cap}"
                ));
            }
        }
    }
    for (pod, node) in &s.placed {
        let Some(node) = by_name.get(node) else {
            continue;
        };
        if let Some(why) = static_failure(pod, node) {
            out.push(format!("pod {} on node {}: {why}", pod.key, node.name));
        }
    }
    let placed_on: Vec<(&Pod, &Node)> = s
        .placed
        .iter()
        .filter_map(|(p, n)| by_name.get(n).map(|n| (*p, *n)))
        .collect();
    // Domains for the topology keys of every term, placed or rejected pods'.
    let domains = Domains::new(
        &placed_on,
        placed_on
            .iter()
            .map(|(p, _)| *p)
            .chain(s.rejected.iter().copied()),
    );
    // Anti-affinity, both directions (checking every pod's own terms covers both).
    for &(pod, node) in &placed_on {
        for t in &pod.spec.pod_anti_affinity.required {
            let Some(value) = node.labels.get(&t.topology_key) else {
                continue;
            };
            for &(other, other_node) in domains.pods(&t.topology_key, value) {
                if other.key != pod.key && term_matches(s, t, pod.namespace(), other) {
                    out.push(format!(
                        "pod {} on {} shares {}={} with {} on {}, against its anti-affinity",
                        pod.key, node.name, t.topology_key, value, other.key, other_node.name
                    ));
                }
            }
        }
        // Required affinity: some pod matching all terms in the domain of each term. It is
        // "ignored during execution": evicting the pod it followed does not break it.
        let aff: &[PodAffinityTerm] = if s.removals {
            &[]
        } else {
            &pod.spec.pod_affinity.required
        };
        for t in aff {
            let ok = node.labels.get(&t.topology_key).is_some_and(|v| {
                domains.pods(&t.topology_key, v).iter().any(|&(other, _)| {
                    aff.iter()
                        .all(|t| term_matches(s, t, pod.namespace(), other))
                })
            });
            if !ok {
                out.push(format!(
                    "pod {} on {} breaks its pod affinity",
                    pod.key, node.name
                ));
            }
        }
    }
    if !s.removals {
        check_spread(s, &placed_on, &mut out);
    }
    // Rejected pods must fit nowhere (monotone constraints only); identical pods once.
    let used: HashMap<&str, Resources> = on_node
        .iter()
        .map(|(n, pods)| (*n, sum_requests(pods.iter().copied())))
        .collect();
    let mut checked: Vec<(usize, usize, &str)> = Vec::new();
    for pod in &s.rejected {
        let group = (
            Arc::as_ptr(&pod.spec) as usize,
            Arc::as_ptr(&pod.labels) as usize,
            pod.namespace(),
        );
        if checked.contains(&group) {
            continue;
        }
        checked.push(group);
        let non_monotone = !pod.spec.pod_affinity.required.is_empty()
            || pod
                .spec
                .spread
                .iter()
                .any(|c| c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule);
        if non_monotone {
            continue;
        }
        let requests = sum_requests(std::iter::once(*pod));
        let empty = Resources::new();
        let fits_somewhere = s.nodes.iter().find(|node| {
            let used = used.get(node.name.as_str()).unwrap_or(&empty);
            static_failure(pod, node).is_none()
                && requests.iter().all(|(r, a)| {
                    used.get(r).copied().unwrap_or(0) + a
                        <= node.allocatable.get(r).copied().unwrap_or(0)
                })
                && anti_affinity_ok(s, pod, node, &domains)
        });
        if let Some(node) = fits_somewhere {
            out.push(format!(
                "pod {} was rejected but fits on {}",
                pod.key, node.name
            ));
        }
    }
    out
}

fn sum_requests<'p>(pods: impl Iterator<Item = &'p Pod>) -> Resources {
    let mut sum = Resources::new();
    for p in pods {
        for (r, a) in &p.spec.requests {
            if r != PODS {
                *sum.entry(r.clone()).or_default() += a;
            }
        }
        *sum.entry(PODS.to_owned()).or_default() += 1;
    }
    sum
}

fn static_failure(pod: &Pod, node: &Node) -> Option<String> {
    if unschedulable_blocks(node, &pod.spec.tolerations) {
        return Some("node is cordoned".into());
    }
    if let Some(t) = untolerated_taint(&node.taints, &pod.spec.tolerations) {
        return Some(format!("untolerated taint {}={}", t.key, t.value));
    }
    if !node_affinity_matches(
        &pod.spec.node_selector,
        &pod.spec.node_affinity,
        &node.name,
        &node.labels,
    ) {
        return Some("node selector/affinity not matched".into());
    }
    None
}

fn term_matches(s: &Schedule<'_>, t: &PodAffinityTerm, owner_ns: &str, pod: &Pod) -> bool {
    let namespaces = t.namespaces.clone().unwrap_or_else(|| Namespaces::Some {
        names: vec![owner_ns.to_owned()],
        selector: None,
    });
    namespace_matches(
        &namespaces,
        pod.namespace(),
        s.namespace_labels.get(pod.namespace()),
    ) && optional_selector_matches(t.selector.as_ref(), &pod.labels)
}

type Placed<'a> = (&'a Pod, &'a Node);

/// Placed pods by topology domain, for the keys anti-affinity and affinity terms use.
struct Domains<'a> {
    by_key: HashMap<&'a str, HashMap<&'a str, Vec<Placed<'a>>>>,
}

impl<'a> Domains<'a> {
    fn new(placed: &[(&'a Pod, &'a Node)], pods: impl Iterator<Item = &'a Pod>) -> Self {
        let mut keys: Vec<&str> = pods
            .flat_map(|p| {
                p.spec
                    .pod_anti_affinity
                    .required
                    .iter()
                    .chain(&p.spec.pod_affinity.required)
                    .map(|t| t.topology_key.as_str())
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut by_key: HashMap<&str, HashMap<&str, Vec<Placed<'a>>>> = HashMap::new();
        for key in keys {
            let m = by_key.entry(key).or_default();
            for &(p, n) in placed {
                if let Some(v) = n.labels.get(key) {
                    m.entry(v.as_str()).or_default().push((p, n));
                }
            }
        }
        Domains { by_key }
    }

    fn pods(&self, key: &str, value: &str) -> &[(&'a Pod, &'a Node)] {
        self.by_key
            .get(key)
            .and_then(|m| m.get(value))
            .map_or(&[], Vec::as_slice)
    }

    fn keys(&self) -> impl Iterator<Item = &&'a str> {
        self.by_key.keys()
    }
}

fn anti_affinity_ok(s: &Schedule<'_>, pod: &Pod, node: &Node, domains: &Domains<'_>) -> bool {
    domains.keys().all(|key| {
        let Some(value) = node.labels.get(*key) else {
            return true;
        };
        domains.pods(key, value).iter().all(|&(other, _)| {
            let own = pod
                .spec
                .pod_anti_affinity
                .required
                .iter()
                .any(|t| t.topology_key == **key && term_matches(s, t, pod.namespace(), other));
            let theirs = other
                .spec
                .pod_anti_affinity
                .required
                .iter()
                .any(|t| t.topology_key == **key && term_matches(s, t, other.namespace(), pod));
            !own && !theirs
        })
    })
}

/// For each hard constraint shared by all pods its selector matches: max - min <= maxSkew.
fn check_spread(s: &Schedule<'_>, placed: &[(&Pod, &Node)], out: &mut Vec<String>) {
    let mut seen = Vec::new();
    for &(pod, _) in placed {
        for c in &pod.spec.spread {
            if c.when_unsatisfiable != WhenUnsatisfiable::DoNotSchedule
                || seen.contains(&(pod.namespace(), c))
            {
                continue;
            }
            seen.push((pod.namespace(), c));
            let matching: Vec<&(&Pod, &Node)> = placed
                .iter()
                .filter(|(p, _)| {
                    p.namespace() == pod.namespace()
                        && optional_selector_matches(c.selector.as_ref(), &p.labels)
                })
                .collect();
            if !matching.iter().all(|(p, _)| p.spec == pod.spec) {
                continue; // others count toward it without obeying it
            }
            let hard: Vec<_> = pod
                .spec
                .spread
                .iter()
                .filter(|h| h.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
                .collect();
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for node in s.nodes {
                let eligible = hard
                    .iter()
                    .all(|h| node.labels.contains_key(&h.topology_key))
                    && (c.node_affinity_policy == InclusionPolicy::Ignore
                        || node_affinity_matches(
                            &pod.spec.node_selector,
                            &pod.spec.node_affinity,
                            &node.name,
                            &node.labels,
                        ))
                    && (c.node_taints_policy == InclusionPolicy::Ignore
                        || untolerated_taint(&node.taints, &pod.spec.tolerations).is_none());
                if eligible {
                    counts
                        .entry(node.labels[&c.topology_key].as_str())
                        .or_default();
                }
            }
            for (_, node) in &matching {
                if let Some(v) = node.labels.get(&c.topology_key)
                    && let Some(n) = counts.get_mut(v.as_str())
                {
                    *n += 1;
                }
            }
            let (Some(max), Some(min)) = (counts.values().max(), counts.values().min()) else {
                continue;
            };
            let min = if c.min_domains.is_some_and(|m| (counts.len() as u32) < m) {
                0
            } else {
                *min
            };
            if max - min > c.max_skew {
                out.push(format!(
                    "spread over {} in {} skewed {} > maxSkew {}",
                    c.topology_key,
                    pod.namespace(),
                    max - min,
                    c.max_skew
                ));
            }
        }
    }
}
