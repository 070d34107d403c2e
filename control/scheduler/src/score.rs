//! Scoring: kube-scheduler's score plugins and weights, applied to a few candidates.
//!
//! The resource formulas (most/least allocated, balanced allocation) are kube's, shared with
//! the reference scheduler. The bin-packing profile scores with most-allocated plus balanced
//! allocation, so a node is filled without stranding one resource; the spreading profile with
//! least-allocated plus balanced. Soft constraints use kube's default plugin weights:
//! TaintToleration 3, NodeAffinity 2, InterPodAffinity 2, PodTopologySpread 2, fit 1,
//! balanced 1. Each soft score is normalized over the candidates, as kube normalizes over
//! the nodes it scores.

use crate::filter::{intolerable_preferred_taints, preferred_node_affinity_score};
use crate::model::Profile;
use crate::place::Candidate;
use crate::plan::Plan;
use crate::resources::{CPU_DIM, Demand, MEMORY_DIM};
use crate::state::State;
use crate::terms::Which;

/// Requests assumed for scoring when a pod asks for none (kube's non-zero defaults).
pub const DEFAULT_CPU_MILLIS: u64 = 100;
pub const DEFAULT_MEMORY_BYTES: u64 = 200 << 20;

pub const MAX_SCORE: i64 = 100;

/// CPU and memory a pod counts for in scoring.
pub fn scoring_request(demand: &Demand) -> [u64; 2] {
    let cpu = demand.get(CPU_DIM);
    let memory = demand.get(MEMORY_DIM);
    [
        if cpu == 0 { DEFAULT_CPU_MILLIS } else { cpu },
        if memory == 0 {
            DEFAULT_MEMORY_BYTES
        } else {
            memory
        },
    ]
}

/// NodeResourcesFit's score for CPU and memory after adding the pod (0..=100).
pub fn fit_score(profile: Profile, requested: [u64; 2], allocatable: [u64; 2]) -> i64 {
    let per = |r: u64, a: u64| -> i64 {
        if a == 0 {
            return 0;
        }
        match profile {
            Profile::BinPack => (r.min(a) as i128 * 100 / a as i128) as i64,
            Profile::Spread if r > a => 0,
            Profile::Spread => ((a - r) as i128 * 100 / a as i128) as i64,
        }
    };
    (per(requested[0], allocatable[0]) + per(requested[1], allocatable[1])) / 2
}

/// NodeResourcesBalancedAllocation (0..=100): 100 when CPU and memory are equally used.
pub fn balanced_score(requested: [u64; 2], allocatable: [u64; 2]) -> i64 {
    let fractions: Vec<f64> = requested
        .iter()
        .zip(allocatable)
        .filter(|(_, a)| *a > 0)
        .map(|(r, a)| (*r as f64 / a as f64).min(1.0))
        .collect();
    let std = if fractions.len() == 2 {
        ((fractions[0] - fractions[1]) / 2.0).abs()
    } else {
        0.0
    };
    ((1.0 - std) * MAX_SCORE as f64) as i64
}

/// Maps raw scores to 0..=100 with the largest at 100 (`reverse`: the smallest at 100).
pub fn normalize(raw: &mut [i64], reverse: bool) {
    let max = raw.iter().copied().max().unwrap_or(0);
    for r in raw.iter_mut() {
        let s = if max == 0 { 0 } else { *r * MAX_SCORE / max };
        *r = if reverse { MAX_SCORE - s } else { s };
    }
}

/// Maps raw scores to 0..=100 from the smallest to the largest (InterPodAffinity's way).
pub fn normalize_range(raw: &mut [i64]) {
    let (min, max) = (
        raw.iter().copied().min().unwrap_or(0),
        raw.iter().copied().max().unwrap_or(0),
    );
    for r in raw.iter_mut() {
        *r = if max > min {
            (*r - min) * MAX_SCORE / (max - min)
        } else {
            0
        };
    }
}

/// Orders candidates best first (stable: ties keep search order).
pub fn rank(state: &State, plan: &Plan, demand: &Demand, candidates: &mut [Candidate]) {
    let cap = &state.nodes.capacity;
    let request = scoring_request(demand);
    let n = candidates.len();
    let mut total: Vec<i64> = candidates
        .iter()
        .map(|c| {
            let node = c.node as usize;
            let allocatable = [
                cap.allocatable(node, CPU_DIM),
                cap.allocatable(node, MEMORY_DIM),
            ];
            let requested = [
                cap.used(node, CPU_DIM) + request[0],
                cap.used(node, MEMORY_DIM) + request[1],
            ];
            fit_score(plan.profile, requested, allocatable) + balanced_score(requested, allocatable)
        })
        .collect();
    let spec = &plan.spec;
    let nodes = &state.nodes;
    let mut add = |weight: i64, raw: &mut Vec<i64>| {
        for (t, r) in total.iter_mut().zip(raw.iter()) {
            *t += weight * r;
        }
    };
    if !spec.tolerations.is_empty()
        || candidates
            .iter()
            .any(|c| !nodes.class(c.class).taints.is_empty())
    {
        let mut raw: Vec<i64> = candidates
            .iter()
            .map(|c| intolerable_preferred_taints(&nodes.class(c.class).taints, &spec.tolerations))
            .collect();
        normalize(&mut raw, true);
        add(3, &mut raw);
    }
    if !spec.node_affinity.preferred.is_empty() {
        let mut raw: Vec<i64> = candidates
            .iter()
            .map(|c| {
                let node = &nodes.info(c.node).node;
                preferred_node_affinity_score(&spec.node_affinity, &node.name, &node.labels)
            })
            .collect();
        normalize(&mut raw, false);
        add(2, &mut raw);
    }
    let in_domain = |t: u32, c: &Candidate| -> i64 {
        let term = state.terms.get(t);
        state
            .terms
            .unit(term, nodes, c.node, c.class)
            .map_or(0, |u| {
                i64::from(state.terms.committed_in_domain(term, u, Which::Matchers))
            })
    };
    if !plan.preferred_pods.is_empty() {
        let mut raw: Vec<i64> = candidates
            .iter()
            .map(|c| {
                plan.preferred_pods
                    .iter()
                    .map(|&(t, w)| w * in_domain(t, c))
                    .sum()
            })
            .collect();
        normalize_range(&mut raw);
        add(2, &mut raw);
    }
    if !plan.soft_spread.is_empty() {
        let mut raw: Vec<i64> = candidates
            .iter()
            .map(|c| plan.soft_spread.iter().map(|&t| in_domain(t, c)).sum())
            .collect();
        normalize(&mut raw, true);
        add(2, &mut raw);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(total[i]));
    let sorted: Vec<Candidate> = order.iter().map(|&i| candidates[i]).collect();
    candidates.copy_from_slice(&sorted);
}

#[cfg(all(test, not(skiff_loom)))]
mod tests {
    use super::*;

    #[test]
    fn resource_scores_match_kube() {
        let alloc = [4000, 32 << 30];
        // 2 of 4 CPUs, 8 of 32 GiB: most-allocated (50 + 25) / 2.
        assert_eq!(fit_score(Profile::BinPack, [2000, 8 << 30], alloc), 37);
        assert_eq!(fit_score(Profile::Spread, [2000, 8 << 30], alloc), 62);
        assert_eq!(
            fit_score(Profile::Spread, [5000, 8 << 30], alloc),
            37,
            "over-full scores 0"
        );
        // std of (0.5, 0.25) = 0.125.
        assert_eq!(balanced_score([2000, 8 << 30], alloc), 87);
        assert_eq!(balanced_score([1000, 8 << 30], alloc), 100);
        let mut raw = vec![0, 2, 4];
        normalize(&mut raw, true);
        assert_eq!(raw, vec![100, 50, 0]);
        let mut raw = vec![-5, 5, 0];
        normalize_range(&mut raw);
        assert_eq!(raw, vec![0, 100, 50]);
    }
}
