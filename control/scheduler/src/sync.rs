//! Atomics, switched to loom's model-checked versions under `--cfg loom` (see `tests/loom.rs`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The ordering of every operation in the placement protocol. Validation reads counters other
/// threads increment (a store-buffer pattern), which needs sequential consistency; on x86 it
/// costs nothing over acquire/release for the read-modify-writes that dominate.
pub(crate) const SC: Ordering = Ordering::SeqCst;
