//! Pure predicates with kube-scheduler's semantics: label selectors, node selectors and
//! affinity, taints and tolerations. Shared by the fast core, the reference scheduler and the
//! verifier, so all three agree on what a constraint means.

use crate::model::{
    LabelSelector, Labels, Namespaces, Node, NodeAffinity, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, SelectorOperator, Taint, TaintEffect, Toleration,
    TolerationOperator,
};

/// The taint a cordoned node behaves as if it had.
pub const UNSCHEDULABLE_TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

/// Whether `selector` matches `labels`.
pub fn selector_matches(selector: &LabelSelector, labels: &Labels) -> bool {
    selector
        .match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().all(|req| {
            let value = labels.get(&req.key);
            match req.operator {
                SelectorOperator::In => value.is_some_and(|v| req.values.contains(v)),
                SelectorOperator::NotIn => value.is_none_or(|v| !req.values.contains(v)),
                SelectorOperator::Exists => value.is_some(),
                SelectorOperator::DoesNotExist => value.is_none(),
            }
        })
}

/// A `None` selector (absent in the term) matches nothing, as in Kubernetes.
pub fn optional_selector_matches(selector: Option<&LabelSelector>, labels: &Labels) -> bool {
    selector.is_some_and(|s| selector_matches(s, labels))
}

/// Whether a pod in namespace `ns` (whose labels are `ns_labels`) is in `namespaces`.
pub fn namespace_matches(namespaces: &Namespaces, ns: &str, ns_labels: Option<&Labels>) -> bool {
    match namespaces {
        Namespaces::All => true,
        Namespaces::Some { names, selector } => {
            names.iter().any(|n| n == ns)
                || selector
                    .as_ref()
                    .is_some_and(|s| ns_labels.is_some_and(|l| selector_matches(s, l)))
        }
    }
}

fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    match req.operator {
        NodeSelectorOperator::In => value.is_some_and(|v| req.values.iter().any(|x| x == v)),
        NodeSelectorOperator::NotIn => value.is_none_or(|v| !req.values.iter().any(|x| x == v)),
        NodeSelectorOperator::Exists => value.is_some(),
        NodeSelectorOperator::DoesNotExist => value.is_none(),
        NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
            // Exactly one integer value; a label that is not an integer never matches.
            let (Some(v), [bound]) = (value, req.values.as_slice()) else {
                return false;
            };
            match (v.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(v), Ok(bound)) if req.operator == NodeSelectorOperator::Gt => v > bound,
                (Ok(v), Ok(bound)) => v < bound,
                _ => false,
            }
        }
    }
}

/// Whether a node selector term matches; a term without requirements matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node_name: &str, labels: &Labels) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && term.match_fields.iter().all(|r| {
            let value = (r.key == "metadata.name").then_some(node_name);
            requirement_matches(r, value)
        })
}

/// `nodeSelector` and required node affinity together (the NodeAffinity filter).
pub fn node_affinity_matches(
    node_selector: &Labels,
    affinity: &NodeAffinity,
    node_name: &str,
    labels: &Labels,
) -> bool {
    node_selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        && affinity
            .required
            .as_ref()
            .is_none_or(|terms| terms.iter().any(|t| term_matches(t, node_name, labels)))
}

/// Sum of the weights of the preferred node affinity terms a node matches.
pub fn preferred_node_affinity_score(
    affinity: &NodeAffinity,
    node_name: &str,
    labels: &Labels,
) -> i64 {
    affinity
        .preferred
        .iter()
        .filter(|p| term_matches(&p.preference, node_name, labels))
        .map(|p| i64::from(p.weight))
        .sum()
}

/// Whether `toleration` tolerates `taint` (Kubernetes' `ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration.effect.is_some_and(|e| e != taint.effect) {
        return false;
    }
    if !toleration.key.is_empty() && toleration.key != taint.key {
        return false;
    }
    match toleration.operator {
        TolerationOperator::Exists => true,
        TolerationOperator::Equal => toleration.value == taint.value,
    }
}

fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first NoSchedule/NoExecute taint not tolerated, which is what the TaintToleration
/// filter reports.
pub fn untolerated_taint<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
            && !tolerated(tolerations, t)
    })
}

/// Number of PreferNoSchedule taints not tolerated (the TaintToleration score, lower is better).
pub fn intolerable_preferred_taints(taints: &[Taint], tolerations: &[Toleration]) -> i64 {
    taints
        .iter()
        .filter(|t| t.effect == TaintEffect::PreferNoSchedule && !tolerated(tolerations, t))
        .count() as i64
}

/// The NodeUnschedulable filter: a cordoned node takes only pods tolerating its taint.
pub fn unschedulable_blocks(node: &Node, tolerations: &[Toleration]) -> bool {
    node.unschedulable
        && !tolerated(
            tolerations,
            &Taint {
                key: UNSCHEDULABLE_TAINT_KEY.to_owned(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn req(key: &str, op: NodeSelectorOperator, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op,
            values: values.iter().map(|v| (*v).into()).collect(),
        }
    }

    #[test]
    fn label_selectors_follow_kubernetes() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(selector_matches(&LabelSelector::default(), &l));
        assert!(!optional_selector_matches(None, &l));
        let sel = |op, values: &[&str]| LabelSelector {
            match_labels: Labels::new(),
            match_expressions: vec![SelectorRequirement {
                key: "tier".into(),
                operator: op,
                values: values.iter().map(|v| (*v).into()).collect(),
            }],
        };
        assert!(selector_matches(
            &sel(SelectorOperator::In, &["front", "x"]),
            &l
        ));
        assert!(!selector_matches(
            &sel(SelectorOperator::NotIn, &["front"]),
            &l
        ));
        assert!(selector_matches(&sel(SelectorOperator::Exists, &[]), &l));
        assert!(!selector_matches(
            &sel(SelectorOperator::DoesNotExist, &[]),
            &l
        ));
        assert!(selector_matches(
            &sel(SelectorOperator::NotIn, &["front"]),
            &Labels::new()
        ));
    }

    #[test]
    fn node_terms_and_fields() {
        let l = labels(&[("zone", "a"), ("cores", "16")]);
        let t = |reqs: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
            match_expressions: reqs,
            match_fields: vec![],
        };
        assert!(
            !term_matches(&NodeSelectorTerm::default(), "n1", &l),
            "empty term matches nothing"
        );
        assert!(term_matches(
            &t(vec![req("cores", NodeSelectorOperator::Gt, &["8"])]),
            "n1",
            &l
        ));
        assert!(!term_matches(
            &t(vec![req("cores", NodeSelectorOperator::Lt, &["8"])]),
            "n1",
            &l
        ));
        assert!(!term_matches(
            &t(vec![req("zone", NodeSelectorOperator::Gt, &["1"])]),
            "n1",
            &l
        ));
        let by_name = NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![req("metadata.name", NodeSelectorOperator::In, &["n1"])],
        };
        assert!(term_matches(&by_name, "n1", &l));
        assert!(!term_matches(&by_name, "n2", &l));
        let affinity = NodeAffinity {
            required: Some(vec![
                t(vec![req("zone", NodeSelectorOperator::In, &["b"])]),
                by_name,
            ]),
            preferred: vec![],
        };
        assert!(
            node_affinity_matches(&Labels::new(), &affinity, "n1", &l),
            "terms are ORed"
        );
        assert!(!node_affinity_matches(
            &labels(&[("zone", "b")]),
            &affinity,
            "n1",
            &l
        ));
        assert!(
            !node_affinity_matches(
                &Labels::new(),
                &NodeAffinity {
                    required: Some(vec![]),
                    preferred: vec![]
                },
                "n1",
                &l
            ),
            "no terms match nothing"
        );
    }

    #[test]
    fn taints_and_tolerations() {
        let taint = Taint {
            key: "dedicated".into(),
            value: "gpu".into(),
            effect: TaintEffect::NoSchedule,
        };
        let tol = |key: &str, op, value: &str, effect| Toleration {
            key: key.into(),
            operator: op,
            value: value.into(),
            effect,
        };
        assert!(tolerates(
            &tol("dedicated", TolerationOperator::Equal, "gpu", None),
            &taint
        ));
        assert!(!tolerates(
            &tol("dedicated", TolerationOperator::Equal, "cpu", None),
            &taint
        ));
        assert!(tolerates(
            &tol("", TolerationOperator::Exists, "", None),
            &taint
        ));
        assert!(!tolerates(
            &tol(
                "dedicated",
                TolerationOperator::Exists,
                "",
                Some(TaintEffect::NoExecute)
            ),
            &taint
        ));
        let soft = Taint {
            effect: TaintEffect::PreferNoSchedule,
            ..taint.clone()
        };
        assert_eq!(untolerated_taint(std::slice::from_ref(&soft), &[]), None);
        assert_eq!(intolerable_preferred_taints(&[soft], &[]), 1);
        assert_eq!(
            untolerated_taint(std::slice::from_ref(&taint), &[]),
            Some(&taint)
        );
        let node = Node {
            name: "n".into(),
            labels: Labels::new(),
            taints: vec![],
            unschedulable: true,
            allocatable: Default::default(),
        };
        assert!(unschedulable_blocks(&node, &[]));
        assert!(!unschedulable_blocks(
            &node,
            &[tol(
                UNSCHEDULABLE_TAINT_KEY,
                TolerationOperator::Exists,
                "",
                None
            )]
        ));
    }
}
