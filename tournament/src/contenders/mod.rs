//! Contenders: the registry of stable ids, and one adapter file per peer.
//!
//! Every contender — our loops, their ablations and the peers a Rust user would pick instead — is
//! listed once in [`CONTENDERS`], which instantiates each generic workload and the correctness
//! gate for its type. Ids are stable: runs are joined by them (DESIGN.md rule 7).

use loop_api::{Capabilities, EventLoop, LoopConfig};

use crate::harness::SampleError;
use crate::workloads::{self, Param, SampleOutcome};

pub mod async_executor_peer;
pub mod calloop_peer;
pub mod crossbeam_worker;
pub mod ours;
mod peer_gate;
pub mod peers;
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

/// Builds a registry entry for loop type `L`: instantiates every workload and the gate for it.
pub const fn entry<L: EventLoop>(
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

/// Every contender, in display order: our loops first (`baseline` is the reference for ratios),
/// then their ablations, then the peers. Each family lists its entries in its own file.
pub fn all() -> Vec<&'static Contender> {
    [ours::BASELINE, ours::MAIN, ours::ALT_ONE, ours::ALT_TWO, ours::ALT_THREE, peers::ENTRIES]
        .into_iter()
        .flatten()
        .collect()
}

/// The id every ratio column is relative to.
pub const BASELINE_ID: &str = "baseline";

/// Looks a contender up by id.
pub fn find(id: &str) -> Option<&'static Contender> {
    all().into_iter().find(|c| c.id == id)
}
