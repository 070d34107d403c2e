//! API discovery (`/api`, `/apis`, resource lists), `/version` and OpenAPI, as kubectl and
//! client libraries read them before every command.

use serde_json::{Value, json};
use skiff_api::resources::{RESOURCES, ResourceType, Subresource, group_versions};

/// The Kubernetes version skiff's API corresponds to.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs of a type clients may only read.
const READ_VERBS: &[&str] = &["get", "list", "watch"];

/// The verbs of a subresource that proxies (`pods/proxy`): every HTTP method.
const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];

pub fn version() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0-skiff.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "n/a (skiff is written in Rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        }),
    })
}

/// `GET /api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

fn group(name: &str) -> Value {
    let versions: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| *g == name)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// `GET /apis`.
pub fn groups() -> Value {
    let mut names: Vec<&str> = Vec::new();
    for (g, _) in group_versions() {
        if !g.is_empty() && !names.contains(&g) {
            names.push(g);
        }
    }
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": names.into_iter().map(group).collect::<Vec<_>>(),
    })
}

/// `GET /apis/{group}`, or `None` for an unknown group.
pub fn api_group(name: &str) -> Option<Value> {
    group_versions().iter().any(|(g, _)| *g == name).then(|| {
        let mut g = group(name);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

fn subresource_entry(rt: &ResourceType, sub: Subresource) -> Value {
    let proxy_options = match rt.kind {
        "Pod" => "PodProxyOptions",
        "Node" => "NodeProxyOptions",
        _ => "ServiceProxyOptions",
    };
    let (group, version, kind, verbs): (&str, &str, &str, &[&str]) = match sub {
        Subresource::Status if !rt.writable => ("", "", rt.kind, &["get"]),
        Subresource::Status => ("", "", rt.kind, &["get", "patch", "update"]),
        Subresource::Scale => ("autoscaling", "v1", "Scale", &["get", "patch", "update"]),
        Subresource::Binding => ("", "", "Binding", &["create"]),
        Subresource::Log => ("", "", "Pod", &["get"]),
        Subresource::Eviction => ("policy", "v1", "Eviction", &["create"]),
        Subresource::Finalize => ("", "", rt.kind, &["update"]),
        Subresource::Exec => ("", "", "PodExecOptions", &["create", "get"]),
        Subresource::Attach => ("", "", "PodAttachOptions", &["create", "get"]),
        Subresource::PortForward => ("", "", "PodPortForwardOptions", &["create", "get"]),
        Subresource::Proxy => ("", "", proxy_options, PROXY_VERBS),
    };
    let mut e = json!({
        "name": format!("{}/{}", rt.plural, sub.name()),
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if !group.is_empty() {
        e["group"] = json!(group);
        e["version"] = json!(version);
    }
    e
}

/// `GET /api/v1` or `/apis/{group}/{version}`, or `None` if nothing is served there.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for rt in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut e = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": if rt.writable { VERBS } else { READ_VERBS },
        });
        if !rt.short_names.is_empty() {
            e["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            e["categories"] = json!(rt.categories);
        }
        resources.push(e);
        for sub in rt.subresources {
            resources.push(subresource_entry(rt, *sub));
        }
    }
    if resources.is_empty() {
        return None;
    }
    // kube-apiserver lists a group-version's resources in path order (`pods`, `pods/exec`,
    // ..., `podtemplates`), which is also the order of `kubectl api-resources` rows.
    resources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// The smallest OpenAPI v2 document kubectl accepts, protobuf-encoded: `swagger: "2.0"`.
pub const OPENAPI_V2_PROTOBUF: &[u8] = &[0x0a, 0x03, b'2', b'.', b'0'];
pub const OPENAPI_V2_PROTOBUF_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

pub fn openapi_v2_json() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "skiff", "version": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0")},
        "paths": {},
        "definitions": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_kinds_short_names_and_subresources() {
        let core = resource_list("", "v1").unwrap();
        let find = |name: &str| {
            core["resources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == name)
                .cloned()
                .unwrap()
        };
        assert_eq!(find("pods")["shortNames"], json!(["po"]));
        assert_eq!(find("pods")["categories"], json!(["all"]));
        assert_eq!(find("pods/log")["verbs"], json!(["get"]));
        assert_eq!(find("namespaces")["namespaced"], false);
        let apps = resource_list("apps", "v1").unwrap();
        let scale = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap()
            .clone();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        let gs = groups();
        assert!(
            gs["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "apps")
        );
        assert!(resource_list("apps", "v2").is_none());
        assert_eq!(version()["minor"], "33");
    }
}
