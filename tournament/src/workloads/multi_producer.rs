//! `multi-producer`: P producer threads released together by a barrier, exact split of N.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::Instant;

use loop_api::{EventLoop, LoopConfig};

use super::{Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, sample_with_loop};
use crate::harness::{
    SAMPLE_TIMEOUT, SampleError, TimedScope, place_producer_thread, producer_split, submit_or_fail,
};

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "multi-producer",
    description: "P producer threads started together behind a start gate submit N tasks in total \
                  (⌊N/P⌋ each, +1 for the first N mod P)",
    timed_scope: "just before the start gate releases the waiting producers → the last task \
                  observed complete (thread spawn and join are outside)",
    unit: "ns/task",
    requires: &[],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(1_000, 200_000, 800_000);
    [10usize, 100].into_iter().map(|p| Param::new(format!("p={p}"), n).with_producers(p)).collect()
}

/// Runs one sample.
///
/// # Errors
/// A rejected submit (any producer), a lost or extra task, or a timeout.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    let shares = producer_split(n, param.producers.max(1));
    sample_with_loop::<L>(config, n, |lp, c| {
        c.expect(n);
        // The start gate: the harness holds the write lock; every producer announces itself, then
        // blocks on a read lock; dropping the write guard releases them all at once. Unlike a
        // `Barrier`, it can also be opened when spawning fails, so no producer is left stuck.
        let gate = Arc::new(RwLock::new(()));
        let ready = Arc::new(AtomicUsize::new(0));
        let closed = gate.write().map_err(|_| SampleError::new("start gate poisoned"))?;
        let mut producers = Vec::with_capacity(shares.len());
        for (i, share) in shares.iter().copied().enumerate() {
            let (lp, gate, ready) = (Arc::clone(lp), Arc::clone(&gate), Arc::clone(&ready));
            let spawned = thread::Builder::new().name("producer".into()).spawn(move || {
                ready.fetch_add(1, Ordering::AcqRel);
                drop(gate.read());
                for _ in 0..share {
                    if let Err(e) = submit_or_fail(&*lp, move || c.task_done()) {
                        c.fail(e.0);
                        return;
                    }
                }
            });
            match spawned {
                Ok(h) => {
                    // Pinned or unpinned by the harness's placement rule (`harness::Placement`).
                    let placed = place_producer_thread(&h, i, shares.len());
                    producers.push(h);
                    if let Err(e) = placed {
                        c.fail(e.0);
                        break;
                    }
                }
                Err(e) => {
                    c.fail(format!("spawning producer threads failed: {e}"));
                    break;
                }
            }
        }
        // Wait (bounded, untimed) until every producer is parked at the gate.
        let deadline = Instant::now() + SAMPLE_TIMEOUT;
        while ready.load(Ordering::Acquire) < producers.len() && Instant::now() < deadline {
            thread::yield_now();
        }
        let scope = TimedScope::start();
        drop(closed);
        let waited = c.wait_for(n, SAMPLE_TIMEOUT);
        let measured = scope.stop();
        for p in producers {
            p.join().map_err(|_| SampleError::new("a producer thread panicked"))?;
        }
        waited?;
        Ok(TimedBody::new(measured))
    })
}
