//! `alt-one` and its ablations (registered once the loop crate is implemented).

use crate::contenders::Contender;

/// Registry entries.
pub const ENTRIES: &[Contender] = &[];
