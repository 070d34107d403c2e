//! `skiff scheduler` and `skiff node`: skiff's agents run standalone against any cluster a
//! kubeconfig points at.

use std::path::PathBuf;

use anyhow::Result;
use skiff_agents::{scheduler, simnode};
use skiff_client::Client;

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// The cluster to schedule for.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// Scheduling threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// Run this many simulated nodes (status only, no containers).
    #[arg(long)]
    simulated: usize,
    /// The cluster to join.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    #[command(flatten)]
    template: SimulatedNodeTemplate,
}

/// What each simulated node looks like.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulatedNodeTemplate {
    /// Node names are <prefix>-00000, <prefix>-00001, ...
    #[arg(long, default_value = "sim")]
    pub node_prefix: String,
    /// CPU capacity of each simulated node.
    #[arg(long, default_value = "4")]
    pub node_cpu: String,
    /// Memory capacity of each simulated node.
    #[arg(long, default_value = "32Gi")]
    pub node_memory: String,
    /// Pod capacity of each simulated node.
    #[arg(long, default_value_t = 110)]
    pub node_pods: u32,
    /// Simulated nodes are spread over this many zones (topology.kubernetes.io/zone).
    #[arg(long, default_value_t = 10)]
    pub node_zones: usize,
}

impl SimulatedNodeTemplate {
    pub fn options(&self, count: usize) -> simnode::Options {
        simnode::Options {
            count,
            prefix: self.node_prefix.clone(),
            cpu: self.node_cpu.clone(),
            memory: self.node_memory.clone(),
            pods: self.node_pods,
            zones: self.node_zones,
            ..simnode::Options::default()
        }
    }
}

pub fn run_scheduler(args: SchedulerArgs) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = Client::from_kubeconfig(&args.kubeconfig)?;
        let mut options = scheduler::Options::default();
        if let Some(w) = args.workers {
            options.workers = w.max(1);
        }
        scheduler::spawn(client, options);
        println!(
            "skiff scheduler running ({}); Ctrl-C to stop",
            args.kubeconfig.display()
        );
        crate::up::shutdown_signal().await;
        Ok(())
    })
}

pub fn run_node(args: NodeArgs) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = Client::from_kubeconfig(&args.kubeconfig)?;
        simnode::start(client, args.template.options(args.simulated)).await?;
        println!(
            "{} simulated nodes registered ({}-00000 ...); Ctrl-C to stop",
            args.simulated, args.template.node_prefix
        );
        crate::up::shutdown_signal().await;
        Ok(())
    })
}
