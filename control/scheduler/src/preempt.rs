//! Preemption: when a pod fits nowhere, evict the cheapest set of lower-priority pods from one
//! node, as kube-scheduler's DefaultPreemption does.
//!
//! On a node where only resolvable filters failed (resources, anti-affinity, spread skew),
//! the potential victims are the pods of lower priority. If the pod fits with all of them gone,
//! they are reprieved one at a time, most important first (higher priority, then earlier
//! start), as long as the pod still fits; the rest are the victims. Among candidate nodes the
//! one chosen has, in order: the lowest highest-victim priority, the lowest sum of victim
//! priorities, the fewest victims, the latest-started highest-priority victims.
//!
//! Evaluating every node this way is too slow for thousands of nodes, so nodes are screened
//! first with per-priority resource sums: the lowest priority level whose eviction frees
//! enough is a lower bound on a node's highest victim priority. Nodes are evaluated exactly
//! in order of that bound, and the search stops once the next bound cannot beat the best.

use smallvec::SmallVec;

use crate::diagnose::{Reason, node_reasons};
use crate::filter::untolerated_taint;
use crate::model::PreemptionPolicy;
use crate::nodes::NodeId;
use crate::plan::{Plan, node_affinity_ok};
use crate::pods::PodId;
use crate::state::State;

/// Nodes evaluated exactly among those tied on the screening bound.
const EXACT_PER_BOUND: usize = 16;

#[derive(Debug, PartialEq, Eq)]
pub struct Preemption {
    pub node: NodeId,
    pub victims: Vec<PodId>,
}

/// kube's ordering key for a candidate: lower is better.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cost {
    highest: i32,
    sum: i64,
    count: usize,
    /// Negated start of the earliest-started highest-priority victim (later is better).
    earliest_start: i64,
}

/// Finds a node and victims for `plan`'s pod at `priority`, or explains why there is none
/// (the "preemption: ..." part of the scheduling failure).
pub fn find(state: &State, plan: &Plan, priority: i32) -> Result<Preemption, String> {
    let nodes = &state.nodes;
    if plan.spec.preemption_policy == PreemptionPolicy::Never {
        return Err("preemption: not eligible due to preemptionPolicy=Never.".into());
    }
    let Some(demand) = plan.demand() else {
        return Err(summary(state, plan, |_| true));
    };
    // Screening: the lowest priority whose eviction (with everything below it) frees enough.
    let mut screened: Vec<(i32, NodeId)> = Vec::new();
    for node in nodes.ids() {
        if !statically_ok(state, plan, node) {
            continue;
        }
        let info = nodes.info(node);
        let mut freed: SmallVec<[u64; 8]> = SmallVec::from_elem(0, nodes.resources.len());
        let fits = |freed: &[u64]| {
            demand
                .dims
                .iter()
                .all(|&(d, a)| nodes.capacity.free(node as usize, d) + freed[d] >= a)
        };
        for level in info.levels.iter().take_while(|l| l.priority < priority) {
            for (f, s) in freed.iter_mut().zip(&level.sum) {
                *f += s;
            }
            if fits(&freed) {
                screened.push((level.priority, node));
                break;
            }
        }
    }
    screened.sort_by_key(|&(bound, _)| bound);
    let mut best: Option<(Cost, Preemption)> = None;
    let mut evaluated_at_bound = 0;
    let mut last_bound = None;
    for &(bound, node) in &screened {
        if best.as_ref().is_some_and(|(cost, _)| bound > cost.highest) {
            break;
        }
        if last_bound != Some(bound) {
            last_bound = Some(bound);
            evaluated_at_bound = 0;
        }
        if best.is_some() && evaluated_at_bound >= EXACT_PER_BOUND {
            continue;
        }
        evaluated_at_bound += 1;
        if let Some(candidate) = victims_on(state, plan, priority, node)
            && best.as_ref().is_none_or(|(c, _)| candidate.0 < *c)
        {
            best = Some(candidate);
        }
    }
    match best {
        Some((_, p)) => Ok(p),
        None => Err(summary(state, plan, |node| {
            !statically_ok(state, plan, node)
                || node_reasons(state, plan, node)
                    .iter()
                    .any(Reason::unresolvable)
        })),
    }
}

/// Whether the node passes the filters eviction cannot change.
fn statically_ok(state: &State, plan: &Plan, node: NodeId) -> bool {
    let info = state.nodes.info(node);
    plan.classes.binary_search(&info.class).is_ok()
        && (!plan.per_node_affinity || node_affinity_ok(&plan.spec, &info.node))
        && untolerated_taint(&info.node.taints, &plan.spec.tolerations).is_none()
}

fn summary(state: &State, plan: &Plan, unhelpful: impl Fn(NodeId) -> bool) -> String {
    let (mut not_helpful, mut no_victims) = (0, 0);
    for node in state.nodes.ids() {
        if plan.demand.is_err() || unhelpful(node) {
            not_helpful += 1;
        } else {
            no_victims += 1;
        }
    }
    let mut parts = Vec::new();
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
    format!(
        "preemption: 0/{} nodes are available: {}.",
        state.nodes.len(),
        parts.join(", ")
    )
}

/// kube's selectVictimsOnNode: the fewest, least important lower-priority pods to evict.
fn victims_on(
    state: &State,
    plan: &Plan,
    priority: i32,
    node: NodeId,
) -> Option<(Cost, Preemption)> {
    let info = state.nodes.info(node);
    let mut potential: Vec<PodId> = info
        .pods
        .iter()
        .copied()
        .filter(|&p| state.pods.get(p).pod.priority < priority)
        .collect();
    if potential.is_empty() {
        return None;
    }
    // Most important first: higher priority, then started earlier.
    potential.sort_by_key(|&p| {
        let r = state.pods.get(p);
        (std::cmp::Reverse(r.pod.priority), r.seq)
    });
    let mut removed = potential.clone();
    if !fits_without(state, plan, node, &removed) {
        return None;
    }
    let mut victims = Vec::new();
    for &p in &potential {
        let pos = removed.iter().position(|&r| r == p).expect("removed");
        removed.swap_remove(pos);
        if !fits_without(state, plan, node, &removed) {
            removed.push(p);
            victims.push(p);
        }
    }
    let highest = victims
        .iter()
        .map(|&v| state.pods.get(v).pod.priority)
        .max()?;
    let cost = Cost {
        highest,
        sum: victims
            .iter()
            .map(|&v| i64::from(state.pods.get(v).pod.priority) + i64::from(i32::MAX) + 1)
            .sum(),
        count: victims.len(),
        earliest_start: -victims
            .iter()
            .map(|&v| state.pods.get(v))
            .filter(|r| r.pod.priority == highest)
            .map(|r| r.seq as i64)
            .min()
            .unwrap_or(0),
    };
    Some((cost, Preemption { node, victims }))
}

/// Whether the pod would fit on `node` if the pods `removed` (all on that node) were gone.
fn fits_without(state: &State, plan: &Plan, node: NodeId, removed: &[PodId]) -> bool {
    let Some(demand) = plan.demand() else {
        return false;
    };
    let cap = &state.nodes.capacity;
    let resources_ok = demand.dims.iter().all(|&(d, a)| {
        let freed: u64 = removed
            .iter()
            .map(|&p| state.pods.get(p).demand.get(d))
            .sum();
        cap.free(node as usize, d) + freed >= a
    });
    resources_ok && {
        let class = state.nodes.info(node).class;
        state
            .violation(plan, None, node, class, false, removed)
            .is_none()
    }
}
