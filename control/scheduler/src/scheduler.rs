//! The scheduler: a batch of pods in, a decision per pod out.
//!
//! `schedule` runs in phases. Serial: register new terms, rebuild changed search trees, build
//! one [`Plan`] per group of identical pods. Parallel: worker threads take pods in priority
//! order and place them with CAS claims on the shared state (`place.rs`); no lock. Serial
//! again: pods that need one thread (required pod affinity) and pods the parallel search did
//! not place get an exact search; placements are recorded; pods that still fit nowhere try
//! preemption, and the rest get kube's explanation. Everything that changes the cluster's
//! structure (`set_node`, `remove_pod`, ...) takes `&mut self`, so it can never race with a
//! placement: the borrow checker keeps the phases apart.

use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::diagnose::{FitError, fit_error};
use crate::model::{Labels, Node, Pod, PodKey, PodSpec};
use crate::nodes::{NodeChange, NodeId};
use crate::place::Mode;
use crate::plan::{self, Plan};
use crate::preempt;
use crate::state::State;
use crate::sync::{AtomicU32, AtomicU64, SC};

#[derive(Clone, Debug)]
pub struct Config {
    /// Threads placing pods at once (including the caller's).
    pub workers: usize,
    /// Candidate nodes ranked per pod. More means closer to best-fit, and slower.
    pub candidates: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            candidates: 4,
        }
    }
}

/// What happened to a pod.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Placed on `node`: bind it there.
    Bound { node: Arc<str> },
    /// Placed on `node` once `victims` are evicted (kube's nominatedNodeName).
    Preempting {
        node: Arc<str>,
        victims: Vec<PodKey>,
    },
    /// Fits nowhere now; `error` says why, in kube's words. The pod is handed back.
    Unschedulable { pod: Pod, error: Arc<FitError> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub key: PodKey,
    pub outcome: Outcome,
    /// Time spent deciding this pod, in nanoseconds.
    pub latency_ns: u64,
}

/// A pod the scheduler does not know, or a node it does not know.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    UnknownNode(String),
    AlreadyPlaced(PodKey),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::UnknownNode(n) => write!(f, "node {n:?} is not known to the scheduler"),
            Error::AlreadyPlaced(k) => write!(f, "pod {k} is already placed"),
        }
    }
}

impl std::error::Error for Error {}

/// Pods handed to workers at a time.
const CHUNK: usize = 16;
const UNPLACED: u32 = u32::MAX;

#[derive(Debug)]
pub struct Scheduler {
    config: Config,
    state: State,
}

impl Scheduler {
    pub fn new(config: Config) -> Self {
        Scheduler {
            config,
            state: State::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn node_count(&self) -> usize {
        self.state.nodes.len()
    }

    pub fn pod_count(&self) -> usize {
        self.state.pods.len()
    }

    /// Adds a node or updates it (labels, taints, capacity, cordon). Its pods stay.
    pub fn set_node(&mut self, node: Node) {
        let existing = self.state.nodes.id(&node.name);
        if let Some(id) = existing {
            self.state.recount_node(id, false);
        }
        let change = self.state.nodes.set(node);
        self.state.terms.refresh(&self.state.nodes);
        match change {
            NodeChange::Added(id) => self.state.terms.forget_node(id),
            NodeChange::Updated(id) | NodeChange::Reclassified(id) => {
                self.state.recount_node(id, true)
            }
        }
    }

    /// Removes a node; the pods on it are forgotten and returned.
    pub fn remove_node(&mut self, name: &str) -> Vec<PodKey> {
        let Some(id) = self.state.nodes.id(name) else {
            return Vec::new();
        };
        let pods = self.state.nodes.info(id).pods.clone();
        let keys = pods
            .into_iter()
            .map(|p| self.state.remove_placed(p).pod.key)
            .collect();
        self.state.nodes.remove(name);
        self.state.terms.forget_node(id);
        self.state.terms.refresh(&self.state.nodes);
        keys
    }

    /// Sets a namespace's labels (for affinity terms with a namespace selector).
    pub fn set_namespace_labels(&mut self, namespace: &str, labels: Labels) {
        let terms = &mut self.state.terms;
        if terms.namespace_labels.get(namespace) == Some(&labels) {
            return;
        }
        terms.namespace_labels.insert(namespace.to_owned(), labels);
        let affected: Vec<u32> = (0..terms.len() as u32)
            .filter(|&t| terms.get(t).uses_namespace_selector())
            .collect();
        for t in affected {
            self.state.recount(t);
        }
    }

    /// Accounts for a pod already bound to `node` (by the user, or before a restart).
    pub fn add_bound_pod(&mut self, pod: Pod, node: &str) -> Result<(), Error> {
        let id = self
            .state
            .nodes
            .id(node)
            .ok_or_else(|| Error::UnknownNode(node.to_owned()))?;
        if self.state.pods.id(&pod.key).is_some() {
            return Err(Error::AlreadyPlaced(pod.key));
        }
        self.state.nodes.rebuild();
        self.state.terms.refresh(&self.state.nodes);
        self.state.add_placed(pod, id);
        Ok(())
    }

    /// Forgets a placed pod (deleted, or its binding failed). Returns whether it was known.
    pub fn remove_pod(&mut self, key: &PodKey) -> bool {
        match self.state.pods.id(key) {
            Some(id) => {
                self.state.remove_placed(id);
                true
            }
            None => false,
        }
    }

    /// The node a placed pod is on.
    pub fn node_of(&self, key: &PodKey) -> Option<&str> {
        let id = self.state.pods.id(key)?;
        Some(&self.state.nodes.info(self.state.pods.get(id).node).name)
    }

    /// The names of the nodes the scheduler knows.
    pub fn node_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.state
            .nodes
            .ids()
            .map(|id| &*self.state.nodes.info(id).name)
    }

    /// Every placed pod and its node.
    pub fn placements(&self) -> impl Iterator<Item = (&Pod, &str)> + '_ {
        self.state
            .pods
            .iter()
            .map(|(_, r)| (&r.pod, &*self.state.nodes.info(r.node).name))
    }

    /// Decides every pod of the batch; decisions come back in the batch's order.
    pub fn schedule(&mut self, pods: Vec<Pod>) -> Vec<Decision> {
        let n = pods.len();
        if n == 0 {
            return Vec::new();
        }
        // Serial: terms, trees, plans.
        let mut seen: FxHashMap<(usize, &str), ()> = FxHashMap::default();
        let mut to_register: Vec<(Arc<PodSpec>, Arc<str>)> = Vec::new();
        for pod in &pods {
            if seen
                .insert((Arc::as_ptr(&pod.spec) as usize, &pod.key.namespace), ())
                .is_none()
            {
                to_register.push((pod.spec.clone(), pod.key.namespace.clone()));
            }
        }
        drop(seen);
        self.state.nodes.rebuild();
        for (spec, ns) in &to_register {
            self.state.register_terms(spec, ns);
        }
        self.state.terms.refresh(&self.state.nodes);
        let mut plans: Vec<Plan> = Vec::new();
        let mut plan_of: Vec<u32> = Vec::with_capacity(n);
        let mut groups: FxHashMap<(usize, usize, &str), u32> = FxHashMap::default();
        for pod in &pods {
            let key = (
                Arc::as_ptr(&pod.spec) as usize,
                Arc::as_ptr(&pod.labels) as usize,
                &*pod.key.namespace,
            );
            let id = *groups.entry(key).or_insert_with(|| {
                plans.push(plan::build(
                    &self.state,
                    &pod.spec,
                    &pod.key.namespace,
                    &pod.labels,
                ));
                (plans.len() - 1) as u32
            });
            plan_of.push(id);
        }
        drop(groups);
        // Highest priority first; stable, so arrival order within a priority.
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(pods[i as usize].priority));

        let placed: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(UNPLACED)).collect();
        let latency: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
        let mode = Mode {
            candidates: self.config.candidates,
            exact: false,
        };
        {
            let state = &self.state;
            let next = std::sync::atomic::AtomicUsize::new(0);
            let work = || {
                loop {
                    let start = next.fetch_add(CHUNK, std::sync::atomic::Ordering::Relaxed);
                    if start >= n {
                        break;
                    }
                    for &i in &order[start..(start + CHUNK).min(n)] {
                        let plan = &plans[plan_of[i as usize] as usize];
                        if plan.serial {
                            continue;
                        }
                        let t = Instant::now();
                        if let Some(node) = state.place(plan, mode) {
                            placed[i as usize].store(node, SC);
                        }
                        latency[i as usize].store(t.elapsed().as_nanos() as u64, SC);
                    }
                }
            };
            let workers = self.config.workers.max(1).min(n.div_ceil(CHUNK));
            std::thread::scope(|s| {
                for _ in 1..workers {
                    s.spawn(work);
                }
                work();
            });
        }
        // Serial: the exact pass, for pods that need it or were not placed.
        let exact = Mode {
            candidates: self.config.candidates,
            exact: true,
        };
        for &i in &order {
            let i = i as usize;
            if placed[i].load(SC) != UNPLACED {
                continue;
            }
            let t = Instant::now();
            if let Some(node) = self.state.place(&plans[plan_of[i] as usize], exact) {
                placed[i].store(node, SC);
            }
            latency[i].fetch_add(t.elapsed().as_nanos() as u64, SC);
        }
        // Record placements; keep the unplaced pods for preemption.
        let mut outcomes: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
        let mut keys: Vec<PodKey> = Vec::with_capacity(n);
        let mut unplaced: Vec<(usize, Pod)> = Vec::new();
        for (i, pod) in pods.into_iter().enumerate() {
            keys.push(pod.key.clone());
            match placed[i].load(SC) {
                UNPLACED => unplaced.push((i, pod)),
                node => {
                    let demand = plans[plan_of[i] as usize].demand().expect("placed").clone();
                    self.state.record(pod, node, demand);
                    outcomes[i] = Some(Outcome::Bound {
                        node: self.state.nodes.info(node).name.clone(),
                    });
                }
            }
        }
        unplaced.sort_by_key(|(_, p)| std::cmp::Reverse(p.priority));
        let mut errors: FxHashMap<u32, Arc<FitError>> = FxHashMap::default();
        for (i, pod) in unplaced {
            let t = Instant::now();
            let plan = &plans[plan_of[i] as usize];
            outcomes[i] = Some(self.preempt_or_explain(pod, plan, &plans, &mut errors, plan_of[i]));
            latency[i].fetch_add(t.elapsed().as_nanos() as u64, SC);
        }
        keys.into_iter()
            .zip(outcomes)
            .zip(latency)
            .map(|((key, outcome), latency)| Decision {
                key,
                outcome: outcome.expect("every pod decided"),
                latency_ns: latency.into_inner(),
            })
            .collect()
    }

    fn preempt_or_explain(
        &mut self,
        pod: Pod,
        plan: &Plan,
        plans: &[Plan],
        errors: &mut FxHashMap<u32, Arc<FitError>>,
        plan_id: u32,
    ) -> Outcome {
        // A pod of the same group may have preempted meanwhile: try a plain placement first.
        let exact = Mode {
            candidates: self.config.candidates,
            exact: true,
        };
        if let Some(node) = self.state.place(plan, exact) {
            return self.record(pod, plan, node, Vec::new());
        }
        match preempt::find(&self.state, plan, pod.priority) {
            Ok(p) => {
                let victims: Vec<PodKey> = p
                    .victims
                    .iter()
                    .map(|&v| self.state.remove_placed(v).pod.key)
                    .collect();
                // Counts went down: cached spread minima may now be too high.
                for plan in plans {
                    plan.refresh_minima(&self.state);
                }
                let node = self.state.place_on(plan, p.node);
                debug_assert!(node, "the preemption candidate fits once victims are gone");
                if node {
                    return self.record(pod, plan, p.node, victims);
                }
                self.unschedulable(pod, plan, errors, plan_id, None)
            }
            Err(summary) => self.unschedulable(pod, plan, errors, plan_id, Some(summary)),
        }
    }

    fn record(&mut self, pod: Pod, plan: &Plan, node: NodeId, victims: Vec<PodKey>) -> Outcome {
        let demand = plan.demand().expect("placed").clone();
        self.state.record(pod, node, demand);
        let node = self.state.nodes.info(node).name.clone();
        if victims.is_empty() {
            Outcome::Bound { node }
        } else {
            Outcome::Preempting { node, victims }
        }
    }

    fn unschedulable(
        &self,
        pod: Pod,
        plan: &Plan,
        errors: &mut FxHashMap<u32, Arc<FitError>>,
        plan_id: u32,
        preemption: Option<String>,
    ) -> Outcome {
        let error = errors
            .entry(plan_id)
            .or_insert_with(|| {
                let mut e = fit_error(&self.state, plan);
                e.preemption = preemption;
                Arc::new(e)
            })
            .clone();
        Outcome::Unschedulable { pod, error }
    }
}
