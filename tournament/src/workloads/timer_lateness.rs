//! `timer-lateness`: how late timers fire. N timers are scheduled back to back with deadlines
//! spread evenly ([`BASE`] + i × [`STEP`] after their scheduling instant), so the loop sleeps
//! between most of them; each callback records its lateness (fire instant − deadline). A timer
//! that fires **before** its deadline fails the sample (the contract forbids early firing).
//!
//! The primary metric is the mean lateness (the sample's "wall" is the sum of lateness, so
//! ns/task = mean ns late per timer); the histogram holds every timer's lateness.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loop_api::{Capability, EventLoop, LoopConfig};

use super::{
    Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, latency_histogram, sample_with_loop,
};
use crate::harness::{Measured, SAMPLE_TIMEOUT, SampleError, TimedScope};

/// Delay of the first timer.
pub const BASE: Duration = Duration::from_micros(500);
/// Spacing between consecutive deadlines: longer than a loop's spin-before-sleep (20 µs), so the
/// loop usually sleeps in between and each firing includes a real timed wake-up.
pub const STEP: Duration = Duration::from_micros(50);

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "timer-lateness",
    description: "N timers scheduled back to back at deadlines 500 µs + i × 50 µs ahead; each \
                  callback records how late it fired; firing early fails the sample",
    timed_scope: "lateness of each timer (fire instant on the loop thread − its deadline), summed: \
                  ns/task = mean lateness; CPU and context switches cover scheduling → last fire; \
                  histogram: each timer's lateness",
    unit: "ns/task (mean lateness per timer)",
    requires: &[Capability::Timers],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(20, 100, 400);
    vec![Param::new(format!("n={n}"), n)]
}

/// Runs one sample.
///
/// # Errors
/// A rejected timer, a timer firing early, a lost or extra timer, or a timeout.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    sample_with_loop::<L>(config, n, |lp, c| {
        // Lateness of each timer, ns, written once by its callback (loop thread).
        let late: &'static [AtomicU64] =
            Box::leak((0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>().into_boxed_slice());
        c.expect(n);
        let scope = TimedScope::start();
        for i in 0..n {
            let delay = BASE + STEP * i as u32;
            let deadline = Instant::now() + delay;
            let fire = move || {
                let now = Instant::now();
                match now.checked_duration_since(deadline) {
                    Some(d) => late[i as usize].store(d.as_nanos() as u64, Ordering::Relaxed),
                    None => c.fail(format!(
                        "timer {i} fired {:?} before its deadline",
                        deadline.duration_since(now)
                    )),
                }
                c.task_done();
            };
            lp.schedule_timer(delay, fire)
                .map_err(|r| SampleError(format!("schedule_timer rejected: {}", r.reason)))?;
        }
        c.wait_for(n, SAMPLE_TIMEOUT + BASE + STEP * n as u32)?;
        let whole = scope.stop();
        let mut hist = latency_histogram();
        let mut sum = 0;
        for l in late {
            let ns = l.load(Ordering::Relaxed);
            sum += ns;
            hist.saturating_record(ns.max(1));
        }
        Ok(TimedBody::new(Measured { wall_ns: sum.max(1), ..whole }).with_latency(hist))
    })
}
