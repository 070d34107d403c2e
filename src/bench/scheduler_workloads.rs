//! The six scheduler workloads of BENCHMARKS.md, built from a fixed seed so every run and both
//! schedulers see the same cluster and the same pods.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use skiff_scheduler::*;

const GI: u64 = 1 << 30;
const MI: u64 = 1 << 20;
pub const ZONE: &str = "topology.kubernetes.io/zone";

/// A cluster and the pods to schedule on it.
#[derive(Debug)]
pub struct Workload {
    pub name: &'static str,
    pub description: String,
    pub nodes: Vec<Node>,
    /// Pods already running (not timed), with their node.
    pub running: Vec<(Pod, String)>,
    /// Pods to schedule, in arrival order.
    pub pods: Vec<Pod>,
}

/// Sizes; `--quick` divides them.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub nodes: usize,
    /// Pods of the basic fill (the envelope).
    pub fill_pods: usize,
}

impl Scale {
    pub const FULL: Scale = Scale {
        nodes: 5_000,
        fill_pods: 150_000,
    };
    pub const QUICK: Scale = Scale {
        nodes: 500,
        fill_pods: 15_000,
    };

    fn pods(&self, at_full_scale: usize) -> usize {
        at_full_scale * self.nodes / Scale::FULL.nodes
    }
}

/// All six, in BENCHMARKS.md's order.
pub fn all(scale: Scale) -> Vec<Workload> {
    vec![
        basic_fill(scale),
        heterogeneous(scale),
        affinity_and_taints(scale),
        anti_affinity(scale),
        zone_spread(scale),
        preemption(scale),
    ]
}

/// kube-scheduler's scheduler_perf node: 4 CPU, 32Gi, 110 pods.
fn perf_node(i: usize, zones: usize) -> Node {
    let name = format!("node-{i:05}");
    let mut allocatable = resources(4000, 32 * GI);
    allocatable.insert(PODS.into(), 110);
    Node {
        labels: [
            (HOSTNAME_LABEL.to_owned(), name.clone()),
            (ZONE.to_owned(), format!("zone-{}", i % zones)),
        ]
        .into(),
        name,
        taints: vec![],
        unschedulable: false,
        allocatable,
    }
}

fn perf_nodes(n: usize, zones: usize) -> Vec<Node> {
    (0..n).map(|i| perf_node(i, zones)).collect()
}

/// Pods sharing one spec, like a Deployment's replicas.
struct Template {
    spec: Arc<PodSpec>,
    labels: Arc<Labels>,
    priority: i32,
}

impl Template {
    fn new(cpu: u64, memory: u64, app: &str) -> Self {
        Template {
            spec: Arc::new(PodSpec {
                requests: resources(cpu, memory),
                ..PodSpec::default()
            }),
            labels: Arc::new([("app".to_owned(), app.to_owned())].into()),
            priority: 0,
        }
    }

    fn with(mut self, f: impl FnOnce(&mut PodSpec)) -> Self {
        f(Arc::make_mut(&mut self.spec));
        self
    }

    fn pod(&self, name: String) -> Pod {
        Pod {
            key: PodKey::new("bench", &name),
            labels: self.labels.clone(),
            priority: self.priority,
            spec: self.spec.clone(),
        }
    }
}

fn app_selector(app: &str) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: [("app".to_owned(), app.to_owned())].into(),
        match_expressions: vec![],
    })
}

/// Workload 1: The envelope: every node the same, every pod the same.
fn basic_fill(scale: Scale) -> Workload {
    let t = Template::new(100, 500 * MI, "fill");
    Workload {
        name: "basic-fill",
        description: format!(
            "{} nodes (4 CPU, 32Gi, 110 pods) x {} pods (100m, 500Mi)",
            scale.nodes, scale.fill_pods
        ),
        nodes: perf_nodes(scale.nodes, 10),
        running: vec![],
        pods: (0..scale.fill_pods)
            .map(|i| t.pod(format!("fill-{i}")))
            .collect(),
    }
}

/// Workload 2: Mixed node and pod sizes from a fixed seed, filling about 85% of the CPU: packing shows.
fn heterogeneous(scale: Scale) -> Workload {
    let mut rng = StdRng::seed_from_u64(20261123);
    let shapes = [
        (4000, 16 * GI),
        (8000, 32 * GI),
        (16000, 64 * GI),
        (32000, 128 * GI),
    ];
    let nodes: Vec<Node> = (0..scale.nodes)
        .map(|i| {
            let (cpu, mem) = shapes[rng.random_range(0..shapes.len())];
            let mut n = perf_node(i, 10);
            n.allocatable = resources(cpu, mem);
            n.allocatable.insert(PODS.into(), 110);
            n
        })
        .collect();
    let total_cpu: u64 = nodes.iter().map(|n| n.allocatable[CPU]).sum();
    let sizes = [
        (100, 128 * MI),
        (250, 512 * MI),
        (500, GI),
        (1000, 4 * GI),
        (2000, 2 * GI),
        (4000, 8 * GI),
    ];
    let templates: Vec<Template> = sizes
        .iter()
        .enumerate()
        .map(|(i, &(c, m))| Template::new(c, m, &format!("mix-{i}")))
        .collect();
    let mut pods = Vec::new();
    let mut cpu = 0;
    while cpu < total_cpu * 85 / 100 {
        let i = rng.random_range(0..templates.len());
        cpu += sizes[i].0;
        pods.push(templates[i].pod(format!("mix-{}", pods.len())));
    }
    Workload {
        name: "heterogeneous",
        description: format!(
            "{} nodes of 4 shapes x {} pods of 6 shapes (seeded), 85% of CPU",
            scale.nodes,
            pods.len()
        ),
        nodes,
        running: vec![],
        pods,
    }
}

/// Workload 3: Node selectors, required node affinity and tolerations over labelled, tainted nodes.
fn affinity_and_taints(scale: Scale) -> Workload {
    let mut nodes = perf_nodes(scale.nodes, 10);
    for (i, n) in nodes.iter_mut().enumerate() {
        let disk = if i % 3 == 0 { "ssd" } else { "hdd" };
        n.labels.insert("disktype".into(), disk.into());
        if i % 10 == 7 {
            n.labels.insert("accelerator".into(), "gpu".into());
            n.taints.push(Taint {
                key: "dedicated".into(),
                value: "gpu".into(),
                effect: TaintEffect::NoSchedule,
            });
        }
    }
    let ssd = Template::new(100, 500 * MI, "db").with(|p| {
        p.node_selector.insert("disktype".into(), "ssd".into());
    });
    let zones = Template::new(100, 500 * MI, "web").with(|p| {
        p.node_affinity.required = Some(vec![NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement {
                key: ZONE.into(),
                operator: NodeSelectorOperator::In,
                values: vec!["zone-1".into(), "zone-2".into(), "zone-3".into()],
            }],
            match_fields: vec![],
        }]);
    });
    let gpu = Template::new(500, 2 * GI, "train").with(|p| {
        p.node_selector.insert("accelerator".into(), "gpu".into());
        p.tolerations.push(Toleration {
            key: "dedicated".into(),
            operator: TolerationOperator::Equal,
            value: "gpu".into(),
            effect: Some(TaintEffect::NoSchedule),
        });
    });
    let n = scale.pods(50_000);
    let pods = (0..n)
        .map(|i| match i % 5 {
            0 | 1 => ssd.pod(format!("db-{i}")),
            2 | 3 => zones.pod(format!("web-{i}")),
            _ => gpu.pod(format!("train-{i}")),
        })
        .collect();
    Workload {
        name: "node-affinity",
        description: format!(
            "{} nodes (1/3 ssd, 1/10 tainted gpu) x {n} pods: nodeSelector, required affinity, tolerations",
            scale.nodes
        ),
        nodes,
        running: vec![],
        pods,
    }
}

/// Workload 4: Required hostname anti-affinity: 20 apps of one replica per node each.
fn anti_affinity(scale: Scale) -> Workload {
    let apps = 20;
    let replicas = scale.pods(1_000);
    let templates: Vec<Template> = (0..apps)
        .map(|a| {
            let app = format!("anti-{a}");
            Template::new(100, 500 * MI, &app).with(|p| {
                p.pod_anti_affinity.required.push(PodAffinityTerm {
                    selector: app_selector(&app),
                    namespaces: None,
                    topology_key: HOSTNAME_LABEL.into(),
                })
            })
        })
        .collect();
    let pods = (0..apps * replicas)
        .map(|i| templates[i % apps].pod(format!("anti-{}-{}", i % apps, i / apps)))
        .collect();
    Workload {
        name: "anti-affinity",
        description: format!(
            "{} nodes x {apps} apps x {replicas} replicas, required anti-affinity on hostname",
            scale.nodes
        ),
        nodes: perf_nodes(scale.nodes, 10),
        running: vec![],
        pods,
    }
}

/// Workload 5: Zone topology spread (maxSkew 1) over 10 zones.
fn zone_spread(scale: Scale) -> Workload {
    let apps = 20;
    let replicas = scale.pods(1_000);
    let templates: Vec<Template> = (0..apps)
        .map(|a| {
            let app = format!("spread-{a}");
            Template::new(100, 500 * MI, &app).with(|p| {
                p.spread.push(SpreadConstraint {
                    max_skew: 1,
                    topology_key: ZONE.into(),
                    when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                    selector: app_selector(&app),
                    min_domains: None,
                    node_affinity_policy: InclusionPolicy::Honor,
                    node_taints_policy: InclusionPolicy::Ignore,
                })
            })
        })
        .collect();
    let pods = (0..apps * replicas)
        .map(|i| templates[i % apps].pod(format!("spread-{}-{}", i % apps, i / apps)))
        .collect();
    Workload {
        name: "zone-spread",
        description: format!(
            "{} nodes in 10 zones x {apps} apps x {replicas} replicas, zone spread maxSkew 1",
            scale.nodes
        ),
        nodes: perf_nodes(scale.nodes, 10),
        running: vec![],
        pods,
    }
}

/// Workload 6: A full cluster of low-priority pods (4 x 1 CPU per node, running), then high-priority
/// arrivals that each need one node's worth of eviction.
fn preemption(scale: Scale) -> Workload {
    let nodes = perf_nodes(scale.nodes, 10);
    let mut low = Template::new(1000, 4 * GI, "batch");
    low.priority = 0;
    let running = nodes
        .iter()
        .flat_map(|n| (0..4).map(move |k| (n.name.clone(), k)))
        .map(|(node, k)| (low.pod(format!("batch-{node}-{k}")), node))
        .collect();
    let mut high = Template::new(1000, 4 * GI, "critical");
    high.priority = 1000;
    let n = scale.pods(5_000);
    Workload {
        name: "preemption",
        description: format!(
            "{} full nodes (4 x 1 CPU priority 0) then {n} pods of 1 CPU at priority 1000",
            scale.nodes
        ),
        nodes,
        running,
        pods: (0..n).map(|i| high.pod(format!("critical-{i}"))).collect(),
    }
}

/// The fewest nodes that could hold every pod placed, by each resource alone, filling the
/// largest nodes first: a lower bound on any packing.
pub fn lower_bound(nodes: &[Node], placed: &[&Pod]) -> usize {
    let mut bound = 0;
    for resource in [CPU, MEMORY] {
        let need: u64 = placed
            .iter()
            .map(|p| p.spec.requests.get(resource).copied().unwrap_or(0))
            .sum();
        let mut caps: Vec<u64> = nodes
            .iter()
            .map(|n| n.allocatable.get(resource).copied().unwrap_or(0))
            .collect();
        caps.sort_unstable_by(|a, b| b.cmp(a));
        let (mut have, mut k) = (0, 0);
        while have < need && k < caps.len() {
            have += caps[k];
            k += 1;
        }
        bound = bound.max(k);
    }
    let mut pod_caps: Vec<u64> = nodes
        .iter()
        .map(|n| n.allocatable.get(PODS).copied().unwrap_or(0))
        .collect();
    pod_caps.sort_unstable_by(|a, b| b.cmp(a));
    let (mut have, mut k) = (0, 0);
    while have < placed.len() as u64 && k < pod_caps.len() {
        have += pod_caps[k];
        k += 1;
    }
    bound.max(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bound_of_the_envelope_is_cpu_bound() {
        let w = basic_fill(Scale::FULL);
        let placed: Vec<&Pod> = w.pods.iter().collect();
        // 150,000 x 100m = 15,000 CPU over 4-CPU nodes.
        assert_eq!(lower_bound(&w.nodes, &placed), 3_750);
    }

    #[test]
    fn workloads_are_deterministic() {
        let a = heterogeneous(Scale::QUICK);
        let b = heterogeneous(Scale::QUICK);
        assert_eq!(a.nodes, b.nodes);
        assert_eq!(a.pods.len(), b.pods.len());
        assert!(a.pods.iter().zip(&b.pods).all(|(x, y)| x.spec == y.spec));
    }
}
