//! Registry entries of the workspace's own loops, one file per loop crate (with its ablations).
//!
//! A new loop crate joins the tournament by two edits: its dependency in `tournament/Cargo.toml`
//! and one family in [`ENTRIES`] below — inline,
//! `&[entry::<loop_foo::FooLoop>("foo", "ours: …", LoopConfig::default)]`, or as `ENTRIES` of a
//! file of its own here like the others (`docs/BRING-YOUR-OWN-LOOP.md`).

use super::Contender;

mod alt_one;
mod alt_three;
mod alt_two;
mod baseline;
mod main_loop;

pub use alt_one::ENTRIES as ALT_ONE;
pub use alt_three::ENTRIES as ALT_THREE;
pub use alt_two::ENTRIES as ALT_TWO;
pub use baseline::ENTRIES as BASELINE;
pub use main_loop::ENTRIES as MAIN;

/// Every family of our loops, in display order (`baseline` first: the reference for ratios).
pub const ENTRIES: &[&[Contender]] = &[BASELINE, MAIN, ALT_ONE, ALT_TWO, ALT_THREE];
