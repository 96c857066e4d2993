//! `priority-latency`: does an internal task overtake queued external work, and how long does
//! it wait? (the historical `SchedulerPriorityLatency`, `docs/HISTORY.md`). Per op: the loop
//! is parked inside a task, 64 externals are queued, one internal is submitted, the loop is
//! released; every task is awaited.
//!
//! Reported: the internal's latency (submit_internal → the internal starts, on the loop thread)
//! and the metric `externals_before_internal` (mean per op): 0 when priority is honoured, 64 for
//! contenders without `Capabilities::internal_priority`, whose rows are kept because that is the
//! finding.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use loop_api::{EventLoop, LoopConfig};

use super::support::{Blocker, submit_internal_or_fail};
use super::{
    Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, latency_histogram, sample_with_loop,
};
use crate::harness::{Measured, SAMPLE_TIMEOUT, SampleError, TimedScope, submit_or_fail};

/// Externals queued ahead of the internal.
pub const EXTERNALS: u64 = 64;

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "priority-latency",
    description: "loop parked in a task, 64 externals queued, then one internal submitted and the \
                  loop released; reports the internal's latency and how many externals ran first",
    timed_scope: "per op: just before submit_internal → the internal starts on the loop thread \
                  (includes releasing the loop), summed; CPU and context switches cover the whole \
                  sequence; histogram: each op",
    unit: "ns/op (internal latency)",
    requires: &[],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    let ops = mode.pick(5, 100, 400);
    vec![Param::new(format!("ops={ops}"), ops * (EXTERNALS + 1)).with_batch(EXTERNALS + 1)]
}

/// Runs one sample.
///
/// # Errors
/// A rejected submit, a lost or extra task, or a timeout.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let per_op = EXTERNALS + 1;
    let ops = param.tasks / per_op;
    if ops * per_op != param.tasks {
        return Err(SampleError(format!("tasks {} is not a multiple of {per_op}", param.tasks)));
    }
    let mut hist = latency_histogram();
    sample_with_loop::<L>(config, param.tasks, |lp, c| {
        // Externals run so far, and the sum of externals seen by each internal; written only on
        // the loop thread, read by the harness after the op completed.
        let externals: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        let overtaken: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        let latency_sum: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        let scope = TimedScope::start();
        for op in 1..=ops {
            let blocker = Blocker::park_loop(&**lp)?;
            c.expect(op * per_op);
            let start_externals = externals.load(Ordering::Relaxed);
            for _ in 0..EXTERNALS {
                submit_or_fail(&**lp, move || {
                    externals.fetch_add(1, Ordering::Relaxed);
                    c.task_done();
                })?;
            }
            let before = latency_sum.load(Ordering::Relaxed);
            let t0 = Instant::now();
            submit_internal_or_fail(&**lp, move || {
                latency_sum.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                let ran = externals.load(Ordering::Relaxed) - start_externals;
                overtaken.fetch_add(ran, Ordering::Relaxed);
                c.task_done();
            })?;
            blocker.release();
            c.wait_for(op * per_op, SAMPLE_TIMEOUT)?;
            hist.saturating_record((latency_sum.load(Ordering::Relaxed) - before).max(1));
        }
        let whole = scope.stop();
        let measured = Measured { wall_ns: latency_sum.load(Ordering::Relaxed), ..whole };
        let before_internal = overtaken.load(Ordering::Relaxed) as f64 / ops.max(1) as f64;
        Ok(TimedBody::new(measured).with_latency(hist).with_ops(ops).with_metric(
            "externals_before_internal",
            "externals/op",
            before_internal,
        ))
    })
}
