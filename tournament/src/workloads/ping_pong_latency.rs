//! `ping-pong-latency`: serialized round trips (submit one task, wait until it ran, repeat), each
//! recorded into an hdrhistogram.

use std::time::Instant;

use loop_api::{EventLoop, LoopConfig};

use super::{
    Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, latency_histogram, sample_with_loop,
};
use crate::harness::{SAMPLE_TIMEOUT, SampleError, TimedScope, submit_or_fail};

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "ping-pong-latency",
    description: "N serialized round trips: submit one task, wait until it ran, repeat",
    timed_scope: "each round trip: just before submit → the task observed complete (histogram); \
                  ns/task is the whole sequence divided by N",
    unit: "ns/task",
    requires: &[],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(200, 3_000, 12_000);
    vec![Param::new(format!("n={n}"), n).with_batch(1)]
}

/// Runs one sample.
///
/// Coordinated omission does not apply: the next request is issued only after the previous one
/// completed by design (closed loop), and the histogram records every round trip.
///
/// # Errors
/// A rejected submit, a lost or extra task, or a timeout.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    let mut hist = latency_histogram();
    sample_with_loop::<L>(config, n, |lp, c| {
        let scope = TimedScope::start();
        for i in 1..=n {
            c.expect(i);
            let t0 = Instant::now();
            submit_or_fail(&**lp, move || c.task_done())?;
            c.wait_for(i, SAMPLE_TIMEOUT)?;
            let rtt = t0.elapsed().as_nanos() as u64;
            hist.saturating_record(rtt.max(1));
        }
        let measured = scope.stop();
        Ok(TimedBody::new(measured).with_latency(hist))
    })
}
