//! Contenders: the registry of stable ids, and one adapter file per peer.
//!
//! Every contender — our loops, their ablations and the peers a Rust user would pick instead — is
//! listed once in the registry ([`all`]), whose [`entry`] instantiates each generic workload and the correctness
//! gate for its type. Ids are stable: runs are joined by them (`docs/MEASUREMENT.md` rule 7).
//!
//! Adding one touches two existing files: a loop crate of this workspace, `tournament/Cargo.toml`
//! (its dependency) and `ours/mod.rs` (its entry); a peer, `peers.rs` (`pub mod <name>;` for its
//! adapter in `peers/<name>.rs`, and its entry), plus `tournament/Cargo.toml` when it brings a new
//! dependency. From outside the workspace: [`crate::cli::main_with`].

use loop_api::{Capabilities, EventLoop, LoopConfig};

use crate::harness::SampleError;
use crate::workloads::net::NativeServerFn;
use crate::workloads::{self, Param, SampleOutcome};

pub mod async_executor_peer;
pub mod calloop_net;
pub mod calloop_peer;
pub mod crossbeam_worker;
pub mod floor;
pub mod floor_net;
pub mod libuv_net;
pub mod libuv_peer;
pub mod libuv_sys;
pub mod ours;
mod peer_gate;
pub mod peers;
pub mod std_mpsc;
pub mod tokio_ct;
pub mod tokio_net;

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
    /// The contender's own server for the socket workloads (`echo`, `http`), used when it lacks
    /// the readiness capability: what a user of that runtime would write (e.g. tokio's
    /// `TcpListener`). `None` for most contenders.
    pub native_server: Option<NativeServerFn>,
    /// The only workloads this contender is defined for (every other cell is a declared gap,
    /// "not applicable"); `None`, the usual case: every workload its capabilities allow.
    pub only_workloads: Option<&'static [&'static str]>,
    /// Why the contender cannot run on this machine at all (a system library it loads at run
    /// time is not installed), checked before its gate and its cells: `Some(reason)` makes every
    /// cell of it a declared gap with that reason (saying how to install what is missing) and
    /// skips its gate. `None` for contenders that need nothing outside the build.
    pub missing: Option<fn() -> Option<String>>,
    /// The conservation soak instantiated for its type (`tournament soak`); `None` for a
    /// reference that is not a loop (`floor`).
    pub soak: Option<crate::soak::SoakFn>,
}

impl Contender {
    /// Sets [`Contender::config`], the `LoopConfig` every sample and the gate create the loop
    /// with (an ablation is the same type under another id and config).
    pub const fn with_config(mut self, config: fn() -> LoopConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets [`Contender::native_server`].
    pub const fn with_native_server(mut self, f: NativeServerFn) -> Self {
        self.native_server = Some(f);
        self
    }

    /// Whether this contender is defined for workload `workload` at all ([`Contender::only_workloads`]).
    pub fn applies_to(&self, workload: &str) -> bool {
        self.only_workloads.is_none_or(|only| only.contains(&workload))
    }

    /// Sets [`Contender::missing`].
    pub const fn with_requirement(mut self, missing: fn() -> Option<String>) -> Self {
        self.missing = Some(missing);
        self
    }

    /// Why this contender cannot run here ([`Contender::missing`]), prefixed `unavailable: `
    /// like a missing tool's gap reason, or `None` when it can.
    pub fn unavailable(&self) -> Option<String> {
        self.missing.and_then(|f| f()).map(|why| format!("unavailable: {why}"))
    }

    /// The native server this contender runs workload `workload` on, when it does: it has one,
    /// the workload accepts one, and the contender cannot run the trait-based server (no
    /// readiness).
    pub fn native_server_for(&self, workload: &str) -> Option<NativeServerFn> {
        self.native_server
            .filter(|_| !self.capabilities.readiness && workloads::accepts_native(workload))
    }

    /// Runs one sample of `workload` at `param` with `config`: on the native server where
    /// [`Contender::native_server_for`] says so, else through the trait.
    ///
    /// # Errors
    /// The sample failed; the error says why.
    pub fn sample(
        &self,
        workload: &str,
        param: &Param,
        config: &LoopConfig,
    ) -> Result<SampleOutcome, SampleError> {
        // A `slow-test` build slows `main`'s submit-throughput cells only (no-op otherwise).
        let _slowed = crate::harness::SlowTestScope::enter(self.id, workload);
        match self.native_server_for(workload) {
            Some(native) => workloads::run_native_sample(workload, native, param),
            None => (self.run_sample)(workload, param, config),
        }
    }
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
        native_server: None,
        only_workloads: None,
        missing: None,
        soak: Some(crate::soak::soak_loop::<L>),
    }
}

/// Every built-in contender, in display order: our loops ([`ours::ENTRIES`], `baseline` first:
/// the reference for ratios, each followed by its ablations), then the peers
/// ([`peers::ENTRIES`]), last the physical-floor reference ([`floor::ENTRIES`]). Contenders
/// registered from outside come after these ([`crate::cli::registry`]).
pub fn all() -> Vec<&'static Contender> {
    ours::ENTRIES.iter().copied().chain([peers::ENTRIES, floor::ENTRIES]).flatten().collect()
}

/// The id every ratio column is relative to.
pub const BASELINE_ID: &str = "baseline";

/// Looks a contender up by id.
pub fn find(id: &str) -> Option<&'static Contender> {
    all().into_iter().find(|c| c.id == id)
}
