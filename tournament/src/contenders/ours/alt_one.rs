//! `alt-one`: the Go tournament's AlternateOne ("maximum safety"), rebuilt correct.

use loop_api::LoopConfig;

use crate::contenders::{Contender, entry};

/// Registry entries.
pub const ENTRIES: &[Contender] = &[entry::<loop_alt_one::AltOneLoop>(
    "alt-one",
    "ours: maximum safety — one mutex over three 128-slot chunked lanes, validated invariants and \
     state machine, eventfd wake-up (mio) deduplicated by a wake-pending flag",
    LoopConfig::default,
)];
