//! The scheduler driver: the API side of the scheduler core.
//!
//! Informers (nodes, pods, namespaces) feed one scheduling thread, which owns the core. It
//! applies every change it has received, then decides all pending pods in one batch, and
//! hands the decisions to async binders: `pods/binding` for placements (many in flight at
//! once), nominatedNodeName and victim deletion for preemptions, and the PodScheduled
//! condition plus a `FailedScheduling` event for pods that fit nowhere. Those wait with
//! backoff (1 s doubling to 10 s, as kube-scheduler) and are retried when the cluster
//! changes (a node added or updated, a pod gone), or every minute regardless.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use k8s_openapi::api::core::v1 as core;
use serde_json::json;
use skiff_client::{Client, status_code};
use skiff_scheduler::convert::{self, Interner};
use skiff_scheduler::{Config, Outcome, Pod, PodKey, Scheduler};
use tokio::sync::Semaphore;

use crate::informer::{self, Update};
use crate::watched::WatchedPod;

/// The name on events and conditions, as kube-scheduler's.
pub const COMPONENT: &str = "default-scheduler";

#[derive(Clone, Debug)]
pub struct Options {
    /// Scheduling threads in the core.
    pub workers: usize,
    /// API requests in flight at once (bindings, status updates, events).
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: Config::default().workers,
            concurrency: 256,
        }
    }
}

/// What the scheduling thread learns.
enum Msg {
    Nodes(Box<Update<core::Node>>),
    Pods(Box<Update<WatchedPod>>),
    Namespaces(Box<Update<core::Namespace>>),
    /// A binding failed: the API has the truth; forget our placement.
    BindFailed(PodKey),
}

/// What the binders do.
enum Action {
    Bind {
        key: PodKey,
        node: Arc<str>,
    },
    Preempt {
        key: PodKey,
        uid: String,
        node: Arc<str>,
        victims: Vec<PodKey>,
    },
    Report {
        key: PodKey,
        uid: String,
        message: String,
    },
}

/// Starts the driver on the current tokio runtime; it runs until the process ends.
pub fn spawn(client: Client, options: Options) {
    let (tx, rx) = crossbeam_channel::unbounded::<Msg>();
    let (act_tx, act_rx) = tokio::sync::mpsc::unbounded_channel::<Action>();
    tokio::spawn(informer::run(client.clone(), "/api/v1/nodes".into(), {
        let tx = tx.clone();
        move |u| tx.send(Msg::Nodes(Box::new(u))).is_ok()
    }));
    tokio::spawn(informer::run(client.clone(), "/api/v1/pods".into(), {
        let tx = tx.clone();
        move |u| tx.send(Msg::Pods(Box::new(u))).is_ok()
    }));
    tokio::spawn(informer::run(
        client.clone(),
        "/api/v1/namespaces".into(),
        {
            let tx = tx.clone();
            move |u| tx.send(Msg::Namespaces(Box::new(u))).is_ok()
        },
    ));
    let workers = options.workers;
    std::thread::Builder::new()
        .name("skiff-scheduler".into())
        .spawn(move || Loop::new(workers).run(rx, act_tx))
        .expect("spawning the scheduler thread");
    tokio::spawn(bind_loop(client, options.concurrency, act_rx, tx));
}

/// A pod that fits nowhere for now.
struct Parked {
    pod: Pod,
    attempts: u32,
    retry_at: Instant,
    message: String,
}

/// The scheduling thread's state.
struct Loop {
    core: Scheduler,
    interner: Interner,
    /// Pending pods in arrival order (keys; the pod is in `queued`).
    order: VecDeque<PodKey>,
    queued: HashMap<PodKey, Pod>,
    parked: HashMap<PodKey, Parked>,
    /// UIDs of pods not yet placed, for events.
    uids: HashMap<PodKey, String>,
    /// Pods bound to nodes the core does not know yet.
    orphans: HashMap<String, Vec<Pod>>,
    cluster_changed: bool,
    last_flush: Instant,
}

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const FLUSH_EVERY: Duration = Duration::from_secs(60);

fn key_of(p: &WatchedPod) -> PodKey {
    PodKey::new(&p.namespace, &p.name)
}

impl Loop {
    fn new(workers: usize) -> Self {
        Loop {
            core: Scheduler::new(Config {
                workers,
                ..Config::default()
            }),
            interner: Interner::default(),
            order: VecDeque::new(),
            queued: HashMap::new(),
            parked: HashMap::new(),
            uids: HashMap::new(),
            orphans: HashMap::new(),
            cluster_changed: false,
            last_flush: Instant::now(),
        }
    }

    fn run(mut self, rx: Receiver<Msg>, actions: tokio::sync::mpsc::UnboundedSender<Action>) {
        loop {
            // Wait for something to do, then take everything that has arrived.
            let wait = if self.order.is_empty() {
                Duration::from_millis(250)
            } else {
                Duration::ZERO
            };
            match rx.recv_timeout(wait) {
                Ok(m) => self.apply(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(m) = rx.try_recv() {
                self.apply(m);
            }
            self.unpark();
            if self.order.is_empty() {
                continue;
            }
            let mut batch = Vec::with_capacity(self.order.len());
            while let Some(k) = self.order.pop_front() {
                if let Some(p) = self.queued.remove(&k) {
                    batch.push(p);
                }
            }
            for d in self.core.schedule(batch) {
                let action = match d.outcome {
                    Outcome::Bound { node } => {
                        self.uids.remove(&d.key);
                        Action::Bind { key: d.key, node }
                    }
                    Outcome::Preempting { node, victims } => Action::Preempt {
                        uid: self.uids.remove(&d.key).unwrap_or_default(),
                        key: d.key,
                        node,
                        victims,
                    },
                    Outcome::Unschedulable { pod, error } => {
                        let message = error.to_string();
                        match self.park(pod, message.clone()) {
                            true => Action::Report {
                                uid: self.uids.get(&d.key).cloned().unwrap_or_default(),
                                key: d.key,
                                message,
                            },
                            false => continue,
                        }
                    }
                };
                if actions.send(action).is_err() {
                    return;
                }
            }
        }
    }

    /// Parks an unschedulable pod; true when its message is new (worth reporting).
    fn park(&mut self, pod: Pod, message: String) -> bool {
        let key = pod.key.clone();
        let (attempts, changed) = match self.parked.get(&key) {
            Some(p) => (p.attempts + 1, p.message != message),
            None => (1, true),
        };
        let backoff = (MIN_BACKOFF * 2u32.pow(attempts.min(4) - 1)).min(MAX_BACKOFF);
        self.parked.insert(
            key,
            Parked {
                pod,
                attempts,
                retry_at: Instant::now() + backoff,
                message,
            },
        );
        changed
    }

    /// Re-queues parked pods whose backoff is over, if the cluster changed (or it is time for
    /// the periodic retry).
    fn unpark(&mut self) {
        let now = Instant::now();
        let flush = now.duration_since(self.last_flush) >= FLUSH_EVERY;
        if !(self.cluster_changed || flush) || self.parked.is_empty() {
            return;
        }
        if flush {
            self.last_flush = now;
        }
        let ready: Vec<PodKey> = self
            .parked
            .iter()
            .filter(|(_, p)| p.retry_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if ready.len() == self.parked.len() {
            self.cluster_changed = false;
        }
        for k in ready {
            if let Some(p) = self.parked.get(&k) {
                self.order.push_back(k.clone());
                self.queued.insert(k, p.pod.clone());
            }
        }
    }

    fn forget_pending(&mut self, key: &PodKey) {
        self.queued.remove(key);
        self.parked.remove(key);
        self.uids.remove(key);
    }

    fn apply(&mut self, m: Msg) {
        match m {
            Msg::Nodes(u) => self.nodes(*u),
            Msg::Pods(u) => self.pods(*u),
            Msg::Namespaces(u) => match *u {
                Update::Snapshot(all) => {
                    for ns in all {
                        self.namespace(ns);
                    }
                }
                Update::Applied(ns) => self.namespace(ns),
                Update::Deleted(_) => {}
            },
            Msg::BindFailed(key) => {
                self.core.remove_pod(&key);
                self.cluster_changed = true;
            }
        }
    }

    fn namespace(&mut self, ns: core::Namespace) {
        if let Some(name) = ns.metadata.name {
            self.core
                .set_namespace_labels(&name, ns.metadata.labels.unwrap_or_default());
        }
    }

    fn nodes(&mut self, u: Update<core::Node>) {
        self.cluster_changed = true;
        match u {
            Update::Snapshot(all) => {
                let names: std::collections::HashSet<String> =
                    all.iter().filter_map(|n| n.metadata.name.clone()).collect();
                let gone: Vec<String> = self
                    .core
                    .node_names()
                    .filter(|n| !names.contains(*n))
                    .map(str::to_owned)
                    .collect();
                for n in gone {
                    self.core.remove_node(&n);
                }
                for n in all {
                    self.set_node(n);
                }
            }
            Update::Applied(n) => self.set_node(n),
            Update::Deleted(n) => {
                if let Some(name) = n.metadata.name {
                    self.core.remove_node(&name);
                }
            }
        }
    }

    fn set_node(&mut self, n: core::Node) {
        let node = convert::node(&n);
        let name = node.name.clone();
        self.core.set_node(node);
        for pod in self.orphans.remove(&name).unwrap_or_default() {
            let _ = self.core.add_bound_pod(pod, &name);
        }
    }

    fn pods(&mut self, u: Update<WatchedPod>) {
        match u {
            Update::Snapshot(all) => {
                let keys: std::collections::HashSet<PodKey> = all.iter().map(key_of).collect();
                let stale: Vec<PodKey> = self
                    .core
                    .placements()
                    .map(|(p, _)| p.key.clone())
                    .chain(self.queued.keys().cloned())
                    .chain(self.parked.keys().cloned())
                    .filter(|k| !keys.contains(k))
                    .collect();
                for k in stale {
                    self.core.remove_pod(&k);
                    self.forget_pending(&k);
                }
                for p in all {
                    self.pod(p);
                }
                self.cluster_changed = true;
            }
            Update::Applied(p) => self.pod(p),
            Update::Deleted(p) => {
                let key = key_of(&p);
                if self.core.remove_pod(&key) {
                    self.cluster_changed = true;
                }
                self.forget_pending(&key);
            }
        }
    }

    fn pod(&mut self, p: WatchedPod) {
        let key = key_of(&p);
        // Kube counts a pod's resources on its node until it finishes.
        if p.finished() {
            if self.core.remove_pod(&key) {
                self.cluster_changed = true;
            }
            self.forget_pending(&key);
            return;
        }
        match p.node_name.as_deref() {
            Some(node) => {
                self.forget_pending(&key);
                if self.core.node_of(&key) == Some(node) {
                    return;
                }
                // Bound by someone else (or elsewhere than we thought): account for it there.
                self.core.remove_pod(&key);
                let Some(full) = decoded(&p) else { return };
                let Some(pod) = self
                    .interner
                    .pod(&full)
                    .or_else(|| foreign(&mut self.interner, &full))
                else {
                    return;
                };
                if self.core.add_bound_pod(pod.clone(), node).is_err() {
                    self.orphans.entry(node.to_owned()).or_default().push(pod);
                }
            }
            None => {
                if p.deleting
                    || self.queued.contains_key(&key)
                    || self.parked.contains_key(&key)
                    || self.core.node_of(&key).is_some()
                {
                    return;
                }
                // Another scheduler's pod: not ours to place.
                let Some(pod) = decoded(&p).and_then(|full| self.interner.pod(&full)) else {
                    return;
                };
                if let Some(uid) = p.uid {
                    self.uids.insert(key.clone(), uid);
                }
                self.order.push_back(key.clone());
                self.queued.insert(key, pod);
            }
        }
    }
}

/// The whole pod; one the API served but that does not decode is logged and left alone.
fn decoded(p: &WatchedPod) -> Option<core::Pod> {
    p.decode()
        .inspect_err(|e| tracing::warn!(error = %e, "scheduler: ignoring a pod"))
        .ok()
}

/// A bound pod that names another scheduler still takes room: account it with the default
/// profile.
fn foreign(interner: &mut Interner, p: &core::Pod) -> Option<Pod> {
    let mut p = p.clone();
    if let Some(spec) = p.spec.as_mut() {
        spec.scheduler_name = None;
    }
    interner.pod(&p)
}

async fn bind_loop(
    client: Client,
    concurrency: usize,
    mut actions: tokio::sync::mpsc::UnboundedReceiver<Action>,
    feedback: Sender<Msg>,
) {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    while let Some(action) = actions.recv().await {
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (client, feedback) = (client.clone(), feedback.clone());
        tokio::spawn(async move {
            let result = match &action {
                Action::Bind { key, node } => bind(&client, key, node).await,
                Action::Preempt {
                    key,
                    uid,
                    node,
                    victims,
                } => preempt(&client, key, uid, node, victims).await,
                Action::Report { key, uid, message } => report(&client, key, uid, message).await,
            };
            if let Err(e) = result {
                match &action {
                    Action::Bind { key, .. } | Action::Preempt { key, .. } => {
                        tracing::debug!(pod = %key, error = %e, "binding failed");
                        let _ = feedback.send(Msg::BindFailed(key.clone()));
                    }
                    Action::Report { key, .. } => {
                        tracing::debug!(pod = %key, error = %e, "reporting failed");
                    }
                }
            }
            drop(permit);
        });
    }
}

fn pod_path(key: &PodKey) -> String {
    format!("/api/v1/namespaces/{}/pods/{}", key.namespace, key.name)
}

async fn bind(client: &Client, key: &PodKey, node: &str) -> Result<()> {
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": &*key.name, "namespace": &*key.namespace},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    client
        .post(&format!("{}/binding", pod_path(key)), &binding)
        .await?;
    Ok(())
}

/// Nominates the node, deletes the victims (each gets a `Preempted` event, as kube-scheduler
/// records), then binds.
async fn preempt(
    client: &Client,
    key: &PodKey,
    uid: &str,
    node: &str,
    victims: &[PodKey],
) -> Result<()> {
    client
        .merge_patch(
            &format!("{}/status", pod_path(key)),
            &json!({"status": {"nominatedNodeName": node}}),
        )
        .await?;
    for v in victims {
        let gone = match client.delete(&pod_path(v)).await {
            Ok(body) => body,
            Err(e) if status_code(&e) == Some(404) => continue,
            Err(e) => return Err(e),
        };
        let victim_uid = serde_json::from_slice::<serde_json::Value>(&gone)
            .ok()
            .and_then(|o| {
                o.pointer("/metadata/uid")
                    .and_then(|u| u.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let message = format!("Preempted by pod {uid} on node {node}");
        if let Err(e) = event(client, v, &victim_uid, "Normal", "Preempted", &message).await {
            tracing::debug!(pod = %v, error = %e, "recording a preemption");
        }
    }
    bind(client, key, node).await
}

/// Records an event about a pod, from the scheduler.
async fn event(
    client: &Client,
    key: &PodKey,
    uid: &str,
    kind: &str,
    reason: &str,
    message: &str,
) -> Result<()> {
    let now = skiff_api::time::now();
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": format!("{}.", key.name), "namespace": &*key.namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": &*key.namespace, "name": &*key.name, "uid": uid},
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    client
        .post(
            &format!("/api/v1/namespaces/{}/events", key.namespace),
            &event,
        )
        .await?;
    Ok(())
}

async fn report(client: &Client, key: &PodKey, uid: &str, message: &str) -> Result<()> {
    let now = skiff_api::time::now();
    client
        .merge_patch(
            &format!("{}/status", pod_path(key)),
            &json!({"status": {"conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": null,
                "lastTransitionTime": now,
            }]}}),
        )
        .await?;
    event(client, key, uid, "Warning", "FailedScheduling", message).await
}
