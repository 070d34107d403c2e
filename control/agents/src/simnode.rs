//! Simulated nodes: a node agent without containers, for large clusters on one machine.
//!
//! N nodes from one template register (capacity, labels: hostname, zone, and
//! `skiff.io/simulated=true`), keep their Leases in `kube-node-lease` fresh in batches, and
//! run the pods bound to them: such a pod goes to Running with an IP from its node's /24,
//! and a pod being deleted is confirmed gone, as a kubelet would once its containers stop.
//! One watch and a bounded pool of requests serve all N nodes.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::{Value, json};
use skiff_client::{Client, status_code};
use tokio::sync::Semaphore;

use crate::informer::{self, Update};
use crate::watched::WatchedPod;

pub const SIMULATED_LABEL: &str = "skiff.io/simulated";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Most nodes one process simulates: each takes a /24 of 10.128.0.0/9.
pub const MAX_NODES: usize = 32_768;

#[derive(Clone, Debug)]
pub struct Options {
    pub count: usize,
    /// Node names are `<prefix>-00000`, `<prefix>-00001`, ...
    pub prefix: String,
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    pub zones: usize,
    /// How often each Lease is renewed.
    pub lease_interval: Duration,
    /// API requests in flight at once.
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            count: 0,
            prefix: "sim".into(),
            cpu: "4".into(),
            memory: "32Gi".into(),
            pods: 110,
            zones: 10,
            lease_interval: Duration::from_secs(10),
            concurrency: 128,
        }
    }
}

fn node_name(o: &Options, i: usize) -> String {
    format!("{}-{i:05}", o.prefix)
}

/// The node's pod range: 10.128.0.0/9 split into /24s.
fn pod_cidr(i: usize) -> (u8, u8) {
    (128 + (i / 256) as u8, (i % 256) as u8)
}

fn node_object(o: &Options, i: usize) -> Value {
    let name = node_name(o, i);
    let (a, b) = pod_cidr(i);
    let now = skiff_api::time::now();
    let capacity = json!({"cpu": o.cpu, "memory": o.memory, "pods": o.pods.to_string(), "ephemeral-storage": "100Gi"});
    let condition = |kind: &str, status: &str, reason: &str| json!({"type": kind, "status": status, "reason": reason, "lastHeartbeatTime": now, "lastTransitionTime": now});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                ZONE_LABEL: format!("zone-{}", i % o.zones.max(1)),
                SIMULATED_LABEL: "true",
            },
        },
        "spec": {"podCIDR": format!("10.{a}.{b}.0/24"), "podCIDRs": [format!("10.{a}.{b}.0/24")]},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": format!("10.{a}.{b}.1")},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "",
                "kernelVersion": "simulated", "osImage": "skiff simulated node",
                "containerRuntimeVersion": "simulated://1", "kubeletVersion": "v1.33.0-skiff",
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
            },
        },
    })
}

fn lease_object(o: &Options, i: usize) -> Value {
    let name = node_name(o, i);
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": 40,
            "renewTime": skiff_api::time::now_micro(),
        },
    })
}

/// Creates `object` at `path` if it does not exist; then, with `status_path`, sets its status
/// (the API server ignores status on create, and a node that comes back after a restart
/// reports Ready again).
async fn ensure(
    client: &Client,
    path: &str,
    object: &Value,
    status_path: Option<String>,
) -> Result<()> {
    match client.post(path, object).await {
        Ok(_) => {}
        Err(e) if status_code(&e) == Some(409) => {}
        Err(e) => return Err(e),
    }
    if let Some(sp) = status_path {
        client
            .merge_patch(&sp, &json!({"status": object["status"]}))
            .await?;
    }
    Ok(())
}

/// Runs `f` over `0..n` with at most `limit` in flight; the first error, if any.
async fn for_each<F, Fut>(n: usize, limit: usize, f: F) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut results = futures::stream::iter(0..n)
        .map(f)
        .buffer_unordered(limit.max(1));
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}

/// Registers the nodes and their Leases, then keeps them alive and runs their pods on the
/// current runtime. Returns once every node is registered.
pub async fn start(client: Client, options: Options) -> Result<()> {
    anyhow::ensure!(
        options.count <= MAX_NODES,
        "at most {MAX_NODES} simulated nodes per process (each takes a /24 of 10.128.0.0/9)"
    );
    let o = Arc::new(options);
    for_each(o.count, o.concurrency, |i| {
        let (client, o) = (client.clone(), Arc::clone(&o));
        async move {
            let name = node_name(&o, i);
            ensure(
                &client,
                "/api/v1/nodes",
                &node_object(&o, i),
                Some(format!("/api/v1/nodes/{name}/status")),
            )
            .await
            .with_context(|| format!("registering node {name}"))?;
            ensure(
                &client,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                &lease_object(&o, i),
                None,
            )
            .await
            .with_context(|| format!("creating the Lease of {name}"))
        }
    })
    .await?;
    tokio::spawn(renew_leases(client.clone(), Arc::clone(&o)));
    tokio::spawn(run_pods(client, o));
    Ok(())
}

async fn renew_leases(client: Client, o: Arc<Options>) {
    let mut tick = tokio::time::interval(o.lease_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = skiff_api::time::now_micro();
        let result = for_each(o.count, o.concurrency, |i| {
            let (client, name) = (client.clone(), node_name(&o, i));
            let patch = json!({"spec": {"renewTime": now}});
            async move {
                client
                    .merge_patch(
                        &format!(
                            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
                        ),
                        &patch,
                    )
                    .await
                    .map(drop)
            }
        })
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "renewing simulated node leases");
        }
    }
}

/// Pod IPs per node: the host numbers in use in the node's /24.
#[derive(Default)]
struct Addresses {
    used: HashMap<String, Vec<bool>>,
    by_pod: HashMap<(String, String), (String, u8)>,
}

impl Addresses {
    fn assign(&mut self, node: &str, pod: (String, String)) -> Option<u8> {
        if let Some((_, h)) = self.by_pod.get(&pod) {
            return Some(*h);
        }
        let used = self
            .used
            .entry(node.to_owned())
            .or_insert_with(|| vec![false; 256]);
        // .0 is the network, .1 the node, .255 broadcast.
        let host = (2..255).find(|&h| !used[h])?;
        used[host] = true;
        self.by_pod.insert(pod, (node.to_owned(), host as u8));
        Some(host as u8)
    }

    fn release(&mut self, pod: &(String, String)) {
        if let Some((node, h)) = self.by_pod.remove(pod)
            && let Some(used) = self.used.get_mut(&node)
        {
            used[h as usize] = false;
        }
    }
}

/// Watches the pods bound to simulated nodes and plays the kubelet's part for them.
async fn run_pods(client: Client, o: Arc<Options>) {
    let index: Arc<HashMap<String, usize>> =
        Arc::new((0..o.count).map(|i| (node_name(&o, i), i)).collect());
    let addresses = Arc::new(Mutex::new(Addresses::default()));
    let permits = Arc::new(Semaphore::new(o.concurrency.max(1)));
    let handle = tokio::runtime::Handle::current();
    informer::run::<WatchedPod>(
        client.clone(),
        "/api/v1/pods?fieldSelector=spec.nodeName!%3D".into(),
        move |u| {
            let pods = match u {
                Update::Snapshot(all) => all,
                Update::Applied(p) => vec![p],
                Update::Deleted(p) => {
                    addresses.lock().expect("not poisoned").release(&ident(&p));
                    return true;
                }
            };
            for p in pods {
                let Some(node) = p.node_name.as_deref() else {
                    continue;
                };
                let Some(&i) = index.get(node) else { continue };
                let work = if p.deleting {
                    Work::Finish
                } else if p.phase.as_deref().unwrap_or("Pending") == "Pending" {
                    let Some(host) = addresses
                        .lock()
                        .expect("not poisoned")
                        .assign(node, ident(&p))
                    else {
                        tracing::warn!(%node, "no pod address left on the simulated node");
                        continue;
                    };
                    Work::Start(i, host)
                } else {
                    continue;
                };
                let (client, permits) = (client.clone(), Arc::clone(&permits));
                handle.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    if let Err(e) = work.run(&client, &p).await
                        && status_code(&e) != Some(404)
                    {
                        tracing::warn!(error = %e, "simulated node: updating a pod");
                    }
                });
            }
            true
        },
    )
    .await;
}

fn ident(p: &WatchedPod) -> (String, String) {
    (p.namespace.clone(), p.name.clone())
}

enum Work {
    /// Run the pod: node index and host number of its IP.
    Start(usize, u8),
    /// Its containers "stopped": confirm the deletion.
    Finish,
}

impl Work {
    async fn run(&self, client: &Client, p: &WatchedPod) -> Result<()> {
        let (ns, name) = (&p.namespace, &p.name);
        let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
        match *self {
            Work::Finish => {
                client
                    .send(
                        "DELETE",
                        &path,
                        "application/json",
                        serde_json::to_vec(&json!({"gracePeriodSeconds": 0}))?.into(),
                    )
                    .await?;
            }
            Work::Start(i, host) => {
                let (a, b) = pod_cidr(i);
                let ip = Ipv4Addr::new(10, a, b, host).to_string();
                let node_ip = Ipv4Addr::new(10, a, b, 1).to_string();
                let now = skiff_api::time::now();
                #[derive(serde::Deserialize)]
                struct Container {
                    name: String,
                    #[serde(default)]
                    image: String,
                }
                let containers: Vec<Value> = p
                    .field::<Vec<Container>>(&["spec", "containers"])?
                    .unwrap_or_default()
                    .iter()
                    .map(|c| {
                        json!({
                            "name": c.name, "image": c.image,
                            "imageID": "", "containerID": format!("simulated://{ns}/{name}/{}", c.name),
                            "ready": true, "started": true, "restartCount": 0,
                            "state": {"running": {"startedAt": now}},
                        })
                    })
                    .collect();
                let cond = |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
                let status = json!({"status": {
                    "phase": "Running",
                    "hostIP": node_ip, "hostIPs": [{"ip": node_ip}],
                    "podIP": ip, "podIPs": [{"ip": ip}],
                    "startTime": now,
                    "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
                    "containerStatuses": containers,
                    "qosClass": "Burstable",
                }});
                client
                    .merge_patch(&format!("{path}/status"), &status)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unique_per_node_and_reused_after_release() {
        let mut a = Addresses::default();
        let p = |n: &str| ("default".to_owned(), n.to_owned());
        assert_eq!(a.assign("n1", p("a")), Some(2));
        assert_eq!(a.assign("n1", p("b")), Some(3));
        assert_eq!(a.assign("n1", p("a")), Some(2), "idempotent");
        assert_eq!(a.assign("n2", p("c")), Some(2));
        a.release(&p("a"));
        assert_eq!(a.assign("n1", p("d")), Some(2));
        // Hosts .2 to .254: 253 pods per node.
        for i in 0..253 {
            assert!(a.assign("n3", p(&format!("x{i}"))).is_some());
        }
        assert_eq!(a.assign("n3", p("full")), None);
    }

    #[test]
    fn nodes_get_distinct_ranges() {
        let o = Options::default();
        assert_eq!(pod_cidr(0), (128, 0));
        assert_eq!(pod_cidr(MAX_NODES - 1), (255, 255));
        let n = node_object(&o, 300);
        assert_eq!(n["spec"]["podCIDR"], "10.129.44.0/24");
        assert_eq!(n["metadata"]["labels"][ZONE_LABEL], "zone-0");
    }
}
