//! Criterion benchmarks of the store's hot paths, embedded and etcd side by side:
//! durable write throughput (1 and 64 writers), watch delivery to 100 watchers, and LIST.
//!
//! `cargo bench --bench store` measures; `cargo test --benches` (part of `cargo xtask ci`) runs
//! every benchmark once at small sizes so they cannot rot. `skiff bench store` prints the
//! side-by-side table with the targets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use skiff::bench::store_workloads as work;
use skiff_store::{AnyStore, EmbeddedOptions, EmbeddedStore, EtcdStore};
use skiff_testkit::EtcdServer;

/// Criterion runs benchmarks in test mode (each once) unless cargo passes `--bench`.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

struct Backends {
    rt: tokio::runtime::Runtime,
    stores: Vec<(&'static str, AnyStore)>,
    _dir: tempfile::TempDir,
    _etcd: EtcdServer,
}

fn backends() -> Backends {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let etcd = EtcdServer::start().expect("start etcd (run `cargo xtask setup`)");
    let etcd_store = rt
        .block_on(EtcdStore::connect(&[etcd.endpoint().to_owned()]))
        .unwrap();
    Backends {
        rt,
        stores: vec![
            ("embedded", AnyStore::Embedded(embedded)),
            ("etcd", AnyStore::Etcd(etcd_store)),
        ],
        _dir: dir,
        _etcd: etcd,
    }
}

static RUN: AtomicUsize = AtomicUsize::new(0);

fn fresh_prefix(what: &str) -> String {
    format!("/bench/{what}/{}/", RUN.fetch_add(1, Ordering::Relaxed))
}

fn store_benches(c: &mut Criterion) {
    let b = backends();

    let mut group = c.benchmark_group("store_write");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    for (name, store) in &b.stores {
        for writers in [1, 64] {
            group.bench_with_input(BenchmarkId::new(*name, writers), &writers, |bench, &w| {
                bench.iter_custom(|iters| {
                    let n = (iters as usize).max(w);
                    let d =
                        b.rt.block_on(work::write(store, &fresh_prefix("w"), w, n, 1024))
                            .unwrap();
                    d.mul_f64(iters as f64 / n as f64)
                });
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("store_watch_100_watchers");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for (name, store) in &b.stores {
        group.bench_function(*name, |bench| {
            bench.iter_custom(|iters| {
                let start = std::time::Instant::now();
                b.rt.block_on(work::watch_latency(
                    store,
                    &fresh_prefix("watch"),
                    100,
                    iters as usize,
                ))
                .unwrap();
                start.elapsed()
            });
        });
    }
    group.finish();

    let objects = if measuring() { 150_000 } else { 1_000 };
    let mut group = c.benchmark_group("store_list");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for (name, store) in &b.stores {
        group.bench_function(BenchmarkId::new(*name, objects), |bench| {
            // Populated here so a filtered-out benchmark costs nothing.
            let prefix = fresh_prefix("list");
            b.rt.block_on(work::write(store, &prefix, 64, objects, 1024))
                .unwrap();
            bench.iter(|| {
                let (_, n) = b.rt.block_on(work::list(store, &prefix)).unwrap();
                assert_eq!(n, objects);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, store_benches);
criterion_main!(benches);
