//! Namespace lifecycle: objects are only created in active namespaces, and deleting a
//! namespace marks it Terminating, deletes everything in it, then removes it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use serde_json::json;
use skiff_api::error::ApiError;
use skiff_api::resources::{self, RESOURCES};
use skiff_api::{meta, sparse};

use crate::app::App;
use crate::objects::write::{DeleteOptions, Deletion, delete_object};
use crate::registry::Stored;

fn namespaces() -> &'static skiff_api::ResourceType {
    resources::find("", "v1", "namespaces").expect("namespaces are served")
}

/// The namespaces that may never be deleted (kube's NamespaceLifecycle admission).
pub const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];

/// Refuses deleting one of the [`IMMORTAL`] namespaces, as kube does before even looking
/// the namespace up.
pub fn check_deletable(ns: &str) -> Result<(), ApiError> {
    if IMMORTAL.contains(&ns) {
        return Err(ApiError::forbidden_object(
            "namespaces",
            "",
            ns,
            "this namespace may not be deleted",
        ));
    }
    Ok(())
}

/// Fails unless `ns` exists and is not being deleted.
pub async fn ensure_active(app: &App, ns: &str) -> Result<(), ApiError> {
    let found = app.registry.get_raw(namespaces(), None, ns).await?;
    let fields = found.fields(&[&["metadata", "deletionTimestamp"], &["status", "phase"]])?;
    let text = |v: Option<&[u8]>| sparse::string(v).ok().flatten();
    let terminating =
        text(fields[0]).is_some() || text(fields[1]).as_deref() == Some("Terminating");
    if terminating {
        return Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        )));
    }
    Ok(())
}

/// Marks a namespace Terminating and starts emptying it.
pub async fn begin_termination(
    app: &App,
    current: Stored,
    dry_run: bool,
) -> Result<Deletion, ApiError> {
    let name = meta::name(&current.object).unwrap_or_default().to_owned();
    if meta::deletion_timestamp(&current.object).is_some() {
        return Ok(Deletion::Pending(current.object));
    }
    let mut marked = current.object.clone();
    meta::set(
        &mut marked,
        "deletionTimestamp",
        json!(skiff_api::time::now()),
    );
    marked["status"]["phase"] = json!("Terminating");
    if dry_run {
        return Ok(Deletion::Pending(marked));
    }
    let stored = app
        .registry
        .update(namespaces(), marked, current.revision)
        .await?;
    // The lifecycle worker empties it; if the worker is gone the server is stopping and
    // the next start resumes.
    let _ = app.terminating.send(name);
    Ok(Deletion::Pending(stored.object))
}

/// Deletes everything in `ns`, then the namespace itself.
async fn finalize(app: Arc<App>, ns: String) {
    let force = DeleteOptions {
        grace_period: Some(0),
        ..Default::default()
    };
    loop {
        let mut remaining = 0;
        for rt in RESOURCES.iter().filter(|r| r.namespaced) {
            let page = match app
                .registry
                .list(rt, &rt.namespace_prefix(&ns), None, 0, 0)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(namespace = %ns, error = %e, "listing namespace contents");
                    remaining += 1;
                    continue;
                }
            };
            for item in page.items {
                let Ok(object) = item.parse() else { continue };
                let name = meta::name(&object).unwrap_or_default().to_owned();
                match delete_object(&app, rt, Some(&ns), &name, &force).await {
                    Ok(Deletion::Gone(_)) => {}
                    Ok(Deletion::Pending(_)) => remaining += 1,
                    Err(e) if e.code == 404 => {}
                    Err(e) => {
                        tracing::warn!(namespace = %ns, object = %name, error = %e, "deleting namespace content");
                        remaining += 1;
                    }
                }
            }
        }
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if let Err(e) = app.registry.delete(namespaces(), None, &ns, None).await
        && e.code != 404
    {
        tracing::warn!(namespace = %ns, error = %e, "removing the namespace");
    }
}

/// Runs the namespace lifecycle: empties each namespace sent on `terminating`, starting
/// with those that were Terminating when the server last stopped.
pub fn spawn_lifecycle(app: Arc<App>, mut terminating: mpsc::UnboundedReceiver<String>) {
    tokio::spawn(async move {
        match app
            .registry
            .list(namespaces(), &namespaces().key_prefix(), None, 0, 0)
            .await
        {
            Ok(page) => {
                for ns in page.items.iter().filter_map(|raw| raw.parse().ok()) {
                    if meta::deletion_timestamp(&ns).is_some() {
                        let name = meta::name(&ns).unwrap_or_default().to_owned();
                        tokio::spawn(finalize(Arc::clone(&app), name));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing namespaces at start-up"),
        }
        while let Some(ns) = terminating.recv().await {
            tokio::spawn(finalize(Arc::clone(&app), ns));
        }
    });
}
