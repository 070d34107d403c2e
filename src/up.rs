//! `skiff up`: the whole control plane in one process, on the embedded store by default.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use skiff_apiserver::{Cidr, Config};
use skiff_store::{AnyStore, EmbeddedOptions, EmbeddedStore, EtcdStore};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where skiff keeps its state: the embedded store, credentials and the admin kubeconfig.
    #[arg(long, default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// HTTPS address of the API server.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Keep cluster state in etcd at these endpoints instead of the embedded store.
    #[arg(long, value_delimiter = ',')]
    etcd_endpoints: Vec<String>,
    /// Range ClusterIPs are allocated from.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,
    /// Range NodePorts are allocated from.
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: String,
    /// How often store history is compacted, e.g. `5m`, `90s`.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    compaction_interval: std::time::Duration,
    /// Do not run skiff's scheduler (e.g. to run `skiff scheduler` or another one instead).
    #[arg(long)]
    no_scheduler: bool,
    /// Also run this many simulated nodes in this process (for scale work; no containers).
    #[arg(long, default_value_t = 0)]
    simulated_nodes: usize,
    #[command(flatten)]
    simulated_node: crate::agents::SimulatedNodeTemplate,
}

/// `300ms`, `90s`, `5m`, `1h`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s or 5m"))?;
    let ms = match unit {
        "ms" => n,
        "s" | "" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(format!("{s:?}: unit must be ms, s, m or h")),
    };
    if ms == 0 {
        return Err("the interval must be positive".into());
    }
    Ok(std::time::Duration::from_millis(ms))
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".skiff"))
        .unwrap_or_else(|| PathBuf::from(".skiff"))
}

fn port_range(s: &str) -> Result<(u16, u16)> {
    let (lo, hi) = s
        .split_once('-')
        .with_context(|| format!("--service-node-port-range {s:?} must look like 30000-32767"))?;
    let (lo, hi): (u16, u16) = (lo.trim().parse()?, hi.trim().parse()?);
    anyhow::ensure!(lo <= hi, "--service-node-port-range {s:?} is backwards");
    Ok((lo, hi))
}

pub fn run(args: Args) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        // The store and the credentials create the data directory themselves, durably.
        let (store, described) = if args.etcd_endpoints.is_empty() {
            let path = args.data_dir.join("store");
            let store = tokio::task::spawn_blocking({
                let path = path.clone();
                move || EmbeddedStore::open(&path, EmbeddedOptions::default())
            })
            .await??;
            (
                AnyStore::Embedded(store),
                format!("embedded store in {}", path.display()),
            )
        } else {
            let store = EtcdStore::connect(&args.etcd_endpoints).await?;
            (
                AnyStore::Etcd(store),
                format!("etcd at {}", args.etcd_endpoints.join(",")),
            )
        };
        let config = Config {
            listen: args.listen,
            data_dir: args.data_dir.clone(),
            service_cidr: args
                .service_cluster_ip_range
                .parse::<Cidr>()
                .map_err(|e| anyhow::anyhow!("--service-cluster-ip-range: {e}"))?,
            node_ports: port_range(&args.service_node_port_range)?,
            compaction_interval: args.compaction_interval,
        };
        let running = skiff_apiserver::start(config, store).await?;
        let client = skiff_client::Client::in_process(std::sync::Arc::clone(&running.app));
        if !args.no_scheduler {
            skiff_agents::scheduler::spawn(client.clone(), Default::default());
        }
        if args.simulated_nodes > 0 {
            skiff_agents::simnode::start(client, args.simulated_node.options(args.simulated_nodes))
                .await?;
        }
        println!("skiff is running at {} ({described})", running.url);
        if args.simulated_nodes > 0 {
            println!("{} simulated nodes are registered", args.simulated_nodes);
        }
        println!("Use it with kubectl:");
        println!("  export KUBECONFIG={}", running.kubeconfig.display());
        println!("  kubectl get namespaces");
        println!("Press Ctrl-C to stop.");
        shutdown_signal().await;
        println!("stopping...");
        running.shutdown().await?;
        Ok(())
    })
}

pub(crate) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
