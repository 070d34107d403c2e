//! Criterion benchmarks of the API server's pure hot paths: admitting a pod (decode,
//! default, validate), a strategic merge patch, a table of pods, and selector matching.
//!
//! Each compares against a baseline in the same run: admission against a plain JSON parse
//! and serialization of the same pod (the floor any API server pays).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use skiff_api::resources;
use skiff_api::selector::Selector;

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "uid": "u", "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"app": "web", "tier": "frontend"}},
        "spec": {"containers": [{
            "name": "app", "image": "registry.local/app:1.0",
            "ports": [{"containerPort": 8080, "name": "http"}],
            "env": [{"name": "MODE", "value": "prod"}, {"name": "LOG", "value": "info"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}
        }]}
    })
}

fn api_benches(c: &mut Criterion) {
    let pods = resources::find("", "v1", "pods").unwrap();
    let ops = skiff_api::kinds::ops(pods);
    let body = serde_json::to_vec(&pod()).unwrap();
    let mut g = c.benchmark_group("admit_pod");
    g.bench_function("baseline_parse_and_serialize", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(&body).unwrap();
            serde_json::to_vec(&v).unwrap()
        })
    });
    g.bench_function("skiff_admit", |b| {
        b.iter_batched(
            || serde_json::from_slice::<Value>(&body).unwrap(),
            |v| ops.admit(pods, v, None).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let deployments = resources::find("apps", "v1", "deployments").unwrap();
    let deploy = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "template": {"spec": {
        "containers": [{"name": "a", "image": "x:1", "env": [{"name": "A", "value": "1"}]}, {"name": "b", "image": "y:1"}]}}}});
    let set_image = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "b", "image": "y:2"}]}}}});
    c.bench_function("strategic_merge_set_image", |b| {
        b.iter(|| skiff_api::patch::strategic_merge(deployments.kind, &deploy, &set_image).unwrap())
    });

    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = (0..1000).map(|_| pod()).collect();
    c.bench_function("table_1000_pods", |b| {
        b.iter(|| {
            rows.iter()
                .map(|p| {
                    skiff_api::table::row("Pod", p, skiff_api::table::IncludeObject::Metadata, now)
                })
                .collect::<Vec<_>>()
        })
    });

    let sel = Selector::parse("app=web,tier in (frontend,backend),!canary").unwrap();
    let obj = pod();
    c.bench_function("label_selector_match", |b| {
        b.iter(|| sel.matches_object(&obj))
    });
}

criterion_group!(benches, api_benches);
criterion_main!(benches);
