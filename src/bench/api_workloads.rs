//! API server workloads over HTTPS: creates, reads under load, big LISTs, watch fan-out.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::api_client::ApiClient;

/// A pod as users write them (~1 KiB of JSON).
pub fn pod(ns: &str, name: &str) -> Bytes {
    let v = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench", "tier": "web"}},
        "spec": {"containers": [{
            "name": "app",
            "image": "registry.local/bench/app:1.0",
            "ports": [{"containerPort": 8080, "name": "http"}],
            "env": [{"name": "MODE", "value": "bench"}, {"name": "LOG_LEVEL", "value": "info"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"cpu": "200m", "memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
        }]},
    });
    Bytes::from(v.to_string())
}

pub async fn namespace(client: &ApiClient, ns: &str) -> Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    match client
        .post("/api/v1/namespaces", Bytes::from(body.to_string()))
        .await?
    {
        201 | 409 => Ok(()),
        s => bail!("creating namespace {ns}: HTTP {s}"),
    }
}

/// Creates `total` pods from `workers` concurrent clients; returns the elapsed time.
pub async fn create_pods(
    client: &ApiClient,
    ns: &str,
    prefix: &str,
    workers: usize,
    total: usize,
) -> Result<Duration> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let client = client.clone();
        let (ns, prefix) = (ns.to_owned(), prefix.to_owned());
        let count = total / workers + usize::from(w < total % workers);
        tasks.push(tokio::spawn(async move {
            let path = format!("/api/v1/namespaces/{ns}/pods");
            for i in 0..count {
                let name = format!("{prefix}-{w}-{i}");
                let status = client.post(&path, pod(&ns, &name)).await?;
                if status != 201 {
                    bail!("creating pod {name}: HTTP {status}");
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await.context("create worker")??;
    }
    Ok(start.elapsed())
}

/// Latencies (µs) of GETs of one pod and LISTs of a 100-object namespace, measured while
/// `workers` clients create `total` pods.
pub async fn reads_under_load(
    client: &ApiClient,
    workers: usize,
    total: usize,
) -> Result<(Histogram<u64>, Histogram<u64>)> {
    namespace(client, "bench-read").await?;
    for i in 0..100 {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}")}, "data": {"k": "v"}});
        client
            .post(
                "/api/v1/namespaces/bench-read/configmaps",
                Bytes::from(cm.to_string()),
            )
            .await?;
    }
    client
        .post(
            "/api/v1/namespaces/bench-read/pods",
            pod("bench-read", "target"),
        )
        .await?;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..4 {
        let client = client.clone();
        let done = Arc::clone(&done);
        readers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let path = if r % 2 == 0 {
                    "/api/v1/namespaces/bench-read/pods/target"
                } else {
                    "/api/v1/namespaces/bench-read/configmaps"
                };
                let t = Instant::now();
                let (status, _) = client.get(path).await?;
                if status != 200 {
                    bail!("GET {path}: HTTP {status}");
                }
                hist.record(t.elapsed().as_micros() as u64)?;
            }
            anyhow::Ok((r % 2 == 0, hist))
        }));
    }
    namespace(client, "bench-load").await?;
    let load = create_pods(client, "bench-load", "load", workers, total).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    load?;
    let mut gets = Histogram::<u64>::new(3)?;
    let mut lists = Histogram::<u64>::new(3)?;
    for r in readers {
        let (is_get, h) = r.await.context("reader")??;
        if is_get { gets.add(h)? } else { lists.add(h)? }
    }
    Ok((gets, lists))
}

/// Time and size of one LIST of every pod in `ns`.
pub async fn list(client: &ApiClient, ns: &str) -> Result<(Duration, usize, usize)> {
    let t = Instant::now();
    let (status, body) = client.get(&format!("/api/v1/namespaces/{ns}/pods")).await?;
    let elapsed = t.elapsed();
    if status != 200 {
        bail!("LIST pods in {ns}: HTTP {status}");
    }
    // Counted after the clock stops: parsing is the client's work, not the server's.
    let v: Value = serde_json::from_slice(&body)?;
    let items = v["items"].as_array().map_or(0, Vec::len);
    Ok((elapsed, items, body.len()))
}

/// Latency (µs) from the start of each create until each of `watchers` watchers has seen it.
pub async fn watch_fanout(
    client: &ApiClient,
    watchers: usize,
    writes: usize,
) -> Result<Histogram<u64>> {
    let ns = "bench-watch";
    namespace(client, ns).await?;
    let (_, body) = client.get(&format!("/api/v1/namespaces/{ns}/pods")).await?;
    let rv = serde_json::from_slice::<Value>(&body)?["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_owned();
    let sent: Arc<Vec<OnceLock<Instant>>> =
        Arc::new((0..writes).map(|_| OnceLock::new()).collect());
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let mut resp = client
            .stream(&format!(
                "/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion={rv}"
            ))
            .await?;
        let sent = Arc::clone(&sent);
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let mut buf = Vec::new();
            let mut seen = 0;
            while seen < writes {
                let chunk = tokio::time::timeout(Duration::from_secs(30), resp.chunk())
                    .await
                    .context("watch stalled")??
                    .context("watch ended early")?;
                let now = Instant::now();
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let event: Value = serde_json::from_slice(&line)?;
                    let name = event["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default();
                    let i: usize = name.trim_start_matches("w-").parse()?;
                    let at = sent[i].get().context("event before its create started")?;
                    hist.record(now.duration_since(*at).as_micros() as u64)?;
                    seen += 1;
                }
            }
            anyhow::Ok(hist)
        }));
    }
    let path = format!("/api/v1/namespaces/{ns}/pods");
    for i in 0..writes {
        sent[i].set(Instant::now()).expect("set once");
        let status = client.post(&path, pod(ns, &format!("w-{i}"))).await?;
        if status != 201 {
            bail!("creating watched pod: HTTP {status}");
        }
    }
    let mut all = Histogram::<u64>::new(3)?;
    for t in tasks {
        all.add(t.await.context("watcher")??)?;
    }
    Ok(all)
}
