//! Every resource type skiff serves, with what discovery advertises about it.

/// A subresource of a resource type (`pods/status`, `deployments/scale`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subresource {
    Status,
    Scale,
    Binding,
    Log,
    Eviction,
    Finalize,
    /// The streaming subresources a node agent serves (`pods/exec`, `services/proxy`, ...).
    Exec,
    Attach,
    PortForward,
    Proxy,
}

impl Subresource {
    const ALL: [Subresource; 10] = [
        Subresource::Status,
        Subresource::Scale,
        Subresource::Binding,
        Subresource::Log,
        Subresource::Eviction,
        Subresource::Finalize,
        Subresource::Exec,
        Subresource::Attach,
        Subresource::PortForward,
        Subresource::Proxy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Log => "log",
            Subresource::Eviction => "eviction",
            Subresource::Finalize => "finalize",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
            Subresource::PortForward => "portforward",
            Subresource::Proxy => "proxy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }

    /// Whether the subresource carries a stream or a proxied connection (a node agent's
    /// work) rather than an object.
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Subresource::Exec | Subresource::Attach | Subresource::PortForward | Subresource::Proxy
        )
    }
}

/// What a DELETE that removes an object answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReply {
    /// The object as it was deleted (kube's `ReturnDeletedObject` stores: pods, services, ...).
    Object,
    /// A `Success` Status naming it.
    Status,
}

/// What a create does with the `status` the client sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateStatus {
    /// Dropped: the object starts with an empty status that its defaults fill in (kube's
    /// `PrepareForCreate` of every kind with a status, but nodes).
    Reset,
    /// Kept as sent: a node registers with its capacity and conditions.
    Keep,
}

/// A served resource type.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The plural, lower-case resource name used in URLs.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Whether `metadata.generation` counts spec changes.
    pub tracks_generation: bool,
    pub delete_reply: DeleteReply,
    pub create_status: CreateStatus,
    /// Whether clients may write it; a read-only type (the APIServices the server registers
    /// for itself) is listed with get, list and watch only.
    pub writable: bool,
}

impl ResourceType {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn has(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// The store key prefix holding every object of this type (with a trailing `/`).
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("/registry/{group}/{}/", self.plural)
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }

    /// The prefix holding every object of this type in one namespace.
    pub fn namespace_prefix(&self, namespace: &str) -> String {
        format!("{}{namespace}/", self.key_prefix())
    }
}

use Subresource::*;

const ALL: &[&str] = &["all"];

/// A resource type; the optional trailing settings override the common case (a delete
/// answers with a Status, a create resets status, clients may write).
macro_rules! rt {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, ns=$ns:expr,
     short=$short:expr, cat=$cat:expr, sub=$sub:expr, generation=$gen:expr
     $(, $setting:ident = $value:expr)* $(,)?) => {{
        #[allow(unused_mut)]
        let mut rt = ResourceType {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            short_names: $short,
            categories: $cat,
            subresources: $sub,
            tracks_generation: $gen,
            delete_reply: DeleteReply::Status,
            create_status: CreateStatus::Reset,
            writable: true,
        };
        $(rt.$setting = $value;)*
        rt
    }};
}

/// Every served resource type.
pub static RESOURCES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        ns = false,
        short = &["ns"],
        cat = &[],
        sub = &[Status, Finalize],
        generation = false,
        delete_reply = DeleteReply::Object
    ),
    rt!(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        ns = true,
        short = &["po"],
        cat = ALL,
        sub = &[
            Status,
            Binding,
            Log,
            Eviction,
            Exec,
            Attach,
            PortForward,
            Proxy
        ],
        generation = false,
        delete_reply = DeleteReply::Object
    ),
    rt!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        ns = true,
        short = &["svc"],
        cat = ALL,
        sub = &[Status, Proxy],
        generation = false,
        delete_reply = DeleteReply::Object
    ),
    rt!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        ns = true,
        short = &["ep"],
        cat = &[],
        sub = &[],
        generation = false
    ),
    rt!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        ns = true,
        short = &["cm"],
        cat = &[],
        sub = &[],
        generation = false
    ),
    rt!(
        "",
        "v1",
        "Secret",
        "secrets",
        "secret",
        ns = true,
        short = &[],
        cat = &[],
        sub = &[],
        generation = false
    ),
    rt!(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        ns = false,
        short = &["no"],
        cat = &[],
        sub = &[Status, Proxy],
        generation = false,
        create_status = CreateStatus::Keep
    ),
    rt!(
        "",
        "v1",
        "Event",
        "events",
        "event",
        ns = true,
        short = &["ev"],
        cat = &[],
        sub = &[],
        generation = false
    ),
    rt!(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        ns = false,
        short = &["pv"],
        cat = &[],
        sub = &[Status],
        generation = false,
        delete_reply = DeleteReply::Object
    ),
    rt!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        ns = true,
        short = &["pvc"],
        cat = &[],
        sub = &[Status],
        generation = false,
        delete_reply = DeleteReply::Object
    ),
    rt!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        ns = true,
        short = &["sa"],
        cat = &[],
        sub = &[],
        generation = false,
        delete_reply = DeleteReply::Object
    ),
    rt!(
        "",
        "v1",
        "PodTemplate",
        "podtemplates",
        "podtemplate",
        ns = true,
        short = &[],
        cat = &[],
        sub = &[],
        generation = true
    ),
    rt!(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        "apiservice",
        ns = false,
        short = &[],
        cat = &["api-extensions"],
        sub = &[Status],
        generation = false,
        writable = false
    ),
    rt!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        ns = true,
        short = &["deploy"],
        cat = ALL,
        sub = &[Status, Scale],
        generation = true
    ),
    rt!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        ns = true,
        short = &["rs"],
        cat = ALL,
        sub = &[Status, Scale],
        generation = true
    ),
    rt!(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        ns = true,
        short = &["ds"],
        cat = ALL,
        sub = &[Status],
        generation = true
    ),
    rt!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        ns = true,
        short = &["sts"],
        cat = ALL,
        sub = &[Status, Scale],
        generation = true
    ),
    rt!(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        ns = true,
        short = &[],
        cat = &[],
        sub = &[],
        generation = false
    ),
    rt!(
        "batch",
        "v1",
        "Job",
        "jobs",
        "job",
        ns = true,
        short = &[],
        cat = ALL,
        sub = &[Status],
        generation = true
    ),
    rt!(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        "cronjob",
        ns = true,
        short = &["cj"],
        cat = ALL,
        sub = &[Status],
        generation = true
    ),
    rt!(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        ns = true,
        short = &["hpa"],
        cat = ALL,
        sub = &[Status],
        generation = true
    ),
    rt!(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        ns = true,
        short = &["ing"],
        cat = &[],
        sub = &[Status],
        generation = true
    ),
    rt!(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        ns = true,
        short = &[],
        cat = &[],
        sub = &[],
        generation = false
    ),
    rt!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        ns = true,
        short = &[],
        cat = &[],
        sub = &[],
        generation = false
    ),
    rt!(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        ns = false,
        short = &["sc"],
        cat = &[],
        sub = &[],
        generation = false,
        delete_reply = DeleteReply::Object
    ),
    rt!(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        ns = false,
        short = &["pc"],
        cat = &[],
        sub = &[],
        generation = false
    ),
];

/// The served resource at `group/version/plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The served resource of a kind in a group (any version).
pub fn by_kind(group: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind)
}

/// `(group, version)` pairs, in discovery order (core first).
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_types_and_namespaces() {
        let pods = find("", "v1", "pods").unwrap();
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/core/pods/default/web"
        );
        assert_eq!(
            pods.namespace_prefix("default"),
            "/registry/core/pods/default/"
        );
        let nodes = find("", "v1", "nodes").unwrap();
        assert_eq!(nodes.key(None, "n1"), "/registry/core/nodes/n1");
        let deploy = by_kind("apps", "Deployment").unwrap();
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(deploy.key_prefix(), "/registry/apps/deployments/");
    }

    /// kube-apiserver's stores with `ReturnDeletedObject` (pkg/registry/*/storage) answer a
    /// delete with the object; the rest with a Status. Only nodes keep status on create.
    #[test]
    fn per_kind_write_rules_are_kubes() {
        let returning: Vec<&str> = RESOURCES
            .iter()
            .filter(|r| r.delete_reply == DeleteReply::Object)
            .map(|r| r.plural)
            .collect();
        assert_eq!(
            returning,
            [
                "namespaces",
                "pods",
                "services",
                "persistentvolumes",
                "persistentvolumeclaims",
                "serviceaccounts",
                "storageclasses"
            ]
        );
        let keeping: Vec<&str> = RESOURCES
            .iter()
            .filter(|r| r.create_status == CreateStatus::Keep)
            .map(|r| r.plural)
            .collect();
        assert_eq!(keeping, ["nodes"]);
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(
                    !(a.group == b.group && a.plural == b.plural),
                    "{} twice",
                    a.plural
                );
                for s in a.short_names {
                    assert!(!b.short_names.contains(s), "short name {s} twice");
                }
            }
        }
        assert_eq!(group_versions()[0], ("", "v1"));
    }
}
