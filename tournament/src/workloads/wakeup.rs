//! `wakeup-*`: what a submit costs depending on the loop's state when it arrives (the historical
//! `MicroWakeupSyscall`, `docs/HISTORY.md`, corrected: no keep-alive thread, no sleeps, every
//! task drained and checked). Each sample reports the producer's **wake syscalls** over the timed
//! window from the contender's own counters where it keeps them (`Capabilities::wake_accounting`);
//! for the others the value is a declared gap ("not measured").
//!
//! * `wakeup-running`: the loop is provably busy (parked inside a task) while N submits arrive.
//! * `wakeup-sleeping`: N idle round trips, the loop thread verified asleep before each.
//! * `wakeup-burst`: bursts of 100, each drained (the `burst` workload at B = 100).
//! * `wakeup-rapid`: N back-to-back submits onto a loop verified asleep.
//!
//! "Asleep" is checked the same way for every contender: the loop thread's scheduler state in
//! `/proc/self/task/<tid>/stat` is `S` (blocked in the kernel), waited for untimed. Loops that
//! count sleeps must also show `stats().sleeps` advancing.

use std::time::{Duration, Instant};

use loop_api::{EventLoop, LoopConfig};

use super::support::{Blocker, loop_thread_tid, wait_until_asleep};
use super::{
    Mode, NO_TIME, Param, SampleOutcome, TimedBody, WorkloadSpec, add_measured, latency_histogram,
    sample_with_loop,
};
use crate::harness::{SAMPLE_TIMEOUT, SampleError, TimedScope, submit_or_fail};

/// Longest untimed wait for the loop thread to fall asleep: its spin-before-sleep (20 µs by
/// default) plus scheduling noise on a loaded machine, with a wide margin.
const ASLEEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Registry entry: `wakeup-running`.
pub const RUNNING: WorkloadSpec = WorkloadSpec {
    id: "wakeup-running",
    description: "N submits while the loop thread is provably busy (blocked inside a task that \
                  reported it started): the cost of a submit that needs no wake-up",
    timed_scope: "first submit → last submit returned (admission only, loop busy throughout); \
                  the loop is then released and the drain checked untimed",
    unit: "ns/task (admission)",
    requires: &[],
    params: running_params,
};

/// Registry entry: `wakeup-sleeping`.
pub const SLEEPING: WorkloadSpec = WorkloadSpec {
    id: "wakeup-sleeping",
    description: "N idle round trips: before each, the loop thread is verified asleep (blocked in \
                  the kernel); then one submit, waited for until it ran",
    timed_scope: "each round trip only (just before submit → task observed complete), summed; \
                  the untimed wait for the loop to fall asleep is excluded; histogram: each",
    unit: "ns/task",
    requires: &[],
    params: sleeping_params,
};

/// Registry entry: `wakeup-burst`.
pub const BURST: WorkloadSpec = WorkloadSpec {
    id: "wakeup-burst",
    description: "bursts of 100 submits, each burst drained before the next, until exactly N ran",
    timed_scope: "first submit of the first burst → last task of the last burst observed complete \
                  (drains included)",
    unit: "ns/task",
    requires: &[],
    params: burst_params,
};

/// Registry entry: `wakeup-rapid`.
pub const RAPID: WorkloadSpec = WorkloadSpec {
    id: "wakeup-rapid",
    description: "N back-to-back submits onto a loop verified asleep: one wake-up, then a race \
                  between the producer and the waking loop",
    timed_scope: "first submit → last submit returned (admission only); drain checked untimed",
    unit: "ns/task (admission)",
    requires: &[],
    params: rapid_params,
};

fn running_params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(500, 20_000, 80_000);
    vec![Param::new(format!("n={n}"), n)]
}

fn sleeping_params(mode: Mode) -> Vec<Param> {
    // Each round trip costs ~30–65 µs plus the untimed wait for sleep
    // (`docs/REFERENCE-MACHINE.md`).
    let n = mode.pick(20, 100, 400);
    vec![Param::new(format!("n={n}"), n).with_batch(1)]
}

fn burst_params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(1_000, 20_000, 80_000);
    vec![Param::new(format!("n={n}"), n).with_batch(100)]
}

fn rapid_params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(500, 20_000, 80_000);
    vec![Param::new(format!("n={n}"), n)]
}

/// Runs one `wakeup-running` sample.
///
/// # Errors
/// A rejected submit, a lost or extra task, or a timeout.
pub fn run_running<L: EventLoop>(
    param: &Param,
    config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    sample_with_loop::<L>(config, n, |lp, c| {
        c.expect(n);
        let blocker = Blocker::park_loop(&**lp)?;
        let before = lp.stats();
        let scope = TimedScope::start();
        for _ in 0..n {
            submit_or_fail(&**lp, move || c.task_done())?;
        }
        let measured = scope.stop();
        let after = lp.stats();
        // The loop ran nothing of ours while blocked: proof it was busy the whole window.
        if c.done() != 0 {
            return Err(SampleError::new("a task ran while the loop was supposed to be blocked"));
        }
        blocker.release();
        c.wait_for(n, SAMPLE_TIMEOUT).map_err(|e| SampleError(format!("untimed drain: {e}")))?;
        Ok(TimedBody::new(measured).with_stats_window(before, after))
    })
}

/// Runs one `wakeup-sleeping` sample.
///
/// # Errors
/// The loop never fell asleep, a rejected submit, a lost or extra task, or a timeout.
pub fn run_sleeping<L: EventLoop>(
    param: &Param,
    config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    sample_with_loop::<L>(config, n, |lp, c| {
        let tid = loop_thread_tid(&**lp)?;
        let mut hist = latency_histogram();
        let mut total = NO_TIME;
        let first = lp.stats();
        for i in 1..=n {
            wait_until_asleep(tid, ASLEEP_TIMEOUT)?;
            c.expect(i);
            let scope = TimedScope::start();
            let t0 = Instant::now();
            submit_or_fail(&**lp, move || c.task_done())?;
            c.wait_for(i, SAMPLE_TIMEOUT)?;
            let rtt = t0.elapsed().as_nanos() as u64;
            total = add_measured(total, scope.stop());
            hist.saturating_record(rtt.max(1));
        }
        let last = lp.stats();
        let mut body = TimedBody::new(total).with_latency(hist).with_stats_window(first, last);
        if L::CAPABILITIES.wake_accounting {
            // The loop's own account of the sleeps the /proc check observed: ≈1 per round trip.
            let sleeps = last.sleeps.saturating_sub(first.sleeps) as f64 / n.max(1) as f64;
            body = body.with_metric("sleeps_per_task", "sleeps/task (loop stats)", sleeps);
        }
        Ok(body)
    })
}

/// Runs one `wakeup-rapid` sample.
///
/// # Errors
/// The loop never fell asleep, a rejected submit, a lost or extra task, or a timeout.
pub fn run_rapid<L: EventLoop>(
    param: &Param,
    config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    sample_with_loop::<L>(config, n, |lp, c| {
        let tid = loop_thread_tid(&**lp)?;
        c.expect(n);
        wait_until_asleep(tid, ASLEEP_TIMEOUT)?;
        let before = lp.stats();
        let scope = TimedScope::start();
        for _ in 0..n {
            submit_or_fail(&**lp, move || c.task_done())?;
        }
        let measured = scope.stop();
        let after = lp.stats();
        c.wait_for(n, SAMPLE_TIMEOUT).map_err(|e| SampleError(format!("untimed drain: {e}")))?;
        Ok(TimedBody::new(measured).with_stats_window(before, after))
    })
}
