//! # tournament: measures event-loop contenders side by side
//!
//! Data flows one way: [`workloads`] drive [`contenders`] through the `loop_api::EventLoop`
//! trait → the [`harness`] produces raw samples ([`record::RawSample`]) → [`stats`] reduces
//! them → [`report`] renders `summary.csv` and `SUMMARY.md`. Reports are regenerated from
//! `raw.jsonl` alone (`tournament report DIR`), never from memory of a run.
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
pub mod stats;
pub mod summarize;
pub mod verdict;
pub mod workloads;
