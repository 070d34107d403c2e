//! Per-node resource accounting, claimed with compare-and-swap.
//!
//! Invariant: for every node and dimension, `used <= allocatable` at every instant, except for
//! pods placed by someone else (`force_add`, e.g. a pod created with `spec.nodeName`), which
//! Kubernetes accounts for even when they over-commit a node. A claim takes each dimension
//! with its own CAS and gives back what it took when a later dimension does not fit, so a
//! concurrent observer can see a claim half-made (less free than there is, never more).

use crate::resources::{Demand, Dim};
use crate::sync::{AtomicU64, SC};

#[derive(Debug, Default)]
pub struct Capacity {
    dims: usize,
    alloc: Vec<u64>,
    used: Vec<AtomicU64>,
}

impl Capacity {
    pub fn new(dims: usize) -> Self {
        Capacity {
            dims,
            alloc: Vec::new(),
            used: Vec::new(),
        }
    }

    pub fn nodes(&self) -> usize {
        self.alloc.len().checked_div(self.dims).unwrap_or(0)
    }

    /// Adds a node with nothing used; returns its index.
    pub fn push(&mut self, allocatable: &[u64]) -> usize {
        assert_eq!(allocatable.len(), self.dims);
        self.alloc.extend_from_slice(allocatable);
        self.used.extend((0..self.dims).map(|_| AtomicU64::new(0)));
        self.nodes() - 1
    }

    /// Replaces a node's allocatable amounts, keeping what is used.
    pub fn set_allocatable(&mut self, node: usize, allocatable: &[u64]) {
        assert_eq!(allocatable.len(), self.dims);
        self.alloc[node * self.dims..(node + 1) * self.dims].copy_from_slice(allocatable);
    }

    /// Forgets everything used on `node` and gives it no capacity (a removed node).
    pub fn clear(&mut self, node: usize) {
        for d in 0..self.dims {
            self.alloc[node * self.dims + d] = 0;
            self.used[node * self.dims + d] = AtomicU64::new(0);
        }
    }

    /// Adds a dimension (a new extended resource) with zero capacity everywhere.
    pub fn add_dim(&mut self) {
        let nodes = self.nodes();
        let old = self.dims;
        let mut alloc = Vec::with_capacity(nodes * (old + 1));
        let mut used = Vec::with_capacity(nodes * (old + 1));
        for n in 0..nodes {
            for d in 0..old {
                alloc.push(self.alloc[n * old + d]);
                used.push(AtomicU64::new(self.used[n * old + d].load(SC)));
            }
            alloc.push(0);
            used.push(AtomicU64::new(0));
        }
        self.dims = old + 1;
        self.alloc = alloc;
        self.used = used;
    }

    pub fn allocatable(&self, node: usize, dim: Dim) -> u64 {
        self.alloc[node * self.dims + dim]
    }

    pub fn used(&self, node: usize, dim: Dim) -> u64 {
        self.used[node * self.dims + dim].load(SC)
    }

    pub fn free(&self, node: usize, dim: Dim) -> u64 {
        self.allocatable(node, dim)
            .saturating_sub(self.used(node, dim))
    }

    /// Whether `demand` fits in what is free on `node` right now (a hint: claim to be sure).
    pub fn fits(&self, node: usize, demand: &Demand) -> bool {
        demand.dims.iter().all(|&(d, a)| self.free(node, d) >= a)
    }

    /// Takes `demand` from `node` if it fits; otherwise takes nothing and returns the first
    /// dimension that did not fit.
    pub fn try_claim(&self, node: usize, demand: &Demand) -> Result<(), Dim> {
        let base = node * self.dims;
        for (i, &(d, amount)) in demand.dims.iter().enumerate() {
            let cap = self.alloc[base + d];
            let cell = &self.used[base + d];
            let mut current = cell.load(SC);
            loop {
                if current.checked_add(amount).is_none_or(|after| after > cap) {
                    for &(d, amount) in &demand.dims[..i] {
                        self.used[base + d].fetch_sub(amount, SC);
                    }
                    return Err(d);
                }
                match cell.compare_exchange_weak(current, current + amount, SC, SC) {
                    Ok(_) => break,
                    Err(actual) => current = actual,
                }
            }
        }
        Ok(())
    }

    /// Gives back a claimed (or force-added) demand.
    pub fn release(&self, node: usize, demand: &Demand) {
        let base = node * self.dims;
        for &(d, amount) in &demand.dims {
            self.used[base + d].fetch_sub(amount, SC);
        }
    }

    /// Accounts for a pod placed elsewhere, even beyond capacity.
    pub fn force_add(&self, node: usize, demand: &Demand) {
        let base = node * self.dims;
        for &(d, amount) in &demand.dims {
            self.used[base + d].fetch_add(amount, SC);
        }
    }
}

#[cfg(all(test, not(skiff_loom)))]
mod tests {
    use super::*;
    use crate::resources::{CPU_DIM, MEMORY_DIM, PODS_DIM};
    use smallvec::smallvec;

    fn demand(cpu: u64, mem: u64) -> Demand {
        Demand {
            dims: smallvec![(CPU_DIM, cpu), (MEMORY_DIM, mem), (PODS_DIM, 1)],
        }
    }

    #[test]
    fn claims_until_full_and_rolls_back_partial_claims() {
        let mut c = Capacity::new(4);
        let n = c.push(&[1000, 100, 0, 10]);
        assert!(c.try_claim(n, &demand(600, 50)).is_ok());
        assert_eq!(c.try_claim(n, &demand(600, 10)), Err(CPU_DIM));
        // CPU fits, memory does not: the CPU taken first must be given back.
        assert_eq!(c.try_claim(n, &demand(100, 60)), Err(MEMORY_DIM));
        assert_eq!(
            (
                c.used(n, CPU_DIM),
                c.used(n, MEMORY_DIM),
                c.used(n, PODS_DIM)
            ),
            (600, 50, 1)
        );
        c.release(n, &demand(600, 50));
        assert_eq!(c.free(n, CPU_DIM), 1000);
        c.force_add(n, &demand(2000, 0));
        assert_eq!(c.free(n, CPU_DIM), 0, "over-committed by a forced pod");
        c.add_dim();
        assert_eq!((c.used(n, CPU_DIM), c.allocatable(n, 4)), (2000, 0));
    }

    #[test]
    fn concurrent_claims_never_overcommit() {
        let mut c = Capacity::new(4);
        let n = c.push(&[10_000, 1 << 40, 0, 1000]);
        let won = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        if c.try_claim(n, &demand(7, 1)).is_ok() {
                            won.fetch_add(1, SC);
                        }
                    }
                });
            }
        });
        let won = won.into_inner();
        assert_eq!(won, 1000, "pods limit is the binding one");
        assert_eq!(c.used(n, CPU_DIM), 7 * won);
    }
}
