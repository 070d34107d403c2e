//! Field selectors (`?fieldSelector=spec.nodeName=n1,status.phase!=Running`).

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    field: String,
    equal: bool,
    value: String,
}

/// A conjunction of `field=value` / `field!=value` terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<Term>,
}

/// Fields every kind supports.
const COMMON: &[&str] = &["metadata.name", "metadata.namespace"];

/// The selectable fields of a kind, beyond the common ones, with where each lives.
fn kind_fields(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "Pod" => &[
            ("spec.nodeName", "/spec/nodeName"),
            ("spec.restartPolicy", "/spec/restartPolicy"),
            ("spec.schedulerName", "/spec/schedulerName"),
            ("spec.serviceAccountName", "/spec/serviceAccountName"),
            ("spec.hostNetwork", "/spec/hostNetwork"),
            ("status.phase", "/status/phase"),
            ("status.podIP", "/status/podIP"),
            ("status.nominatedNodeName", "/status/nominatedNodeName"),
        ],
        "Event" => &[
            ("involvedObject.kind", "/involvedObject/kind"),
            ("involvedObject.namespace", "/involvedObject/namespace"),
            ("involvedObject.name", "/involvedObject/name"),
            ("involvedObject.uid", "/involvedObject/uid"),
            ("involvedObject.apiVersion", "/involvedObject/apiVersion"),
            (
                "involvedObject.resourceVersion",
                "/involvedObject/resourceVersion",
            ),
            ("involvedObject.fieldPath", "/involvedObject/fieldPath"),
            ("reason", "/reason"),
            ("reportingComponent", "/reportingComponent"),
            ("source", "/source/component"),
            ("type", "/type"),
        ],
        "Secret" => &[("type", "/type")],
        "Node" => &[("spec.unschedulable", "/spec/unschedulable")],
        "Namespace" => &[("status.phase", "/status/phase")],
        "ReplicaSet" => &[("status.replicas", "/status/replicas")],
        "Job" => &[("status.successful", "/status/succeeded")],
        _ => &[],
    }
}

fn pointer(kind: &str, field: &str) -> Option<&'static str> {
    match field {
        "metadata.name" => Some("/metadata/name"),
        "metadata.namespace" => Some("/metadata/namespace"),
        _ => kind_fields(kind)
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, p)| *p),
    }
}

/// The value a field selector compares: absent fields are "", booleans and numbers as text.
fn field_text(obj: &Value, ptr: &str) -> String {
    match obj.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Null) | None => match ptr {
            "/spec/hostNetwork" | "/spec/unschedulable" => "false".into(),
            _ => String::new(),
        },
        Some(other) => other.to_string(),
    }
}

impl FieldSelector {
    /// Parses and checks every field against what `kind` supports.
    pub fn parse(input: &str, kind: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if pointer(kind, field).is_none() {
                let mut supported: Vec<&str> = COMMON.to_vec();
                supported.extend(kind_fields(kind).iter().map(|(f, _)| *f));
                return Err(format!(
                    "field label not supported: {field} (supported for {kind}: {})",
                    supported.join(", ")
                ));
            }
            terms.push(Term {
                field: field.to_owned(),
                equal,
                value: value.trim().to_owned(),
            });
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, obj: &Value, kind: &str) -> bool {
        self.terms.iter().all(|t| {
            let ptr = pointer(kind, &t.field).expect("checked at parse");
            (field_text(obj, ptr) == t.value) == t.equal
        })
    }

    /// Where the fields the selector compares live (JSON pointers).
    pub fn pointers<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'static str> + 'a {
        self.terms
            .iter()
            .map(move |t| pointer(kind, &t.field).expect("checked at parse"))
    }

    /// `Some(name)` when the selector pins `metadata.name` (a watch on one object).
    pub fn pinned_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == "metadata.name" && t.equal)
            .map(|t| t.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pods_by_node_and_phase() {
        let s = FieldSelector::parse("spec.nodeName=n1,status.phase!=Running", "Pod").unwrap();
        let pod = |node: &str, phase: &str| json!({"metadata": {"name": "p"}, "spec": {"nodeName": node}, "status": {"phase": phase}});
        assert!(s.matches(&pod("n1", "Pending"), "Pod"));
        assert!(!s.matches(&pod("n1", "Running"), "Pod"));
        assert!(!s.matches(&pod("n2", "Pending"), "Pod"));
        let unscheduled = FieldSelector::parse("spec.nodeName=", "Pod").unwrap();
        assert!(unscheduled.matches(&json!({"spec": {}}), "Pod"));
    }

    #[test]
    fn events_for_an_object() {
        let s = FieldSelector::parse(
            "involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=Pod",
            "Event",
        )
        .unwrap();
        let ev = json!({"involvedObject": {"name": "web", "namespace": "default", "kind": "Pod"}});
        assert!(s.matches(&ev, "Event"));
    }

    #[test]
    fn unknown_fields_are_rejected_with_the_supported_list() {
        let e = FieldSelector::parse("spec.foo=x", "Pod").unwrap_err();
        assert!(e.contains("field label not supported: spec.foo"), "{e}");
        assert!(e.contains("spec.nodeName"), "{e}");
        assert!(FieldSelector::parse("nonsense", "Pod").is_err());
        assert_eq!(
            FieldSelector::parse("metadata.name=x", "ConfigMap")
                .unwrap()
                .pinned_name(),
            Some("x")
        );
    }
}
