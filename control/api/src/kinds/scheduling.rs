//! PriorityClass (scheduling.k8s.io/v1): named pod priorities, as kube-apiserver validates
//! them. Resolving a pod's `priorityClassName` needs the stored classes, so it happens in the
//! API server (`priority.rs`); here are the rules for the classes themselves.

use k8s_openapi::api::scheduling::v1::PriorityClass;
use serde_json::json;

use super::Object;
use crate::error::Cause;
use crate::validation::Errors;

/// The highest value a user-defined class may have; larger ones are for system classes.
pub const HIGHEST_USER_PRIORITY: i32 = 1_000_000_000;

/// The classes every cluster has, created at start-up, with their values.
pub const SYSTEM_CLASSES: &[(&str, i32, &str)] = &[
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

const POLICIES: &[&str] = &["Never", "PreemptLowerPriority"];

impl Object for PriorityClass {
    fn set_defaults(&mut self) {
        self.preemption_policy
            .get_or_insert_with(|| "PreemptLowerPriority".into());
    }

    fn validate(&self, errs: &mut Errors) {
        let name = self.metadata.name.as_deref().unwrap_or_default();
        if name.starts_with("system-") {
            match SYSTEM_CLASSES.iter().find(|(n, ..)| *n == name) {
                None => errs.push(Cause::forbidden(
                    "metadata.name",
                    "priority class names with 'system-' prefix are reserved for system use only",
                )),
                Some((_, value, _)) if *value != self.value => errs.push(Cause::forbidden(
                    "value",
                    format!("the value of system priority class {name} must be {value}"),
                )),
                Some(_) => {}
            }
        } else if self.value > HIGHEST_USER_PRIORITY {
            errs.push(Cause::forbidden(
                "value",
                format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"
                ),
            ));
        }
        if let Some(p) = &self.preemption_policy
            && !POLICIES.contains(&p.as_str())
        {
            errs.push(Cause::not_supported(
                "preemptionPolicy",
                &json!(p),
                POLICIES,
            ));
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if self.value != old.value {
            errs.push(Cause::forbidden(
                "value",
                "may not be changed in an update.",
            ));
        }
        if self.preemption_policy != old.preemption_policy {
            errs.invalid(
                "preemptionPolicy",
                json!(self.preemption_policy),
                "field is immutable",
            );
        }
    }
}
