//! `alt-two`: "maximum throughput" — a 65,536-slot CAS-claimed ring as external ingress.

use loop_api::LoopConfig;

use crate::contenders::{Contender, entry};

/// Registry entries.
pub const ENTRIES: &[Contender] = &[entry::<loop_alt_two::AltTwoLoop>(
    "alt-two",
    "ours: 64K-slot Vyukov ring arena (CAS claims, fenced overflow), eventfd wake only when asleep, \
     ≤256 external/tick, no timers",
    LoopConfig::default,
)];
