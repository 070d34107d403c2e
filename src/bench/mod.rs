//! Benchmarks that compare skiff with a baseline measured in the same run.

pub mod api;
pub mod api_client;
pub mod api_workloads;
pub mod chart;
pub mod e2e;
pub mod report;
pub mod scheduler;
pub mod scheduler_workloads;
pub mod store;
pub mod store_workloads;
