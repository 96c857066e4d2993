//! Registry entries of the workspace's own loops, one file per loop crate (with its ablations).

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
