//! Criterion benchmarks of the scheduler's hot paths on a 5,000-node cluster (kube's
//! scheduler_perf node: 4 CPU, 32Gi, 110 pods), each beside its baseline in the same run:
//!
//! - one decision (place one pod, then remove it so every iteration sees the same cluster)
//!   against kube-scheduler's algorithm (the reference) deciding the same pod;
//! - one capacity claim and release (the CAS protocol) against the same arithmetic on plain
//!   integers (the floor).

use criterion::{Criterion, criterion_group, criterion_main};
use skiff::bench::scheduler_workloads::{Scale, Workload, all};
use skiff_scheduler::capacity::Capacity;
use skiff_scheduler::reference::Reference;
use skiff_scheduler::resources::{CPU_DIM, Demand, MEMORY_DIM, PODS_DIM};
use skiff_scheduler::{Config, Outcome, Scheduler};

fn envelope() -> Workload {
    all(Scale::FULL).into_iter().next().expect("basic-fill")
}

fn decision(c: &mut Criterion) {
    let w = envelope();
    let mut skiff = Scheduler::new(Config {
        workers: 1,
        ..Config::default()
    });
    let mut reference = Reference::new(None, 1);
    for n in &w.nodes {
        skiff.set_node(n.clone());
        reference.add_node(n.clone());
    }
    // Half full, so the search has to skip full nodes.
    let half = w.pods.len() / 2;
    for (d, p) in skiff.schedule(w.pods[..half].to_vec()).iter().zip(&w.pods) {
        if let Outcome::Bound { node } = &d.outcome {
            reference.add_bound_pod(p.clone(), node);
        }
    }
    let pod = w.pods[half].clone();
    let mut g = c.benchmark_group("one_decision_5000_nodes");
    g.bench_function("baseline_kube_algorithm", |b| {
        b.iter(|| {
            let key = pod.key.clone();
            reference.schedule_one(pod.clone());
            reference.remove_pod(&key)
        })
    });
    g.bench_function("skiff", |b| {
        b.iter(|| {
            let key = pod.key.clone();
            skiff.schedule(vec![pod.clone()]);
            skiff.remove_pod(&key)
        })
    });
    g.finish();
}

fn claim(c: &mut Criterion) {
    let mut cap = Capacity::new(4);
    cap.push(&[4000, 32 << 30, 0, 110]);
    let demand = Demand {
        dims: [(CPU_DIM, 100), (MEMORY_DIM, 500 << 20), (PODS_DIM, 1)]
            .into_iter()
            .collect(),
    };
    let mut g = c.benchmark_group("capacity_claim");
    g.bench_function("baseline_plain_arithmetic", |b| {
        let mut used = [0u64; 4];
        let alloc = [4000u64, 32 << 30, 0, 110];
        b.iter(|| {
            let fits = demand.dims.iter().all(|&(d, a)| used[d] + a <= alloc[d]);
            if fits {
                for &(d, a) in &demand.dims {
                    used[d] += a;
                }
                for &(d, a) in &demand.dims {
                    used[d] -= a;
                }
            }
            std::hint::black_box(fits)
        })
    });
    g.bench_function("skiff_cas_claim_release", |b| {
        b.iter(|| {
            let ok = cap.try_claim(0, &demand).is_ok();
            if ok {
                cap.release(0, &demand);
            }
            std::hint::black_box(ok)
        })
    });
    g.finish();
}

criterion_group!(benches, decision, claim);
criterion_main!(benches);
