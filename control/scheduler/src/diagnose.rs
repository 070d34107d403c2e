//! Why a pod fits nowhere, in kube-scheduler's words: "0/5000 nodes are available:
//! 4990 Insufficient cpu, 10 node(s) had untolerated taint {dedicated: gpu}."

use std::collections::BTreeMap;
use std::fmt;

use smallvec::SmallVec;

use crate::filter::{unschedulable_blocks, untolerated_taint};
use crate::nodes::NodeId;
use crate::plan::{Plan, node_affinity_ok};
use crate::resources::PODS_DIM;
use crate::state::State;

/// A filter's reason for rejecting a node; `Display` gives kube's text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    Unschedulable,
    UntoleratedTaint { key: String, value: String },
    NodeAffinity,
    Insufficient(String),
    TooManyPods,
    SpreadMissingLabel,
    Spread,
    Affinity,
    AntiAffinity,
    ExistingAntiAffinity,
}

impl Reason {
    /// Whether evicting pods from the node cannot help (kube's UnschedulableAndUnresolvable).
    pub fn unresolvable(&self) -> bool {
        matches!(
            self,
            Reason::Unschedulable
                | Reason::UntoleratedTaint { .. }
                | Reason::NodeAffinity
                | Reason::SpreadMissingLabel
                | Reason::Affinity
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unschedulable => f.write_str("node(s) were unschedulable"),
            Reason::UntoleratedTaint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            Reason::NodeAffinity => {
                f.write_str("node(s) didn't match Pod's node affinity/selector")
            }
            Reason::Insufficient(resource) => write!(f, "Insufficient {resource}"),
            Reason::TooManyPods => f.write_str("Too many pods"),
            Reason::SpreadMissingLabel => f.write_str(
                "node(s) didn't match pod topology spread constraints (missing required label)",
            ),
            Reason::Spread => f.write_str("node(s) didn't match pod topology spread constraints"),
            Reason::Affinity => f.write_str("node(s) didn't match pod affinity rules"),
            Reason::AntiAffinity => f.write_str("node(s) didn't match pod anti-affinity rules"),
            Reason::ExistingAntiAffinity => {
                f.write_str("node(s) didn't satisfy existing pods anti-affinity rules")
            }
        }
    }
}

/// The scheduling failure of a pod: reasons counted over all nodes, and what preemption found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FitError {
    pub nodes: usize,
    pub reasons: BTreeMap<Reason, usize>,
    /// The preemption summary, e.g. "preemption: 0/3 nodes are available: 3 No preemption
    /// victims found for incoming pod."
    pub preemption: Option<String>,
}

impl FitError {
    /// Reasons sorted the way kube sorts them (as "count reason" strings).
    fn histogram(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .reasons
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        v.sort();
        v
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nodes == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        write!(f, "0/{} nodes are available:", self.nodes)?;
        let reasons = self.histogram();
        if !reasons.is_empty() {
            write!(f, " {}.", reasons.join(", "))?;
        }
        if let Some(p) = &self.preemption {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

/// The reasons `node` rejects the pod: those of the first failing filter, in kube's order
/// (NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit, PodTopologySpread,
/// InterPodAffinity). Empty if the node fits. Exact only without concurrent placements.
pub fn node_reasons(state: &State, plan: &Plan, node: NodeId) -> SmallVec<[Reason; 2]> {
    let info = state.nodes.info(node);
    let spec = &plan.spec;
    let mut out = SmallVec::new();
    if unschedulable_blocks(&info.node, &spec.tolerations) {
        out.push(Reason::Unschedulable);
        return out;
    }
    if let Some(t) = untolerated_taint(&info.node.taints, &spec.tolerations) {
        out.push(Reason::UntoleratedTaint {
            key: t.key.clone(),
            value: t.value.clone(),
        });
        return out;
    }
    if !node_affinity_ok(spec, &info.node) {
        out.push(Reason::NodeAffinity);
        return out;
    }
    match &plan.demand {
        Err(resource) => out.push(Reason::Insufficient(resource.clone())),
        Ok(demand) => {
            let cap = &state.nodes.capacity;
            for &(d, amount) in &demand.dims {
                if cap.free(node as usize, d) < amount {
                    out.push(if d == PODS_DIM {
                        Reason::TooManyPods
                    } else {
                        Reason::Insufficient(state.nodes.resources.name(d).to_owned())
                    });
                }
            }
        }
    }
    if !out.is_empty() {
        return out;
    }
    if let Some(r) = state.violation(plan, None, node, info.class, false, &[]) {
        out.push(r);
    }
    out
}

/// Reasons counted over every node.
pub fn fit_error(state: &State, plan: &Plan) -> FitError {
    let mut reasons = BTreeMap::new();
    for node in state.nodes.ids() {
        for r in node_reasons(state, plan, node) {
            *reasons.entry(r).or_insert(0) += 1;
        }
    }
    FitError {
        nodes: state.nodes.len(),
        reasons,
        preemption: None,
    }
}

#[cfg(all(test, not(skiff_loom)))]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_kube() {
        let mut reasons = BTreeMap::new();
        reasons.insert(Reason::Insufficient("cpu".into()), 4990);
        reasons.insert(
            Reason::UntoleratedTaint {
                key: "dedicated".into(),
                value: "gpu".into(),
            },
            10,
        );
        let e = FitError {
            nodes: 5000,
            reasons,
            preemption: Some(
                "preemption: 0/5000 nodes are available: 5000 Preemption is not helpful for scheduling."
                    .into(),
            ),
        };
        assert_eq!(
            e.to_string(),
            "0/5000 nodes are available: 10 node(s) had untolerated taint {dedicated: gpu}, \
             4990 Insufficient cpu. preemption: 0/5000 nodes are available: 5000 Preemption is \
             not helpful for scheduling."
        );
        let none = FitError {
            nodes: 0,
            reasons: BTreeMap::new(),
            preemption: None,
        };
        assert_eq!(none.to_string(), "no nodes available to schedule pods");
    }
}
