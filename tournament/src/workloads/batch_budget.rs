//! `batch-budget-*`: how the external batch budget (`LoopConfig::batch_budget`, tasks per tick)
//! shapes throughput and latency (the historical `MicroBatchBudget`, `docs/HISTORY.md`,
//! corrected: no sleeps between bursts, no polling, exact counts, per-batch and per-task units
//! never mixed).
//!
//! Contenders without `Capabilities::batch_budget` ignore the budget: their rows run the same
//! work with their own batching and are labelled by the report from the capability.
//!
//! * `batch-budget-throughput` (budget B): one op = B back-to-back submits; admission only.
//!   Unit `ns/batch` (samples carry `ops`; ns/task = ns/batch ÷ B).
//! * `batch-budget-latency` (budget B): one op = submit B, wait until all B ran. Unit `ns/batch`,
//!   each batch in the histogram.
//! * `batch-budget-continuous` (budget B): 4 producers, exact split, drain timed. Unit `ns/task`.
//! * `batch-budget-mixed` (burst B, default budget): one op = B/2 submits drained, then B − B/2
//!   sequential round trips. Unit `ns/batch` (one op = one batch of B tasks).

use loop_api::{EventLoop, LoopConfig};

use super::{
    Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, latency_histogram, sample_with_loop,
};
use crate::harness::{SAMPLE_TIMEOUT, SampleError, TimedScope, submit_or_fail};
use std::time::Instant;

/// Budgets of the throughput, latency and continuous variants (tasks per tick).
pub const BUDGETS: [u64; 7] = [64, 128, 256, 512, 1024, 2048, 4096];

/// Burst sizes of the mixed variant.
pub const MIXED_BURSTS: [u64; 5] = [100, 500, 1000, 2000, 5000];

/// Registry entry: `batch-budget-throughput`.
pub const THROUGHPUT: WorkloadSpec = WorkloadSpec {
    id: "batch-budget-throughput",
    description: "budget B passed through LoopConfig; one op = B back-to-back submits from one \
                  producer (per task: divide by B)",
    timed_scope: "first submit → last submit returned (admission only); the drain of all ops × B \
                  tasks is checked untimed",
    unit: "ns/batch",
    requires: &[],
    params: budget_params,
};

/// Registry entry: `batch-budget-latency`.
pub const LATENCY: WorkloadSpec = WorkloadSpec {
    id: "batch-budget-latency",
    description: "budget B passed through LoopConfig; one op = submit B tasks, wait until all B ran \
                  (per task: divide by B)",
    timed_scope: "first submit of the first batch → last task of the last batch observed complete; \
                  histogram: each batch, first submit → its last task observed complete",
    unit: "ns/batch",
    requires: &[],
    params: budget_params,
};

/// Registry entry: `batch-budget-continuous`.
pub const CONTINUOUS: WorkloadSpec = WorkloadSpec {
    id: "batch-budget-continuous",
    description: "budget B passed through LoopConfig; 4 producer threads released together submit \
                  N tasks in total (exact split)",
    timed_scope: "gate release → the last task observed complete (drain included)",
    unit: "ns/task",
    requires: &[],
    params: continuous_params,
};

/// Registry entry: `batch-budget-mixed`.
pub const MIXED: WorkloadSpec = WorkloadSpec {
    id: "batch-budget-mixed",
    description: "default budget; one op = a burst of B/2 submits drained, then B − B/2 \
                  sequential round trips (one op = one batch of B tasks)",
    timed_scope: "first submit of the first op → last round trip of the last op observed complete",
    unit: "ns/batch",
    requires: &[],
    params: mixed_params,
};

fn budget_params(mode: Mode) -> Vec<Param> {
    // A whole number of batches at every budget (all budgets divide 4096).
    let n = mode.pick(4_096, 16_384, 65_536);
    BUDGETS
        .iter()
        .map(|&b| Param::new(format!("budget={b:04}"), n).with_batch(b).with_budget(b as usize))
        .collect()
}

fn continuous_params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(1_000, 20_000, 80_000);
    let budgets: &[u64] = match mode {
        // Quick runs keep the ends and the default; the full run sweeps every budget.
        Mode::Smoke | Mode::Quick => &[64, 1024, 4096],
        Mode::Full => &BUDGETS,
    };
    budgets
        .iter()
        .map(|&b| Param::new(format!("budget={b:04}"), n).with_producers(4).with_budget(b as usize))
        .collect()
}

fn mixed_params(mode: Mode) -> Vec<Param> {
    // Round trips dominate (≈ B/2 × 1–65 µs per op), so ops are few.
    let (bursts, ops): (&[u64], u64) = match mode {
        Mode::Smoke => (&[100, 500], 1),
        Mode::Quick => (&[100, 500, 1000], 1),
        Mode::Full => (&MIXED_BURSTS, 4),
    };
    bursts.iter().map(|&b| Param::new(format!("b={b:04}"), b * ops).with_batch(b)).collect()
}

fn whole_batches(param: &Param) -> Result<(u64, u64), SampleError> {
    let (n, b) = (param.tasks, param.batch.max(1));
    if n % b != 0 {
        return Err(SampleError(format!("tasks {n} is not a multiple of the batch {b}")));
    }
    Ok((n, b))
}

/// Runs one `batch-budget-throughput` sample.
///
/// # Errors
/// A rejected submit, a lost or extra task, or a timeout.
pub fn run_throughput<L: EventLoop>(
    param: &Param,
    config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    let (n, b) = whole_batches(param)?;
    sample_with_loop::<L>(&param.config(config), n, |lp, c| {
        c.expect(n);
        let before = lp.stats();
        let scope = TimedScope::start();
        for _ in 0..n / b {
            for _ in 0..b {
                submit_or_fail(&**lp, move || c.task_done())?;
            }
        }
        let measured = scope.stop();
        let after = lp.stats();
        c.wait_for(n, SAMPLE_TIMEOUT).map_err(|e| SampleError(format!("untimed drain: {e}")))?;
        Ok(TimedBody::new(measured).with_ops(n / b).with_stats_window(before, after))
    })
}

/// Runs one `batch-budget-latency` sample.
///
/// # Errors
/// A rejected submit, a lost or extra task, or a timeout.
pub fn run_latency<L: EventLoop>(
    param: &Param,
    config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    let (n, b) = whole_batches(param)?;
    let mut hist = latency_histogram();
    sample_with_loop::<L>(&param.config(config), n, |lp, c| {
        let scope = TimedScope::start();
        let mut target = 0;
        while target < n {
            target += b;
            c.expect(target);
            let t0 = Instant::now();
            for _ in 0..b {
                submit_or_fail(&**lp, move || c.task_done())?;
            }
            c.wait_for(target, SAMPLE_TIMEOUT)?;
            hist.saturating_record((t0.elapsed().as_nanos() as u64).max(1));
        }
        let measured = scope.stop();
        Ok(TimedBody::new(measured).with_ops(n / b).with_latency(hist))
    })
}

/// Runs one `batch-budget-mixed` sample.
///
/// # Errors
/// A rejected submit, a lost or extra task, or a timeout.
pub fn run_mixed<L: EventLoop>(
    param: &Param,
    config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    let (n, b) = whole_batches(param)?;
    let half = b / 2;
    sample_with_loop::<L>(&param.config(config), n, |lp, c| {
        let scope = TimedScope::start();
        let mut target = 0;
        for _ in 0..n / b {
            target += half;
            c.expect(target);
            for _ in 0..half {
                submit_or_fail(&**lp, move || c.task_done())?;
            }
            c.wait_for(target, SAMPLE_TIMEOUT)?;
            for _ in half..b {
                target += 1;
                c.expect(target);
                submit_or_fail(&**lp, move || c.task_done())?;
                c.wait_for(target, SAMPLE_TIMEOUT)?;
            }
        }
        let measured = scope.stop();
        Ok(TimedBody::new(measured).with_ops(n / b))
    })
}
