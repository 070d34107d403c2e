//! Placing one pod: find candidate nodes, rank them, claim the best. The hot path; many
//! threads run it at once over one [`State`], with no lock.
//!
//! A placement is optimistic. The search reads capacity and counters without reserving
//! anything; the claim then (1) takes capacity with CAS, (2) reserves the pod in the counters
//! of every term it matches or carries, (3) re-validates every constraint against the
//! counters, which now include the pod itself and everything reserved before it, and (4)
//! commits, or rolls back and tries the next candidate. Two placements that would break a
//! constraint together cannot both pass step 3: each reserves before it validates, so the
//! later one sees the earlier. A rollback can make a concurrent placement fail spuriously
//! (it saw a reservation that went away), never succeed wrongly.

use smallvec::SmallVec;

use crate::diagnose::Reason;
use crate::model::Profile;
use crate::nodes::{ClassId, NodeId};
use crate::plan::{Plan, SpreadCheck, counted_in_domain, exact_min, node_affinity_ok};
use crate::pods::PodId;
use crate::resources::{CPU_DIM, Demand};
use crate::score;
use crate::state::State;
use crate::state::carries;
use crate::sync::{SC, fence};
use crate::terms::{Counters, Level, Term, Which};

/// Rounds of search and claim before a pod is handed to the exact (single-threaded) pass.
const ATTEMPTS: usize = 4;

#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub node: NodeId,
    pub class: ClassId,
    pub slot: usize,
}

/// How a search runs.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// Candidates to rank.
    pub candidates: usize,
    /// No concurrent placements: search every node from the start, so that finding nothing
    /// means nothing fits.
    pub exact: bool,
}

impl State {
    /// Places a pod; `None` if no node was found (definitive only in exact mode).
    pub fn place(&self, plan: &Plan, mode: Mode) -> Option<NodeId> {
        let demand = plan.demand()?;
        let mut candidates: SmallVec<[Candidate; 8]> = SmallVec::new();
        for _ in 0..ATTEMPTS {
            candidates.clear();
            self.collect(plan, demand, mode, &mut candidates);
            if candidates.is_empty() {
                return None;
            }
            if candidates.len() > 1 {
                score::rank(self, plan, demand, &mut candidates);
            }
            for c in &candidates {
                if self.claim(plan, demand, c) {
                    return Some(c.node);
                }
            }
        }
        None
    }

    /// Claims a specific node for the pod (after preemption made room there).
    pub fn place_on(&self, plan: &Plan, node: NodeId) -> bool {
        let Some(demand) = plan.demand() else {
            return false;
        };
        let info = self.nodes.info(node);
        let c = Candidate {
            node,
            class: info.class,
            slot: info.slot,
        };
        self.claim(plan, demand, &c)
    }

    fn collect(
        &self,
        plan: &Plan,
        demand: &Demand,
        mode: Mode,
        out: &mut SmallVec<[Candidate; 8]>,
    ) {
        let nodes = &self.nodes;
        let want = mode.candidates.max(1);
        if let Some(pinned) = &plan.pinned {
            for &node in pinned {
                let info = nodes.info(node);
                if plan.classes.binary_search(&info.class).is_ok()
                    && nodes.capacity.fits(node as usize, demand)
                    && self.class_ok(plan, info.class)
                    && self.node_ok(plan, node)
                {
                    out.push(Candidate {
                        node,
                        class: info.class,
                        slot: info.slot,
                    });
                }
            }
            return;
        }
        if plan.profile == Profile::Spread {
            // Least-allocated: the roomiest node (in CPU) of each class competes.
            for &class in &plan.classes {
                if !self.class_ok(plan, class) {
                    continue;
                }
                let tree = &nodes.class(class).tree;
                if let Some(slot) = tree.find_roomiest(&nodes.capacity, CPU_DIM, demand) {
                    let node = tree.slots()[slot];
                    if self.node_ok(plan, node) {
                        out.push(Candidate { node, class, slot });
                    }
                }
            }
            if !out.is_empty() {
                return;
            }
        }
        for &class in &plan.classes {
            if !self.class_ok(plan, class) {
                continue;
            }
            let tree = &nodes.class(class).tree;
            let start = match (mode.exact, plan.cursor) {
                (false, Some(t)) => self.terms.get(t).cursor(class),
                _ => 0,
            };
            // From the cursor to the end, then wrap around to it.
            for (from, until) in [(start, usize::MAX), (0, start)] {
                let mut slot = from;
                while out.len() < want {
                    let Some(found) = tree.find_first(&nodes.capacity, slot, demand) else {
                        break;
                    };
                    if found >= until {
                        break;
                    }
                    let node = tree.slots()[found];
                    if self.node_ok(plan, node) {
                        out.push(Candidate {
                            node,
                            class,
                            slot: found,
                        });
                    }
                    slot = found + 1;
                }
            }
            if out.len() >= want {
                return;
            }
        }
    }

    /// The first pod of a group with affinity to itself may go anywhere (kube's rule: no pod
    /// anywhere matches the terms, and the pod matches them all).
    fn first_of_group(&self, plan: &Plan) -> bool {
        plan.affinity
            .iter()
            .all(|&(t, self_match)| self_match && self.terms.get(t).total_matchers.load(SC) == 0)
    }

    fn unit(&self, term: &Term, node: NodeId, class: ClassId) -> Option<u32> {
        self.terms.unit(term, &self.nodes, node, class)
    }

    /// Constraints with class-level topology, checked before searching a class.
    fn class_ok(&self, plan: &Plan, class: ClassId) -> bool {
        self.violation(plan, Some(Level::Class), NodeId::MAX, class, false, &[])
            .is_none()
    }

    /// Node-level constraints and node affinity, checked on each node found.
    fn node_ok(&self, plan: &Plan, node: NodeId) -> bool {
        let info = self.nodes.info(node);
        (!plan.per_node_affinity || node_affinity_ok(&plan.spec, &info.node))
            && self
                .violation(plan, Some(Level::Node), node, info.class, false, &[])
                .is_none()
    }

    /// The first pod-placement constraint (topology spread, then inter-pod affinity, in
    /// kube's order) the pod would break on `node`, considering terms of `level` (or all).
    /// `placed`: the pod's own reservations are already in the counters. `removed`: placed
    /// pods on `node` to count as gone (preemption's what-if; serial only).
    pub(crate) fn violation(
        &self,
        plan: &Plan,
        level: Option<Level>,
        node: NodeId,
        class: ClassId,
        placed: bool,
        removed: &[PodId],
    ) -> Option<Reason> {
        let terms = &self.terms;
        let at_level = |t: u32| {
            let term = terms.get(t);
            level.is_none_or(|l| term.level == l).then_some(term)
        };
        let gone = |term: &Term, which: Which| -> u32 {
            removed
                .iter()
                .filter(|&&p| {
                    let pod = &self.pods.get(p).pod;
                    match which {
                        Which::Matchers => term.matches(
                            pod.namespace(),
                            &pod.labels,
                            terms.namespace_labels.get(pod.namespace()),
                        ),
                        Which::Carriers => carries(&pod.spec, pod.namespace(), &term.key),
                    }
                })
                .count() as u32
        };
        for check in &plan.spread {
            let Some(term) = at_level(check.term) else {
                continue;
            };
            let Some(u) = self.unit(term, node, class) else {
                return Some(Reason::SpreadMissingLabel);
            };
            let ok = if removed.is_empty() {
                self.spread_ok(check, u, placed)
            } else {
                let count = counted_in_domain(self, check, u, true) - gone(term, Which::Matchers);
                let mut min = exact_min(self, check);
                if check.counted.get(u as usize).copied().unwrap_or(false) {
                    min = min.min(count);
                }
                (count + u32::from(check.self_match)).saturating_sub(min) <= check.max_skew
            };
            if !ok {
                return Some(Reason::Spread);
            }
        }
        let mut first: Option<bool> = None;
        for &(t, _) in &plan.affinity {
            let Some(term) = at_level(t) else { continue };
            let Some(u) = self.unit(term, node, class) else {
                return Some(Reason::Affinity);
            };
            if terms.committed_in_domain(term, u, Which::Matchers) == gone(term, Which::Matchers)
                && !*first.get_or_insert_with(|| self.first_of_group(plan))
            {
                return Some(Reason::Affinity);
            }
        }
        for &(t, self_match) in &plan.anti {
            let Some(term) = at_level(t) else { continue };
            if let Some(u) = self.unit(term, node, class) {
                let own = u32::from(placed && self_match) + gone(term, Which::Matchers);
                if terms.pending_in_domain(term, u, Which::Matchers) > own {
                    return Some(Reason::AntiAffinity);
                }
            }
        }
        for &(t, self_carries) in &plan.repelled_by {
            let Some(term) = at_level(t) else { continue };
            if let Some(u) = self.unit(term, node, class) {
                let own = u32::from(placed && self_carries) + gone(term, Which::Carriers);
                if terms.pending_in_domain(term, u, Which::Carriers) > own {
                    return Some(Reason::ExistingAntiAffinity);
                }
            }
        }
        None
    }

    /// kube's skew rule: matching pods in the domain, plus this one if it matches, minus the
    /// smallest domain's count, must not exceed `maxSkew`.
    /// `check.min` must be a lower bound of the true minimum (see `Plan::refresh_minima`).
    fn spread_ok(&self, check: &SpreadCheck, unit: u32, placed: bool) -> bool {
        let own = u32::from(!placed && check.self_match);
        let count = counted_in_domain(self, check, unit, true) + own;
        let skew_ok = |min: u32| count.saturating_sub(min) <= check.max_skew;
        if skew_ok(check.min.load(SC)) {
            return true;
        }
        // Counts only grow while pods are placed, so the cached minimum is a lower bound;
        // the true one may allow this.
        let min = exact_min(self, check);
        check.min.fetch_max(min, SC);
        skew_ok(min)
    }

    /// Claims `c` for the pod: capacity, then counters, then validation; commits or rolls back.
    fn claim(&self, plan: &Plan, demand: &Demand, c: &Candidate) -> bool {
        let nodes = &self.nodes;
        if nodes.capacity.try_claim(c.node as usize, demand).is_err() {
            return false;
        }
        let mut reserved: SmallVec<[(&Counters, u32, Option<&Term>); 8]> = SmallVec::new();
        for &t in &plan.matched {
            let term = self.terms.get(t);
            if let Some(u) = self.unit(term, c.node, c.class) {
                term.matchers.reserve(u);
                reserved.push((&term.matchers, u, Some(term)));
            }
        }
        for &(t, _) in &plan.anti {
            let term = self.terms.get(t);
            if let Some(u) = self.unit(term, c.node, c.class) {
                term.carriers.reserve(u);
                reserved.push((&term.carriers, u, None));
            }
        }
        // Reserved (writes), now validate against others' reservations (reads): a pod
        // matching a term and a pod carrying it must see each other. See `sync::SC`.
        fence(SC);
        let valid = self
            .violation(plan, None, c.node, c.class, true, &[])
            .is_none();
        if !valid {
            for (counters, u, _) in reserved {
                counters.cancel(u);
            }
            nodes.capacity.release(c.node as usize, demand);
            nodes.capacity_changed(c.node);
            return false;
        }
        for (counters, u, matcher) in reserved {
            counters.commit(u);
            if let Some(term) = matcher {
                term.total_matchers.fetch_add(1, SC);
            }
        }
        nodes.capacity_changed(c.node);
        if let Some(t) = plan.cursor {
            self.terms.get(t).advance_cursor(c.class, c.slot);
        }
        true
    }
}
