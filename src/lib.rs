//! The `skiff` binary's library half: command-line commands and the benchmark workloads
//! (shared by `skiff bench` and the criterion benches in `benches/`).

pub mod agents;
pub mod bench;
pub mod cli;
pub mod up;
