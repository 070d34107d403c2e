//! Workload kinds: Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, CronJob, and the
//! HorizontalPodAutoscaler and ControllerRevision that serve them.

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy,
    ReplicaSet, RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy,
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use super::pod::{default_template, validate_template};
use super::{Object, immutable};
use crate::error::Cause;
use crate::selector::Selector;
use crate::validation::Errors;

/// Checks a required, non-empty label selector; returns it for template matching.
fn check_selector(sel: Option<&LabelSelector>, path: &str, errs: &mut Errors) -> Option<Selector> {
    let Some(sel) = sel else {
        errs.required(path);
        return None;
    };
    let value = serde_json::to_value(sel).unwrap_or_default();
    match Selector::from_label_selector(&value) {
        Ok(s) if s.is_empty() => {
            errs.invalid(path, value, "empty selector is invalid for deployment");
            None
        }
        Ok(s) => Some(s),
        Err(e) => {
            errs.invalid(path, value, e);
            None
        }
    }
}

fn non_negative(errs: &mut Errors, field: &str, v: Option<i32>) {
    if let Some(v) = v
        && v < 0
    {
        errs.invalid(field, json!(v), "must be greater than or equal to 0");
    }
}

/// A pod template's unset creation time, which kube writes as `creationTimestamp: null`.
const TEMPLATE_CREATED: &[&str] = &["spec", "template", "metadata", "creationTimestamp"];

fn percent_or_int(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

impl Object for Deployment {
    fn set_defaults(&mut self) {
        self.status.get_or_insert_with(Default::default);
        let Some(spec) = &mut self.spec else { return };
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        let strategy = spec
            .strategy
            .get_or_insert_with(DeploymentStrategy::default);
        let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
        if kind == "RollingUpdate" {
            let ru = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDeployment::default);
            ru.max_surge.get_or_insert_with(|| percent_or_int("25%"));
            ru.max_unavailable
                .get_or_insert_with(|| percent_or_int("25%"));
        }
        default_template(&mut spec.template);
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        non_negative(errs, "spec.replicas", spec.replicas);
        let sel = check_selector(non_empty(&spec.selector), "spec.selector", errs);
        validate_template(
            &spec.template,
            "spec.template",
            sel.as_ref(),
            &["Always"],
            errs,
        );
        if let Some(t) = spec.strategy.as_ref().and_then(|s| s.type_.as_ref())
            && !["RollingUpdate", "Recreate"].contains(&t.as_str())
        {
            errs.push(Cause::not_supported(
                "spec.strategy.type",
                &json!(t),
                &["Recreate", "RollingUpdate"],
            ));
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if let (Some(n), Some(o)) = (&self.spec, &old.spec) {
            immutable(errs, "spec.selector", &n.selector, &o.selector);
        }
    }

    fn null_fields() -> &'static [&'static [&'static str]] {
        &[TEMPLATE_CREATED]
    }
}

/// A required selector: `None` when the user gave none.
fn non_empty(sel: &LabelSelector) -> Option<&LabelSelector> {
    (sel.match_labels.is_some() || sel.match_expressions.is_some()).then_some(sel)
}

impl Object for ReplicaSet {
    fn set_defaults(&mut self) {
        self.status.get_or_insert_with(Default::default);
        let Some(spec) = &mut self.spec else { return };
        spec.replicas.get_or_insert(1);
        if let Some(t) = &mut spec.template {
            default_template(t);
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        non_negative(errs, "spec.replicas", spec.replicas);
        let sel = check_selector(non_empty(&spec.selector), "spec.selector", errs);
        match &spec.template {
            Some(t) => validate_template(t, "spec.template", sel.as_ref(), &["Always"], errs),
            None => errs.required("spec.template"),
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if let (Some(n), Some(o)) = (&self.spec, &old.spec) {
            immutable(errs, "spec.selector", &n.selector, &o.selector);
        }
    }

    fn null_fields() -> &'static [&'static [&'static str]] {
        &[TEMPLATE_CREATED]
    }
}

impl Object for DaemonSet {
    fn set_defaults(&mut self) {
        self.status.get_or_insert_with(Default::default);
        let Some(spec) = &mut self.spec else { return };
        spec.revision_history_limit.get_or_insert(10);
        let strategy = spec
            .update_strategy
            .get_or_insert_with(DaemonSetUpdateStrategy::default);
        let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
        if kind == "RollingUpdate" {
            let ru = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDaemonSet::default);
            ru.max_unavailable.get_or_insert(IntOrString::Int(1));
            ru.max_surge.get_or_insert(IntOrString::Int(0));
        }
        default_template(&mut spec.template);
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        let sel = check_selector(non_empty(&spec.selector), "spec.selector", errs);
        validate_template(
            &spec.template,
            "spec.template",
            sel.as_ref(),
            &["Always"],
            errs,
        );
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if let (Some(n), Some(o)) = (&self.spec, &old.spec) {
            immutable(errs, "spec.selector", &n.selector, &o.selector);
        }
    }

    fn null_fields() -> &'static [&'static [&'static str]] {
        &[TEMPLATE_CREATED]
    }
}

impl Object for StatefulSet {
    fn set_defaults(&mut self) {
        // Go writes `replicas` and `availableReplicas` even when zero.
        self.status
            .get_or_insert_with(Default::default)
            .available_replicas
            .get_or_insert(0);
        let Some(spec) = &mut self.spec else { return };
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        spec.pod_management_policy
            .get_or_insert_with(|| "OrderedReady".into());
        let strategy = spec
            .update_strategy
            .get_or_insert_with(StatefulSetUpdateStrategy::default);
        let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
        if kind == "RollingUpdate" {
            let ru = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
            ru.partition.get_or_insert(0);
        }
        let retention = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
        retention
            .when_deleted
            .get_or_insert_with(|| "Retain".into());
        retention.when_scaled.get_or_insert_with(|| "Retain".into());
        default_template(&mut spec.template);
        for claim in spec.volume_claim_templates.iter_mut().flatten() {
            if let Some(s) = &mut claim.spec {
                s.volume_mode.get_or_insert_with(|| "Filesystem".into());
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        non_negative(errs, "spec.replicas", spec.replicas);
        let sel = check_selector(non_empty(&spec.selector), "spec.selector", errs);
        validate_template(
            &spec.template,
            "spec.template",
            sel.as_ref(),
            &["Always"],
            errs,
        );
        if let Some(p) = &spec.pod_management_policy
            && !["OrderedReady", "Parallel"].contains(&p.as_str())
        {
            errs.push(Cause::not_supported(
                "spec.podManagementPolicy",
                &json!(p),
                &["OrderedReady", "Parallel"],
            ));
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let (Some(n), Some(o)) = (&self.spec, &old.spec) else {
            return;
        };
        // Everything but these may not change.
        let mut allowed = o.clone();
        allowed.replicas = n.replicas;
        allowed.template = n.template.clone();
        allowed.update_strategy = n.update_strategy.clone();
        allowed.persistent_volume_claim_retention_policy =
            n.persistent_volume_claim_retention_policy.clone();
        allowed.min_ready_seconds = n.min_ready_seconds;
        allowed.ordinals = n.ordinals.clone();
        allowed.revision_history_limit = n.revision_history_limit;
        if &allowed != n {
            errs.push(Cause::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', \
                 'template', 'updateStrategy', 'revisionHistoryLimit', \
                 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }

    fn null_fields() -> &'static [&'static [&'static str]] {
        &[TEMPLATE_CREATED]
    }
}

/// Labels the Job controller matches its pods by.
pub const JOB_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

impl Object for Job {
    fn set_defaults(&mut self) {
        self.status.get_or_insert_with(Default::default);
        let uid = self.metadata.uid.clone();
        let name = self.metadata.name.clone();
        let Some(spec) = &mut self.spec else { return };
        if spec.completions.is_none() && spec.parallelism.is_none() {
            spec.completions = Some(1);
        }
        spec.parallelism.get_or_insert(1);
        spec.backoff_limit.get_or_insert(6);
        spec.completion_mode
            .get_or_insert_with(|| "NonIndexed".into());
        spec.suspend.get_or_insert(false);
        spec.pod_replacement_policy
            .get_or_insert_with(|| "TerminatingOrFailed".into());
        // Like kube-apiserver, generate the selector from the job's uid unless the user
        // chose one (manualSelector).
        if spec.manual_selector != Some(true)
            && let (Some(uid), Some(name)) = (uid, name)
        {
            let labels = spec
                .template
                .metadata
                .get_or_insert_with(Default::default)
                .labels
                .get_or_insert_with(Default::default);
            labels.insert(JOB_UID_LABEL.into(), uid.clone());
            labels.insert(JOB_NAME_LABEL.into(), name.clone());
            labels.insert("controller-uid".into(), uid.clone());
            labels.insert("job-name".into(), name);
            if spec.selector.is_none() {
                spec.selector = Some(LabelSelector {
                    match_labels: Some([(JOB_UID_LABEL.to_owned(), uid)].into()),
                    match_expressions: None,
                });
            }
        }
        default_template(&mut spec.template);
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        non_negative(errs, "spec.parallelism", spec.parallelism);
        non_negative(errs, "spec.completions", spec.completions);
        non_negative(errs, "spec.backoffLimit", spec.backoff_limit);
        let sel = spec.selector.as_ref().and_then(|s| {
            Selector::from_label_selector(&serde_json::to_value(s).unwrap_or_default()).ok()
        });
        validate_template(
            &spec.template,
            "spec.template",
            sel.as_ref(),
            &["OnFailure", "Never"],
            errs,
        );
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if let (Some(n), Some(o)) = (&self.spec, &old.spec) {
            immutable(errs, "spec.selector", &n.selector, &o.selector);
            immutable(errs, "spec.completions", &n.completions, &o.completions);
        }
    }

    fn null_fields() -> &'static [&'static [&'static str]] {
        &[TEMPLATE_CREATED]
    }
}

impl Object for CronJob {
    fn set_defaults(&mut self) {
        self.status.get_or_insert_with(Default::default);
        let Some(spec) = &mut self.spec else { return };
        spec.concurrency_policy
            .get_or_insert_with(|| "Allow".into());
        spec.suspend.get_or_insert(false);
        spec.successful_jobs_history_limit.get_or_insert(3);
        spec.failed_jobs_history_limit.get_or_insert(1);
        if let Some(job) = &mut spec.job_template.spec {
            job.backoff_limit.get_or_insert(6);
            job.completion_mode
                .get_or_insert_with(|| "NonIndexed".into());
            default_template(&mut job.template);
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        if let Err(e) = crate::cron::Schedule::parse(&spec.schedule) {
            errs.invalid("spec.schedule", json!(spec.schedule), e);
        }
        if let Some(job) = &spec.job_template.spec {
            validate_template(
                &job.template,
                "spec.jobTemplate.spec.template",
                None,
                &["OnFailure", "Never"],
                errs,
            );
        }
    }

    fn null_fields() -> &'static [&'static [&'static str]] {
        &[
            &["spec", "jobTemplate", "metadata", "creationTimestamp"],
            &[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "metadata",
                "creationTimestamp",
            ],
        ]
    }
}

impl Object for HorizontalPodAutoscaler {
    fn set_defaults(&mut self) {
        self.status.get_or_insert_with(Default::default);
        if let Some(spec) = &mut self.spec {
            spec.min_replicas.get_or_insert(1);
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        if spec.max_replicas < 1 {
            errs.invalid(
                "spec.maxReplicas",
                json!(spec.max_replicas),
                "must be greater than or equal to 1",
            );
        }
        if let Some(min) = spec.min_replicas
            && min > spec.max_replicas
        {
            errs.invalid(
                "spec.maxReplicas",
                json!(spec.max_replicas),
                "must be greater than or equal to `minReplicas`",
            );
        }
        if spec.scale_target_ref.name.is_empty() {
            errs.required("spec.scaleTargetRef.name");
        }
        if spec.scale_target_ref.kind.is_empty() {
            errs.required("spec.scaleTargetRef.kind");
        }
    }
}

impl Object for ControllerRevision {}
