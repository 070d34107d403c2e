//! Core and networking kinds: Namespace, Service, ConfigMap, Secret, storage, and the simple
//! record kinds.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::api::core::v1::{
    ConfigMap, DaemonEndpoint, Endpoints, Event, EventSource, LoadBalancerStatus, Namespace,
    NamespaceSpec, NamespaceStatus, Node, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    PersistentVolumeStatus, PodTemplate, Secret, Service, ServiceAccount, ServiceStatus,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerStatus, IngressStatus};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::{
    APIService, APIServiceCondition, APIServiceStatus,
};
use serde_json::json;

use super::{Object, immutable};
use crate::error::Cause;
use crate::validation::{Errors, dns1123_label_error, port_name_error};

/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

impl Object for Namespace {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(NamespaceSpec::default);
        spec.finalizers
            .get_or_insert_with(|| vec!["kubernetes".into()]);
        let status = self.status.get_or_insert_with(NamespaceStatus::default);
        status.phase.get_or_insert_with(|| "Active".into());
        if let Some(name) = self.metadata.name.clone() {
            self.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(NAMESPACE_NAME_LABEL.into(), name);
        }
    }
}

const SERVICE_TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];

impl Object for Service {
    fn set_defaults(&mut self) {
        // kube always writes `status: {loadBalancer: {}}` (Go structs are never left out).
        self.status
            .get_or_insert_with(ServiceStatus::default)
            .load_balancer
            .get_or_insert_with(LoadBalancerStatus::default);
        let Some(spec) = &mut self.spec else { return };
        let kind = spec.type_.get_or_insert_with(|| "ClusterIP".into()).clone();
        spec.session_affinity.get_or_insert_with(|| "None".into());
        for p in spec.ports.iter_mut().flatten() {
            p.protocol.get_or_insert_with(|| "TCP".into());
            if p.target_port.is_none() {
                p.target_port = Some(IntOrString::Int(p.port));
            }
        }
        if kind != "ExternalName" {
            spec.internal_traffic_policy
                .get_or_insert_with(|| "Cluster".into());
            if spec.cluster_ip.as_deref() != Some("None") || spec.ip_families.is_some() {
                spec.ip_families.get_or_insert_with(|| vec!["IPv4".into()]);
                spec.ip_family_policy
                    .get_or_insert_with(|| "SingleStack".into());
            }
        }
        if kind == "NodePort" || kind == "LoadBalancer" {
            spec.external_traffic_policy
                .get_or_insert_with(|| "Cluster".into());
        }
        if kind == "LoadBalancer" {
            spec.allocate_load_balancer_node_ports.get_or_insert(true);
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
        if !SERVICE_TYPES.contains(&kind) {
            errs.push(Cause::not_supported(
                "spec.type",
                &json!(kind),
                SERVICE_TYPES,
            ));
        }
        let ports = spec.ports.as_deref().unwrap_or_default();
        if kind == "ExternalName" {
            if spec.external_name.as_deref().unwrap_or_default().is_empty() {
                errs.required("spec.externalName");
            }
        } else if ports.is_empty() && spec.cluster_ip.as_deref() != Some("None") {
            errs.required("spec.ports");
        }
        if let Some(ip) = spec.cluster_ip.as_deref()
            && !ip.is_empty()
            && ip != "None"
            && ip.parse::<std::net::Ipv4Addr>().is_err()
        {
            errs.invalid(
                "spec.clusterIP",
                json!(ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            );
        }
        let mut names = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for (i, p) in ports.iter().enumerate() {
            let at = format!("spec.ports[{i}]");
            match p.name.as_deref() {
                None | Some("") if ports.len() > 1 => errs.required(&format!("{at}.name")),
                None | Some("") => {}
                Some(name) => {
                    if let Some(e) = dns1123_label_error(name) {
                        errs.invalid(&format!("{at}.name"), json!(name), e);
                    } else if !names.insert(name) {
                        errs.push(Cause::duplicate(format!("{at}.name"), &json!(name)));
                    }
                }
            }
            errs.port(&format!("{at}.port"), p.port);
            let protocol = p.protocol.as_deref().unwrap_or("TCP");
            if !PROTOCOLS.contains(&protocol) {
                errs.push(Cause::not_supported(
                    format!("{at}.protocol"),
                    &json!(protocol),
                    PROTOCOLS,
                ));
            }
            if !seen.insert((p.port, protocol)) {
                errs.push(Cause::duplicate(
                    at.clone(),
                    &json!({"port": p.port, "protocol": protocol}),
                ));
            }
            match &p.target_port {
                Some(IntOrString::Int(t)) => errs.port(&format!("{at}.targetPort"), *t),
                Some(IntOrString::String(s)) => {
                    if let Some(e) = port_name_error(s) {
                        errs.invalid(&format!("{at}.targetPort"), json!(s), e);
                    }
                }
                None => {}
            }
            if let Some(np) = p.node_port
                && np != 0
                && kind != "NodePort"
                && kind != "LoadBalancer"
            {
                errs.push(Cause::forbidden(
                    format!("{at}.nodePort"),
                    format!("may not be used when `type` is '{kind}'"),
                ));
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let (Some(n), Some(o)) = (&self.spec, &old.spec) else {
            return;
        };
        let was = o.cluster_ip.as_deref().unwrap_or_default();
        let now = n.cluster_ip.as_deref().unwrap_or_default();
        // A type change to ExternalName releases the address; otherwise it is fixed once set.
        if !was.is_empty() && was != now && n.type_.as_deref() != Some("ExternalName") {
            errs.invalid("spec.clusterIP", json!(now), "field is immutable");
        }
    }
}

fn validate_config_keys<'a>(
    keys: impl Iterator<Item = (&'static str, &'a str, usize)>,
    errs: &mut Errors,
) {
    let mut total = 0;
    let mut seen = BTreeSet::new();
    for (field, key, size) in keys {
        total += size;
        let ok = !key.is_empty()
            && key.len() <= 253
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && key != "."
            && key != ".."
            && !key.starts_with("..");
        if !ok {
            errs.invalid(
                &format!("{field}[{key}]"),
                json!(key),
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' \
                 (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation \
                 is '[-._a-zA-Z0-9]+')",
            );
        }
        if !seen.insert(key) {
            errs.push(Cause::duplicate(format!("{field}[{key}]"), &json!(key)));
        }
    }
    if total > 1024 * 1024 {
        errs.push(Cause {
            reason: "FieldValueTooLong",
            field: "data".into(),
            message: "Too long: must have at most 1048576 bytes".into(),
        });
    }
}

impl Object for ConfigMap {
    fn validate(&self, errs: &mut Errors) {
        let data = self
            .data
            .iter()
            .flatten()
            .map(|(k, v)| ("data", k.as_str(), v.len()));
        let binary = self
            .binary_data
            .iter()
            .flatten()
            .map(|(k, v)| ("binaryData", k.as_str(), v.0.len()));
        validate_config_keys(data.chain(binary), errs);
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if old.immutable == Some(true) {
            immutable(errs, "data", &self.data, &old.data);
            immutable(errs, "binaryData", &self.binary_data, &old.binary_data);
            immutable(errs, "immutable", &self.immutable, &old.immutable);
        }
    }
}

impl Object for Secret {
    fn write_only() -> &'static [&'static str] {
        &["stringData"]
    }

    fn set_defaults(&mut self) {
        self.type_.get_or_insert_with(|| "Opaque".into());
        // stringData is write-only: merged into data, as Kubernetes does.
        if let Some(strings) = self.string_data.take() {
            let data = self.data.get_or_insert_with(BTreeMap::new);
            for (k, v) in strings {
                data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let data = self
            .data
            .iter()
            .flatten()
            .map(|(k, v)| ("data", k.as_str(), v.0.len()));
        let string_data = self
            .string_data
            .iter()
            .flatten()
            .map(|(k, v)| ("stringData", k.as_str(), v.len()));
        validate_config_keys(data.chain(string_data), errs);
        let has = |key: &str| {
            self.data.as_ref().is_some_and(|d| d.contains_key(key))
                || self
                    .string_data
                    .as_ref()
                    .is_some_and(|d| d.contains_key(key))
        };
        let required: &[&str] = match self.type_.as_deref() {
            Some("kubernetes.io/tls") => &["tls.crt", "tls.key"],
            Some("kubernetes.io/dockerconfigjson") => &[".dockerconfigjson"],
            Some("kubernetes.io/dockercfg") => &[".dockercfg"],
            Some("kubernetes.io/basic-auth") => &[],
            _ => &[],
        };
        for key in required {
            if !has(key) {
                errs.required(&format!("data[{key}]"));
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        immutable(errs, "type", &self.type_, &old.type_);
        if old.immutable == Some(true) {
            immutable(errs, "data", &self.data, &old.data);
            immutable(errs, "immutable", &self.immutable, &old.immutable);
        }
    }
}

impl Object for PersistentVolumeClaim {
    fn set_defaults(&mut self) {
        if let Some(spec) = &mut self.spec {
            spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
        }
        let status = self
            .status
            .get_or_insert_with(PersistentVolumeClaimStatus::default);
        status.phase.get_or_insert_with(|| "Pending".into());
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        if spec.access_modes.as_deref().unwrap_or_default().is_empty() {
            errs.push(Cause::required_because(
                "spec.accessModes",
                "at least 1 access mode is required",
            ));
        }
        let storage = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"));
        if storage.is_none() {
            errs.required("spec.resources[storage]");
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let (Some(n), Some(o)) = (&self.spec, &old.spec) else {
            return;
        };
        let mut allowed = o.clone();
        allowed.resources = n.resources.clone();
        allowed.volume_attributes_class_name = n.volume_attributes_class_name.clone();
        if o.volume_name.is_none() {
            allowed.volume_name = n.volume_name.clone();
        }
        if &allowed != n {
            errs.push(Cause::forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and \
                 volumeAttributesClassName for bound claims",
            ));
        }
    }
}

impl Object for PersistentVolume {
    fn set_defaults(&mut self) {
        if let Some(spec) = &mut self.spec {
            spec.persistent_volume_reclaim_policy
                .get_or_insert_with(|| "Retain".into());
            spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
        }
        let status = self
            .status
            .get_or_insert_with(PersistentVolumeStatus::default);
        status.phase.get_or_insert_with(|| "Pending".into());
        status
            .last_phase_transition_time
            .get_or_insert_with(|| Time(k8s_openapi::jiff::Timestamp::now()));
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        if spec
            .capacity
            .as_ref()
            .is_none_or(|c| !c.contains_key("storage"))
        {
            errs.required("spec.capacity");
        }
        if spec.access_modes.as_deref().unwrap_or_default().is_empty() {
            errs.required("spec.accessModes");
        }
    }
}

impl Object for Ingress {
    fn set_defaults(&mut self) {
        self.status
            .get_or_insert_with(IngressStatus::default)
            .load_balancer
            .get_or_insert_with(IngressLoadBalancerStatus::default);
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else { return };
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            for (j, path) in rule.http.iter().flat_map(|h| &h.paths).enumerate() {
                let at = format!("spec.rules[{i}].http.paths[{j}]");
                if path.path_type.is_empty() {
                    errs.required(&format!("{at}.pathType"));
                } else if !["Exact", "Prefix", "ImplementationSpecific"]
                    .contains(&path.path_type.as_str())
                {
                    errs.push(Cause::not_supported(
                        format!("{at}.pathType"),
                        &json!(path.path_type),
                        &["Exact", "ImplementationSpecific", "Prefix"],
                    ));
                }
            }
        }
    }
}

impl Object for StorageClass {
    fn set_defaults(&mut self) {
        self.reclaim_policy.get_or_insert_with(|| "Delete".into());
        self.volume_binding_mode
            .get_or_insert_with(|| "Immediate".into());
    }

    fn validate(&self, errs: &mut Errors) {
        if self.provisioner.is_empty() {
            errs.required("provisioner");
        }
    }
}

impl Object for EndpointSlice {
    fn validate(&self, errs: &mut Errors) {
        if !["IPv4", "IPv6", "FQDN"].contains(&self.address_type.as_str()) {
            errs.push(Cause::not_supported(
                "addressType",
                &json!(self.address_type),
                &["FQDN", "IPv4", "IPv6"],
            ));
        }
    }
}

impl Object for Endpoints {}
impl Object for ServiceAccount {}

impl Object for Node {
    /// What kube writes for a node whatever it reported: an empty spec, and in its status
    /// the daemon endpoints and node info (every node-info field is always written).
    fn set_defaults(&mut self) {
        self.spec.get_or_insert_with(NodeSpec::default);
        let status = self.status.get_or_insert_with(NodeStatus::default);
        status
            .daemon_endpoints
            .get_or_insert_with(NodeDaemonEndpoints::default)
            .kubelet_endpoint
            .get_or_insert_with(DaemonEndpoint::default);
        status.node_info.get_or_insert_with(NodeSystemInfo::default);
    }
}

impl Object for Event {
    fn set_defaults(&mut self) {
        self.source.get_or_insert_with(EventSource::default);
        self.reporting_component.get_or_insert_with(String::new);
        self.reporting_instance.get_or_insert_with(String::new);
    }

    fn null_fields() -> &'static [&'static [&'static str]] {
        &[&["firstTimestamp"], &["lastTimestamp"], &["eventTime"]]
    }
}

impl Object for Lease {
    fn set_defaults(&mut self) {
        self.spec.get_or_insert_with(LeaseSpec::default);
    }
}

impl Object for PodTemplate {
    fn set_defaults(&mut self) {
        if let Some(t) = &mut self.template {
            super::pod::default_template(t);
        }
    }

    fn validate(&self, errs: &mut Errors) {
        if let Some(t) = &self.template {
            super::pod::validate_template(t, "template", None, RESTART_POLICIES, errs);
        }
    }

    fn null_fields() -> &'static [&'static [&'static str]] {
        &[&["template", "metadata", "creationTimestamp"]]
    }
}

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];

/// The condition kube's aggregator gives an APIService served by this server itself.
const LOCAL_AVAILABLE: &str = "Local APIServices are always available";

impl Object for APIService {
    fn set_defaults(&mut self) {
        let local = self.spec.as_ref().is_none_or(|s| s.service.is_none());
        let status = self.status.get_or_insert_with(APIServiceStatus::default);
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        if local && !conditions.iter().any(|c| c.type_ == "Available") {
            conditions.push(APIServiceCondition {
                type_: "Available".into(),
                status: "True".into(),
                reason: Some("Local".into()),
                message: Some(LOCAL_AVAILABLE.into()),
                last_transition_time: Some(Time(k8s_openapi::jiff::Timestamp::now())),
            });
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else {
            return errs.required("spec");
        };
        let group = spec.group.as_deref().unwrap_or_default();
        let version = spec.version.as_deref().unwrap_or_default();
        let want = format!("{version}.{group}");
        if self.metadata.name.as_deref() != Some(want.as_str()) {
            errs.invalid(
                "metadata.name",
                json!(self.metadata.name),
                format!("must be `spec.version+\".\"+spec.group`: {want:?}"),
            );
        }
        if spec.group_priority_minimum <= 0 {
            errs.invalid(
                "spec.groupPriorityMinimum",
                json!(spec.group_priority_minimum),
                "must be positive and less than 20000",
            );
        }
        if spec.version_priority <= 0 {
            errs.invalid(
                "spec.versionPriority",
                json!(spec.version_priority),
                "must be positive and less than 1000",
            );
        }
    }

    fn null_fields() -> &'static [&'static [&'static str]] {
        // `service` has no omitempty: a Local APIService says `service: null`.
        &[&["spec", "service"]]
    }
}
