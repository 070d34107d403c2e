//! `skiff bench scheduler`: the six workloads on skiff's core and, in the same run, on the
//! reference implementation of kube-scheduler's algorithm. Every run is verified.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde::Serialize;
use skiff_scheduler::reference::Reference;
use skiff_scheduler::{Config, Decision, Outcome, Pod, Scheduler, verify};

use super::chart;
use super::report::thousands;
use super::scheduler_workloads::{self as workloads, Scale, Workload};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Small sizes (500 nodes), for a quick check that everything runs.
    #[arg(long)]
    quick: bool,
    /// Run only these workloads (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Pods handed to skiff's scheduler at a time, as the driver hands it pending pods.
    #[arg(long, default_value_t = 4096)]
    batch: usize,
    /// Worker threads for skiff's scheduler (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Stop the reference after this many seconds per workload and report the rate so far.
    #[arg(long, default_value_t = 60)]
    reference_budget: u64,
    /// Where to write scheduler.json and scheduler.svg.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

/// One workload on one scheduler.
#[derive(Debug, Serialize)]
pub struct Run {
    pub workload: String,
    pub scheduler: String,
    pub threads: usize,
    pub pods: usize,
    /// Pods decided (fewer than `pods` when the reference ran out of budget).
    pub decided: usize,
    pub placed: usize,
    pub preempting: usize,
    pub rejected: usize,
    pub seconds: f64,
    pub pods_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub nodes_used: usize,
    pub lower_bound: usize,
    pub violations: Vec<String>,
}

impl Run {
    fn packing(&self) -> f64 {
        self.nodes_used as f64 / self.lower_bound.max(1) as f64
    }

    fn partial(&self) -> bool {
        self.decided < self.pods
    }

    fn line(&self) -> String {
        format!(
            "{:<14} {:<10} {:>9} pods/s  p50 {:>7}  p99 {:>7}  p999 {:>7}  nodes {:>5} / bound {:>5} = {:.3}  placed {:>6}  rejected {:>6}  violations {}{}",
            self.workload,
            self.scheduler,
            thousands(self.pods_per_sec),
            micros(self.p50_us),
            micros(self.p99_us),
            micros(self.p999_us),
            self.nodes_used,
            self.lower_bound,
            self.packing(),
            self.placed + self.preempting,
            self.rejected,
            self.violations.len(),
            if self.partial() {
                format!("  (first {} pods: out of time budget)", self.decided)
            } else {
                String::new()
            },
        )
    }
}

fn micros(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.1}ms", us / 1000.0)
    } else {
        format!("{us:.1}us")
    }
}

/// What both schedulers offer the benchmark.
enum Engine {
    Skiff(Box<Scheduler>),
    Reference(Box<Reference>),
}

impl Engine {
    fn name(&self) -> &'static str {
        match self {
            Engine::Skiff(_) => "skiff",
            Engine::Reference(_) => "kube-ref",
        }
    }

    fn threads(&self) -> usize {
        match self {
            Engine::Skiff(s) => s.config().workers,
            Engine::Reference(_) => 1,
        }
    }

    fn load(&mut self, w: &Workload) -> Result<()> {
        match self {
            Engine::Skiff(s) => {
                for n in &w.nodes {
                    s.set_node(n.clone());
                }
                for (p, n) in &w.running {
                    s.add_bound_pod(p.clone(), n)?;
                }
            }
            Engine::Reference(r) => {
                for n in &w.nodes {
                    r.add_node(n.clone());
                }
                for (p, n) in &w.running {
                    r.add_bound_pod(p.clone(), n);
                }
            }
        }
        Ok(())
    }

    fn schedule(&mut self, pods: Vec<Pod>) -> Vec<Decision> {
        match self {
            Engine::Skiff(s) => s.schedule(pods),
            Engine::Reference(r) => r.schedule(pods),
        }
    }

    fn placements(&self) -> Vec<(&Pod, &str)> {
        match self {
            Engine::Skiff(s) => s.placements().collect(),
            Engine::Reference(r) => r.placements().collect(),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let scale = if args.quick {
        Scale::QUICK
    } else {
        Scale::FULL
    };
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut runs: Vec<Run> = Vec::new();
    let mut wanted = workloads::all(scale);
    if !args.only.is_empty() {
        let known: Vec<&str> = wanted.iter().map(|w| w.name).collect();
        for o in &args.only {
            if !known.contains(&o.as_str()) {
                bail!(
                    "unknown workload {o:?}; the workloads are: {}",
                    known.join(", ")
                );
            }
        }
        wanted.retain(|w| args.only.iter().any(|o| o == w.name));
    }
    println!(
        "skiff bench scheduler ({} cores, {workers} scheduler threads){}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if args.quick { ", --quick sizes" } else { "" }
    );
    for w in &wanted {
        println!("{:<14} {}", w.name, w.description);
    }
    for w in &wanted {
        let skiff = Engine::Skiff(Box::new(Scheduler::new(Config {
            workers,
            ..Config::default()
        })));
        let reference = Engine::Reference(Box::new(Reference::new(None, 1)));
        for (engine, batch, budget) in [
            (skiff, args.batch, None),
            (
                reference,
                256,
                Some(Duration::from_secs(args.reference_budget)),
            ),
        ] {
            let run = measure(w, engine, batch, budget)?;
            println!("{}", run.line());
            for v in run.violations.iter().take(5) {
                println!("  violation: {v}");
            }
            runs.push(run);
        }
    }
    println!();
    for line in verdicts(&runs) {
        println!("{line}");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let json = args.out.join("scheduler.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&runs)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let svg = args.out.join("scheduler.svg");
    std::fs::write(&svg, chart::throughput_svg(&runs))
        .with_context(|| format!("writing {}", svg.display()))?;
    println!("results: {} and {}", json.display(), svg.display());
    if runs.iter().any(|r| !r.violations.is_empty()) {
        bail!("constraint violations found (listed above)");
    }
    Ok(())
}

fn measure(
    w: &Workload,
    mut engine: Engine,
    batch: usize,
    budget: Option<Duration>,
) -> Result<Run> {
    engine.load(w)?;
    let mut hist = Histogram::<u64>::new(3).expect("3 significant digits are valid");
    let (mut placed, mut preempting, mut decided) = (0, 0, 0);
    let mut rejected: Vec<Pod> = Vec::new();
    let mut busy = Duration::ZERO;
    let mut last_progress = Instant::now();
    for chunk in w.pods.chunks(batch.max(1)) {
        if budget.is_some_and(|b| busy >= b) {
            break;
        }
        let t = Instant::now();
        let decisions = engine.schedule(chunk.to_vec());
        busy += t.elapsed();
        decided += decisions.len();
        for d in decisions {
            hist.record(d.latency_ns.max(1)).ok();
            match d.outcome {
                Outcome::Bound { .. } => placed += 1,
                Outcome::Preempting { .. } => preempting += 1,
                Outcome::Unschedulable { pod, .. } => rejected.push(pod),
            }
        }
        if last_progress.elapsed() >= Duration::from_millis(500) {
            last_progress = Instant::now();
            eprint!(
                "\r{} {}: {decided}/{} pods   ",
                w.name,
                engine.name(),
                w.pods.len()
            );
        }
    }
    eprint!("\r{:60}\r", "");
    let placements = engine.placements();
    let mut used: Vec<&str> = placements.iter().map(|(_, n)| *n).collect();
    used.sort_unstable();
    used.dedup();
    let placed_pods: Vec<&Pod> = placements.iter().map(|(p, _)| *p).collect();
    let namespace_labels = Default::default();
    let violations = verify::check(&verify::Schedule {
        nodes: &w.nodes,
        placed: placements.clone(),
        rejected: rejected.iter().collect(),
        removals: !w.running.is_empty(),
        namespace_labels: &namespace_labels,
    });
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    Ok(Run {
        workload: w.name.to_owned(),
        scheduler: engine.name().to_owned(),
        threads: engine.threads(),
        pods: w.pods.len(),
        decided,
        placed,
        preempting,
        rejected: rejected.len(),
        seconds: busy.as_secs_f64(),
        pods_per_sec: decided as f64 / busy.as_secs_f64().max(1e-9),
        p50_us: q(0.5),
        p99_us: q(0.99),
        p999_us: q(0.999),
        nodes_used: used.len(),
        lower_bound: workloads::lower_bound(&w.nodes, &placed_pods),
        violations,
    })
}

/// The targets of BENCHMARKS.md, judged on this run.
fn verdicts(runs: &[Run]) -> Vec<String> {
    let find = |w: &str, s: &str| runs.iter().find(|r| r.workload == w && r.scheduler == s);
    let mut out = Vec::new();
    let mut judge = |what: String, ok: bool| {
        out.push(format!("{:<6} {what}", if ok { "met" } else { "MISSED" }));
    };
    if let Some(r) = find("basic-fill", "skiff") {
        judge(
            format!(
                "basic-fill >= 100,000 pods/s: {}",
                thousands(r.pods_per_sec)
            ),
            r.pods_per_sec >= 100_000.0,
        );
        judge(
            format!("basic-fill p99 decision <= 50us: {}", micros(r.p99_us)),
            r.p99_us <= 50.0,
        );
        judge(
            format!(
                "basic-fill packing <= 1.02 x lower bound: {:.3}",
                r.packing()
            ),
            r.packing() <= 1.02,
        );
    }
    for w in ["anti-affinity", "zone-spread"] {
        if let Some(r) = find(w, "skiff") {
            judge(
                format!("{w} >= 20,000 pods/s: {}", thousands(r.pods_per_sec)),
                r.pods_per_sec >= 20_000.0,
            );
        }
    }
    if let (Some(s), Some(k)) = (
        find("heterogeneous", "skiff"),
        find("heterogeneous", "kube-ref"),
    ) && !k.partial()
    {
        judge(
            format!(
                "heterogeneous: fewer nodes than the reference: {} vs {}",
                s.nodes_used, k.nodes_used
            ),
            s.nodes_used < k.nodes_used,
        );
    }
    judge(
        "no constraint violation in any run".into(),
        runs.iter().all(|r| r.violations.is_empty()),
    );
    for r in runs.iter().filter(|r| r.scheduler == "skiff") {
        if let Some(k) = find(&r.workload, "kube-ref") {
            let x = r.pods_per_sec / k.pods_per_sec.max(1e-9);
            out.push(format!(
                "       {:<14} skiff is {x:.0}x the reference",
                r.workload
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_workloads_verify_clean_on_both_schedulers() {
        for mut w in workloads::all(Scale::QUICK) {
            // A tenth of the quick size keeps this a unit test.
            let keep = w.pods.len() / 10;
            w.pods.truncate(keep);
            for engine in [
                Engine::Skiff(Box::new(Scheduler::new(Config::default()))),
                Engine::Reference(Box::new(Reference::new(None, 1))),
            ] {
                let name = engine.name();
                let run = measure(&w, engine, 512, None).unwrap();
                assert!(
                    run.violations.is_empty(),
                    "{} {name}: {:?}",
                    w.name,
                    run.violations
                );
                assert_eq!(run.decided, keep);
                assert!(run.placed + run.preempting > 0, "{} {name}", w.name);
            }
        }
    }
}
