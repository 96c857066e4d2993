//! `chain-handoff`: one external task starts a 32-deep chain of internal submissions, each hop
//! submitted from the loop thread by the task before it (the historical
//! `SubmitInternalChainHandoff`, `docs/HISTORY.md`). Measures the loop-thread handoff cost
//! alone: the time is taken on the loop thread, from the start of the root task to the end of
//! the last hop, so the external wake-up that starts each chain is excluded.
//!
//! Contenders without `Capabilities::internal_priority` run `submit_internal` as `submit`; the
//! chain is still a chain of loop-thread handoffs, through their only queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use loop_api::{EventLoop, LoopConfig};

use super::{
    Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, latency_histogram, sample_with_loop,
};
use crate::harness::submit_or_fail;
use crate::harness::{Completion, Measured, SAMPLE_TIMEOUT, SampleError, TimedScope};

/// Internal hops per chain.
pub const DEPTH: u64 = 32;

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "chain-handoff",
    description: "one external task starts a 32-deep chain of submit_internal calls, each hop \
                  submitted by the previous one on the loop thread; chains run one after another",
    timed_scope: "per chain, on the loop thread: root task start → last hop done, summed over \
                  chains (the external wake-up is excluded); CPU and context switches cover the \
                  whole sequence; histogram: each chain's 32 hops",
    unit: "ns/hop",
    requires: &[],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    let chains = mode.pick(10, 300, 1_200);
    vec![Param::new(format!("chains={chains}"), chains * (DEPTH + 1)).with_batch(DEPTH + 1)]
}

/// Hop `left` of a chain that started at `t0` (on the loop thread): submits the next hop, or, at
/// the end, adds the chain's duration to `sum`; then reports itself. The shared loop handle is
/// cloned per hop (an uncontended reference count on the loop thread, the same for every
/// contender).
fn hop<L: EventLoop>(
    lp: std::sync::Arc<L>,
    c: &'static Completion,
    t0: Instant,
    left: u64,
    sum: &'static AtomicU64,
) {
    if left == 0 {
        let ns = t0.elapsed().as_nanos() as u64;
        // Recorded before the final task_done, so the harness sees it once the chain completed.
        sum.fetch_add(ns, Ordering::Relaxed);
        c.task_done();
        return;
    }
    let next = std::sync::Arc::clone(&lp);
    if let Err(r) = lp.submit_internal(move || hop(next, c, t0, left - 1, sum)) {
        c.fail(format!("submit_internal rejected: {}", r.reason));
    }
    c.task_done();
}

/// Runs one sample.
///
/// # Errors
/// A rejected submit (external or internal), a lost or extra task, or a timeout.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let per_chain = DEPTH + 1;
    let chains = param.tasks / per_chain;
    if chains * per_chain != param.tasks {
        return Err(SampleError(format!("tasks {} is not a multiple of {per_chain}", param.tasks)));
    }
    let mut hist = latency_histogram();
    sample_with_loop::<L>(config, param.tasks, |lp, c| {
        let sum: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        let scope = TimedScope::start();
        for i in 1..=chains {
            c.expect(i * per_chain);
            let before = sum.load(Ordering::Relaxed);
            let next = std::sync::Arc::clone(lp);
            submit_or_fail(&**lp, move || hop(next, c, Instant::now(), DEPTH, sum))?;
            c.wait_for(i * per_chain, SAMPLE_TIMEOUT)?;
            hist.saturating_record((sum.load(Ordering::Relaxed) - before).max(1));
        }
        let whole = scope.stop();
        let measured = Measured { wall_ns: sum.load(Ordering::Relaxed), ..whole };
        Ok(TimedBody::new(measured).with_latency(hist).with_ops(chains * DEPTH))
    })
}
