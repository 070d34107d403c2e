//! What exists from the first start: the standard namespaces, the `kubernetes` Service with
//! Endpoints pointing at the API server, and the system PriorityClasses.

use serde_json::json;
use skiff_api::error::ApiError;
use skiff_api::resources;

use crate::app::App;
use crate::http::Query;
use crate::objects::write::create_object;

pub const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn create_if_absent(
    app: &App,
    plural: &str,
    ns: Option<&str>,
    obj: serde_json::Value,
) -> Result<(), ApiError> {
    let rt = resources::find("", "v1", plural).expect("core resource");
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if app.registry.get(rt, ns, &name).await?.is_some() {
        return Ok(());
    }
    match create_object(app, rt, obj, &Query::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn run(app: &App) -> anyhow::Result<()> {
    for ns in NAMESPACES {
        create_if_absent(app, "namespaces", None, json!({"metadata": {"name": ns}})).await?;
    }
    let port = app.advertise.port();
    create_if_absent(
        app,
        "services",
        Some("default"),
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}
        }),
    )
    .await?;
    let endpoints = resources::find("", "v1", "endpoints").expect("endpoints are served");
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
                "endpoints",
                Some("default"),
                json!({"metadata": {"name": "kubernetes", "namespace": "default",
                                    "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                       "subsets": wanted}),
            )
            .await?;
        }
    }
    crate::priority::bootstrap(app).await?;
    crate::services::repair(app).await?;
    Ok(())
}
