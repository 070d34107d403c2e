//! skiff's Kubernetes-compatible API server: the REST API real kubectl and client
//! libraries drive, over HTTPS with bearer tokens, on skiff's revisioned store.
//!
//! Request path: [`dispatch`] authenticates and routes ([`router`]); [`objects`],
//! [`watch`] and [`subresources`] handle resource requests through the [`registry`]
//! (store access, Secret encryption via [`crypto`]); [`discovery`] serves what clients read
//! first. [`services`] allocates ClusterIPs and NodePorts; [`priority`] resolves pod
//! priorities from PriorityClasses; [`namespaces`] runs namespace termination; [`bootstrap`] creates what exists from the start; [`pki`] holds the
//! credentials.

mod app;
mod bootstrap;
mod compaction;
mod crypto;
mod discovery;
mod dispatch;
mod http;
mod namespaces;
mod objects;
mod pki;
mod priority;
mod protobuf;
mod registry;
mod router;
mod services;
mod subresources;
mod watch;

pub use app::{App, Config, Running, start};

/// Serves one request in-process, exactly as over HTTPS (authentication included): how
/// skiff's own components talk to the API server they run beside.
pub async fn call(
    app: std::sync::Arc<App>,
    req: axum::http::Request<axum::body::Body>,
) -> axum::response::Response {
    dispatch::dispatch(app, req).await
}
pub use services::Cidr;
