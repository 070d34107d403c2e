//! ClusterIP and NodePort allocation, as kube-apiserver does it at Service creation.
//!
//! Each allocated address or port is a reservation key in the store
//! (`/registry/skiff/serviceips/<ip>`, `/registry/skiff/nodeports/<port>`) holding its owner
//! (`namespace/name`). Creating the key is the atomic claim, so two API servers on one etcd
//! never hand out the same address. Reservations are released when the Service is deleted
//! or stops needing them; startup repair frees any left by a crash.

use std::net::Ipv4Addr;
use std::str::FromStr;

use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::error::{ApiError, Cause};
use skiff_api::meta;
use skiff_store::{Bytes, ListOptions, Store};

use crate::app::App;

const IP_KEYS: &str = "/registry/skiff/serviceips/";
const PORT_KEYS: &str = "/registry/skiff/nodeports/";

/// An IPv4 CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (like 10.96.0.0/12)"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IPv4 address"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| format!("prefix length {len:?} must be between 8 and 30"))?;
        let mask = u32::MAX << (32 - prefix);
        Ok(Cidr {
            base: u32::from(ip) & mask,
            prefix,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

impl Cidr {
    fn size(&self) -> u32 {
        1 << (32 - self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & (u32::MAX << (32 - self.prefix))) == self.base
    }

    /// The first usable address; the `kubernetes` service's.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// Whether `ip` may be handed out (not the network or broadcast address).
    fn usable(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        self.contains(ip) && n != self.base && n != self.base + self.size() - 1
    }
}

#[derive(Clone, Debug)]
pub struct ServiceAllocator {
    pub cidr: Cidr,
    pub node_ports: (u16, u16),
}

impl ServiceAllocator {
    pub fn new(cidr: Cidr, node_ports: (u16, u16)) -> Self {
        ServiceAllocator { cidr, node_ports }
    }
}

/// Reservations taken for one write; released if the write does not happen.
#[derive(Debug, Default)]
#[must_use = "release the allocation if the write fails"]
pub struct Allocation {
    keys: Vec<(String, String)>,
}

impl Allocation {
    pub async fn release(self, app: &App) {
        for (key, owner) in self.keys {
            release_key(app, &key, &owner).await;
        }
    }
}

fn owner(obj: &Value) -> String {
    format!(
        "{}/{}",
        meta::namespace(obj).unwrap_or_default(),
        meta::name(obj).unwrap_or_default()
    )
}

async fn release_key(app: &App, key: &str, owner: &str) {
    let store = &app.registry.store;
    if let Ok((Some(kv), _)) = store.get(key).await
        && kv.value == owner.as_bytes()
    {
        let _ = store.delete(key, Some(kv.mod_revision)).await;
    }
}

/// Claims `key` for `owner`: true if claimed now, false if `owner` already held it.
async fn claim(app: &App, key: &str, owner: &str) -> Result<Option<bool>, ApiError> {
    let store = &app.registry.store;
    match store.create(key, Bytes::from(owner.to_owned())).await {
        Ok(_) => Ok(Some(true)),
        Err(skiff_store::StoreError::AlreadyExists { .. }) => {
            let (held, _) = store
                .get(key)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(held
                .filter(|kv| kv.value == owner.as_bytes())
                .map(|_| false))
        }
        Err(e) => Err(ApiError::internal(format!("reserving {key}: {e}"))),
    }
}

fn spec_type(obj: &Value) -> &str {
    obj.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn wants_node_ports(obj: &Value) -> bool {
    matches!(spec_type(obj), "NodePort" | "LoadBalancer")
}

/// Keeps allocated values an update omits: a PUT without `clusterIP` keeps the address.
pub fn carry_over(new: &mut Value, old: &Value) {
    if spec_type(new) == "ExternalName" {
        return;
    }
    let ip_unset = new
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if ip_unset {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if let (Some(v), Some(spec)) =
                (old.pointer(&format!("/spec/{field}")), new.get_mut("spec"))
            {
                spec[field] = v.clone();
            }
        }
    }
    if !wants_node_ports(new) {
        return;
    }
    let old_ports = old
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports {
            if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                continue;
            }
            let same = old_ports.iter().find(|o| {
                o.get("port") == p.get("port")
                    && o.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                        == p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
            });
            if let Some(np) = same
                .and_then(|o| o.get("nodePort"))
                .filter(|v| v.as_i64().unwrap_or(0) != 0)
            {
                p["nodePort"] = np.clone();
            }
        }
    }
}

/// Reservation keys an object holds.
fn held_keys(obj: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(ip) = obj.pointer("/spec/clusterIP").and_then(Value::as_str)
        && ip.parse::<Ipv4Addr>().is_ok()
    {
        keys.push(format!("{IP_KEYS}{ip}"));
    }
    for p in obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(np) = p
            .get("nodePort")
            .and_then(Value::as_i64)
            .filter(|n| *n != 0)
        {
            keys.push(format!("{PORT_KEYS}{np}"));
        }
    }
    keys
}

/// Assigns the Service's ClusterIP and NodePorts (requested ones are checked and reserved).
pub async fn allocate(
    app: &App,
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<Allocation, ApiError> {
    let mut taken = Allocation::default();
    if rt.kind != "Service" {
        return Ok(taken);
    }
    let who = owner(obj);
    let name = meta::name(obj).unwrap_or_default().to_owned();
    let mut causes = Vec::new();
    let alloc = &app.services;
    let requested = obj
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if spec_type(obj) != "ExternalName" && requested != "None" {
        let ip = if requested.is_empty() {
            pick_ip(app, &who).await?
        } else {
            let ip: Ipv4Addr = requested.parse().map_err(|_| {
                ApiError::invalid(
                    "Service",
                    "",
                    &name,
                    vec![Cause::invalid(
                        "spec.clusterIP",
                        &json!(requested),
                        "must be a valid IP address",
                    )],
                )
            })?;
            if !alloc.cidr.usable(ip) {
                causes.push(Cause::invalid(
                    "spec.clusterIPs",
                    &json!([requested]),
                    format!(
                        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                        alloc.cidr
                    ),
                ));
                None
            } else {
                match claim(app, &format!("{IP_KEYS}{ip}"), &who).await? {
                    Some(_) => Some(ip),
                    None => {
                        causes.push(Cause::invalid(
                            "spec.clusterIPs",
                            &json!([requested]),
                            format!("failed to allocate IP {ip}: provided IP is already allocated"),
                        ));
                        None
                    }
                }
            }
        };
        if let Some(ip) = ip {
            let key = format!("{IP_KEYS}{ip}");
            let had = old.is_some_and(|o| held_keys(o).contains(&key));
            if !had {
                taken.keys.push((key, who.clone()));
            }
            obj["spec"]["clusterIP"] = json!(ip.to_string());
            obj["spec"]["clusterIPs"] = json!([ip.to_string()]);
        }
    } else if requested == "None" {
        obj["spec"]["clusterIPs"] = json!(["None"]);
    }
    if wants_node_ports(obj) {
        let (lo, hi) = alloc.node_ports;
        let count = obj
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        for i in 0..count {
            let np = obj["spec"]["ports"][i]
                .get("nodePort")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let port = if np == 0 {
                pick_port(app, &who).await?
            } else if np < i64::from(lo) || np > i64::from(hi) {
                causes.push(Cause::invalid(
                    format!("spec.ports[{i}].nodePort"),
                    &json!(np),
                    format!("provided port is not in the valid range. The range of valid ports is {lo}-{hi}"),
                ));
                continue;
            } else {
                match claim(app, &format!("{PORT_KEYS}{np}"), &who).await? {
                    Some(_) => np as u16,
                    None => {
                        causes.push(Cause::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            &json!(np),
                            "provided port is already allocated",
                        ));
                        continue;
                    }
                }
            };
            let key = format!("{PORT_KEYS}{port}");
            if !old.is_some_and(|o| held_keys(o).contains(&key))
                && !taken.keys.iter().any(|(k, _)| *k == key)
            {
                taken.keys.push((key, who.clone()));
            }
            obj["spec"]["ports"][i]["nodePort"] = json!(port);
        }
    }
    if !causes.is_empty() {
        taken.release(app).await;
        return Err(ApiError::invalid("Service", "", &name, causes));
    }
    Ok(taken)
}

async fn pick_ip(app: &App, who: &str) -> Result<Option<Ipv4Addr>, ApiError> {
    let cidr = app.services.cidr;
    // The first address belongs to the `kubernetes` service.
    let reserved = cidr.first_host();
    if who == "default/kubernetes" {
        claim(app, &format!("{IP_KEYS}{reserved}"), who).await?;
        return Ok(Some(reserved));
    }
    let span = cidr.size() - 3;
    for _ in 0..64 {
        let ip = Ipv4Addr::from(cidr.base + 2 + rand::random_range(0..span));
        if claim(app, &format!("{IP_KEYS}{ip}"), who).await? == Some(true) {
            return Ok(Some(ip));
        }
    }
    for n in 2..cidr.size() - 1 {
        let ip = Ipv4Addr::from(cidr.base + n);
        if claim(app, &format!("{IP_KEYS}{ip}"), who).await? == Some(true) {
            return Ok(Some(ip));
        }
    }
    Err(ApiError::internal(format!(
        "failed to allocate a serviceIP: range {cidr} is full"
    )))
}

async fn pick_port(app: &App, who: &str) -> Result<u16, ApiError> {
    let (lo, hi) = app.services.node_ports;
    for _ in 0..64 {
        let port = rand::random_range(lo..=hi);
        if claim(app, &format!("{PORT_KEYS}{port}"), who).await? == Some(true) {
            return Ok(port);
        }
    }
    for port in lo..=hi {
        if claim(app, &format!("{PORT_KEYS}{port}"), who).await? == Some(true) {
            return Ok(port);
        }
    }
    Err(ApiError::internal(format!(
        "failed to allocate a nodePort: range {lo}-{hi} is full"
    )))
}

/// Frees what `old` held and `new` no longer does.
pub async fn release_unused(app: &App, rt: &ResourceType, old: &Value, new: &Value) {
    if rt.kind != "Service" {
        return;
    }
    let keep = held_keys(new);
    let who = owner(old);
    for key in held_keys(old).into_iter().filter(|k| !keep.contains(k)) {
        release_key(app, &key, &who).await;
    }
}

/// Frees everything a deleted Service held.
pub async fn release_all(app: &App, rt: &ResourceType, obj: &Value) {
    if rt.kind != "Service" {
        return;
    }
    let who = owner(obj);
    for key in held_keys(obj) {
        release_key(app, &key, &who).await;
    }
}

/// Frees reservations whose Service is gone or no longer holds them (left by a crash
/// between reserving and writing).
pub async fn repair(app: &App) -> Result<(), ApiError> {
    let store = &app.registry.store;
    let services = skiff_api::resources::find("", "v1", "services").expect("services are served");
    for prefix in [IP_KEYS, PORT_KEYS] {
        let list = store
            .list(prefix, ListOptions::default())
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for kv in list.kvs {
            let who = String::from_utf8_lossy(&kv.value).into_owned();
            let (ns, name) = who.split_once('/').unwrap_or(("", &who));
            let holds = match app.registry.get(services, Some(ns), name).await? {
                Some(svc) => held_keys(&svc.object).contains(&kv.key),
                None => false,
            };
            if !holds {
                tracing::info!(key = %kv.key, owner = %who, "releasing an orphaned service reservation");
                let _ = store.delete(&kv.key, Some(kv.mod_revision)).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c: Cidr = "10.96.0.0/12".parse().unwrap();
        assert_eq!(c.first_host(), Ipv4Addr::new(10, 96, 0, 1));
        assert!(c.usable(Ipv4Addr::new(10, 100, 3, 4)));
        assert!(!c.usable(Ipv4Addr::new(10, 96, 0, 0)));
        assert!(!c.usable(Ipv4Addr::new(10, 111, 255, 255)));
        assert!(!c.contains(Ipv4Addr::new(10, 112, 0, 1)));
        assert_eq!(c.to_string(), "10.96.0.0/12");
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("10.0.0.0/40".parse::<Cidr>().is_err());
    }

    #[test]
    fn updates_keep_allocations_they_omit() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}});
        let mut new = json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}, {"port": 81}]}});
        carry_over(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
        assert!(new["spec"]["ports"][1].get("nodePort").is_none());
        assert_eq!(
            held_keys(&old),
            vec![format!("{IP_KEYS}10.96.0.9"), format!("{PORT_KEYS}30080")]
        );
    }
}
