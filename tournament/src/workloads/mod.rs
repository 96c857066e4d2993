//! Workloads: one file each, generic over the contender, registered in [`WORKLOADS`].
//!
//! Every workload submits exactly the number of tasks its [`Param`] says, runs on a fresh loop per
//! sample (started and warmed up outside the timed scope), and returns a [`SampleOutcome`]. The
//! shared sample skeleton is [`sample_with_loop`].

use std::sync::Arc;

use hdrhistogram::Histogram;
use loop_api::{Capability, EventLoop, LoopConfig};

use crate::harness::{
    Completion, Measured, RunningLoop, SAMPLE_TIMEOUT, SampleError, submit_or_fail,
};

pub mod burst;
pub mod multi_producer;
pub mod ping_pong;
pub mod ping_pong_latency;

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Tiny N, for CI smoke runs and tests (seconds).
    Smoke,
    /// `make bench-quick`: every cell in a few minutes.
    Quick,
    /// `make bench-full`: the complete matrix with 10× the tasks.
    Full,
}

impl Mode {
    /// Stable lowercase name recorded in env.json.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Smoke => "smoke",
            Mode::Quick => "quick",
            Mode::Full => "full",
        }
    }

    /// Default samples per cell: at least 5 except in smoke runs (a cell with fewer than 5 ok samples
    /// is never "ok", see `record::MIN_SAMPLES_FOR_OK`).
    pub fn default_samples(self) -> u32 {
        match self {
            Mode::Smoke => 1,
            Mode::Quick => 10,
            Mode::Full => 20,
        }
    }

    /// Picks the task count for this mode.
    pub fn pick(self, smoke: u64, quick: u64, full: u64) -> u64 {
        match self {
            Mode::Smoke => smoke,
            Mode::Quick => quick,
            Mode::Full => full,
        }
    }
}

/// One parameter point of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Stable id within the workload, e.g. `b=1000`; joins runs (DESIGN.md rule 7).
    pub id: String,
    /// Tasks submitted in the timed scope, exactly.
    pub tasks: u64,
    /// Burst size (tasks per round) where the workload has rounds, else equal to `tasks`.
    pub batch: u64,
    /// Producer threads.
    pub producers: usize,
}

/// What a workload is, for `tournament list`, env.json and SUMMARY.md.
pub struct WorkloadSpec {
    /// Stable id, e.g. `ping-pong`.
    pub id: &'static str,
    /// One sentence on what it measures.
    pub description: &'static str,
    /// What the timed scope contains.
    pub timed_scope: &'static str,
    /// Unit of the primary metric.
    pub unit: &'static str,
    /// Capabilities a contender needs; lacking one makes the cell a declared gap.
    pub requires: &'static [Capability],
    /// Parameter points for a mode.
    pub params: fn(Mode) -> Vec<Param>,
}

/// Every workload, in report order.
pub const WORKLOADS: &[WorkloadSpec] =
    &[ping_pong::SPEC, ping_pong_latency::SPEC, burst::SPEC, multi_producer::SPEC];

/// Looks a workload up by id.
pub fn find(id: &str) -> Option<&'static WorkloadSpec> {
    WORKLOADS.iter().find(|w| w.id == id)
}

/// The result of one successful sample.
#[derive(Debug, Clone)]
pub struct SampleOutcome {
    /// Tasks that ran in the timed scope (exactly `Param::tasks`).
    pub tasks: u64,
    /// Operations timed, for per-op workloads (see `record::RawSample::ops`); `None` otherwise.
    pub ops: Option<u64>,
    /// Clocks of the timed scope.
    pub measured: Measured,
    /// Wake syscalls during the timed scope, when the contender counts them.
    pub wake_syscalls: Option<u64>,
    /// Per-operation latencies, ns, when the workload records them.
    pub latency: Option<Histogram<u64>>,
}

/// Runs one sample of workload `id` against contender `L`.
///
/// # Errors
/// Unknown workload id, or the sample failed (the error says why).
pub fn run_sample<L: EventLoop>(
    id: &str,
    param: &Param,
    config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    match id {
        "ping-pong" => ping_pong::run::<L>(param, config),
        "ping-pong-latency" => ping_pong_latency::run::<L>(param, config),
        "burst" => burst::run::<L>(param, config),
        "multi-producer" => multi_producer::run::<L>(param, config),
        other => Err(SampleError(format!("unknown workload `{other}`"))),
    }
}

/// What a workload's timed body returns to [`sample_with_loop`].
pub struct TimedBody {
    /// Clocks of the timed scope.
    pub measured: Measured,
    /// Recorded latencies, if any.
    pub latency: Option<Histogram<u64>>,
}

/// Tasks used to warm a fresh loop up before timing: a tenth of the sample, between 100 and 10,000.
pub fn warmup_tasks(tasks: u64) -> u64 {
    (tasks / 10).clamp(100, 10_000)
}

/// The sample skeleton every workload shares: start a fresh loop, warm it up untimed, snapshot its
/// stats, run `body` (which owns the timed scope and must wait for all `tasks` tasks), snapshot the
/// stats again, shut the loop down, and check that exactly `tasks` tasks ran.
///
/// # Errors
/// Any failure of the loop's lifecycle or of `body`, or a lost/extra task.
pub fn sample_with_loop<L: EventLoop>(
    config: &LoopConfig,
    tasks: u64,
    body: impl FnOnce(&Arc<L>, &'static Completion) -> Result<TimedBody, SampleError>,
) -> Result<SampleOutcome, SampleError> {
    let running = RunningLoop::<L>::start(config)?;
    warm_up::<L>(&running.lp, warmup_tasks(tasks))?;
    let completion = Completion::leak();
    let before = running.stats();
    let timed = body(&running.lp, completion)?;
    let after = running.stats();
    running.finish()?;
    completion.check_exact(tasks)?;
    let wake_syscalls = L::CAPABILITIES
        .wake_accounting
        .then(|| after.wake_syscalls.saturating_sub(before.wake_syscalls));
    Ok(SampleOutcome {
        tasks,
        ops: None,
        measured: timed.measured,
        wake_syscalls,
        latency: timed.latency,
    })
}

/// Submits `n` tasks and waits for them, untimed, so the loop's queues, allocator caches and
/// thread wake paths are warm before the timed scope.
fn warm_up<L: EventLoop>(lp: &L, n: u64) -> Result<(), SampleError> {
    let c = Completion::leak();
    c.expect(n);
    for _ in 0..n {
        submit_or_fail(lp, move || c.task_done())?;
    }
    c.wait_for(n, SAMPLE_TIMEOUT).map_err(|e| SampleError(format!("warm-up: {e}")))
}

/// A latency histogram for ns values from 1 ns to 60 s at 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static histogram bounds are valid")
}
