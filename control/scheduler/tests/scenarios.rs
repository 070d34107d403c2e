//! The scheduler core driven the way the API driver drives it, one behaviour per test: what a
//! Kubernetes user would see kube-scheduler do, and what skiff does better (packing).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::*;
use skiff_scheduler::*;

fn nodes(n: usize, zones: usize, cpu: u64, mem: u64) -> Vec<Node> {
    (0..n)
        .map(|i| {
            node(
                &format!("node-{i}"),
                &format!("zone-{}", i % zones),
                cpu,
                mem,
            )
        })
        .collect()
}

fn per_node(s: &Scheduler) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, n) in s.placements() {
        *m.entry(n.to_owned()).or_insert(0) += 1;
    }
    m
}

#[test]
fn fills_nodes_then_explains_like_kube() {
    let ns = nodes(5, 1, 1000, 4 * GI);
    let mut s = scheduler(&ns, 2);
    let d = s.schedule(Template::new(100, 100 * MI).pods("web", 51));
    let placed = d.iter().filter(|d| bound_node(d).is_some()).count();
    assert_eq!(placed, 50, "5 nodes x 10 pods of 100m");
    let last = d.iter().find(|d| bound_node(d).is_none()).unwrap();
    assert_eq!(
        message(last),
        "0/5 nodes are available: 5 Insufficient cpu. preemption: 0/5 nodes are available: \
         5 No preemption victims found for incoming pod."
    );
    assert!(verify(&s, &ns, &rejected(d), false).is_empty());
}

#[test]
fn bin_packing_fills_few_nodes_and_spread_profile_uses_all() {
    let ns = nodes(10, 1, 4000, 16 * GI);
    let mut s = scheduler(&ns, 1);
    s.schedule(Template::new(500, GI).pods("pack", 16));
    assert_eq!(
        per_node(&s).len(),
        2,
        "16 x 500m fill exactly two 4-core nodes"
    );

    let mut s = scheduler(&ns, 1);
    let spread = Template::new(500, GI).with(|p| p.profile = Profile::Spread);
    s.schedule(spread.pods("spread", 10));
    assert_eq!(
        per_node(&s).len(),
        10,
        "least-allocated puts one pod on each node"
    );
}

#[test]
fn balanced_packing_does_not_strand_memory() {
    // One node is cpu-heavy, one memory-heavy; a memory-heavy pod belongs on the second.
    let ns = vec![
        node("cpu-box", "z", 8000, 4 * GI),
        node("mem-box", "z", 2000, 32 * GI),
    ];
    let mut s = scheduler(&ns, 1);
    let d = s.schedule(vec![Template::new(500, 8 * GI).pod("cache")]);
    assert_eq!(bound_node(&d[0]), Some("mem-box"));
}

#[test]
fn taints_tolerations_and_cordon() {
    let mut ns = nodes(3, 1, 4000, 8 * GI);
    ns[0].taints.push(Taint {
        key: "dedicated".into(),
        value: "gpu".into(),
        effect: TaintEffect::NoSchedule,
    });
    ns[1].unschedulable = true;
    let mut s = scheduler(&ns, 1);
    let d = s.schedule(Template::new(3000, GI).pods("a", 2));
    assert_eq!(bound_node(&d[0]), Some("node-2"));
    assert_eq!(
        message(&d[1]),
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint \
         {dedicated: gpu}, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: \
         1 No preemption victims found for incoming pod, 2 Preemption is not helpful for \
         scheduling."
    );
    let tolerant = Template::new(3000, GI).with(|p| {
        p.tolerations.push(Toleration {
            key: "dedicated".into(),
            operator: TolerationOperator::Equal,
            value: "gpu".into(),
            effect: Some(TaintEffect::NoSchedule),
        })
    });
    let d = s.schedule(vec![tolerant.pod("gpu-job")]);
    assert_eq!(bound_node(&d[0]), Some("node-0"));

    // Uncordon: the node takes pods again.
    ns[1].unschedulable = false;
    s.set_node(ns[1].clone());
    let d = s.schedule(vec![Template::new(3000, GI).pod("b")]);
    assert_eq!(bound_node(&d[0]), Some("node-1"));
}

#[test]
fn node_selector_affinity_and_name_pin() {
    let mut ns = nodes(4, 2, 4000, 8 * GI);
    ns[3].labels.insert("disktype".into(), "ssd".into());
    let mut s = scheduler(&ns, 1);
    let ssd = Template::new(100, MI).with(|p| {
        p.node_selector.insert("disktype".into(), "ssd".into());
    });
    let d = s.schedule(ssd.pods("db", 3));
    assert!(d.iter().all(|d| bound_node(d) == Some("node-3")));

    let zone1 = Template::new(100, MI).with(|p| {
        p.node_affinity.required = Some(vec![NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement {
                key: ZONE.into(),
                operator: NodeSelectorOperator::In,
                values: vec!["zone-1".into()],
            }],
            match_fields: vec![],
        }]);
    });
    for d in s.schedule(zone1.pods("z", 20)) {
        let n = bound_node(&d).unwrap();
        assert!(n == "node-1" || n == "node-3", "{n} is not in zone-1");
    }

    let pinned = Template::new(100, MI).with(|p| {
        p.node_affinity.required = Some(vec![NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: NodeSelectorOperator::In,
                values: vec!["node-2".into()],
            }],
        }]);
    });
    let d = s.schedule(vec![pinned.pod("daemon")]);
    assert_eq!(bound_node(&d[0]), Some("node-2"));

    let nowhere = Template::new(100, MI).with(|p| {
        p.node_selector.insert("disktype".into(), "nvme".into());
    });
    let d = s.schedule(vec![nowhere.pod("lost")]);
    assert_eq!(
        message(&d[0]),
        "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );
}

#[test]
fn preferred_node_affinity_wins_among_fitting_nodes() {
    let mut ns = nodes(4, 1, 4000, 8 * GI);
    ns[2].labels.insert("tier".into(), "fast".into());
    let mut s = scheduler(&ns, 1);
    // Fill node-0 a little so bin-packing alone would pick it.
    s.schedule(vec![Template::new(2000, GI).pod("seed")]);
    let prefers = Template::new(100, MI).with(|p| {
        p.node_affinity.preferred.push(PreferredSchedulingTerm {
            weight: 100,
            preference: NodeSelectorTerm {
                match_expressions: vec![NodeSelectorRequirement {
                    key: "tier".into(),
                    operator: NodeSelectorOperator::In,
                    values: vec!["fast".into()],
                }],
                match_fields: vec![],
            },
        });
    });
    let d = s.schedule(vec![prefers.pod("p")]);
    assert_eq!(bound_node(&d[0]), Some("node-2"));
}

#[test]
fn hostname_anti_affinity_puts_one_replica_per_node_and_is_symmetric() {
    let ns = nodes(6, 3, 8000, 16 * GI);
    let mut s = scheduler(&ns, 2);
    let web = Template::new(100, MI).app("web").with(|p| {
        p.pod_anti_affinity
            .required
            .push(term("web", HOSTNAME_LABEL))
    });
    let d = s.schedule(web.pods("web", 7));
    let hosts: BTreeSet<_> = d.iter().filter_map(bound_node).collect();
    assert_eq!(hosts.len(), 6);
    assert_eq!(
        message(&d.iter().find(|d| bound_node(d).is_none()).unwrap().clone()),
        "0/6 nodes are available: 6 node(s) didn't match pod anti-affinity rules. preemption: \
         0/6 nodes are available: 6 No preemption victims found for incoming pod."
    );
    // A plain pod labelled app=web is kept off by the existing pods' anti-affinity.
    let d = s.schedule(vec![Template::new(100, MI).app("web").pod("intruder")]);
    assert!(message(&d[0]).contains("6 node(s) didn't satisfy existing pods anti-affinity rules"));
    assert!(verify(&s, &ns, &[], false).is_empty());
}

#[test]
fn zone_anti_affinity_allows_one_per_zone() {
    let ns = nodes(9, 3, 8000, 16 * GI);
    let mut s = scheduler(&ns, 2);
    let t = Template::new(100, MI)
        .app("db")
        .with(|p| p.pod_anti_affinity.required.push(term("db", ZONE)));
    let d = s.schedule(t.pods("db", 5));
    let placed: Vec<_> = d.iter().filter_map(bound_node).collect();
    assert_eq!(placed.len(), 3);
    let zones: BTreeSet<_> = placed
        .iter()
        .map(|n| ns.iter().find(|x| x.name == *n).unwrap().labels[ZONE].clone())
        .collect();
    assert_eq!(zones.len(), 3);
}

#[test]
fn pod_affinity_follows_its_target_and_first_pod_may_land_anywhere() {
    let ns = nodes(6, 3, 8000, 16 * GI);
    let mut s = scheduler(&ns, 2);
    // Nothing labelled app=cache exists: kube lets a pod matching its own term go first.
    let cache = Template::new(100, MI)
        .app("cache")
        .with(|p| p.pod_affinity.required.push(term("cache", ZONE)));
    let d = s.schedule(cache.pods("cache", 4));
    let zones: BTreeSet<_> = d
        .iter()
        .map(|d| {
            let n = bound_node(d).unwrap();
            ns.iter().find(|x| x.name == n).unwrap().labels[ZONE].clone()
        })
        .collect();
    assert_eq!(zones.len(), 1, "all cache pods share one zone: {zones:?}");

    // A pod needing an absent target does not schedule, with kube's reason.
    let orphan = Template::new(100, MI).with(|p| p.pod_affinity.required.push(term("nope", ZONE)));
    let d = s.schedule(vec![orphan.pod("orphan")]);
    assert_eq!(
        message(&d[0]),
        "0/6 nodes are available: 6 node(s) didn't match pod affinity rules. preemption: 0/6 \
         nodes are available: 6 Preemption is not helpful for scheduling."
    );
}

#[test]
fn zone_spread_keeps_skew_within_max_skew() {
    let ns = nodes(30, 3, 64000, 256 * GI);
    let mut s = scheduler(&ns, 2);
    let t = Template::new(100, MI)
        .app("api")
        .with(|p| p.spread.push(spread("api", ZONE, 1)));
    let d = s.schedule(t.pods("api", 301));
    assert!(d.iter().all(|d| bound_node(d).is_some()));
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for (_, n) in s.placements() {
        let z = ns.iter().find(|x| x.name == n).unwrap().labels[ZONE].clone();
        *per_zone.entry(z).or_default() += 1;
    }
    let max = per_zone.values().max().unwrap();
    let min = per_zone.values().min().unwrap();
    assert!(max - min <= 1, "{per_zone:?}");
    assert!(verify(&s, &ns, &[], false).is_empty());
}

#[test]
fn spread_refuses_when_only_an_overloaded_zone_has_room() {
    // zone-0 has room, zone-1 only for one pod: with maxSkew 1, zone-0 takes at most two.
    let ns = vec![
        node("a", "zone-0", 4000, 8 * GI),
        node("b", "zone-1", 100, 8 * GI),
    ];
    let mut s = scheduler(&ns, 1);
    let t = Template::new(100, MI)
        .app("x")
        .with(|p| p.spread.push(spread("x", ZONE, 1)));
    // 1 in each zone, then a second in zone-0 (skew 1), then a third there would be skew 2.
    let d = s.schedule(t.pods("x", 4));
    let placed = d.iter().filter(|d| bound_node(d).is_some()).count();
    assert_eq!(placed, 3);
    let m = message(&d[3]);
    assert!(
        m.starts_with("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints."),
        "{m}"
    );
}

#[test]
fn higher_priority_pod_preempts_the_cheapest_victims() {
    let ns = nodes(2, 1, 1000, 4 * GI);
    let mut s = scheduler(&ns, 1);
    // node-0: a 600m pod at priority 10 and a 300m one at 0; node-1: two 300m pods at
    // priority 0. Only node-1 can make room by evicting priority-0 pods alone.
    s.add_bound_pod(
        Template::new(600, MI).priority(10).pod("important"),
        "node-0",
    )
    .unwrap();
    for name in ["low-a", "low-b"] {
        s.add_bound_pod(Template::new(300, MI).pod(name), "node-1")
            .unwrap();
    }
    s.add_bound_pod(Template::new(300, MI).pod("low-c"), "node-0")
        .unwrap();
    let d = s.schedule(vec![Template::new(700, MI).priority(100).pod("urgent")]);
    match &d[0].outcome {
        Outcome::Preempting { node, victims } => {
            assert_eq!(&**node, "node-1");
            // Evicting one 300m pod frees enough; the other is reprieved.
            assert_eq!(victims.len(), 1);
            assert!(victims[0].name.starts_with("low-"));
            assert_eq!(s.node_of(&victims[0]), None);
        }
        other => panic!("expected preemption, got {other:?}"),
    }
    assert_eq!(s.node_of(&PodKey::new("default", "urgent")), Some("node-1"));
    assert_eq!(
        s.node_of(&PodKey::new("default", "important")),
        Some("node-0")
    );

    // Equal priority never preempts; preemptionPolicy Never says so.
    let d = s.schedule(vec![Template::new(700, MI).priority(10).pod("peer")]);
    assert!(message(&d[0]).contains("No preemption victims found"));
    let polite = Template::new(700, MI)
        .priority(1000)
        .with(|p| p.preemption_policy = PreemptionPolicy::Never);
    let d = s.schedule(vec![polite.pod("polite")]);
    assert!(
        message(&d[0]).ends_with("preemption: not eligible due to preemptionPolicy=Never."),
        "{}",
        message(&d[0])
    );
}

#[test]
fn removing_pods_and_nodes_frees_capacity() {
    let ns = nodes(2, 1, 1000, 4 * GI);
    let mut s = scheduler(&ns, 1);
    let d = s.schedule(Template::new(1000, MI).pods("big", 3));
    assert!(bound_node(&d[2]).is_none());
    assert!(s.remove_pod(&d[0].key));
    assert!(!s.remove_pod(&d[0].key), "a second removal is a no-op");
    let d2 = s.schedule(vec![Template::new(1000, MI).pod("again")]);
    assert_eq!(bound_node(&d2[0]), bound_node(&d[0]));

    let gone = s.remove_node("node-1");
    assert_eq!(gone.len(), 1);
    assert_eq!(s.node_count(), 1);
    let d3 = s.schedule(vec![Template::new(100, MI).pod("small")]);
    assert_eq!(
        message(&d3[0]),
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 \
         No preemption victims found for incoming pod."
    );
    assert_eq!(
        s.add_bound_pod(Template::new(1, 1).pod("x"), "node-9"),
        Err(Error::UnknownNode("node-9".into()))
    );
}

#[test]
fn extended_resources_and_pod_count_limit() {
    let mut ns = nodes(2, 1, 64000, 64 * GI);
    ns[1].allocatable.insert("nvidia.com/gpu".into(), 2);
    ns[0].allocatable.insert(PODS.into(), 3);
    let mut s = scheduler(&ns, 1);
    let gpu = Template::new(100, MI).with(|p| {
        p.requests.insert("nvidia.com/gpu".into(), 1);
    });
    let d = s.schedule(gpu.pods("train", 3));
    assert_eq!(bound_node(&d[0]), Some("node-1"));
    assert_eq!(bound_node(&d[1]), Some("node-1"));
    assert!(message(&d[2]).starts_with("0/2 nodes are available: 2 Insufficient nvidia.com/gpu."));

    let mut s = scheduler(&ns[..1], 1);
    let d = s.schedule(Template::new(1, 1).pods("tiny", 4));
    assert!(message(&d[3]).starts_with("0/1 nodes are available: 1 Too many pods."));
}

#[test]
fn no_nodes_at_all() {
    let mut s = scheduler(&[], 1);
    let d = s.schedule(vec![Template::new(1, 1).pod("p")]);
    assert_eq!(message(&d[0]), "no nodes available to schedule pods");
}

#[test]
fn parallel_batch_of_mixed_workloads_verifies_clean() {
    let mut ns = nodes(200, 5, 64000, 256 * GI);
    for n in &mut ns {
        n.allocatable.insert(PODS.into(), 1000);
    }
    let mut s = scheduler(&ns, 4);
    let mut pods = Vec::new();
    pods.extend(Template::new(250, 512 * MI).pods("plain", 2000));
    let anti = Template::new(100, MI).app("anti").with(|p| {
        p.pod_anti_affinity
            .required
            .push(term("anti", HOSTNAME_LABEL))
    });
    pods.extend(anti.pods("anti", 250));
    let spreader = Template::new(100, MI)
        .app("sp")
        .with(|p| p.spread.push(spread("sp", ZONE, 1)));
    pods.extend(spreader.pods("sp", 500));
    let follower = Template::new(100, MI)
        .app("f")
        .with(|p| p.pod_affinity.required.push(term("sp", ZONE)));
    pods.extend(follower.pods("f", 50));
    let d = s.schedule(pods);
    let rejected = rejected(d);
    // 250 anti-affinity replicas on 200 nodes, some of them filled by the plain pods: at
    // least 50 are rejected, and nothing else is. The verifier checks each rejection.
    assert!(rejected.len() >= 50, "{}", rejected.len());
    assert!(rejected.iter().all(|p| p.key.name.starts_with("anti-")));
    let problems = verify(&s, &ns, &rejected, false);
    assert!(problems.is_empty(), "{problems:#?}");
    // Every pod keeps its own Arc'd spec: the pods of one workload share it.
    let (p0, _) = s
        .placements()
        .find(|(p, _)| &*p.key.name == "plain-0")
        .unwrap();
    let (p1, _) = s
        .placements()
        .find(|(p, _)| &*p.key.name == "plain-1")
        .unwrap();
    assert!(Arc::ptr_eq(&p0.spec, &p1.spec));
}
