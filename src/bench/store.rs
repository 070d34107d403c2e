//! `skiff bench store`: the store workloads on the embedded backend and on etcd, side by side.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use skiff_store::{AnyStore, EmbeddedOptions, EmbeddedStore, EtcdStore};
use skiff_testkit::EtcdServer;

use super::report::{Report, Row, median, millis, per_sec, thousands};
use super::store_workloads as work;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Small sizes, for a quick check that everything runs.
    #[arg(long)]
    quick: bool,
    /// Compare against this etcd instead of starting one (e.g. http://127.0.0.1:2379).
    #[arg(long, value_delimiter = ',')]
    etcd_endpoints: Vec<String>,
    /// Where to write store.json.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

struct Sizes {
    writes_single: usize,
    writes_concurrent: usize,
    repeats: usize,
    watch_writes: usize,
    list_objects: usize,
}

const WATCHERS: usize = 100;
const CONCURRENT_WRITERS: usize = 64;
const VALUE_BYTES: usize = 1024;

/// Results for one backend.
#[derive(Default)]
struct Measured {
    single: Option<f64>,
    concurrent: Option<f64>,
    watch_p50_us: Option<f64>,
    watch_p99_us: Option<f64>,
    list_ms: Option<f64>,
}

pub fn run(args: Args) -> Result<()> {
    let sizes = if args.quick {
        Sizes {
            writes_single: 200,
            writes_concurrent: 5_000,
            repeats: 1,
            watch_writes: 200,
            list_objects: 10_000,
        }
    } else {
        Sizes {
            writes_single: 2_000,
            writes_concurrent: 100_000,
            repeats: 3,
            watch_writes: 2_000,
            list_objects: 150_000,
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let mut report = Report::new("skiff bench store", &["embedded", "etcd"]);
        let ours = measure(&Backend::Embedded, &sizes).await?;
        let etcd = Backend::Etcd(args.etcd_endpoints.clone());
        let theirs = match measure(&etcd, &sizes).await {
            Ok(m) => m,
            Err(e) => {
                report.notes.push(format!("etcd not measured: {e:#}"));
                Measured::default()
            }
        };
        add_rows(&mut report, &ours, &theirs, &sizes);
        report
            .notes
            .push("each workload runs on a fresh store; writes are durable (fsync) on both".into());
        if args.quick {
            report
                .notes
                .push("--quick sizes: not comparable with the targets".into());
        }
        print!("{}", report.render());
        let path = report.write_json(&args.out, "store")?;
        println!("results: {}", path.display());
        anyhow::Ok(())
    })
}

enum Backend {
    Embedded,
    /// Endpoints of an existing etcd, or empty to start one per workload.
    Etcd(Vec<String>),
}

/// A store for one workload, with whatever keeps it alive.
struct Instance {
    store: AnyStore,
    _dir: Option<tempfile::TempDir>,
    _etcd: Option<EtcdServer>,
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Etcd(_) => "etcd",
        }
    }

    /// A fresh, empty store, so one workload's leftovers (data, background snapshots or
    /// compaction) do not disturb the next.
    async fn fresh(&self) -> Result<Instance> {
        match self {
            Backend::Embedded => {
                let dir = tempfile::Builder::new()
                    .prefix("skiff-bench-store-")
                    .tempdir()?;
                let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())?;
                Ok(Instance {
                    store: AnyStore::Embedded(store),
                    _dir: Some(dir),
                    _etcd: None,
                })
            }
            Backend::Etcd(endpoints) if !endpoints.is_empty() => Ok(Instance {
                store: AnyStore::Etcd(EtcdStore::connect(endpoints).await?),
                _dir: None,
                _etcd: None,
            }),
            Backend::Etcd(_) => {
                let server = tokio::task::spawn_blocking(EtcdServer::start).await??;
                let store = EtcdStore::connect(&[server.endpoint().to_owned()]).await?;
                Ok(Instance {
                    store: AnyStore::Etcd(store),
                    _dir: None,
                    _etcd: Some(server),
                })
            }
        }
    }
}

async fn measure(backend: &Backend, sizes: &Sizes) -> Result<Measured> {
    let name = backend.name();
    let mut m = Measured::default();
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();

    eprintln!("{name}: {} writes from 1 writer", sizes.writes_single);
    let mut samples = Vec::new();
    for r in 0..sizes.repeats {
        let i = backend.fresh().await?;
        let prefix = format!("/bench/w1/{r}/");
        let d = work::write(&i.store, &prefix, 1, sizes.writes_single, VALUE_BYTES)
            .await
            .context("single-writer workload")?;
        samples.push(rate(sizes.writes_single, d));
    }
    m.single = Some(median(&mut samples));

    eprintln!(
        "{name}: {} writes from {CONCURRENT_WRITERS} writers",
        sizes.writes_concurrent
    );
    let mut samples = Vec::new();
    for r in 0..sizes.repeats {
        let i = backend.fresh().await?;
        let prefix = format!("/bench/w64/{r}/");
        let n = sizes.writes_concurrent;
        let d = work::write(&i.store, &prefix, CONCURRENT_WRITERS, n, VALUE_BYTES)
            .await
            .context("concurrent-writer workload")?;
        samples.push(rate(n, d));
    }
    m.concurrent = Some(median(&mut samples));

    eprintln!("{name}: watch delivery to {WATCHERS} watchers");
    let i = backend.fresh().await?;
    let hist = work::watch_latency(&i.store, "/bench/watch/", WATCHERS, sizes.watch_writes)
        .await
        .context("watch workload")?;
    m.watch_p50_us = Some(hist.value_at_quantile(0.50) as f64);
    m.watch_p99_us = Some(hist.value_at_quantile(0.99) as f64);
    drop(i);

    eprintln!("{name}: LIST of {} objects", sizes.list_objects);
    let i = backend.fresh().await?;
    work::write(
        &i.store,
        "/bench/list/",
        CONCURRENT_WRITERS,
        sizes.list_objects,
        VALUE_BYTES,
    )
    .await
    .context("populating for LIST")?;
    let mut samples = Vec::new();
    for _ in 0..sizes.repeats.max(3) {
        let (d, n) = work::list(&i.store, "/bench/list/").await?;
        anyhow::ensure!(n == sizes.list_objects, "LIST returned {n} objects");
        samples.push(d.as_secs_f64() * 1000.0);
    }
    m.list_ms = Some(median(&mut samples));
    Ok(m)
}

fn add_rows(report: &mut Report, ours: &Measured, theirs: &Measured, sizes: &Sizes) {
    let us_as_ms = |v: f64| format!("{:.2} ms", v / 1000.0);
    report.rows.extend([
        Row::new(
            "durable writes, 1 writer",
            &per_sec,
            &[ours.single, theirs.single],
            None,
        ),
        Row::new(
            format!("durable writes, {CONCURRENT_WRITERS} writers"),
            &per_sec,
            &[ours.concurrent, theirs.concurrent],
            ours.concurrent.map(|v| (">= 50,000/s", v >= 50_000.0)),
        ),
        Row::new(
            format!("watch delivery p50, {WATCHERS} watchers"),
            &us_as_ms,
            &[ours.watch_p50_us, theirs.watch_p50_us],
            None,
        ),
        Row::new(
            format!("watch delivery p99, {WATCHERS} watchers"),
            &us_as_ms,
            &[ours.watch_p99_us, theirs.watch_p99_us],
            ours.watch_p99_us.map(|v| ("<= 1 ms", v <= 1000.0)),
        ),
        Row::new(
            format!("LIST {} x 1 KiB", thousands(sizes.list_objects as f64)),
            &millis,
            &[ours.list_ms, theirs.list_ms],
            ours.list_ms.map(|v| ("<= 300 ms", v <= 300.0)),
        ),
    ]);
}
