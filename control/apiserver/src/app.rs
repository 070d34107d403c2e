//! The running API server: configuration, shared state, and the HTTPS listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use skiff_store::AnyStore;

use crate::crypto::SecretBox;
use crate::pki::Pki;
use crate::registry::Registry;
use crate::services::{Cidr, ServiceAllocator};

/// How to run the API server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen (HTTPS). Port 0 picks a free one.
    pub listen: SocketAddr,
    /// Holds credentials and the admin kubeconfig (and the embedded store, if used).
    pub data_dir: PathBuf,
    /// ClusterIPs come from here; the first address goes to the `kubernetes` service.
    pub service_cidr: Cidr,
    /// NodePorts come from here.
    pub node_ports: (u16, u16),
    /// How often store history is compacted (history older than one interval is dropped).
    pub compaction_interval: std::time::Duration,
}

impl Config {
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6443),
            data_dir,
            service_cidr: "10.96.0.0/12".parse().expect("valid default CIDR"),
            node_ports: (30000, 32767),
            compaction_interval: std::time::Duration::from_secs(300),
        }
    }
}

/// State every request handler shares.
#[derive(Debug)]
pub struct App {
    pub registry: Registry,
    pub services: ServiceAllocator,
    pub token: String,
    /// The address clients reach the API server at (for the `kubernetes` Endpoints).
    pub advertise: SocketAddr,
    /// Namespaces to empty and remove (the namespace lifecycle worker receives them).
    pub terminating: tokio::sync::mpsc::UnboundedSender<String>,
}

/// A running API server.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on (with the real port if port 0 was asked for).
    pub addr: SocketAddr,
    /// `https://…` URL clients use.
    pub url: String,
    pub kubeconfig: PathBuf,
    pub app: Arc<App>,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting requests and lets in-flight ones finish (up to 5 s; watches end).
    pub async fn shutdown(self) -> Result<()> {
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        self.task.await.context("server task")??;
        Ok(())
    }
}

fn names_for(listen: &SocketAddr, service_ip: Ipv4Addr) -> Vec<String> {
    let mut names: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    names.push(service_ip.to_string());
    let ip = listen.ip();
    if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
        names.push(ip.to_string());
    }
    names
}

/// Starts the API server on `store`: credentials, bootstrap objects, then HTTPS.
pub async fn start(config: Config, store: AnyStore) -> Result<Running> {
    let service_ip = config.service_cidr.first_host();
    let pki = Pki::ensure(&config.data_dir, &names_for(&config.listen, service_ip))?;
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let advertise = if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    };
    let registry = Registry::new(store, SecretBox::new(&pki.encryption_key));
    let services = ServiceAllocator::new(config.service_cidr, config.node_ports);
    let (terminating, terminating_rx) = tokio::sync::mpsc::unbounded_channel();
    let app = Arc::new(App {
        registry,
        services,
        token: pki.token.clone(),
        advertise,
        terminating,
    });
    crate::bootstrap::run(&app).await?;
    let url = format!("https://{advertise}");
    let kubeconfig = config.data_dir.join("kubeconfig");
    pki.write_kubeconfig(&kubeconfig, &url)?;
    let router = Router::new().fallback(handle).with_state(Arc::clone(&app));
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(pki.server_config()?);
    // TCP_NODELAY: small HTTP/2 frames must not wait for delayed ACKs.
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp(listener)
        .acceptor(acceptor)
        .handle(handle.clone());
    let task = tokio::spawn(server.serve(router.into_make_service()));
    crate::namespaces::spawn_lifecycle(Arc::clone(&app), terminating_rx);
    crate::bootstrap::spawn_repair(Arc::clone(&app), crate::bootstrap::REPAIR_EVERY);
    crate::compaction::spawn(Arc::clone(&app), config.compaction_interval);
    tracing::info!(%url, "API server listening");
    Ok(Running {
        addr,
        url,
        kubeconfig,
        app,
        handle,
        task,
    })
}

async fn handle(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    crate::dispatch::dispatch(app, req).await
}
