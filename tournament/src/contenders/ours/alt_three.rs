//! `alt-three`: the Go tournament's AlternateThree ("balanced", the original design), rebuilt
//! correct.

use loop_api::LoopConfig;

use crate::contenders::{Contender, entry};

/// Registry entries.
pub const ENTRIES: &[Contender] = &[entry::<loop_alt_three::AltThreeLoop>(
    "alt-three",
    "ours: balanced — pooled 128-slot chunked ingress under a mutex (batch ≤ 1024 per lock), \
     double-buffered internal queue, eventfd wake-up (mio) deduplicated; no microtasks",
    LoopConfig::default,
)];
