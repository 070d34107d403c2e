//! Benchmarks that compare skiff with a baseline measured in the same run.

pub mod report;
pub mod store;
pub mod store_workloads;
