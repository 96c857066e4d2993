//! The atomics of the wake handshake, switched to loom's model-checked ones under `--cfg loom`.
//!
//! Only the handshake (`state.rs`) goes through this shim: the rest of the loop is built on mio,
//! which cannot run under loom, so `tests/loom_wake.rs` drives the real [`Handshake`] with a
//! modelled queue and a modelled eventfd instead of the whole loop.
//!
//! [`Handshake`]: crate::state::Handshake

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8};
