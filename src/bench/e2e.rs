//! `skiff bench e2e`: the whole control plane at scale, on one machine. An API server on a
//! fresh store (embedded, then etcd), skiff's scheduler and N simulated nodes in this
//! process, as `skiff up --simulated-nodes N` runs them; then P pods of one Deployment-like
//! template are created through the API, and the clock runs until every one is Running.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use skiff_agents::watched::WatchedPod;
use skiff_agents::{scheduler, simnode};
use skiff_client::{Client, EventType};

use super::api::serve;
use super::chart;
use super::report::{Report, Row, per_sec, thousands};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated nodes.
    #[arg(long, default_value_t = 5_000)]
    nodes: usize,
    /// Pods to run.
    #[arg(long, default_value_t = 150_000)]
    pods: usize,
    /// Small sizes (500 nodes, 10,000 pods), for a quick check that everything runs.
    #[arg(long)]
    quick: bool,
    /// Measure only this store: `embedded` or `etcd` (default: both).
    #[arg(long)]
    store: Option<String>,
    /// Pod creations in flight at once (the creating controller's concurrency).
    #[arg(long, default_value_t = 64)]
    creators: usize,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Where to write e2e.json.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

const NAMESPACE: &str = "e2e";
/// Each simulated node: 4 CPUs, 32Gi, 110 pods (the `skiff up` template).
const POD_CPU: &str = "100m";
const POD_CPU_MILLIS: i128 = 100;
const POD_MEMORY: &str = "128Mi";

/// One run's timings, in seconds from the first pod creation.
#[derive(Debug, Default)]
pub(super) struct Measured {
    register_nodes: f64,
    created: f64,
    scheduled: f64,
    running: f64,
    nodes_used: usize,
    /// Problems the check of the final state found (see [`verify`]).
    violations: usize,
    /// Pods Running over time: (seconds, count), every half second.
    pub(super) timeline: Vec<(f64, usize)>,
}

pub fn run(args: Args) -> Result<()> {
    let (nodes, pods) = if args.quick {
        (500, 10_000)
    } else {
        (args.nodes, args.pods)
    };
    anyhow::ensure!(
        pods <= nodes * 40,
        "{pods} pods do not fit on {nodes} nodes of 4 CPUs at {POD_CPU} each"
    );
    let stores: Vec<&str> = match args.store.as_deref() {
        None => vec!["embedded", "etcd"],
        Some(s @ ("embedded" | "etcd")) => vec![s],
        Some(other) => bail!("--store {other:?}: must be embedded or etcd"),
    };
    let mut report = Report::new(
        &format!(
            "skiff bench e2e: {} pods on {} simulated nodes",
            thousands(pods as f64),
            thousands(nodes as f64)
        ),
        &stores,
    );
    let mut results: Vec<Option<Measured>> = Vec::new();
    for store in &stores {
        let rt = tokio::runtime::Runtime::new()?;
        let etcd = *store == "etcd";
        let cluster = rt.block_on(serve(etcd))?;
        let m = rt
            .block_on(measure(&cluster.0, etcd, nodes, pods, &args))
            .with_context(|| format!("e2e on {store}"))?;
        // The agents run until their runtime stops: stop it, and them, before the store.
        rt.shutdown_timeout(Duration::from_secs(5));
        drop(cluster);
        results.push(Some(m));
    }
    let col = |f: &dyn Fn(&Measured) -> f64| -> Vec<Option<f64>> {
        results.iter().map(|m| m.as_ref().map(f)).collect()
    };
    let secs = |v: f64| format!("{v:.1} s");
    let first_running = results[0].as_ref().map(|m| m.running).unwrap_or(f64::MAX);
    let embedded_first = stores[0] == "embedded";
    // The target is set for Kubernetes' scalability envelope.
    let envelope = nodes == 5_000 && pods == 150_000;
    report.rows.extend([
        Row::new(
            format!("register {} nodes", thousands(nodes as f64)),
            &secs,
            &col(&|m| m.register_nodes),
            None,
        ),
        Row::new(
            "pod creates",
            &per_sec,
            &col(&|m| pods as f64 / m.created),
            None,
        ),
        Row::new("all pods created", &secs, &col(&|m| m.created), None),
        Row::new("all pods scheduled", &secs, &col(&|m| m.scheduled), None),
        Row::new(
            "all pods Running",
            &secs,
            &col(&|m| m.running),
            (embedded_first && envelope).then_some(("<= 30 s", first_running <= 30.0)),
        ),
        Row::new(
            "end to end",
            &per_sec,
            &col(&|m| pods as f64 / m.running),
            None,
        ),
        Row::new(
            "nodes used",
            &|v| thousands(v),
            &col(&|m| m.nodes_used as f64),
            None,
        ),
        Row::new(
            "violations",
            &|v| thousands(v),
            &col(&|m| m.violations as f64),
            Some(("0", results.iter().flatten().all(|m| m.violations == 0))),
        ),
    ]);
    report.notes.push(format!(
        "pods request {POD_CPU} CPU and {POD_MEMORY}; nodes have 4 CPUs, so at least {} nodes are needed",
        pods.div_ceil(40)
    ));
    report.notes.push(format!(
        "{} concurrent creators in process, as a controller; scheduler and simulated nodes in process, as `skiff up --simulated-nodes`",
        args.creators
    ));
    if !envelope {
        report.notes.push(
            "not the 5,000-node, 150,000-pod envelope: not comparable with the target".into(),
        );
    }
    print!("{}", report.render());
    let json = report.write_json(&args.out, "e2e")?;
    let svg = args.out.join("e2e.svg");
    let series: Vec<(&str, &[(f64, usize)])> = stores
        .iter()
        .zip(&results)
        .filter_map(|(s, m)| m.as_ref().map(|m| (*s, m.timeline.as_slice())))
        .collect();
    std::fs::write(&svg, chart::timeline_svg(&report.title, pods, &series))
        .with_context(|| format!("writing {}", svg.display()))?;
    println!("results: {} and {}", json.display(), svg.display());
    let violations: usize = results.iter().flatten().map(|m| m.violations).sum();
    anyhow::ensure!(
        violations == 0,
        "{violations} problems in the final state (above)"
    );
    Ok(())
}

async fn measure(
    running: &skiff_apiserver::Running,
    etcd: bool,
    nodes: usize,
    pods: usize,
    args: &Args,
) -> Result<Measured> {
    let name = if etcd { "etcd" } else { "embedded" };
    let client = Client::in_process(Arc::clone(&running.app));
    let mut m = Measured::default();

    eprintln!("{name}: registering {nodes} simulated nodes");
    let start = Instant::now();
    simnode::start(
        client.clone(),
        simnode::Options {
            count: nodes,
            ..simnode::Options::default()
        },
    )
    .await?;
    m.register_nodes = start.elapsed().as_secs_f64();
    scheduler::spawn(client.clone(), scheduler::Options::default());
    client
        .post(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        )
        .await?;

    let progress = Arc::new(Progress::new(pods));
    let watcher = tokio::spawn(watch_progress(client.clone(), Arc::clone(&progress)));
    eprintln!("{name}: creating {pods} pods");
    let start = Instant::now();
    let mut creating = Some(tokio::spawn(create_pods(
        client.clone(),
        pods,
        args.creators,
    )));
    let deadline = start + Duration::from_secs(args.timeout);
    let mut last_report = Instant::now();
    let mut last_sample = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (created, scheduled, running_) = progress.counts();
        let now = Instant::now();
        if now - last_sample >= Duration::from_millis(500) {
            last_sample = now;
            m.timeline.push((start.elapsed().as_secs_f64(), running_));
        }
        if let Some(h) = creating.take_if(|h| h.is_finished()) {
            h.await??;
            m.created = start.elapsed().as_secs_f64();
        }
        if m.scheduled == 0.0 && scheduled == pods {
            m.scheduled = start.elapsed().as_secs_f64();
        }
        if running_ == pods {
            m.running = start.elapsed().as_secs_f64();
            m.timeline.push((m.running, running_));
            break;
        }
        if watcher.is_finished() {
            watcher.await??;
            bail!("the progress watch ended early");
        }
        if now > deadline {
            bail!(
                "after {} s: {created} created, {scheduled} scheduled, {running_} Running of {pods}",
                args.timeout
            );
        }
        if now - last_report >= Duration::from_secs(2) {
            last_report = now;
            eprintln!(
                "  {:>5.1} s: {created:>7} created  {scheduled:>7} scheduled  {running_:>7} Running",
                start.elapsed().as_secs_f64()
            );
        }
    }
    if let Some(h) = creating {
        h.await??;
        m.created = start.elapsed().as_secs_f64();
    }
    m.nodes_used = progress.nodes_used();
    eprintln!(
        "{name}: {pods} pods Running after {:.1} s on {} nodes",
        m.running, m.nodes_used
    );
    watcher.abort();
    let problems = verify(&client, pods).await?;
    for p in problems.iter().take(10) {
        eprintln!("{name}: PROBLEM: {p}");
    }
    m.violations = problems.len();
    Ok(m)
}

/// Checks the final state through the API, independently of the watch: every pod Running
/// on a node with a unique IP, and no node holding more than it has.
async fn verify(client: &Client, pods: usize) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Meta {
        name: String,
    }
    #[derive(Deserialize, Default)]
    struct Spec {
        #[serde(rename = "nodeName")]
        node_name: Option<String>,
    }
    #[derive(Deserialize)]
    struct Node {
        metadata: Meta,
        status: NodeStatus,
    }
    #[derive(Deserialize)]
    struct NodeStatus {
        allocatable: HashMap<String, String>,
    }
    #[derive(Deserialize)]
    struct Pod {
        metadata: Meta,
        #[serde(default)]
        spec: Spec,
        #[serde(default)]
        status: PodStatus,
    }
    #[derive(Deserialize, Default)]
    struct PodStatus {
        phase: Option<String>,
        #[serde(rename = "podIP")]
        pod_ip: Option<String>,
    }
    let nodes = client.list::<Node>("/api/v1/nodes").await?.items;
    let all = client
        .list::<Pod>(&format!("/api/v1/namespaces/{NAMESPACE}/pods"))
        .await?
        .items;
    let mut problems = Vec::new();
    if all.len() != pods {
        problems.push(format!("{} pods exist, {pods} were created", all.len()));
    }
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    let mut ips = std::collections::HashSet::new();
    for p in &all {
        let name = &p.metadata.name;
        match (&p.spec.node_name, p.status.phase.as_deref()) {
            (Some(node), Some("Running")) => *per_node.entry(node.as_str()).or_default() += 1,
            (node, phase) => problems.push(format!("pod {name}: node {node:?}, phase {phase:?}")),
        }
        match &p.status.pod_ip {
            Some(ip) if ips.insert(ip.as_str()) => {}
            ip => problems.push(format!("pod {name}: IP {ip:?} missing or not unique")),
        }
    }
    // Every pod requests POD_CPU_MILLIS of CPU; no node may hold more than its allocatable
    // CPU or pod count.
    for n in &nodes {
        let held = per_node.get(n.metadata.name.as_str()).copied().unwrap_or(0);
        let quantity = |k: &str| {
            n.status
                .allocatable
                .get(k)
                .and_then(|q| skiff_api::quantity::parse(q).ok())
        };
        let held = held as i128;
        let cpu_fits = quantity("cpu").is_some_and(|c| held * POD_CPU_MILLIS <= c.0);
        let pods_fit = quantity("pods").is_some_and(|c| held * 1000 <= c.0);
        if !(cpu_fits && pods_fit) {
            problems.push(format!("node {}: {held} pods do not fit", n.metadata.name));
        }
    }
    Ok(problems)
}

/// The pods, as a controller's replicas would be: one template, encoded once, around each
/// replica's name.
struct PodTemplate {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl PodTemplate {
    const NAME: &str = "\u{0}name\u{0}";

    fn new() -> Self {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": Self::NAME,
                "labels": {"app": "web", "pod-template-hash": "5d8f7c9b4"},
            },
            "spec": {
                "containers": [{
                    "name": "web",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}],
                    "resources": {"requests": {"cpu": POD_CPU, "memory": POD_MEMORY}},
                }],
            },
        });
        let text = pod.to_string();
        let placeholder = serde_json::to_string(Self::NAME).expect("a string encodes");
        let (head, tail) = text
            .split_once(&placeholder)
            .expect("the name is in the pod");
        PodTemplate {
            head: format!("{head}\"").into_bytes(),
            tail: format!("\"{tail}").into_bytes(),
        }
    }

    fn pod(&self, i: usize) -> bytes::Bytes {
        let name = format!("web-{i:06}");
        [&self.head[..], name.as_bytes(), &self.tail[..]]
            .concat()
            .into()
    }
}

async fn create_pods(client: Client, pods: usize, creators: usize) -> Result<()> {
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let template = PodTemplate::new();
    let mut results = futures::stream::iter(0..pods)
        .map(|i| {
            let (client, path, body) = (client.clone(), &path, template.pod(i));
            async move {
                client
                    .send("POST", path, "application/json", body)
                    .await
                    .with_context(|| format!("creating pod {i}"))
            }
        })
        .buffer_unordered(creators.max(1));
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}

/// What the watch has seen of each pod: 0 unseen, 1 created, 2 scheduled, 3 Running.
struct Progress {
    state: std::sync::Mutex<HashMap<String, (u8, Option<String>)>>,
    counts: [AtomicUsize; 3],
}

impl Progress {
    fn new(pods: usize) -> Self {
        Progress {
            state: std::sync::Mutex::new(HashMap::with_capacity(pods)),
            counts: Default::default(),
        }
    }

    fn counts(&self) -> (usize, usize, usize) {
        let c = |i: usize| self.counts[i].load(Ordering::Relaxed);
        (c(0), c(1), c(2))
    }

    /// Records that `name` reached `level` (pods only move forward).
    fn see(&self, name: String, level: u8, node: Option<String>) {
        let mut state = self.state.lock().expect("not poisoned");
        let entry = state.entry(name).or_insert((0, None));
        if node.is_some() {
            entry.1 = node;
        }
        while entry.0 < level {
            self.counts[entry.0 as usize].fetch_add(1, Ordering::Relaxed);
            entry.0 += 1;
        }
    }

    fn nodes_used(&self) -> usize {
        let state = self.state.lock().expect("not poisoned");
        let nodes: std::collections::HashSet<&str> =
            state.values().filter_map(|(_, n)| n.as_deref()).collect();
        nodes.len()
    }
}

async fn watch_progress(client: Client, progress: Arc<Progress>) -> Result<()> {
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let mut rv = client
        .list::<serde::de::IgnoredAny>(&path)
        .await?
        .resource_version;
    loop {
        let url = format!(
            "{path}?watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=3600"
        );
        let mut events = Box::pin(
            client
                .watch_with(&url, |json| Ok(WatchedPod::from_json(json)?))
                .await?,
        );
        while let Some(event) = events.next().await {
            let event = event?;
            if event.kind == EventType::Error {
                bail!("the progress watch failed: {:?}", event.error);
            }
            let Some(pod) = event.object else { continue };
            if let Some(v) = &pod.resource_version {
                rv.clone_from(v);
            }
            if event.kind == EventType::Bookmark || event.kind == EventType::Deleted {
                continue;
            }
            let level = if pod.phase.as_deref() == Some("Running") {
                3
            } else if pod.node_name.is_some() {
                2
            } else {
                1
            };
            progress.see(pod.name, level, pod.node_name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pod_template_names_each_replica() {
        let t = PodTemplate::new();
        let pod: serde_json::Value = serde_json::from_slice(&t.pod(42)).unwrap();
        assert_eq!(pod["metadata"]["name"], "web-000042");
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            POD_CPU
        );
    }

    #[test]
    fn progress_counts_each_pod_once_per_stage() {
        let p = Progress::new(4);
        p.see("a".into(), 1, None);
        p.see("a".into(), 3, Some("n1".into()));
        p.see("b".into(), 2, Some("n1".into()));
        p.see("a".into(), 2, Some("n1".into()));
        assert_eq!(p.counts(), (2, 2, 1));
        p.see("c".into(), 3, Some("n2".into()));
        assert_eq!(p.counts(), (3, 3, 2));
        assert_eq!(p.nodes_used(), 2);
    }
}
