//! Model checks of the lock-free placement protocol: every interleaving of a few threads, as
//! loom explores them. Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg skiff_loom" cargo test -p skiff-scheduler --test loom --release
//! ```
//! (`cargo xtask ci` does, with its own target directory.)
#![cfg(skiff_loom)]

use loom::sync::Arc;
use loom::thread;
use skiff_scheduler::Counters;
use skiff_scheduler::capacity::Capacity;
use skiff_scheduler::hint_tree::HintTree;
use skiff_scheduler::resources::{CPU_DIM, Demand, MEMORY_DIM, PODS_DIM};

fn demand(cpu: u64, mem: u64) -> Demand {
    Demand {
        dims: [(CPU_DIM, cpu), (MEMORY_DIM, mem), (PODS_DIM, 1)]
            .into_iter()
            .collect(),
    }
}

fn capacity(nodes: &[[u64; 3]]) -> Capacity {
    let mut c = Capacity::new(4);
    for n in nodes {
        c.push(&[n[0], n[1], 0, n[2]]);
    }
    c
}

/// Two pods race for room for one: exactly one wins, and `used` never exceeds allocatable,
/// even while the loser rolls back a half-made claim.
#[test]
fn capacity_claims_never_overcommit() {
    loom::model(|| {
        // Room for one pod's CPU; memory for both, so a loser may fail on CPU after taking
        // nothing, or (other order of dims in the race) take memory and give it back.
        let cap = Arc::new(capacity(&[[1000, 4096, 10]]));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let cap = cap.clone();
                thread::spawn(move || {
                    let won = cap.try_claim(0, &demand(600, 1024)).is_ok();
                    assert!(cap.used(0, CPU_DIM) <= 1000);
                    assert!(cap.used(0, MEMORY_DIM) <= 4096);
                    won
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&w| w)
            .count();
        assert_eq!(wins, 1);
        assert_eq!(cap.used(0, CPU_DIM), 600);
        assert_eq!(cap.used(0, MEMORY_DIM), 1024);
        assert_eq!(cap.used(0, PODS_DIM), 1);
    });
}

/// A claim racing a release: the claim succeeds only if it fits at its instant; the final
/// accounting is exact either way.
#[test]
fn claim_and_release_race() {
    loom::model(|| {
        let cap = Arc::new(capacity(&[[1000, 4096, 10]]));
        let held = demand(800, 1024);
        cap.try_claim(0, &held).unwrap();
        let releaser = {
            let cap = cap.clone();
            thread::spawn(move || cap.release(0, &held))
        };
        let won = cap.try_claim(0, &demand(500, 1024)).is_ok();
        releaser.join().unwrap();
        let expected = if won { 500 } else { 0 };
        assert_eq!(cap.used(0, CPU_DIM), expected);
        assert_eq!(cap.used(0, MEMORY_DIM), if won { 1024 } else { 0 });
    });
}

/// Two threads change capacity under one parent and propagate; once both are done, every
/// hint is exact, so no node is hidden from the search.
#[test]
fn hint_tree_converges_after_concurrent_updates() {
    loom::model(|| {
        let cap = Arc::new(capacity(&[[1000, 4096, 10], [1000, 4096, 10]]));
        let tree = Arc::new(HintTree::build(&[0, 1], &cap, 4));
        let handles: Vec<_> = [(0usize, 700u64), (1, 300)]
            .into_iter()
            .map(|(node, cpu)| {
                let (cap, tree) = (cap.clone(), tree.clone());
                thread::spawn(move || {
                    cap.try_claim(node, &demand(cpu, 0)).unwrap();
                    tree.update(&cap, node);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(tree.is_exact(&cap));
        // The roomier node (700m free) is found for a 600m pod.
        assert_eq!(tree.find_first(&cap, 0, &demand(600, 0)), Some(1));
    });
}

/// The counters protocol for anti-affinity: two pods that repel each other race for one
/// domain. Each reserves, then validates that it is alone; at most one commits.
#[test]
fn reserve_then_validate_admits_at_most_one_of_two_repelling_pods() {
    loom::model(|| {
        let counters = Arc::new(Counters::with_units(1));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let c = counters.clone();
                thread::spawn(move || {
                    c.reserve(0);
                    if c.pending(0) > 1 {
                        c.cancel(0);
                        false
                    } else {
                        c.commit(0);
                        true
                    }
                })
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&a| a)
            .count();
        assert!(admitted <= 1);
        assert_eq!(counters.pending(0) as usize, admitted);
        assert_eq!(counters.committed(0) as usize, admitted);
    });
}

/// The cross pattern: a pod matching an anti-affinity term (it reserves in `matchers`) and a
/// pod carrying the term (it reserves in `carriers`) race for one domain. Each validates the
/// other's counter after a fence, as `place.rs` does; they cannot both be admitted.
#[test]
fn matcher_and_carrier_cannot_both_enter_one_domain() {
    loom::model(|| {
        let matchers = Arc::new(Counters::with_units(1));
        let carriers = Arc::new(Counters::with_units(1));
        let enter = |mine: Arc<Counters>, theirs: Arc<Counters>| {
            thread::spawn(move || {
                mine.reserve(0);
                loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
                if theirs.pending(0) > 0 {
                    mine.cancel(0);
                    false
                } else {
                    mine.commit(0);
                    true
                }
            })
        };
        let a = enter(matchers.clone(), carriers.clone());
        let b = enter(carriers.clone(), matchers.clone());
        let admitted = [a.join().unwrap(), b.join().unwrap()];
        assert!(!(admitted[0] && admitted[1]));
    });
}
