//! `baseline`: the reference every ratio is relative to.

use loop_api::LoopConfig;

use crate::contenders::{Contender, entry};

/// Registry entries.
pub const ENTRIES: &[Contender] = &[entry::<loop_baseline::BaselineLoop>(
    crate::contenders::BASELINE_ID,
    "ours: simplest correct loop — Mutex<Vec> swapped per tick, condvar wake-up, no budget",
    LoopConfig::default,
)];
