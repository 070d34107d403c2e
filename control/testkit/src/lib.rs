//! Real dependencies for tests and benchmarks, started and stopped by the harness.

mod etcd;
mod privileged;

pub use etcd::EtcdServer;
pub use privileged::require_root;
