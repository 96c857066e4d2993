//! # tournament: measures event-loop contenders side by side
//!
//! Data flows one way: [`workloads`] drive [`contenders`] through the `loop_api::EventLoop`
//! trait → the [`harness`] produces raw samples ([`record::RawSample`]) → [`stats`] reduces
//! them → [`report`] renders `summary.csv` and `SUMMARY.md`. Reports are regenerated from
//! `raw.jsonl` alone (`tournament report DIR`), never from memory of a run.
//!
//! **Bench your own loop**: [`cli::main_with`] runs the whole command line with contenders of
//! your own, each built by [`contender`] from a type implementing `loop_api::EventLoop`
//! (`docs/BRING-YOUR-OWN-LOOP.md`; the workspace's `examples/my-loop` is a worked example).
//!
//! Linux only: the harness, workloads and provenance use `getrusage`, `gettid`, `pipe2`,
//! `/proc/self` and `/sys` (see `docs/ARCHITECTURE.md`, "Platform").

#[cfg(not(target_os = "linux"))]
compile_error!(
    "tournament supports Linux only: its harness and workloads use eventfd/epoll (through mio), \
     pipe2, gettid, getrusage, /proc/self/{statm,task} and /sys; see docs/ARCHITECTURE.md"
);

pub mod alloc_count;
pub mod calibration;
pub mod cli;
pub mod compare;
pub mod contenders;
pub mod env;
pub mod gate;
pub mod harness;
pub mod index;
pub mod merge;
pub mod raw;
pub mod record;
pub mod report;
pub mod run;
pub mod soak;
pub mod stats;
pub mod summarize;
pub mod verdict;
pub mod workloads;

pub use contenders::Contender;

/// A contender for [`cli::main_with`]: loop type `L` under the stable id `id` (what
/// `--contenders` selects and every result row is keyed by; non-empty, no commas or whitespace),
/// described in one sentence, run with `LoopConfig::default()` (other configurations:
/// [`Contender::with_config`]). Instantiates every workload and the conformance gate for `L`;
/// the workloads needing a capability `L::CAPABILITIES` does not declare become declared gaps.
pub fn contender<L: loop_api::EventLoop>(id: &'static str, description: &'static str) -> Contender {
    contenders::entry::<L>(id, description, loop_api::LoopConfig::default)
}
