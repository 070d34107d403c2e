//! The cluster as the scheduler holds it, and its bookkeeping between parallel phases:
//! registering terms, and accounting pods in and out of capacity, counters and records.

use crate::model::{Pod, PodSpec};
use crate::nodes::{NodeId, Nodes};
use crate::plan::{TermKeyOf, term_keys};
use crate::pods::{PodId, PodRecord, Pods};
use crate::resources::Demand;
use crate::sync::SC;
use crate::terms::{TermId, TermKey, Terms};

#[derive(Debug, Default)]
pub struct State {
    pub nodes: Nodes,
    pub terms: Terms,
    pub pods: Pods,
}

/// Pods of one priority on a node, summed (for screening preemption candidates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityLevel {
    pub priority: i32,
    pub pods: u32,
    /// Summed demand, dense over dimensions.
    pub sum: Vec<u64>,
}

impl State {
    pub fn new() -> Self {
        State {
            nodes: Nodes::new(),
            ..Default::default()
        }
    }

    /// Makes sure every term of `spec` exists, counting the placed pods a new term matches.
    pub fn register_terms(&mut self, spec: &PodSpec, namespace: &str) {
        for (key, repels) in term_keys(spec, namespace) {
            let id = match self.terms.find(&key) {
                Some(id) => id,
                None => {
                    let id = self.terms.insert(key, &self.nodes);
                    self.recount(id);
                    id
                }
            };
            if repels {
                self.terms.mark_repels(id);
            }
        }
    }

    /// Recounts a term's matchers and carriers from the placed pods.
    pub fn recount(&mut self, id: TermId) {
        self.terms.reset_counts(id);
        let term = self.terms.get(id);
        let mut total = 0;
        for (_, record) in self.pods.iter() {
            let info = self.nodes.info(record.node);
            let Some(unit) = self.terms.unit(term, &self.nodes, record.node, info.class) else {
                continue;
            };
            let pod = &record.pod;
            let ns_labels = self.terms.namespace_labels.get(pod.namespace());
            if term.matches(pod.namespace(), &pod.labels, ns_labels) {
                term.matchers.add(unit);
                total += 1;
            }
            if carries(&pod.spec, pod.namespace(), &term.key) {
                term.carriers.add(unit);
            }
        }
        term.total_matchers.store(total, SC);
    }

    /// Adds or removes a placed pod's contribution to every term's counters.
    fn count(&self, pod: &Pod, node: NodeId, add: bool) {
        let class = self.nodes.info(node).class;
        let ns_labels = self.terms.namespace_labels.get(pod.namespace());
        for term in &self.terms.terms {
            let Some(unit) = self.terms.unit(term, &self.nodes, node, class) else {
                continue;
            };
            let apply = |c: &crate::terms::Counters| {
                if add { c.add(unit) } else { c.remove(unit) }
            };
            if term.matches(pod.namespace(), &pod.labels, ns_labels) {
                apply(&term.matchers);
                if add {
                    term.total_matchers.fetch_add(1, SC);
                } else {
                    term.total_matchers.fetch_sub(1, SC);
                }
            }
            if term.repels && carries(&pod.spec, pod.namespace(), &term.key) {
                apply(&term.carriers);
            }
        }
    }

    /// Records a pod whose capacity and counters a placement already took.
    pub fn record(&mut self, pod: Pod, node: NodeId, demand: Demand) -> PodId {
        let priority = pod.priority;
        let dims = self.nodes.resources.len();
        let info = self.nodes.info_mut(node);
        add_level(&mut info.levels, priority, &demand, dims, true);
        let id = self.pods.insert(pod, node, demand);
        self.nodes.info_mut(node).pods.push(id);
        id
    }

    /// Accounts for a pod placed elsewhere (bound by someone else, or before a restart).
    /// Capacity is taken even beyond what is free, as Kubernetes does.
    pub fn add_placed(&mut self, pod: Pod, node: NodeId) -> PodId {
        let demand = self
            .nodes
            .resources
            .demand(&pod.spec.requests)
            .unwrap_or_else(|_| {
                // A resource no node has: count what can be counted.
                let known = pod
                    .spec
                    .requests
                    .iter()
                    .filter(|(k, _)| self.nodes.resources.dim(k).is_some())
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                self.nodes
                    .resources
                    .demand(&known)
                    .expect("known resources only")
            });
        self.register_terms(&pod.spec, pod.namespace());
        self.nodes.capacity.force_add(node as usize, &demand);
        self.nodes.capacity_changed(node);
        self.count(&pod, node, true);
        self.record(pod, node, demand)
    }

    /// Removes a placed pod from everything.
    pub fn remove_placed(&mut self, id: PodId) -> PodRecord {
        let record = self.pods.remove(id);
        let node = record.node;
        self.nodes.capacity.release(node as usize, &record.demand);
        self.count(&record.pod, node, false);
        let dims = self.nodes.resources.len();
        let info = self.nodes.info_mut(node);
        if let Some(pos) = info.pods.iter().position(|&p| p == id) {
            info.pods.swap_remove(pos);
        }
        add_level(
            &mut info.levels,
            record.pod.priority,
            &record.demand,
            dims,
            false,
        );
        let (class, slot) = (info.class, info.slot);
        self.nodes.capacity_changed(node);
        for term in &self.terms.terms {
            term.rewind_cursor(class, slot);
        }
        record
    }

    /// Takes a pod's contribution out of the counters before its node changes class, and
    /// puts it back after (`add`).
    pub fn recount_node(&self, node: NodeId, add: bool) {
        for &id in &self.nodes.info(node).pods {
            self.count(&self.pods.get(id).pod, node, add);
        }
    }
}

/// Whether a pod carries `key` as one of its required anti-affinity terms.
pub(crate) fn carries(spec: &PodSpec, namespace: &str, key: &TermKey) -> bool {
    spec.pod_anti_affinity
        .required
        .iter()
        .any(|t| t.key_in(namespace) == *key)
}

fn add_level(
    levels: &mut Vec<PriorityLevel>,
    priority: i32,
    demand: &Demand,
    dims: usize,
    add: bool,
) {
    let pos = match levels.binary_search_by_key(&priority, |l| l.priority) {
        Ok(pos) => pos,
        Err(pos) => {
            levels.insert(
                pos,
                PriorityLevel {
                    priority,
                    pods: 0,
                    sum: vec![0; dims],
                },
            );
            pos
        }
    };
    let level = &mut levels[pos];
    level.sum.resize(dims, 0);
    for &(d, a) in &demand.dims {
        if add {
            level.sum[d] += a;
        } else {
            level.sum[d] -= a;
        }
    }
    if add {
        level.pods += 1;
    } else {
        level.pods -= 1;
        if level.pods == 0 {
            levels.remove(pos);
        }
    }
}
