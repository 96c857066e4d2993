//! Contenders: the registry of stable ids, and one adapter file per peer.
//!
//! Every contender — our loops, their ablations and the peers a Rust user would pick instead — is
//! listed once in [`CONTENDERS`], which instantiates each generic workload and the correctness
//! gate for its type. Ids are stable: runs are joined by them (DESIGN.md rule 7).

use loop_api::{Capabilities, EventLoop, LoopConfig};

use crate::harness::SampleError;
use crate::workloads::{self, Param, SampleOutcome};

mod peer_gate;
pub mod std_mpsc;
pub mod tokio_ct;

/// Runs one sample of a workload (by id) for a contender.
pub type SampleFn = fn(&str, &Param, &LoopConfig) -> Result<SampleOutcome, SampleError>;

/// Runs the quick conformance gate; `Ok` carries a one-line summary, `Err` the violation.
pub type GateFn = fn(&str, &LoopConfig) -> Result<String, String>;

/// One registered contender.
pub struct Contender {
    /// Stable id, e.g. `tokio-ct`.
    pub id: &'static str,
    /// What it is, in one sentence.
    pub description: &'static str,
    /// Its declared capabilities.
    pub capabilities: Capabilities,
    /// The configuration it runs with (ablations differ only here).
    pub config: fn() -> LoopConfig,
    /// The workloads, instantiated for its type.
    pub run_sample: SampleFn,
    /// The correctness gate, instantiated for its type.
    pub gate: GateFn,
}

const fn entry<L: EventLoop>(
    id: &'static str,
    description: &'static str,
    config: fn() -> LoopConfig,
) -> Contender {
    Contender {
        id,
        description,
        capabilities: L::CAPABILITIES,
        config,
        run_sample: workloads::run_sample::<L>,
        gate: crate::gate::run_gate::<L>,
    }
}

/// Every contender, in display order. `baseline` is the reference for ratios.
pub const CONTENDERS: &[Contender] = &[
    entry::<loop_baseline::BaselineLoop>(
        "baseline",
        "ours: simplest correct loop — Mutex<Vec> swapped per tick, condvar wake-up, no budget",
        LoopConfig::default,
    ),
    entry::<tokio_ct::TokioCt>(
        tokio_ct::TokioCt::ID,
        "peer: tokio current-thread runtime (I/O + time drivers), Handle::spawn per task",
        LoopConfig::default,
    ),
    entry::<tokio_ct::TokioCtNoIo>(
        tokio_ct::TokioCtNoIo::ID,
        "peer: tokio current-thread runtime without the I/O driver (park/unpark wake-ups)",
        LoopConfig::default,
    ),
    entry::<std_mpsc::StdMpsc>(
        std_mpsc::StdMpsc::ID,
        "peer: one worker thread draining a std::sync::mpsc channel of boxed closures",
        LoopConfig::default,
    ),
];

/// The id every ratio column is relative to.
pub const BASELINE_ID: &str = "baseline";

/// Looks a contender up by id.
pub fn find(id: &str) -> Option<&'static Contender> {
    CONTENDERS.iter().find(|c| c.id == id)
}
