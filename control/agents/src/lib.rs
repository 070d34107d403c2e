//! skiff's cluster agents, each a client of the API server:
//!
//! - [`scheduler`]: the driver around the scheduler core. It watches nodes, pods and
//!   namespaces, hands pending pods to the core in batches, binds through `pods/binding`,
//!   and reports why a pod cannot be scheduled (PodScheduled condition, FailedScheduling event).
//! - [`simnode`]: simulated nodes. Thousands of them in one process register, keep their
//!   Leases fresh and run the pods bound to them (status only, no containers): how one
//!   machine stands in for a large cluster.
//! - [`informer`]: list-then-watch, shared by both; [`watched`]: pods as they watch them,
//!   decoded in full only when acted on.

pub mod informer;
pub mod scheduler;
pub mod simnode;
pub mod watched;
