//! Atomics, switched to loom's model-checked versions under `--cfg skiff_loom` (see `tests/loom.rs`).

#[cfg(skiff_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
#[cfg(not(skiff_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// The ordering of every operation in the placement protocol. Where a thread writes one
/// location and then reads another that a second thread writes before reading the first (the
/// store-buffer pattern: reserve-then-validate, store-hint-then-reread), a `fence(SC)` sits
/// between the write and the read. SeqCst accesses alone would do in the C++ model, but the
/// fence states the requirement where it matters, and it is what loom can check.
pub(crate) const SC: Ordering = Ordering::SeqCst;
