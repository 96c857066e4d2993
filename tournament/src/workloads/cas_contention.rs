//! `cas-contention` and `cas-contention-latency`: N producers released together hammer the
//! loop's ingress (the historical `MicroCASContention`, `docs/HISTORY.md`, corrected: exact
//! split, every task drained and checked, nearest-rank percentiles from a real histogram).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;
use loop_api::{EventLoop, LoopConfig};

use super::support::Producers;
use super::{
    Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, latency_histogram, sample_with_loop,
};
use crate::harness::{Completion, SAMPLE_TIMEOUT, SampleError, TimedScope, producer_split};

/// Producer counts of both variants.
const PRODUCERS: [usize; 6] = [1, 2, 4, 8, 16, 32];

/// Registry entry of the throughput (admission-only) variant.
pub const THROUGHPUT: WorkloadSpec = WorkloadSpec {
    id: "cas-contention",
    description: "N producer threads released together by a start gate submit tasks back to back \
                  (exact split); measures the cost of admission under ingress contention",
    timed_scope: "gate release → every producer returned from its last submit (admission only); \
                  the drain is awaited and checked untimed",
    unit: "ns/task (admission)",
    requires: &[],
    params: throughput_params,
};

/// Registry entry of the latency variant.
pub const LATENCY: WorkloadSpec = WorkloadSpec {
    id: "cas-contention-latency",
    description: "N producer threads released together, each doing serialized round trips \
                  (submit one task, wait until it ran); every round trip goes into the histogram",
    timed_scope: "gate release → the last task observed complete; histogram: each round trip, \
                  just before submit → its task observed complete by its producer",
    unit: "ns/task",
    requires: &[],
    params: latency_params,
};

fn throughput_params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(640, 100_000, 400_000);
    PRODUCERS.iter().map(|&p| Param::new(format!("p={p:02}"), n).with_producers(p)).collect()
}

fn latency_params(mode: Mode) -> Vec<Param> {
    // Round trips cost 1–65 µs each (a sleeping loop pays a futex round trip), so far fewer.
    let n = mode.pick(64, 320, 1_280);
    PRODUCERS.iter().map(|&p| Param::new(format!("p={p:02}"), n).with_producers(p)).collect()
}

/// Runs one throughput sample.
///
/// # Errors
/// A rejected submit (any producer), a lost or extra task, or a timeout.
pub fn run_throughput<L: EventLoop>(
    param: &Param,
    config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    let shares = producer_split(n, param.producers.max(1));
    sample_with_loop::<L>(config, n, |lp, c| {
        c.expect(n);
        // Producers report here once their last submit returned: the end of admission.
        let admitted = Completion::leak();
        admitted.expect(shares.len() as u64);
        let lp2 = Arc::clone(lp);
        let mut group = Producers::spawn(&shares, move |_, share| {
            for _ in 0..share {
                if let Err(r) = lp2.submit(move || c.task_done()) {
                    c.fail(format!("submit rejected: {}", r.reason));
                    admitted.fail(format!("submit rejected: {}", r.reason));
                    return;
                }
            }
            admitted.task_done();
        })?;
        let before = lp.stats();
        let scope = TimedScope::start();
        group.release();
        let waited = admitted.wait_for(shares.len() as u64, SAMPLE_TIMEOUT);
        let measured = scope.stop();
        let after = lp.stats();
        group.join()?;
        waited?;
        c.wait_for(n, SAMPLE_TIMEOUT).map_err(|e| SampleError(format!("untimed drain: {e}")))?;
        Ok(TimedBody::new(measured).with_stats_window(before, after))
    })
}

/// Runs one latency sample.
///
/// # Errors
/// A rejected submit (any producer), a lost or extra task, or a timeout.
pub fn run_latency<L: EventLoop>(
    param: &Param,
    config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    let shares = producer_split(n, param.producers.max(1));
    sample_with_loop::<L>(config, n, |lp, c| {
        c.expect(n);
        // One histogram per producer (≈220 KB each), allocated here, before the gate, so no
        // allocation of that size lands in the timed scope; each producer locks only its own.
        let hists: Arc<Vec<Mutex<Histogram<u64>>>> =
            Arc::new(shares.iter().map(|_| Mutex::new(latency_histogram())).collect());
        let (lp2, slots) = (Arc::clone(lp), Arc::clone(&hists));
        let mut group = Producers::spawn(&shares, move |index, share| {
            let Ok(mut hist) = slots[index].lock() else {
                c.fail("latency histogram poisoned");
                return;
            };
            // Each producer waits on its own completion (it is that completion's waiter).
            let mine = Completion::leak();
            for i in 1..=share {
                mine.expect(i);
                let t0 = Instant::now();
                let task = move || {
                    mine.task_done();
                    c.task_done();
                };
                if let Err(r) = lp2.submit(task) {
                    c.fail(format!("submit rejected: {}", r.reason));
                    return;
                }
                if let Err(e) = mine.wait_for(i, SAMPLE_TIMEOUT) {
                    c.fail(e.0);
                    return;
                }
                hist.saturating_record((t0.elapsed().as_nanos() as u64).max(1));
            }
        })?;
        let scope = TimedScope::start();
        group.release();
        let waited = c.wait_for(n, SAMPLE_TIMEOUT);
        let measured = scope.stop();
        group.join()?;
        waited?;
        let mut hist = latency_histogram();
        for h in hists.iter() {
            let h = h.lock().map_err(|_| SampleError::new("histogram poisoned"))?;
            hist.add(&*h).map_err(|e| SampleError(format!("merging histograms: {e:?}")))?;
        }
        if hist.len() != n {
            return Err(SampleError(format!("{} round trips recorded for {n} tasks", hist.len())));
        }
        Ok(TimedBody::new(measured).with_latency(hist))
    })
}
