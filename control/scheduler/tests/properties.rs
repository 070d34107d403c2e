//! Property tests: the lock-free core against the sequential reference model of
//! kube-scheduler's filters, on random clusters and workloads.
//!
//! - One pod at a time, the core places a pod only on a node the reference finds feasible,
//!   and rejects it only when the reference finds none, with the same reasons per node.
//! - In parallel batches, the independent verifier finds nothing wrong: no node over-committed,
//!   every required constraint holds, every rejected pod fits nowhere.
//! - Preemption evicts only lower-priority pods, and the preemptor then fits.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use skiff_scheduler::reference::Reference;
use skiff_scheduler::*;

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
const APPS: [&str; 3] = ["web", "db", "cache"];

fn arb_node(i: usize) -> impl Strategy<Value = Node> {
    (
        0..ZONES.len(),
        prop::sample::select(vec![1000u64, 2000, 4000]),
        prop::sample::select(vec![2 * GI, 4 * GI]),
        1u64..12,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.3),
    )
        .prop_map(move |(zone, cpu, mem, pods, tainted, cordoned, ssd)| {
            let mut n = node(&format!("n{i}"), ZONES[zone], cpu, mem);
            n.allocatable.insert(PODS.into(), pods);
            if tainted {
                n.taints.push(Taint {
                    key: "dedicated".into(),
                    value: "batch".into(),
                    effect: TaintEffect::NoSchedule,
                });
            }
            n.unschedulable = cordoned;
            if ssd {
                n.labels.insert("disk".into(), "ssd".into());
            }
            n
        })
}

fn arb_nodes() -> impl Strategy<Value = Vec<Node>> {
    (1usize..10).prop_flat_map(|n| (0..n).map(arb_node).collect::<Vec<_>>())
}

/// A workload: a template and a replica count.
fn arb_template() -> impl Strategy<Value = (Template, usize)> {
    (
        (
            prop::sample::select(vec![100u64, 250, 500, 900]),
            prop::sample::select(vec![128 * MI, 512 * MI, GI]),
            0..APPS.len(),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.2),
        ),
        (
            0u8..4, // 0: none, 1: hostname anti-affinity, 2: zone anti-affinity, 3: zone affinity
            0u8..3, // 0: none, 1: zone spread, 2: hostname spread
            1u32..3,
            prop::bool::weighted(0.2),
            0..APPS.len(),
            1usize..8,
        ),
    )
        .prop_map(
            |((cpu, mem, app, tolerates, ssd), (inter, spreads, skew, soft, other, replicas))| {
                let t = Template::new(cpu, mem).app(APPS[app]).with(|p| {
                    if tolerates {
                        p.tolerations.push(Toleration {
                            key: "dedicated".into(),
                            operator: TolerationOperator::Exists,
                            value: String::new(),
                            effect: None,
                        });
                    }
                    if ssd {
                        p.node_selector.insert("disk".into(), "ssd".into());
                    }
                    match inter {
                        1 => p
                            .pod_anti_affinity
                            .required
                            .push(term(APPS[app], HOSTNAME_LABEL)),
                        2 => p.pod_anti_affinity.required.push(term(APPS[other], ZONE)),
                        3 => p.pod_affinity.required.push(term(APPS[other], ZONE)),
                        _ => {}
                    }
                    let key = if spreads == 1 { ZONE } else { HOSTNAME_LABEL };
                    if spreads > 0 {
                        let mut c = spread(APPS[app], key, skew);
                        if soft {
                            c.when_unsatisfiable = WhenUnsatisfiable::ScheduleAnyway;
                        }
                        p.spread.push(c);
                    }
                });
                (t, replicas)
            },
        )
}

fn arb_workloads() -> impl Strategy<Value = Vec<(Template, usize)>> {
    prop::collection::vec(arb_template(), 1..5)
}

fn pods_of(workloads: &[(Template, usize)]) -> Vec<Pod> {
    let mut pods = Vec::new();
    for (w, (t, n)) in workloads.iter().enumerate() {
        pods.extend(t.pods(&format!("w{w}"), *n));
    }
    pods
}

fn reference(nodes: &[Node]) -> Reference {
    let mut r = Reference::new(Some(100), 7);
    for n in nodes {
        r.add_node(n.clone());
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Pod by pod, every decision agrees with the reference's filters.
    #[test]
    fn each_decision_matches_the_reference(nodes in arb_nodes(), workloads in arb_workloads()) {
        let mut s = scheduler(&nodes, 1);
        let mut r = reference(&nodes);
        // Interleave the workloads' pods, as a real queue would.
        let mut pods = pods_of(&workloads);
        pods.sort_by_key(|p| p.key.name.rsplit('-').next().unwrap().parse::<usize>().unwrap());
        for pod in pods {
            let feasible = r.feasible_nodes(&pod);
            let d = s.schedule(vec![pod.clone()]);
            match &d[0].outcome {
                Outcome::Bound { node } => {
                    prop_assert!(
                        feasible.iter().any(|f| **f == **node),
                        "{} placed on {node}, feasible: {feasible:?}", pod.key
                    );
                    r.add_bound_pod(pod, node);
                }
                Outcome::Unschedulable { error, .. } => {
                    prop_assert!(feasible.is_empty(), "{} rejected, feasible: {feasible:?}: {error}", pod.key);
                    prop_assert_eq!(&error.reasons, &r.reasons(&pod), "{}", error);
                }
                Outcome::Preempting { .. } => prop_assert!(false, "no priorities, no preemption"),
            }
        }
    }

    /// Batches placed by several threads at once verify clean.
    #[test]
    fn parallel_batches_verify_clean(nodes in arb_nodes(), workloads in arb_workloads(), workers in 1usize..4) {
        let mut s = scheduler(&nodes, workers);
        let d = s.schedule(pods_of(&workloads));
        let rejected = rejected(d);
        let problems = verify(&s, &nodes, &rejected, false);
        prop_assert!(problems.is_empty(), "{problems:#?}");
    }

    /// Larger batches, where the workers really contend for nodes and domains.
    #[test]
    fn contended_parallel_batches_verify_clean(
        workloads in arb_workloads(),
        seeds in prop::collection::vec(arb_node(0), 40),
    ) {
        let nodes: Vec<Node> = seeds
            .into_iter()
            .enumerate()
            .map(|(i, mut n)| {
                n.name = format!("n{i}");
                n.labels.insert(HOSTNAME_LABEL.into(), n.name.clone());
                n.allocatable.insert(PODS.into(), 20);
                n
            })
            .collect();
        let scaled: Vec<(Template, usize)> =
            workloads.into_iter().map(|(t, n)| (t, n * 40)).collect();
        let mut s = scheduler(&nodes, 4);
        let d = s.schedule(pods_of(&scaled));
        let rejected = rejected(d);
        let problems = verify(&s, &nodes, &rejected, false);
        prop_assert!(problems.is_empty(), "{problems:#?}");
    }

    /// A high-priority pod that fits nowhere evicts only lower-priority pods, and fits after.
    #[test]
    fn preemption_evicts_only_lower_priority_and_makes_room(
        nodes in arb_nodes(),
        workloads in arb_workloads(),
        cpu in prop::sample::select(vec![500u64, 900, 1500]),
    ) {
        let mut s = scheduler(&nodes, 1);
        let mut priorities = BTreeMap::new();
        let mut pods = pods_of(&workloads);
        for (i, p) in pods.iter_mut().enumerate() {
            p.priority = (i % 3) as i32 * 10;
            priorities.insert(p.key.clone(), p.priority);
        }
        s.schedule(pods);
        let before: BTreeMap<PodKey, String> =
            s.placements().map(|(p, n)| (p.key.clone(), n.to_owned())).collect();
        let urgent = Template::new(cpu, 128 * MI).priority(15).with(|p| {
            p.tolerations.push(Toleration {
                key: String::new(),
                operator: TolerationOperator::Exists,
                value: String::new(),
                effect: None,
            })
        });
        let d = s.schedule(vec![urgent.pod("urgent")]);
        if let Outcome::Preempting { node, victims } = &d[0].outcome {
            prop_assert!(!victims.is_empty());
            for v in victims {
                prop_assert!(priorities[v] < 15, "{v} has priority {}", priorities[v]);
                prop_assert_eq!(before.get(v).map(String::as_str), Some(&**node));
                prop_assert_eq!(s.node_of(v), None);
            }
            let problems = verify(&s, &nodes, &[], true);
            prop_assert!(problems.is_empty(), "{problems:#?}");
        }
        // Whatever happened, a remaining lower-priority pod could not have made room alone:
        // checked by the verifier when it is rejected (it fits nowhere even then).
        if let Outcome::Unschedulable { pod, .. } = &d[0].outcome {
            let problems = verify(&s, &nodes, std::slice::from_ref(pod), true);
            prop_assert!(problems.is_empty(), "{problems:#?}");
        }
    }
}

#[test]
fn templates_share_specs() {
    let t = Template::new(1, 1);
    let pods = t.pods("x", 2);
    assert!(Arc::ptr_eq(&pods[0].spec, &pods[1].spec));
}
