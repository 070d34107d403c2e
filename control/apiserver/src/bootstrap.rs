//! What exists from the first start and is kept existing: the standard namespaces, the
//! `kubernetes` Service with Endpoints pointing at the API server, the system
//! PriorityClasses, and an APIService for each group-version served here.
//!
//! As kube-apiserver's bootstrap and system-namespaces controllers do, a repair loop puts
//! back the namespaces and the `kubernetes` Service if they are deleted.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::error::ApiError;
use skiff_api::meta;
use skiff_api::resources::{self, group_versions};

use crate::app::App;
use crate::http::Query;
use crate::objects::write::create_object;

pub const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// How often the repair loop checks: kube's bootstrap controller repairs the `default`
/// namespace and the `kubernetes` Service every 10 s (its system namespaces every minute).
pub const REPAIR_EVERY: Duration = Duration::from_secs(10);

/// The label kube's aggregator puts on the APIServices it registers for itself.
const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

fn core(plural: &str) -> &'static ResourceType {
    resources::find("", "v1", plural).expect("core resource")
}

async fn create_if_absent(
    app: &App,
    rt: &ResourceType,
    ns: Option<&str>,
    obj: Value,
) -> Result<(), ApiError> {
    let name = meta::name(&obj).unwrap_or_default().to_owned();
    if app.registry.get(rt, ns, &name).await?.is_some() {
        return Ok(());
    }
    match create_object(app, rt, obj, &Query::default()).await {
        Ok(_) => Ok(()),
        // Created meanwhile, or the namespace is still being emptied: the next round.
        Err(e) if e.code == 409 || e.code == 403 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates whichever of the standard namespaces, the `kubernetes` Service and its
/// Endpoints are missing, and points the Endpoints at this server.
async fn ensure_system_objects(app: &App) -> Result<(), ApiError> {
    for ns in NAMESPACES {
        create_if_absent(
            app,
            core("namespaces"),
            None,
            json!({"metadata": {"name": ns}}),
        )
        .await?;
    }
    let port = app.advertise.port();
    create_if_absent(
        app,
        core("services"),
        Some("default"),
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}
        }),
    )
    .await?;
    let endpoints = core("endpoints");
    let wanted = json!([{
        "addresses": [{"ip": app.advertise.ip().to_string()}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}]
    }]);
    match app
        .registry
        .get(endpoints, Some("default"), "kubernetes")
        .await?
    {
        Some(current) if current.object["subsets"] == wanted => {}
        Some(current) => {
            let mut updated = current.object.clone();
            updated["subsets"] = wanted;
            app.registry
                .update(endpoints, updated, current.revision)
                .await?;
        }
        None => {
            create_if_absent(
                app,
                endpoints,
                Some("default"),
                json!({"metadata": {"name": "kubernetes", "namespace": "default",
                                    "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                       "subsets": wanted}),
            )
            .await?;
        }
    }
    Ok(())
}

/// kube-apiserver's `groupPriorityMinimum` and `versionPriority` of a built-in
/// group-version (it registers no APIService for one it has no priority for).
fn priority(group: &str, version: &str) -> Option<(i32, i32)> {
    Some(match (group, version) {
        ("", "v1") => (18000, 1),
        ("apps", "v1") => (17800, 15),
        ("autoscaling", "v1") => (17500, 15),
        ("autoscaling", "v2") => (17500, 30),
        ("batch", "v1") => (17400, 15),
        ("networking.k8s.io", "v1") => (17200, 15),
        ("policy", "v1") => (17100, 15),
        ("storage.k8s.io", "v1") => (16800, 15),
        ("scheduling.k8s.io", "v1") => (16600, 15),
        ("coordination.k8s.io", "v1") => (16500, 15),
        ("discovery.k8s.io", "v1") => (16200, 15),
        _ => return None,
    })
}

/// The Local APIServices of the group-versions served here, as kube's aggregator registers
/// them at start: `<version>.<group>`, no service, labelled as managed by the server.
fn local_api_services() -> Vec<Value> {
    group_versions()
        .into_iter()
        .filter(|(g, _)| *g != "apiregistration.k8s.io")
        .filter_map(|(group, version)| {
            let (group_min, version_priority) = priority(group, version)?;
            let mut spec = json!({"version": version, "groupPriorityMinimum": group_min,
                                  "versionPriority": version_priority});
            if !group.is_empty() {
                spec["group"] = json!(group);
            }
            Some(json!({
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": format!("{version}.{group}"),
                             "labels": {AUTOMANAGED: "onstart"}},
                "spec": spec,
            }))
        })
        .collect()
}

/// Registers an APIService for each served group-version and removes the ones this server
/// registered earlier for group-versions it no longer serves.
async fn register_api_services(app: &App) -> Result<(), ApiError> {
    let rt = resources::find("apiregistration.k8s.io", "v1", "apiservices")
        .expect("apiservices are served");
    let wanted = local_api_services();
    for svc in &wanted {
        create_if_absent(app, rt, None, svc.clone()).await?;
    }
    let page = app.registry.list(rt, &rt.key_prefix(), None, 0, 0).await?;
    for raw in page.items {
        let existing = raw.parse()?;
        let name = meta::name(&existing).unwrap_or_default().to_owned();
        let ours = meta::labels(&existing).contains_key(AUTOMANAGED);
        if ours && !wanted.iter().any(|w| meta::name(w) == Some(name.as_str())) {
            match app
                .registry
                .delete(rt, None, &name, Some(raw.revision))
                .await
            {
                Ok(_) => {}
                Err(e) if e.code == 404 || e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

pub async fn run(app: &App) -> anyhow::Result<()> {
    ensure_system_objects(app).await?;
    register_api_services(app).await?;
    crate::priority::bootstrap(app).await?;
    crate::services::repair(app).await?;
    Ok(())
}

/// Keeps the standard namespaces and the `kubernetes` Service in place, checking every
/// `every`, as kube-apiserver's bootstrap controller does.
pub fn spawn_repair(app: Arc<App>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once, and bootstrap has just run.
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = ensure_system_objects(&app).await {
                tracing::warn!(error = %e, "repairing the standard namespaces and the kubernetes Service");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_group_version_but_the_registry_has_a_local_api_service() {
        let services = local_api_services();
        let names: Vec<&str> = services.iter().filter_map(|s| meta::name(s)).collect();
        for (group, version) in group_versions() {
            if group == "apiregistration.k8s.io" {
                continue;
            }
            assert!(
                names.contains(&format!("{version}.{group}").as_str()),
                "{version}.{group} has no priority: {names:?}"
            );
        }
        let core = services
            .iter()
            .find(|s| meta::name(s) == Some("v1."))
            .unwrap();
        assert_eq!(core["spec"]["groupPriorityMinimum"], 18000);
        assert!(core["spec"].get("group").is_none());
        assert!(!names.iter().any(|n| n.ends_with("apiregistration.k8s.io")));
    }
}
