//! Real dependencies for tests and benchmarks, started and stopped by the harness.

mod etcd;
mod netns;
mod privileged;

pub use etcd::EtcdServer;
pub use netns::{NetNs, TestCgroup};
pub use privileged::require_root;
