//! skiff's service dataplane, user-space side.
//!
//! The eBPF object built from `dataplane-ebpf/programs` is embedded in this crate.
//! [`SocketLb`] loads it, attaches the `connect()` hook to a cgroup v2 and keeps the
//! services map in step with what user space asks for.

mod socket_lb;

pub use socket_lb::{DataplaneError, SocketLb};
