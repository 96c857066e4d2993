//! No lost wake-up: a task submitted to a sleeping loop runs without any further submission.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use loop_api::EventLoop;

use super::{Check, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Deadline, wait_for_sleep};

/// Bound on each round trip (the 5 s), or the context's wait bound if shorter.
const ROUND_TRIP_BOUND: Duration = Duration::from_secs(5);

/// Bound on observing the loop asleep between round trips.
const SLEEP_BOUND: Duration = Duration::from_secs(1);

/// One thread's round trips: `n` times submit a task that reports `stats().sleeps` as read on the
/// loop thread, wait for it (bounded), then (if `sync`) wait until the loop went to sleep again.
/// Returns (rounds observed asleep, max round trip) or a description of the lost round.
fn round_trips<L: EventLoop>(
    lp: &Arc<L>,
    n: usize,
    sync: bool,
    bound: Duration,
    who: &str,
) -> Result<(u64, Duration), String> {
    let (tx, rx) = mpsc::channel::<u64>();
    let mut observed = 0_u64;
    let mut sync = sync;
    let mut max = Duration::ZERO;
    for i in 0..n {
        let (l, tx) = (lp.clone(), tx.clone());
        let t0 = Instant::now();
        if let Err(r) = lp.submit(move || {
            let _ = tx.send(l.stats().sleeps);
        }) {
            return Err(format!("{who}: submit of round trip {i} of {n} rejected: {}", r.reason));
        }
        let sleeps = rx.recv_timeout(bound).map_err(|_| {
            format!(
                "{who}: round trip {i} of {n}: a task submitted to a{} loop did not run within \
                 {bound:?} (lost wake-up)",
                if observed > 0 { " sleeping" } else { "n idle" }
            )
        })?;
        max = max.max(t0.elapsed());
        if sync {
            if wait_for_sleep(&**lp, sleeps, &Deadline::after(SLEEP_BOUND)) {
                observed += 1;
            } else {
                sync = false;
            }
        }
    }
    Ok((observed, max))
}

/// **no_lost_wakeup**: 10,000 sequential round trips from one thread (quick: 300), then 4
/// threads × 2,500 (quick: 4 × 100) concurrently. Each round trip submits one task and waits for
/// it, bounded at 5 s: with no further submission, the task must run (a lost wake-up leaves it
/// queued forever). Between round trips each thread waits (bounded spin/yield, 1 s) until the loop
/// went to sleep after running its task, observed as `stats().sleeps` exceeding the value read by
/// that task on the loop thread — only for loops declaring `wake_accounting`, and only while it
/// is observed (the first miss turns the waiting off and is noted). Ports the retired Go
/// `TestRaceWakeup` and `TestSequential/ConcurrentExternalRoundTrip` without their sleeps.
pub fn check_no_lost_wakeup<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "no_lost_wakeup", |c| {
        let bound = ROUND_TRIP_BOUND.min(c.ctx.wait_bound);
        let sync = L::CAPABILITIES.wake_accounting;
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;

        let n = c.n(10_000, 300);
        c.phase(format!("{n} sequential round trips"));
        let t0 = Instant::now();
        let (observed, max) =
            round_trips(&lp, n, sync, bound, "sequential").map_err(|e| lost(c, e))?;
        c.count("sequential.round_trips", n as u64);
        c.count("sequential.observed_asleep", observed);
        c.timing("sequential.total", t0.elapsed());
        c.timing("sequential.max_round_trip", max);
        c.note(format!(
            "{n} sequential round trips, {observed} with the loop observed asleep before the \
             submit; slowest {max:.2?}"
        ));

        let (threads, per) = (4_usize, c.n(2_500, 100));
        c.phase(format!("{threads} threads × {per} round trips"));
        let t0 = Instant::now();
        let l = lp.clone();
        let results = c.parallel("round-trip thread", threads, move |k| {
            round_trips(&l, per, sync, bound, &format!("thread {k}"))
        })?;
        let mut observed = 0;
        let mut max = Duration::ZERO;
        for r in results {
            let (o, m) = r.map_err(|e| lost(c, e))?;
            observed += o;
            max = max.max(m);
        }
        c.count("concurrent.round_trips", (threads * per) as u64);
        c.count("concurrent.observed_asleep", observed);
        c.timing("concurrent.total", t0.elapsed());
        c.timing("concurrent.max_round_trip", max);
        c.note(format!(
            "{threads} threads × {per} round trips, {observed} with the loop observed asleep; \
             slowest {max:.2?}"
        ));
        if sync && observed == 0 {
            c.note("the loop declares wake_accounting but was never observed asleep (stats().sleeps did not advance)");
        }
        c.stop(&mut lt)?;
        Ok(())
    })
}

/// A lost round trip: a timeout whose message already names its bound.
fn lost(c: &Check, message: String) -> Violation {
    let mut v = c.fail(message);
    v.kind = crate::outcome::ViolationKind::Timeout;
    v
}
