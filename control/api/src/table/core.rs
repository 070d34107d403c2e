//! Table layouts of core, networking and storage kinds.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, Column, NAME, RowFn, age, col, containers_images, int, list, map_text, name, num, or_none,
    s, text, wide,
};

pub(super) fn layout(kind: &str) -> Option<(&'static [Column], RowFn)> {
    Some(match kind {
        "Namespace" => (
            const { &[NAME, col("Status", "The status of the namespace"), AGE] },
            |o, now| {
                vec![
                    name(o),
                    s(text(o, "/status/phase").unwrap_or_else(|| "Active".into())),
                    age(o, now),
                ]
            },
        ),
        "Service" => (
            const {
                &[
                    NAME,
                    col("Type", "The type of the service."),
                    col("Cluster-IP", "The IP address of the service."),
                    col("External-IP", "The external IP address of the service."),
                    col("Port(s)", "The ports exposed by the service."),
                    AGE,
                    wide("Selector", "The label selector of the service."),
                ]
            },
            service_row,
        ),
        "Node" => (
            const {
                &[
                    NAME,
                    col("Status", "The status of the node"),
                    col("Roles", "The roles of the node"),
                    AGE,
                    col("Version", "Kubelet Version reported by the node."),
                    wide("Internal-IP", "List of internal IPs for the node."),
                    wide("External-IP", "List of external IPs for the node."),
                    wide(
                        "OS-Image",
                        "OS image reported by the node from /etc/os-release.",
                    ),
                    wide("Kernel-Version", "Kernel version reported by the node."),
                    wide(
                        "Container-Runtime",
                        "Container runtime reported by the node.",
                    ),
                ]
            },
            node_row,
        ),
        "PodTemplate" => (
            const {
                &[
                    NAME,
                    col("Containers", "Names of each container in the template."),
                    col(
                        "Images",
                        "Images referenced by each container in the template.",
                    ),
                    col("Pod Labels", "The labels for the pod template."),
                ]
            },
            |o, _| {
                let (c, i) = containers_images(o, "/template/spec");
                vec![name(o), c, i, map_text(o, "/template/metadata/labels")]
            },
        ),
        "APIService" => (
            const {
                &[
                    NAME,
                    col(
                        "Service",
                        "The reference to the service that hosts this API endpoint.",
                    ),
                    col("Available", "Whether this service is available."),
                    AGE,
                ]
            },
            api_service_row,
        ),
        "Secret" => (
            const {
                &[
                    NAME,
                    col("Type", "The type of the secret"),
                    int("Data", "The number of entries in the secret"),
                    AGE,
                ]
            },
            |o, now| {
                let n = o
                    .get("data")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len());
                vec![
                    name(o),
                    s(text(o, "/type").unwrap_or_else(|| "Opaque".into())),
                    json!(n),
                    age(o, now),
                ]
            },
        ),
        "ConfigMap" => (
            const {
                &[
                    NAME,
                    int("Data", "The number of entries in the config map"),
                    AGE,
                ]
            },
            |o, now| {
                let n = ["data", "binaryData"]
                    .iter()
                    .map(|f| o.get(*f).and_then(Value::as_object).map_or(0, |m| m.len()))
                    .sum::<usize>();
                vec![name(o), json!(n), age(o, now)]
            },
        ),
        "Endpoints" => (
            const { &[NAME, col("Endpoints", "Endpoints of the service."), AGE] },
            |o, now| vec![name(o), s(endpoints_text(o)), age(o, now)],
        ),
        "Event" => (
            const {
                &[
                    col("Last Seen", "Time when last event occurred."),
                    col(
                        "Type",
                        "Type of this event (Normal, Warning), new types could be added in the future.",
                    ),
                    col("Reason", "Reason is why the action was taken."),
                    col("Object", "The object that this event is about."),
                    wide("Subobject", "The subobject that this event is about."),
                    wide("Source", "The component reporting this event."),
                    col(
                        "Message",
                        "A human-readable description of the status of this operation.",
                    ),
                    wide("First Seen", "Time when first event occurred."),
                    wide("Count", "The number of times this event has occurred."),
                    Column { wide: true, ..NAME },
                ]
            },
            event_row,
        ),
        "PersistentVolume" => (
            const {
                &[
                    NAME,
                    col("Capacity", "Capacity of the volume."),
                    col("Access Modes", "Access modes of the volume."),
                    col(
                        "Reclaim Policy",
                        "What happens to the volume when its claim is released.",
                    ),
                    col("Status", "Phase of the volume."),
                    col("Claim", "The claim bound to the volume."),
                    col("StorageClass", "Storage class of the volume."),
                    col(
                        "VolumeAttributesClass",
                        "Volume attributes class of the volume.",
                    ),
                    col("Reason", "Reason for the phase."),
                    AGE,
                    wide("VolumeMode", "Volume mode of the volume."),
                ]
            },
            |o, now| {
                let claim = text(o, "/spec/claimRef/name").map(|n| {
                    format!(
                        "{}/{n}",
                        text(o, "/spec/claimRef/namespace").unwrap_or_default()
                    )
                });
                vec![
                    name(o),
                    s(text(o, "/spec/capacity/storage").unwrap_or_default()),
                    s(access_modes(o, "/spec/accessModes")),
                    s(text(o, "/spec/persistentVolumeReclaimPolicy").unwrap_or_default()),
                    s(text(o, "/status/phase").unwrap_or_default()),
                    s(claim.unwrap_or_default()),
                    s(text(o, "/spec/storageClassName").unwrap_or_default()),
                    or_none(text(o, "/spec/volumeAttributesClassName")),
                    s(text(o, "/status/reason").unwrap_or_default()),
                    age(o, now),
                    s(text(o, "/spec/volumeMode").unwrap_or_else(|| "Filesystem".into())),
                ]
            },
        ),
        "PersistentVolumeClaim" => (
            const {
                &[
                    NAME,
                    col("Status", "Phase of the claim."),
                    col("Volume", "The volume bound to the claim."),
                    col("Capacity", "Capacity of the bound volume."),
                    col("Access Modes", "Access modes of the bound volume."),
                    col("StorageClass", "Storage class of the claim."),
                    col(
                        "VolumeAttributesClass",
                        "Volume attributes class of the claim.",
                    ),
                    AGE,
                    wide("VolumeMode", "Volume mode of the claim."),
                ]
            },
            |o, now| {
                vec![
                    name(o),
                    s(text(o, "/status/phase").unwrap_or_else(|| "Pending".into())),
                    s(text(o, "/spec/volumeName").unwrap_or_default()),
                    s(text(o, "/status/capacity/storage").unwrap_or_default()),
                    s(access_modes(o, "/status/accessModes")),
                    s(text(o, "/spec/storageClassName").unwrap_or_default()),
                    or_none(text(o, "/spec/volumeAttributesClassName")),
                    age(o, now),
                    s(text(o, "/spec/volumeMode").unwrap_or_else(|| "Filesystem".into())),
                ]
            },
        ),
        "ServiceAccount" => (
            const {
                &[
                    NAME,
                    int("Secrets", "The number of secrets of the service account"),
                    AGE,
                ]
            },
            |o, now| vec![name(o), json!(list(o, "/secrets").len()), age(o, now)],
        ),
        "Ingress" => (
            const {
                &[
                    NAME,
                    col("Class", "The name of the IngressClass resource."),
                    col(
                        "Hosts",
                        "Hosts that incoming requests are matched against before the ingress rule",
                    ),
                    col(
                        "Address",
                        "Address is a list containing ingress points for the load-balancer",
                    ),
                    col("Ports", "Ports of TLS configurations that open"),
                    AGE,
                ]
            },
            |o, now| {
                let hosts: Vec<String> = list(o, "/spec/rules")
                    .iter()
                    .filter_map(|r| r.get("host").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                let addresses: Vec<String> = list(o, "/status/loadBalancer/ingress")
                    .iter()
                    .filter_map(|i| {
                        i.get("ip")
                            .or_else(|| i.get("hostname"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect();
                let ports = if list(o, "/spec/tls").is_empty() {
                    "80"
                } else {
                    "80, 443"
                };
                vec![
                    name(o),
                    or_none(text(o, "/spec/ingressClassName")),
                    s(if hosts.is_empty() {
                        "*".into()
                    } else {
                        hosts.join(",")
                    }),
                    s(addresses.join(",")),
                    s(ports),
                    age(o, now),
                ]
            },
        ),
        "EndpointSlice" => (
            const {
                &[
                    NAME,
                    col("AddressType", "The IP protocol for this slice"),
                    col("Ports", "The ports of this slice"),
                    col("Endpoints", "The endpoints of this slice"),
                    AGE,
                ]
            },
            |o, now| {
                let ports: Vec<String> = list(o, "/ports")
                    .iter()
                    .filter_map(|p| p.get("port").map(|v| v.to_string()))
                    .collect();
                let addrs: Vec<String> = list(o, "/endpoints")
                    .iter()
                    .flat_map(|e| {
                        e.get("addresses")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default()
                    })
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect();
                vec![
                    name(o),
                    s(text(o, "/addressType").unwrap_or_default()),
                    or_none((!ports.is_empty()).then(|| ports.join(","))),
                    or_none((!addrs.is_empty()).then(|| addrs.join(","))),
                    age(o, now),
                ]
            },
        ),
        "Lease" => (
            const { &[NAME, col("Holder", "The holder of the lease."), AGE] },
            |o, now| {
                vec![
                    name(o),
                    s(text(o, "/spec/holderIdentity").unwrap_or_default()),
                    age(o, now),
                ]
            },
        ),
        "PriorityClass" => (
            const {
                &[
                    NAME,
                    col("Value", "Value is the value of this priority class."),
                    col(
                        "Global-Default",
                        "globalDefault specifies whether this PriorityClass should be considered as the default priority.",
                    ),
                    AGE,
                    col(
                        "PreemptionPolicy",
                        "preemptionPolicy is the Policy for preempting pods with lower priority.",
                    ),
                ]
            },
            |o, now| {
                vec![
                    name(o),
                    json!(o.get("value").and_then(Value::as_i64).unwrap_or(0)),
                    json!(
                        o.get("globalDefault")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                    ),
                    age(o, now),
                    s(text(o, "/preemptionPolicy").unwrap_or_default()),
                ]
            },
        ),
        "StorageClass" => (
            const {
                &[
                    NAME,
                    col("Provisioner", "Indicates the type of the provisioner."),
                    col("ReclaimPolicy", "Indicates the type of the reclaim policy."),
                    col(
                        "VolumeBindingMode",
                        "Indicates when volume binding and dynamic provisioning should occur.",
                    ),
                    col(
                        "AllowVolumeExpansion",
                        "Indicates whether the storage class allow volume expand.",
                    ),
                    AGE,
                ]
            },
            |o, now| {
                vec![
                    name(o),
                    s(text(o, "/provisioner").unwrap_or_default()),
                    s(text(o, "/reclaimPolicy").unwrap_or_else(|| "Delete".into())),
                    s(text(o, "/volumeBindingMode").unwrap_or_else(|| "Immediate".into())),
                    s(text(o, "/allowVolumeExpansion").unwrap_or_else(|| "false".into())),
                    age(o, now),
                ]
            },
        ),
        _ => return None,
    })
}

fn access_modes(o: &Value, ptr: &str) -> String {
    let short: Vec<&str> = list(o, ptr)
        .iter()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect();
    short.join(",")
}

fn service_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let kind = text(o, "/spec/type").unwrap_or_else(|| "ClusterIP".into());
    let external = match kind.as_str() {
        "ExternalName" => text(o, "/spec/externalName"),
        "LoadBalancer" => {
            let ips: Vec<String> = list(o, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .chain(
                    list(o, "/spec/externalIPs")
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned)),
                )
                .collect();
            Some(if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            })
        }
        _ => {
            let ips: Vec<String> = list(o, "/spec/externalIPs")
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            (!ips.is_empty()).then(|| ips.join(","))
        }
    };
    let ports: Vec<String> = list(o, "/spec/ports")
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) if np != 0 => format!("{port}:{np}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    vec![
        name(o),
        s(kind),
        or_none(text(o, "/spec/clusterIP")),
        or_none(external),
        or_none((!ports.is_empty()).then(|| ports.join(","))),
        age(o, now),
        map_text(o, "/spec/selector"),
    ]
}

/// `Local` or `namespace/name` of the hosting Service, and the Available condition as the
/// aggregator prints it (`False (MissingEndpoints)` when not available).
fn api_service_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let service = match o.pointer("/spec/service").filter(|v| !v.is_null()) {
        Some(svc) => format!(
            "{}/{}",
            svc.get("namespace")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            svc.get("name").and_then(Value::as_str).unwrap_or_default()
        ),
        None => "Local".into(),
    };
    let available = list(o, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Available"));
    let available = match available {
        None => "Unknown".to_owned(),
        Some(c) => {
            let status = c.get("status").and_then(Value::as_str).unwrap_or_default();
            match c
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                Some(reason) if status != "True" => format!("{status} ({reason})"),
                _ => status.to_owned(),
            }
        }
    };
    vec![name(o), s(service), s(available), age(o, now)]
}

fn node_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let ready = list(o, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .and_then(|c| c.get("status").and_then(Value::as_str));
    let mut status = match ready {
        Some("True") => "Ready".to_owned(),
        Some("False") => "NotReady".to_owned(),
        _ => "Unknown".to_owned(),
    };
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .or_else(|| {
                            (k == "kubernetes.io/role")
                                .then(|| v.as_str().unwrap_or_default().to_owned())
                        })
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    let address = |kind: &str| {
        list(o, "/status/addresses")
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|a| a.get("address").and_then(Value::as_str))
            .map(str::to_owned)
    };
    vec![
        name(o),
        s(status),
        or_none((!roles.is_empty()).then(|| roles.join(","))),
        age(o, now),
        s(text(o, "/status/nodeInfo/kubeletVersion").unwrap_or_default()),
        or_none(address("InternalIP")),
        or_none(address("ExternalIP")),
        s(text(o, "/status/nodeInfo/osImage").unwrap_or_else(|| "<unknown>".into())),
        s(text(o, "/status/nodeInfo/kernelVersion").unwrap_or_else(|| "<unknown>".into())),
        s(text(o, "/status/nodeInfo/containerRuntimeVersion")
            .unwrap_or_else(|| "<unknown>".into())),
    ]
}

fn endpoints_text(o: &Value) -> String {
    let mut out = Vec::new();
    for subset in list(o, "/subsets") {
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("port").and_then(Value::as_i64))
                    .collect()
            })
            .unwrap_or_default();
        for addr in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ip = addr.get("ip").and_then(Value::as_str).unwrap_or_default();
            if ports.is_empty() {
                out.push(ip.to_owned());
            }
            for p in &ports {
                out.push(format!("{ip}:{p}"));
            }
        }
    }
    if out.is_empty() {
        return "<none>".into();
    }
    let more = out.len().saturating_sub(3);
    out.truncate(3);
    let mut text = out.join(",");
    if more > 0 {
        text.push_str(&format!(" + {more} more..."));
    }
    text
}

fn event_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let last = text(o, "/lastTimestamp")
        .or_else(|| text(o, "/eventTime"))
        .or_else(|| text(o, "/firstTimestamp"))
        .or_else(|| text(o, "/metadata/creationTimestamp"));
    let first = text(o, "/firstTimestamp").or_else(|| text(o, "/eventTime"));
    let object = format!(
        "{}/{}",
        text(o, "/involvedObject/kind")
            .unwrap_or_default()
            .to_lowercase(),
        text(o, "/involvedObject/name").unwrap_or_default()
    );
    let source = [text(o, "/source/component"), text(o, "/source/host")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        s(crate::time::age(last.as_deref(), now)),
        s(text(o, "/type").unwrap_or_default()),
        s(text(o, "/reason").unwrap_or_default()),
        s(object),
        s(text(o, "/involvedObject/fieldPath").unwrap_or_default()),
        s(source),
        s(text(o, "/message").unwrap_or_default()),
        s(crate::time::age(first.as_deref(), now)),
        json!(num(o, "/count").max(1)),
        name(o),
    ]
}
