//! Workloads: one file each, generic over the contender, registered in [`WORKLOADS`].
//!
//! Every workload submits exactly the number of tasks its [`Param`] says, runs on a fresh loop per
//! sample (started and warmed up outside the timed scope), and returns a [`SampleOutcome`]. The
//! shared sample skeleton is [`sample_with_loop`].

use std::sync::Arc;

use hdrhistogram::Histogram;
use loop_api::{Capability, EventLoop, LoopConfig, LoopStats};

use crate::harness::{
    Completion, Measured, RunningLoop, SAMPLE_TIMEOUT, SampleError, submit_or_fail,
};

pub mod alloc_pressure;
pub mod batch_budget;
pub mod burst;
pub mod cas_contention;
pub mod chain_handoff;
pub mod footprint;
pub mod microtask_roundtrip;
pub mod multi_producer;
pub mod net;
pub mod ping_pong;
pub mod ping_pong_latency;
pub mod priority_latency;
pub mod readiness_roundtrip;
pub mod support;
pub mod timer_lateness;
pub mod wakeup;

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Tiny N, for CI smoke runs and tests (seconds).
    Smoke,
    /// `make bench-quick`: every cell in a few minutes.
    Quick,
    /// `make bench-full`: the complete matrix with 4× the quick tasks and 15 samples per cell.
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
            Mode::Full => 15,
        }
    }

    /// Default number of successive processes a run's samples are split over (`run
    /// --processes`): 5 in quick and full runs (2 and 3 samples per cell per process), 1 in
    /// smoke runs. In the calibration's A/A pair of quick runs taken in one process each, a
    /// machine state that lasted a few seconds moved all 10 samples of every contender on one
    /// workload point (`cas-contention` p=1, +64% to +260%) and made 16 of 586 judged cells look
    /// regressed; spread over five processes minutes apart, such a state reaches a cell's
    /// samples of one process only, which its median outvotes.
    pub fn default_processes(self) -> u32 {
        match self {
            Mode::Smoke => 1,
            Mode::Quick | Mode::Full => 5,
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
    /// Stable id within the workload, e.g. `b=1000`; joins runs (`docs/MEASUREMENT.md` rule 7).
    pub id: String,
    /// Tasks submitted in the timed scope, exactly.
    pub tasks: u64,
    /// Burst size (tasks per round) where the workload has rounds, else equal to `tasks`.
    pub batch: u64,
    /// Producer threads.
    pub producers: usize,
    /// External batch budget this point runs with (overrides `LoopConfig::batch_budget`);
    /// `None` keeps the contender's configuration. Contenders without
    /// `Capabilities::batch_budget` ignore it.
    pub budget: Option<usize>,
    /// Variant within the workload when its points differ by more than numbers (e.g. `churn`
    /// for `alloc-pressure`); empty otherwise.
    pub variant: &'static str,
    /// Offered load, percent of a measured capacity, for open-loop points (`echo-open`);
    /// `None` elsewhere.
    pub load_pct: Option<u32>,
}

impl Param {
    /// A point of `tasks` tasks submitted by one producer in one round (`batch == tasks`), no
    /// budget override, no variant.
    pub fn new(id: impl Into<String>, tasks: u64) -> Self {
        Param {
            id: id.into(),
            tasks,
            batch: tasks,
            producers: 1,
            budget: None,
            variant: "",
            load_pct: None,
        }
    }

    /// Sets the round (burst) size, in tasks.
    pub fn with_batch(mut self, batch: u64) -> Self {
        self.batch = batch;
        self
    }

    /// Sets the number of producer threads.
    pub fn with_producers(mut self, producers: usize) -> Self {
        self.producers = producers;
        self
    }

    /// Sets the batch-budget override.
    pub fn with_budget(mut self, budget: usize) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Sets the variant.
    pub fn with_variant(mut self, variant: &'static str) -> Self {
        self.variant = variant;
        self
    }

    /// Sets the offered load, percent of a measured capacity (open-loop points).
    pub fn with_load_pct(mut self, pct: u32) -> Self {
        self.load_pct = Some(pct);
        self
    }

    /// `config` with this point's budget override applied.
    pub fn config(&self, config: &LoopConfig) -> LoopConfig {
        match self.budget {
            Some(b) => LoopConfig { batch_budget: b, ..config.clone() },
            None => config.clone(),
        }
    }
}

/// What a workload is, for `tournament list`, env.json and SUMMARY.md.
pub struct WorkloadSpec {
    /// Stable id, e.g. `ping-pong`.
    pub id: &'static str,
    /// One sentence on what it measures.
    pub description: &'static str,
    /// What the timed scope contains.
    pub timed_scope: &'static str,
    /// Unit of the primary metric: `ns/task` (wall ÷ `tasks`) unless it names another op
    /// (`ns/batch`, `ns/hop`, …), in which case samples carry `ops` and the metric is wall ÷ `ops`;
    /// `bytes` for the memory workload (`footprint`), whose numbers are secondary metrics in
    /// bytes or bytes/task and which reports no time.
    pub unit: &'static str,
    /// Capabilities a contender needs; lacking one makes the cell a declared gap.
    pub requires: &'static [Capability],
    /// Parameter points for a mode.
    pub params: fn(Mode) -> Vec<Param>,
}

/// Every workload, in report order.
pub const WORKLOADS: &[WorkloadSpec] = &[
    ping_pong::SPEC,
    ping_pong_latency::SPEC,
    burst::SPEC,
    multi_producer::SPEC,
    cas_contention::THROUGHPUT,
    cas_contention::LATENCY,
    wakeup::RUNNING,
    wakeup::SLEEPING,
    wakeup::BURST,
    wakeup::RAPID,
    batch_budget::THROUGHPUT,
    batch_budget::LATENCY,
    batch_budget::CONTINUOUS,
    batch_budget::MIXED,
    alloc_pressure::SPEC,
    chain_handoff::SPEC,
    priority_latency::SPEC,
    microtask_roundtrip::SPEC,
    readiness_roundtrip::SPEC,
    timer_lateness::SPEC,
    net::echo::SPEC,
    net::echo_open::SPEC,
    net::http::SPEC,
    footprint::SPEC,
];

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
    /// Heap allocations the process made for exactly `tasks` tasks of this workload, counted by
    /// the counting global allocator in an untimed pass of the same work right after the timed
    /// one (so counting never distorts the timing); `None` where not counted (other workloads,
    /// or the allocator is not installed).
    pub allocs: Option<u64>,
    /// Bytes requested by those allocations; `None` where not counted.
    pub alloc_bytes: Option<u64>,
    /// Secondary per-sample metrics ( externals run before the internal,
    /// …), each with its unit; empty for most workloads.
    pub metrics: Vec<Metric>,
}

/// A secondary metric of one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// Stable name, e.g. `allocs_per_task`.
    pub name: &'static str,
    /// Unit, e.g. `allocations/task`.
    pub unit: &'static str,
    /// The value.
    pub value: f64,
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
        "cas-contention" => cas_contention::run_throughput::<L>(param, config),
        "cas-contention-latency" => cas_contention::run_latency::<L>(param, config),
        "wakeup-running" => wakeup::run_running::<L>(param, config),
        "wakeup-sleeping" => wakeup::run_sleeping::<L>(param, config),
        "wakeup-burst" => burst::run::<L>(param, config),
        "wakeup-rapid" => wakeup::run_rapid::<L>(param, config),
        "batch-budget-throughput" => batch_budget::run_throughput::<L>(param, config),
        "batch-budget-latency" => batch_budget::run_latency::<L>(param, config),
        "batch-budget-continuous" => multi_producer::run::<L>(param, &param.config(config)),
        "batch-budget-mixed" => batch_budget::run_mixed::<L>(param, config),
        "alloc-pressure" => alloc_pressure::run::<L>(param, config),
        "chain-handoff" => chain_handoff::run::<L>(param, config),
        "priority-latency" => priority_latency::run::<L>(param, config),
        "microtask-roundtrip" => microtask_roundtrip::run::<L>(param, config),
        "readiness-roundtrip" => readiness_roundtrip::run::<L>(param, config),
        "timer-lateness" => timer_lateness::run::<L>(param, config),
        "echo" => net::echo::run::<L>(param, config),
        "echo-open" => net::echo_open::run::<L>(param, config),
        "http" => net::http::run::<L>(param, config),
        "footprint" => footprint::run::<L>(param, config),
        other => Err(SampleError(format!("unknown workload `{other}`"))),
    }
}

/// Whether workload `id` can run on a contender's native server ([`net::NativeServerFn`])
/// instead of the trait's readiness API: the socket workloads.
pub fn accepts_native(id: &str) -> bool {
    matches!(id, "echo" | "echo-open" | "http")
}

/// Runs one sample of socket workload `id` on a contender's native server.
///
/// # Errors
/// `id` is not a socket workload, or the sample failed.
pub fn run_native_sample(
    id: &str,
    native: net::NativeServerFn,
    param: &Param,
) -> Result<SampleOutcome, SampleError> {
    match id {
        "echo" => net::echo::run_native(native, param),
        "echo-open" => net::echo_open::run_native(native, param),
        "http" => net::http::run_native(native, param),
        other => Err(SampleError(format!("workload `{other}` has no native-server form"))),
    }
}

/// Why workload `id` cannot run on this machine at all (a tool it drives is missing), making
/// every cell of it a declared gap; `None` when it can.
pub fn environment_gap(id: &str) -> Option<String> {
    match id {
        "http" => net::wrk::missing_reason(),
        _ => None,
    }
}

/// Work a workload needs done once per cell, before any contender's first sample of it, with
/// every contender measured in the cell: `echo-open` measures the closed-loop echo capacity its
/// offered loads are fractions of ([`net::echo_open::calibrate`]). Called by `tournament run`;
/// a no-op for other workloads.
pub fn prepare_cell(id: &str, param: &Param, contenders: &[&crate::contenders::Contender]) {
    if id == "echo-open" {
        net::echo_open::calibrate(param, contenders);
    }
}

/// What a workload's timed body returns to [`sample_with_loop`].
pub struct TimedBody {
    /// Clocks of the timed scope.
    pub measured: Measured,
    /// Recorded latencies, if any.
    pub latency: Option<Histogram<u64>>,
    /// Operations timed, for per-op units (see [`SampleOutcome::ops`]).
    pub ops: Option<u64>,
    /// Stats snapshots (before, after) bracketing exactly the timed window, when it is narrower
    /// than the whole body (admission-only workloads drain after the window): wake syscalls are
    /// then counted over this window instead of the whole body.
    pub stats_window: Option<(LoopStats, LoopStats)>,
    /// Allocations and bytes for exactly the sample's tasks, from an untimed counting pass.
    pub allocs: Option<(u64, u64)>,
    /// Secondary metrics.
    pub metrics: Vec<Metric>,
}

impl TimedBody {
    /// A body result with only clocks.
    pub fn new(measured: Measured) -> Self {
        TimedBody {
            measured,
            latency: None,
            ops: None,
            stats_window: None,
            allocs: None,
            metrics: Vec::new(),
        }
    }

    /// Adds recorded latencies.
    pub fn with_latency(mut self, hist: Histogram<u64>) -> Self {
        self.latency = Some(hist);
        self
    }

    /// Sets the number of operations timed (per-op units).
    pub fn with_ops(mut self, ops: u64) -> Self {
        self.ops = Some(ops);
        self
    }

    /// Narrows wake-syscall accounting to the window between `before` and `after`.
    pub fn with_stats_window(mut self, before: LoopStats, after: LoopStats) -> Self {
        self.stats_window = Some((before, after));
        self
    }

    /// Records the allocations (count, bytes) counted for exactly the sample's tasks.
    pub fn with_allocs(mut self, allocs: u64, bytes: u64) -> Self {
        self.allocs = Some((allocs, bytes));
        self
    }

    /// Adds a secondary metric.
    pub fn with_metric(mut self, name: &'static str, unit: &'static str, value: f64) -> Self {
        self.metrics.push(Metric { name, unit, value });
        self
    }
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
    let (before, after) = timed.stats_window.unwrap_or((before, after));
    let wake_syscalls = L::CAPABILITIES
        .wake_accounting
        .then(|| after.wake_syscalls.saturating_sub(before.wake_syscalls));
    Ok(SampleOutcome {
        tasks,
        ops: timed.ops,
        measured: timed.measured,
        wake_syscalls,
        latency: timed.latency,
        allocs: timed.allocs.map(|a| a.0),
        alloc_bytes: timed.allocs.map(|a| a.1),
        metrics: timed.metrics,
    })
}

/// Submits `n` tasks and waits for them, untimed, so the loop's queues, allocator caches and
/// thread wake paths are warm before the timed scope.
///
/// # Errors
/// A rejected submit or a timeout.
pub fn warm_up<L: EventLoop>(lp: &L, n: u64) -> Result<(), SampleError> {
    let c = Completion::leak();
    c.expect(n);
    for _ in 0..n {
        submit_or_fail(lp, move || c.task_done())?;
    }
    c.wait_for(n, SAMPLE_TIMEOUT).map_err(|e| SampleError(format!("warm-up: {e}")))
}

/// Sums the clocks of several timed windows (workloads that time each operation separately and
/// leave untimed set-up between them).
pub fn add_measured(a: Measured, b: Measured) -> Measured {
    Measured {
        wall_ns: a.wall_ns + b.wall_ns,
        cpu_ns: a.cpu_ns + b.cpu_ns,
        voluntary_switches: a.voluntary_switches + b.voluntary_switches,
    }
}

/// An all-zero [`Measured`], the start of a sum of windows.
pub const NO_TIME: Measured = Measured { wall_ns: 0, cpu_ns: 0, voluntary_switches: 0 };

/// A latency histogram for ns values from 1 ns to 60 s at 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static histogram bounds are valid")
}
