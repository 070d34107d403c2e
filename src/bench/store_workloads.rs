//! Store workloads, generic over the backend. Used by `skiff bench store` and by the
//! criterion benchmarks in `benches/store.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use skiff_store::{Bytes, ListOptions, Store};

/// A value of `size` bytes, distinct per `i`.
pub fn value(i: usize, size: usize) -> Bytes {
    let mut v = format!("{{\"i\":{i},\"pad\":\"").into_bytes();
    v.resize(size.saturating_sub(2), b'x');
    v.extend_from_slice(b"\"}");
    Bytes::from(v)
}

/// Creates `total` new keys under `prefix` from `writers` concurrent writers; returns the
/// elapsed time. Every create waits for the store's acknowledgement (durable on both backends).
pub async fn write<S: Store + Clone>(
    store: &S,
    prefix: &str,
    writers: usize,
    total: usize,
    value_size: usize,
) -> Result<Duration> {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers {
        let store = store.clone();
        let prefix = prefix.to_owned();
        let count = total / writers + usize::from(w < total % writers);
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                let key = format!("{prefix}{w:03}-{i:08}");
                store.create(&key, value(i, value_size)).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await.context("writer task")??;
    }
    Ok(start.elapsed())
}

/// Latency from the start of each write until each of `watchers` watchers of the prefix has
/// received it, in microseconds. `writes` writes are made one after another.
pub async fn watch_latency<S: Store>(
    store: &S,
    prefix: &str,
    watchers: usize,
    writes: usize,
) -> Result<Histogram<u64>> {
    let sent: Arc<Vec<std::sync::OnceLock<Instant>>> =
        Arc::new((0..writes).map(|_| std::sync::OnceLock::new()).collect());
    let mut tasks = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let mut w = store.watch(prefix, 0).await?;
        let sent = Arc::clone(&sent);
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let mut seen = 0;
            while seen < writes {
                let events = w.next().await.context("watch ended early")??;
                let now = Instant::now();
                for e in &events {
                    let i: usize = e.kv.key[prefix.len()..].parse()?;
                    let at = sent[i].get().context("event before its write started")?;
                    hist.record(now.duration_since(*at).as_micros() as u64)?;
                    seen += 1;
                }
            }
            anyhow::Ok(hist)
        }));
    }
    for i in 0..writes {
        sent[i].set(Instant::now()).expect("set once");
        store.create(&format!("{prefix}{i}"), value(i, 256)).await?;
    }
    let mut all = Histogram::<u64>::new(3)?;
    for t in tasks {
        all.add(t.await.context("watcher task")??)?;
    }
    Ok(all)
}

/// Times one LIST of everything under `prefix`; returns the time and the number of keys.
pub async fn list<S: Store>(store: &S, prefix: &str) -> Result<(Duration, usize)> {
    let start = Instant::now();
    let result = store.list(prefix, ListOptions::default()).await?;
    Ok((start.elapsed(), result.kvs.len()))
}
