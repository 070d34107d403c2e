//! kube-scheduler's algorithm, written plainly: one pod at a time, pre-filter by scanning the
//! cluster's pods, filter nodes from a rotating start until `percentageOfNodesToScore` of
//! them fit, score every feasible node with the default plugins, pick the best (ties broken at
//! random), and preempt with DefaultPreemption when nothing fits.
//!
//! It is the baseline of `skiff bench scheduler` and the model the property tests hold the
//! fast core against. It shares only the pure predicates of `filter.rs` and the resource
//! formulas of `score.rs` with the core, none of its data structures.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::diagnose::{FitError, Reason};
use crate::filter::{
    intolerable_preferred_taints, namespace_matches, node_affinity_matches,
    optional_selector_matches, preferred_node_affinity_score, unschedulable_blocks,
    untolerated_taint,
};
use crate::model::{
    InclusionPolicy, Labels, Namespaces, Node, Pod, PodAffinityTerm, PodKey, PreemptionPolicy,
    SpreadConstraint, WhenUnsatisfiable,
};
use crate::resources::{CPU_DIM, Demand, MEMORY_DIM, PODS_DIM, ResourceIndex};
use crate::scheduler::{Decision, Outcome};
use crate::score::{balanced_score, fit_score, normalize, normalize_range, scoring_request};

#[derive(Debug)]
struct RefPod {
    pod: Pod,
    demand: Demand,
    seq: u64,
}

#[derive(Debug)]
struct RefNode {
    node: Node,
    allocatable: Vec<u64>,
    requested: Vec<u64>,
    pods: Vec<RefPod>,
}

/// A preemption candidate's cost, lower is better: highest victim priority, sum of victim
/// priorities, number of victims, negated start of the earliest highest-priority victim.
type Cost = (i32, i64, usize, i64);

/// Counts per topology pair (key, value).
#[derive(Debug, Default)]
struct PairCounts(HashMap<String, HashMap<String, i64>>);

impl PairCounts {
    fn add(&mut self, key: &str, value: &str, n: i64) {
        *self
            .0
            .entry(key.to_owned())
            .or_default()
            .entry(value.to_owned())
            .or_default() += n;
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|m| m.get(value))
            .copied()
            .unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the pre-filter computes once per pod (kube's preFilterState).
#[derive(Debug, Default)]
struct PreFilter {
    /// Existing pods whose required anti-affinity matches the incoming pod, per domain.
    existing_anti: PairCounts,
    /// Existing pods matching all of the incoming pod's required affinity terms, per domain.
    affinity: PairCounts,
    /// Existing pods matching each of the incoming pod's required anti-affinity terms.
    anti: PairCounts,
    /// Hard spread constraints: matching pods per domain, and the minimum, per constraint.
    spread: Vec<(HashMap<String, u32>, u32)>,
}

#[derive(Debug)]
pub struct Reference {
    resources: ResourceIndex,
    nodes: Vec<RefNode>,
    index: HashMap<String, usize>,
    next_start: usize,
    percentage: Option<u32>,
    rng: StdRng,
    seq: u64,
    namespace_labels: HashMap<String, Labels>,
}

impl Reference {
    /// `percentage`: kube's `percentageOfNodesToScore`; `None` is its adaptive default
    /// (50% minus 1% per 125 nodes, at least 5%, at least 100 nodes), `Some(100)` scores
    /// every node.
    pub fn new(percentage: Option<u32>, seed: u64) -> Self {
        Reference {
            resources: ResourceIndex::default(),
            nodes: Vec::new(),
            index: HashMap::new(),
            next_start: 0,
            percentage,
            rng: StdRng::seed_from_u64(seed),
            seq: 0,
            namespace_labels: HashMap::new(),
        }
    }

    pub fn set_namespace_labels(&mut self, namespace: &str, labels: Labels) {
        self.namespace_labels.insert(namespace.to_owned(), labels);
    }

    /// Adds a node (updates are not needed by the users of the reference).
    pub fn add_node(&mut self, node: Node) {
        for name in node.allocatable.keys() {
            if let Some((_, true)) = self.resources.intern(name) {
                for n in &mut self.nodes {
                    n.allocatable.push(0);
                    n.requested.push(0);
                }
            }
        }
        let allocatable = self.resources.dense(&node.allocatable);
        let dims = self.resources.len();
        self.index.insert(node.name.clone(), self.nodes.len());
        self.nodes.push(RefNode {
            node,
            allocatable,
            requested: vec![0; dims],
            pods: Vec::new(),
        });
    }

    /// Accounts for a pod already on `node`.
    pub fn add_bound_pod(&mut self, pod: Pod, node: &str) {
        let demand = self
            .resources
            .demand(&pod.spec.requests)
            .expect("bound pods request known resources");
        let n = self.index[node];
        self.assume(n, pod, demand);
    }

    fn assume(&mut self, n: usize, pod: Pod, demand: Demand) {
        let node = &mut self.nodes[n];
        for &(d, a) in &demand.dims {
            node.requested[d] += a;
        }
        self.seq += 1;
        node.pods.push(RefPod {
            pod,
            demand,
            seq: self.seq,
        });
    }

    fn evict(&mut self, n: usize, key: &PodKey) -> Option<RefPod> {
        let node = &mut self.nodes[n];
        let pos = node.pods.iter().position(|p| p.pod.key == *key)?;
        let p = node.pods.remove(pos);
        for &(d, a) in &p.demand.dims {
            node.requested[d] -= a;
        }
        Some(p)
    }

    pub fn remove_pod(&mut self, key: &PodKey) -> bool {
        (0..self.nodes.len()).any(|n| self.evict(n, key).is_some())
    }

    /// Every placed pod and its node.
    pub fn placements(&self) -> impl Iterator<Item = (&Pod, &str)> + '_ {
        self.nodes
            .iter()
            .flat_map(|n| n.pods.iter().map(move |p| (&p.pod, n.node.name.as_str())))
    }

    /// Schedules pods one at a time, highest priority first (kube's active queue order).
    pub fn schedule(&mut self, pods: Vec<Pod>) -> Vec<Decision> {
        let mut order: Vec<(usize, Pod)> = pods.into_iter().enumerate().collect();
        order.sort_by_key(|(_, p)| std::cmp::Reverse(p.priority));
        let mut out: Vec<Option<Decision>> = (0..order.len()).map(|_| None).collect();
        for (i, pod) in order {
            let t = std::time::Instant::now();
            let key = pod.key.clone();
            let outcome = self.schedule_one(pod);
            out[i] = Some(Decision {
                key,
                outcome,
                latency_ns: t.elapsed().as_nanos() as u64,
            });
        }
        out.into_iter().map(|d| d.expect("decided")).collect()
    }

    fn nodes_to_find(&self) -> usize {
        let all = self.nodes.len();
        if all < 100 {
            return all;
        }
        let pct = match self.percentage {
            Some(p) => p.min(100) as usize,
            None => (50usize.saturating_sub(all / 125)).max(5),
        };
        if pct >= 100 {
            return all;
        }
        (all * pct / 100).max(100)
    }

    pub fn schedule_one(&mut self, pod: Pod) -> Outcome {
        let demand = self.resources.demand(&pod.spec.requests);
        let pre = self.pre_filter(&pod);
        let all = self.nodes.len();
        let want = self.nodes_to_find();
        let mut feasible: Vec<usize> = Vec::new();
        let mut reasons: BTreeMap<Reason, usize> = BTreeMap::new();
        let mut unresolvable = vec![false; all];
        let mut processed = 0;
        for k in 0..all {
            if feasible.len() >= want {
                break;
            }
            let n = (self.next_start + k) % all;
            processed += 1;
            let r = self.filter(&pod, demand.as_ref(), &pre, n);
            if r.is_empty() {
                feasible.push(n);
            } else {
                unresolvable[n] = r.iter().any(Reason::unresolvable);
                for reason in r {
                    *reasons.entry(reason).or_insert(0) += 1;
                }
            }
        }
        if all > 0 {
            self.next_start = (self.next_start + processed) % all;
        }
        let Ok(demand) = demand else {
            return self.fail(pod, reasons, None);
        };
        if feasible.is_empty() {
            return match self.preempt(&pod, &demand, &unresolvable) {
                Ok((n, victims)) => {
                    let keys: Vec<PodKey> = victims.to_vec();
                    for v in &victims {
                        self.evict(n, v);
                    }
                    let node = self.nodes[n].node.name.as_str().into();
                    self.assume(n, pod, demand);
                    Outcome::Preempting {
                        node,
                        victims: keys,
                    }
                }
                Err(msg) => self.fail(pod, reasons, Some(msg)),
            };
        }
        let best = self.select(&pod, &demand, &feasible);
        let node: Arc<str> = self.nodes[best].node.name.as_str().into();
        self.assume(best, pod, demand);
        Outcome::Bound { node }
    }

    fn fail(
        &self,
        pod: Pod,
        reasons: BTreeMap<Reason, usize>,
        preemption: Option<String>,
    ) -> Outcome {
        Outcome::Unschedulable {
            pod,
            error: Arc::new(FitError {
                nodes: self.nodes.len(),
                reasons,
                preemption,
            }),
        }
    }

    fn ns_labels(&self, ns: &str) -> Option<&Labels> {
        self.namespace_labels.get(ns)
    }

    fn term_matches(&self, term: &PodAffinityTerm, owner_ns: &str, pod: &Pod) -> bool {
        let namespaces = term.namespaces.clone().unwrap_or_else(|| Namespaces::Some {
            names: vec![owner_ns.to_owned()],
            selector: None,
        });
        namespace_matches(
            &namespaces,
            pod.namespace(),
            self.ns_labels(pod.namespace()),
        ) && optional_selector_matches(term.selector.as_ref(), &pod.labels)
    }

    fn spread_counts_node(
        &self,
        pod: &Pod,
        c: &SpreadConstraint,
        hard: &[&SpreadConstraint],
        node: &Node,
    ) -> bool {
        hard.iter()
            .all(|h| node.labels.contains_key(&h.topology_key))
            && (c.node_affinity_policy == InclusionPolicy::Ignore
                || node_affinity_matches(
                    &pod.spec.node_selector,
                    &pod.spec.node_affinity,
                    &node.name,
                    &node.labels,
                ))
            && (c.node_taints_policy == InclusionPolicy::Ignore
                || untolerated_taint(&node.taints, &pod.spec.tolerations).is_none())
    }

    /// kube's PreFilter for InterPodAffinity and PodTopologySpread: scans the cluster's pods.
    fn pre_filter(&self, pod: &Pod) -> PreFilter {
        let mut pre = PreFilter::default();
        let spec = &pod.spec;
        let ns = pod.namespace();
        for n in &self.nodes {
            for existing in &n.pods {
                let e = &existing.pod;
                for t in &e.spec.pod_anti_affinity.required {
                    if let Some(v) = n.node.labels.get(&t.topology_key)
                        && self.term_matches(t, e.namespace(), pod)
                    {
                        pre.existing_anti.add(&t.topology_key, v, 1);
                    }
                }
                let aff = &spec.pod_affinity.required;
                if !aff.is_empty() && aff.iter().all(|t| self.term_matches(t, ns, e)) {
                    for t in aff {
                        if let Some(v) = n.node.labels.get(&t.topology_key) {
                            pre.affinity.add(&t.topology_key, v, 1);
                        }
                    }
                }
                for t in &spec.pod_anti_affinity.required {
                    if let Some(v) = n.node.labels.get(&t.topology_key)
                        && self.term_matches(t, ns, e)
                    {
                        pre.anti.add(&t.topology_key, v, 1);
                    }
                }
            }
        }
        let hard: Vec<&SpreadConstraint> = spec
            .spread
            .iter()
            .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
            .collect();
        for c in &hard {
            let mut counts: HashMap<String, u32> = HashMap::new();
            for n in &self.nodes {
                if !self.spread_counts_node(pod, c, &hard, &n.node) {
                    continue;
                }
                let value = n.node.labels[&c.topology_key].clone();
                let matching = n
                    .pods
                    .iter()
                    .filter(|p| {
                        p.pod.namespace() == ns
                            && optional_selector_matches(c.selector.as_ref(), &p.pod.labels)
                    })
                    .count() as u32;
                *counts.entry(value).or_default() += matching;
            }
            let min =
                if counts.is_empty() || c.min_domains.is_some_and(|m| (counts.len() as u32) < m) {
                    0
                } else {
                    counts.values().copied().min().unwrap_or(0)
                };
            pre.spread.push((counts, min));
        }
        pre
    }

    /// Runs the filters on node `n` in kube's order; the reasons of the first that fails.
    fn filter(
        &self,
        pod: &Pod,
        demand: Result<&Demand, &String>,
        pre: &PreFilter,
        n: usize,
    ) -> Vec<Reason> {
        let node = &self.nodes[n];
        let spec = &pod.spec;
        if unschedulable_blocks(&node.node, &spec.tolerations) {
            return vec![Reason::Unschedulable];
        }
        if let Some(t) = untolerated_taint(&node.node.taints, &spec.tolerations) {
            return vec![Reason::UntoleratedTaint {
                key: t.key.clone(),
                value: t.value.clone(),
            }];
        }
        if !node_affinity_matches(
            &spec.node_selector,
            &spec.node_affinity,
            &node.node.name,
            &node.node.labels,
        ) {
            return vec![Reason::NodeAffinity];
        }
        match demand {
            Err(name) => return vec![Reason::Insufficient(name.clone())],
            Ok(demand) => {
                let mut out = Vec::new();
                for &(d, a) in &demand.dims {
                    if node.requested[d] + a > node.allocatable[d] {
                        out.push(if d == PODS_DIM {
                            Reason::TooManyPods
                        } else {
                            Reason::Insufficient(self.resources.name(d).to_owned())
                        });
                    }
                }
                if !out.is_empty() {
                    return out;
                }
            }
        }
        let hard = spec
            .spread
            .iter()
            .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule);
        for (c, (counts, min)) in hard.zip(&pre.spread) {
            let Some(value) = node.node.labels.get(&c.topology_key) else {
                return vec![Reason::SpreadMissingLabel];
            };
            let self_match = u32::from(optional_selector_matches(c.selector.as_ref(), &pod.labels));
            let count = counts.get(value).copied().unwrap_or(0);
            if (count + self_match).saturating_sub(*min) > c.max_skew {
                return vec![Reason::Spread];
            }
        }
        let labels = &node.node.labels;
        let aff = &spec.pod_affinity.required;
        if !aff.is_empty() {
            let mut exist = true;
            for t in aff {
                match labels.get(&t.topology_key) {
                    None => return vec![Reason::Affinity],
                    Some(v) => {
                        if pre.affinity.get(&t.topology_key, v) == 0 {
                            exist = false;
                        }
                    }
                }
            }
            if !exist {
                let first = pre.affinity.is_empty()
                    && aff
                        .iter()
                        .all(|t| self.term_matches(t, pod.namespace(), pod));
                if !first {
                    return vec![Reason::Affinity];
                }
            }
        }
        for t in &spec.pod_anti_affinity.required {
            if let Some(v) = labels.get(&t.topology_key)
                && pre.anti.get(&t.topology_key, v) > 0
            {
                return vec![Reason::AntiAffinity];
            }
        }
        if !pre.existing_anti.is_empty()
            && labels.iter().any(|(k, v)| pre.existing_anti.get(k, v) > 0)
        {
            return vec![Reason::ExistingAntiAffinity];
        }
        Vec::new()
    }

    /// Scores the feasible nodes with the default plugins and picks the best, ties at random.
    fn select(&mut self, pod: &Pod, demand: &Demand, feasible: &[usize]) -> usize {
        let spec = &pod.spec;
        let request = scoring_request(demand);
        let mut total: Vec<i64> = feasible
            .iter()
            .map(|&n| {
                let node = &self.nodes[n];
                let alloc = [node.allocatable[CPU_DIM], node.allocatable[MEMORY_DIM]];
                let req = [
                    node.requested[CPU_DIM] + request[0],
                    node.requested[MEMORY_DIM] + request[1],
                ];
                fit_score(spec.profile, req, alloc) + balanced_score(req, alloc)
            })
            .collect();
        let mut add = |w: i64, raw: Vec<i64>| {
            for (t, r) in total.iter_mut().zip(raw) {
                *t += w * r;
            }
        };
        let mut taints: Vec<i64> = feasible
            .iter()
            .map(|&n| intolerable_preferred_taints(&self.nodes[n].node.taints, &spec.tolerations))
            .collect();
        normalize(&mut taints, true);
        add(3, taints);
        let mut affinity: Vec<i64> = feasible
            .iter()
            .map(|&n| {
                let node = &self.nodes[n].node;
                preferred_node_affinity_score(&spec.node_affinity, &node.name, &node.labels)
            })
            .collect();
        normalize(&mut affinity, false);
        add(2, affinity);
        let preferred: Vec<(&PodAffinityTerm, i64)> = spec
            .pod_affinity
            .preferred
            .iter()
            .map(|w| (&w.term, i64::from(w.weight)))
            .chain(
                spec.pod_anti_affinity
                    .preferred
                    .iter()
                    .map(|w| (&w.term, -i64::from(w.weight))),
            )
            .collect();
        if !preferred.is_empty() {
            let mut per_pair = PairCounts::default();
            for n in &self.nodes {
                for e in &n.pods {
                    for (t, w) in &preferred {
                        if let Some(v) = n.node.labels.get(&t.topology_key)
                            && self.term_matches(t, pod.namespace(), &e.pod)
                        {
                            per_pair.add(&t.topology_key, v, *w);
                        }
                    }
                }
            }
            let mut raw: Vec<i64> = feasible
                .iter()
                .map(|&n| {
                    let labels = &self.nodes[n].node.labels;
                    labels.iter().map(|(k, v)| per_pair.get(k, v)).sum()
                })
                .collect();
            normalize_range(&mut raw);
            add(2, raw);
        }
        let soft: Vec<&SpreadConstraint> = spec
            .spread
            .iter()
            .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
            .collect();
        if !soft.is_empty() {
            let mut raw: Vec<i64> = feasible
                .iter()
                .map(|&n| {
                    soft.iter()
                        .map(|c| {
                            let Some(v) = self.nodes[n].node.labels.get(&c.topology_key) else {
                                return 0;
                            };
                            self.nodes
                                .iter()
                                .filter(|m| m.node.labels.get(&c.topology_key) == Some(v))
                                .flat_map(|m| &m.pods)
                                .filter(|p| {
                                    p.pod.namespace() == pod.namespace()
                                        && optional_selector_matches(
                                            c.selector.as_ref(),
                                            &p.pod.labels,
                                        )
                                })
                                .count() as i64
                        })
                        .sum()
                })
                .collect();
            normalize(&mut raw, true);
            add(2, raw);
        }
        // selectHost: the highest score; among equals, each equally likely.
        let mut best = 0;
        let mut ties = 0u32;
        for i in 0..feasible.len() {
            if total[i] > total[best] {
                best = i;
                ties = 1;
            } else if total[i] == total[best] {
                ties += 1;
                if self.rng.random_range(0..ties) == 0 {
                    best = i;
                }
            }
        }
        feasible[best]
    }

    /// DefaultPreemption: dry-run eviction on candidate nodes from a random offset until
    /// max(10% of nodes, 100) candidates are found, then pick the cheapest.
    fn preempt(
        &mut self,
        pod: &Pod,
        demand: &Demand,
        unresolvable: &[bool],
    ) -> Result<(usize, Vec<PodKey>), String> {
        let all = self.nodes.len();
        if pod.spec.preemption_policy == PreemptionPolicy::Never {
            return Err("preemption: not eligible due to preemptionPolicy=Never.".into());
        }
        let wanted = (all / 10).max(100).min(all);
        let offset = if all == 0 {
            0
        } else {
            self.rng.random_range(0..all)
        };
        let mut best: Option<(Cost, usize, Vec<PodKey>)> = None;
        let mut found = 0;
        let mut not_helpful = 0;
        for k in 0..all {
            if found >= wanted {
                break;
            }
            let n = (offset + k) % all;
            if unresolvable[n] {
                not_helpful += 1;
                continue;
            }
            if let Some((cost, victims)) = self.victims_on(pod, demand, n) {
                found += 1;
                if best.as_ref().is_none_or(|(c, _, _)| cost < *c) {
                    best = Some((cost, n, victims));
                }
            }
        }
        match best {
            Some((_, n, victims)) => Ok((n, victims)),
            None => {
                let mut parts = Vec::new();
                let no_victims = all - not_helpful;
                if no_victims > 0 {
                    parts.push(format!(
                        "{no_victims} No preemption victims found for incoming pod"
                    ));
                }
                if not_helpful > 0 {
                    parts.push(format!(
                        "{not_helpful} Preemption is not helpful for scheduling"
                    ));
                }
                parts.sort();
                Err(format!(
                    "preemption: 0/{all} nodes are available: {}.",
                    parts.join(", ")
                ))
            }
        }
    }

    fn victims_on(&mut self, pod: &Pod, demand: &Demand, n: usize) -> Option<(Cost, Vec<PodKey>)> {
        let mut potential: Vec<(i32, u64, PodKey)> = self.nodes[n]
            .pods
            .iter()
            .filter(|p| p.pod.priority < pod.priority)
            .map(|p| (p.pod.priority, p.seq, p.pod.key.clone()))
            .collect();
        if potential.is_empty() {
            return None;
        }
        potential.sort_by_key(|(prio, seq, _)| (std::cmp::Reverse(*prio), *seq));
        let mut removed: Vec<RefPod> = potential
            .iter()
            .map(|(_, _, k)| self.evict(n, k).expect("on node"))
            .collect();
        let fits = |me: &Self| {
            let pre = me.pre_filter(pod);
            me.filter(pod, Ok(demand), &pre, n).is_empty()
        };
        let mut victims = Vec::new();
        if fits(self) {
            for (_, _, key) in &potential {
                let pos = removed
                    .iter()
                    .position(|p| p.pod.key == *key)
                    .expect("removed");
                let p = removed.swap_remove(pos);
                let (prio, seq) = (p.pod.priority, p.seq);
                self.restore(n, p);
                if !fits(self) {
                    let p = self.evict(n, key).expect("restored");
                    victims.push((prio, seq, p.pod.key.clone()));
                    removed.push(p);
                }
            }
        }
        for p in removed {
            self.restore(n, p);
        }
        let highest = victims.iter().map(|(p, _, _)| *p).max()?;
        let cost = (
            highest,
            victims
                .iter()
                .map(|(p, _, _)| i64::from(*p) + i64::from(i32::MAX) + 1)
                .sum(),
            victims.len(),
            -victims
                .iter()
                .filter(|(p, _, _)| *p == highest)
                .map(|(_, s, _)| *s as i64)
                .min()
                .unwrap_or(0),
        );
        Some((cost, victims.into_iter().map(|(_, _, k)| k).collect()))
    }

    fn restore(&mut self, n: usize, p: RefPod) {
        let node = &mut self.nodes[n];
        for &(d, a) in &p.demand.dims {
            node.requested[d] += a;
        }
        node.pods.push(p);
    }

    /// Every node the pod passes all filters on right now (no sampling): the ground truth
    /// the property tests compare the core's decisions with.
    pub fn feasible_nodes(&self, pod: &Pod) -> Vec<String> {
        let demand = self.resources.demand(&pod.spec.requests);
        let pre = self.pre_filter(pod);
        (0..self.nodes.len())
            .filter(|&n| self.filter(pod, demand.as_ref(), &pre, n).is_empty())
            .map(|n| self.nodes[n].node.name.clone())
            .collect()
    }

    /// The reasons of every node, as the FitError would count them.
    pub fn reasons(&self, pod: &Pod) -> BTreeMap<Reason, usize> {
        let demand = self.resources.demand(&pod.spec.requests);
        let pre = self.pre_filter(pod);
        let mut out = BTreeMap::new();
        for n in 0..self.nodes.len() {
            for r in self.filter(pod, demand.as_ref(), &pre, n) {
                *out.entry(r).or_insert(0) += 1;
            }
        }
        out
    }
}
