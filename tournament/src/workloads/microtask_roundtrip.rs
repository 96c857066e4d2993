//! `microtask-roundtrip`: serialized round trips through the microtask queue. Per op the harness
//! submits one external task that schedules a microtask, and waits until the microtask ran: the
//! microtask checkpoint after a task, plus one submit round trip. The microtask's own share is
//! taken on the loop thread (task start → microtask start) into the histogram.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use loop_api::{Capability, EventLoop, LoopConfig};

use super::{
    Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, latency_histogram, sample_with_loop,
};
use crate::harness::{SAMPLE_TIMEOUT, SampleError, TimedScope, submit_or_fail};

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "microtask-roundtrip",
    description: "N serialized round trips: submit one task that schedules a microtask, wait until \
                  the microtask ran (2 tasks per round trip: the task and its microtask)",
    timed_scope: "first submit → the last microtask observed complete; histogram: per round \
                  trip, on the loop thread, task start → its microtask start",
    unit: "ns/op (round trip)",
    requires: &[Capability::Microtasks],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    let ops = mode.pick(20, 200, 800);
    vec![Param::new(format!("ops={ops}"), ops * 2).with_batch(2)]
}

/// Runs one sample.
///
/// # Errors
/// A rejected submit or microtask, a lost or extra task, or a timeout.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let ops = param.tasks / 2;
    if ops * 2 != param.tasks {
        return Err(SampleError(format!("tasks {} is not even", param.tasks)));
    }
    let mut hist = latency_histogram();
    sample_with_loop::<L>(config, param.tasks, |lp, c| {
        let handoff: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        let scope = TimedScope::start();
        for op in 1..=ops {
            c.expect(op * 2);
            let lp2 = std::sync::Arc::clone(lp);
            submit_or_fail(&**lp, move || {
                let t0 = Instant::now();
                let micro = move || {
                    handoff.store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    c.task_done();
                };
                if let Err(r) = lp2.schedule_microtask(micro) {
                    c.fail(format!("schedule_microtask rejected: {}", r.reason));
                }
                c.task_done();
            })?;
            c.wait_for(op * 2, SAMPLE_TIMEOUT)?;
            hist.saturating_record(handoff.load(Ordering::Relaxed).max(1));
        }
        Ok(TimedBody::new(scope.stop()).with_latency(hist).with_ops(ops))
    })
}
