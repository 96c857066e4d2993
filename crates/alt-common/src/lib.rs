//! # loop-alt-common: what `alt-one` and `alt-three` share
//!
//! The two alternates port Go loops that share AlternateOne's lifecycle (five states, a table of
//! allowed transitions) and its eventfd wake-up (`docs/HISTORY.md`, "AlternateOne",
//! §6.4); their differences are the ingress (`alt-one`: one mutex over three chunked lanes;
//! `alt-three`: pooled chunked queues and a microtask ring). What is the same lives here, once:
//!
//! * [`state`]: the validated state machine and the wake-pending flag (the sleep/wake
//!   handshake), model-checked by `tests/loom_wake.rs`;
//! * [`io`]: readiness registrations on mio with a fresh token per registration (no stale event
//!   reaches a reused fd number) and no lock held across the poll or a callback;
//! * [`counters`]: the loop's statistics as relaxed atomics;
//! * [`timers`]: the shared timer heap (`loop-timers`) with the flag that closes it to new timers.

pub mod counters;
pub mod io;
pub mod state;
mod sync;
pub mod timers;
