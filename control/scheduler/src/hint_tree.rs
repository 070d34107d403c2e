//! A segment tree of free-capacity hints over the nodes of one class, for first-fit search in
//! O(log n) instead of a scan.
//!
//! Leaves are the nodes themselves (their free capacity is read from [`Capacity`]); each inner
//! entry holds, per dimension, the largest free amount of any leaf below it. A subtree whose
//! hint is below a demand in some dimension cannot hold the pod and is skipped. The hints are
//! maintained without locks by the threads that change capacity:
//!
//! - after changing a leaf, a thread recomputes each ancestor from its children, stores it,
//!   and re-reads the children; if they moved meanwhile it recomputes again. It stops early
//!   when an ancestor already holds the value it computed.
//! - so when changes stop, every inner entry equals the maximum of its children (the last
//!   thread to store an entry saw its final children, or a later change re-propagated).
//!
//! While changes are in flight a hint may be briefly too high (a wasted descent) or too low
//! (a node missed by this search). The scheduler therefore treats a failed search as a hint
//! too: it rejects a pod only after an exact search with no concurrent writers.

use crate::capacity::Capacity;
use crate::resources::{Demand, MAX_DIMS};
use crate::sync::{AtomicU64, SC, fence};

/// Marks an empty leaf (padding, or a node that left the class).
pub const EMPTY: u32 = u32::MAX;

#[derive(Debug, Default)]
pub struct HintTree {
    /// Number of leaves, a power of two.
    leaves: usize,
    dims: usize,
    /// Inner entries `1..leaves`, `dims` values each (entry 0 unused).
    inner: Vec<AtomicU64>,
    /// The node at each leaf, or `EMPTY`.
    slots: Vec<u32>,
}

impl HintTree {
    /// A tree over `nodes` (in search order), with hints computed from `capacity`.
    pub fn build(nodes: &[u32], capacity: &Capacity, dims: usize) -> Self {
        let leaves = nodes.len().next_power_of_two().max(2);
        let mut slots = nodes.to_vec();
        slots.resize(leaves, EMPTY);
        let tree = HintTree {
            leaves,
            dims,
            inner: (0..leaves * dims).map(|_| AtomicU64::new(0)).collect(),
            slots,
        };
        for i in (1..leaves).rev() {
            for d in 0..dims {
                let m = tree
                    .child(capacity, 2 * i, d)
                    .max(tree.child(capacity, 2 * i + 1, d));
                tree.inner[i * dims + d].store(m, SC);
            }
        }
        tree
    }

    /// The nodes in search order (with `EMPTY` padding).
    pub fn slots(&self) -> &[u32] {
        &self.slots
    }

    /// Takes a node out of the tree (its leaf becomes empty). Call `update` after.
    pub fn vacate(&mut self, slot: usize) {
        self.slots[slot] = EMPTY;
    }

    fn leaf(&self, capacity: &Capacity, slot: usize, dim: usize) -> u64 {
        match self.slots[slot] {
            EMPTY => 0,
            node => capacity.free(node as usize, dim),
        }
    }

    /// The value of tree entry `i` (a leaf when `i >= leaves`) in `dim`.
    fn child(&self, capacity: &Capacity, i: usize, dim: usize) -> u64 {
        if i >= self.leaves {
            self.leaf(capacity, i - self.leaves, dim)
        } else {
            self.inner[i * self.dims + dim].load(SC)
        }
    }

    fn may_fit(&self, i: usize, demand: &Demand) -> bool {
        demand
            .dims
            .iter()
            .all(|&(d, a)| self.inner[i * self.dims + d].load(SC) >= a)
    }

    /// Re-propagates the hints above `slot` after its node's free capacity changed.
    pub fn update(&self, capacity: &Capacity, slot: usize) {
        // The leaf changed (a write) and its ancestors are read next: see `sync::SC`.
        fence(SC);
        let mut i = (self.leaves + slot) / 2;
        let mut computed = [0u64; MAX_DIMS];
        let computed = &mut computed[..self.dims];
        while i >= 1 {
            loop {
                let mut changed = false;
                for (d, c) in computed.iter_mut().enumerate() {
                    *c = self
                        .child(capacity, 2 * i, d)
                        .max(self.child(capacity, 2 * i + 1, d));
                    let cell = &self.inner[i * self.dims + d];
                    if cell.load(SC) != *c {
                        cell.store(*c, SC);
                        changed = true;
                    }
                }
                if !changed {
                    // Already right; anything above is the business of whoever set it.
                    return;
                }
                // Stored (a write), now re-read the children: see `sync::SC`.
                fence(SC);
                let stable = computed.iter().enumerate().all(|(d, c)| {
                    self.child(capacity, 2 * i, d)
                        .max(self.child(capacity, 2 * i + 1, d))
                        == *c
                });
                if stable {
                    break;
                }
            }
            i /= 2;
        }
    }

    /// The first slot at or after `from` whose node has room for `demand` right now.
    pub fn find_first(&self, capacity: &Capacity, from: usize, demand: &Demand) -> Option<usize> {
        if from >= self.leaves {
            return None;
        }
        self.search(capacity, 1, 0, self.leaves, from, demand)
    }

    fn search(
        &self,
        capacity: &Capacity,
        i: usize,
        lo: usize,
        hi: usize,
        from: usize,
        demand: &Demand,
    ) -> Option<usize> {
        if hi <= from {
            return None;
        }
        if i >= self.leaves {
            let slot = i - self.leaves;
            let node = self.slots[slot];
            return (node != EMPTY && capacity.fits(node as usize, demand)).then_some(slot);
        }
        if !self.may_fit(i, demand) {
            return None;
        }
        let mid = (lo + hi) / 2;
        self.search(capacity, 2 * i, lo, mid, from, demand)
            .or_else(|| self.search(capacity, 2 * i + 1, mid, hi, from, demand))
    }

    /// The node with the most free capacity in `dim` (by the hints), if it fits `demand`:
    /// the spreading profile's candidate. Descends towards the larger child in O(log n).
    pub fn find_roomiest(&self, capacity: &Capacity, dim: usize, demand: &Demand) -> Option<usize> {
        let mut i = 1;
        while i < self.leaves {
            let (l, r) = (
                self.child(capacity, 2 * i, dim),
                self.child(capacity, 2 * i + 1, dim),
            );
            i = if r > l { 2 * i + 1 } else { 2 * i };
        }
        let slot = i - self.leaves;
        let node = self.slots[slot];
        (node != EMPTY && capacity.fits(node as usize, demand)).then_some(slot)
    }

    /// Whether every inner hint equals the maximum of its children (true when quiescent).
    pub fn is_exact(&self, capacity: &Capacity) -> bool {
        (1..self.leaves).all(|i| {
            (0..self.dims).all(|d| {
                self.inner[i * self.dims + d].load(SC)
                    == self
                        .child(capacity, 2 * i, d)
                        .max(self.child(capacity, 2 * i + 1, d))
            })
        })
    }
}

#[cfg(all(test, not(skiff_loom)))]
mod tests {
    use super::*;
    use crate::resources::{CPU_DIM, PODS_DIM};
    use smallvec::smallvec;

    fn demand(cpu: u64) -> Demand {
        Demand {
            dims: smallvec![(CPU_DIM, cpu), (PODS_DIM, 1)],
        }
    }

    fn cluster(cpus: &[u64]) -> (Capacity, HintTree) {
        let mut c = Capacity::new(4);
        let nodes: Vec<u32> = cpus
            .iter()
            .map(|&cpu| c.push(&[cpu, 1 << 30, 0, 110]) as u32)
            .collect();
        let t = HintTree::build(&nodes, &c, 4);
        (c, t)
    }

    #[test]
    fn finds_the_first_node_with_room_from_a_position() {
        let (c, t) = cluster(&[100, 500, 200, 800, 300]);
        assert_eq!(t.find_first(&c, 0, &demand(150)), Some(1));
        assert_eq!(t.find_first(&c, 2, &demand(150)), Some(2));
        assert_eq!(t.find_first(&c, 0, &demand(600)), Some(3));
        assert_eq!(t.find_first(&c, 4, &demand(600)), None);
        assert_eq!(t.find_first(&c, 0, &demand(900)), None);
        assert_eq!(t.find_first(&c, 99, &demand(1)), None);
    }

    #[test]
    fn hints_follow_claims_and_releases() {
        let (c, t) = cluster(&[500, 500, 500]);
        let d = demand(400);
        c.try_claim(0, &d).unwrap();
        t.update(&c, 0);
        assert!(t.is_exact(&c));
        assert_eq!(t.find_first(&c, 0, &d), Some(1));
        c.try_claim(1, &d).unwrap();
        t.update(&c, 1);
        c.try_claim(2, &d).unwrap();
        t.update(&c, 2);
        assert_eq!(t.find_first(&c, 0, &d), None);
        c.release(1, &d);
        t.update(&c, 1);
        assert!(t.is_exact(&c));
        assert_eq!(t.find_first(&c, 0, &d), Some(1));
    }

    #[test]
    fn vacated_slots_are_never_found() {
        let (c, mut t) = cluster(&[500, 500]);
        t.vacate(0);
        t.update(&c, 0);
        assert_eq!(t.find_first(&c, 0, &demand(1)), Some(1));
    }

    #[test]
    fn concurrent_updates_leave_exact_hints() {
        let (c, t) = cluster(&[1000; 64]);
        std::thread::scope(|s| {
            for w in 0..4 {
                let (c, t) = (&c, &t);
                s.spawn(move || {
                    for round in 0..2000 {
                        let slot = (w * 7 + round * 13) % 64;
                        let d = demand(1 + (round % 5) as u64);
                        if c.try_claim(slot, &d).is_ok() {
                            t.update(c, slot);
                            if round % 3 == 0 {
                                c.release(slot, &d);
                                t.update(c, slot);
                            }
                        }
                    }
                });
            }
        });
        assert!(t.is_exact(&c));
    }
}
