//! The command line: `skiff <command>`.

use clap::{Parser, Subcommand};

use crate::bench;

/// skiff: a lean Kubernetes-compatible orchestrator with a lock-free bin-packing scheduler
/// and an eBPF service dataplane.
#[derive(Debug, Parser)]
#[command(name = "skiff", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print skiff's version.
    Version,
    /// Start a cluster: the API server on the embedded store (or etcd), for kubectl.
    Up(crate::up::Args),
    /// Run the scheduler against a cluster (`skiff up` runs one already).
    Scheduler(crate::agents::SchedulerArgs),
    /// Join a cluster as nodes; `--simulated N` runs N simulated nodes.
    Node(crate::agents::NodeArgs),
    /// Measure skiff against baselines in the same run and print a comparison table.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The store: write throughput, watch delivery latency and LIST, embedded vs etcd.
    Store(bench::store::Args),
    /// The API server over HTTPS: creates, reads under load, LIST, watch fan-out, footprint.
    Api(bench::api::Args),
    /// The scheduler core: six workloads on skiff and on kube-scheduler's algorithm.
    Scheduler(bench::scheduler::Args),
    /// The whole control plane: P pods on N simulated nodes, until all are Running.
    E2e(bench::e2e::Args),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Version => {
                println!("skiff {}", env!("CARGO_PKG_VERSION"));
                Ok(())
            }
            Command::Up(args) => crate::up::run(args),
            Command::Scheduler(args) => crate::agents::run_scheduler(args),
            Command::Node(args) => crate::agents::run_node(args),
            Command::Bench(BenchCommand::Store(args)) => bench::store::run(args),
            Command::Bench(BenchCommand::Api(args)) => bench::api::run(args),
            Command::Bench(BenchCommand::Scheduler(args)) => bench::scheduler::run(args),
            Command::Bench(BenchCommand::E2e(args)) => bench::e2e::run(args),
        }
    }
}
