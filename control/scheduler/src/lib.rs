//! skiff's scheduler core: lock-free, parallel, bin-packing placement of pods on nodes, with
//! kube-scheduler's filter semantics. Pure decision logic: no I/O, no async, no clock but the
//! per-pod latency it reports. The driver that talks to the API server lives elsewhere.
//!
//! Start at [`Scheduler`]. The invariants (never over-commit a node, every placement satisfies
//! every required constraint, reject only what fits nowhere) are argued in `place.rs`,
//! `capacity.rs` and `hint_tree.rs`, checked by property tests against [`reference`], and
//! model-checked with loom (`tests/loom.rs`).

pub mod capacity;
pub mod convert;

pub mod diagnose;
pub mod filter;
pub mod hint_tree;
pub mod model;
mod nodes;
mod place;
mod plan;
mod pods;
mod preempt;
pub mod reference;

pub mod resources;
mod scheduler;
pub mod score;
mod state;
mod sync;
mod terms;
pub mod verify;

pub use diagnose::{FitError, Reason};
pub use model::*;
pub use scheduler::{Config, Decision, Error, Outcome, Scheduler};
/// The per-domain counters of the placement protocol, for the loom model (`tests/loom.rs`).
#[cfg(skiff_loom)]
pub use terms::Counters;
