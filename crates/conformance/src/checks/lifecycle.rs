//! Lifecycle: running twice, `close`, dropping an unstopped loop.

use std::sync::Arc;
use std::time::Duration;

use loop_api::{EventLoop, RejectReason, RunError, ShutdownError, TERMINATED_MESSAGE};

use super::{Check, describe_run, describe_shutdown, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::ProbeSet;

/// A far-future timer delay: such a timer is pending for the whole check.
const FAR: Duration = Duration::from_secs(3600);

/// **run_twice**: running a loop twice is an error, never a hang.
///
/// * While the loop runs (warm-up task done), a second `run` on another thread must return
///   `Err(AlreadyRunning)` within the wait bound, and the loop must keep working.
/// * After `shutdown` returned `Ok`, `run` must return `Err(Terminated)` (displaying "loop has been
///   terminated"); `submit` and `submit_internal` must reject with that reason and hand the
///   closure back alive; a further `shutdown` returns `Ok(())`; `close` returns 0.
/// * On a loop stopped by `close`, `run` returns `Ok(())` and a later `run` `Err(Terminated)`.
pub fn check_run_twice<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "run_twice", |c| {
        c.phase("second run() while the loop runs");
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let l = lp.clone();
        let r = c.bounded("a second concurrent run()", move || l.run())?;
        match r {
            Err(RunError::AlreadyRunning) => {}
            other => {
                return Err(c.fail(format!(
                    "a second run() while the loop was running returned {}; expected \
                     Err(AlreadyRunning)",
                    describe_run(&other)
                )));
            }
        }
        let probes = ProbeSet::new(8);
        lp.submit(probes.task(0))
            .map_err(|r| c.fail(format!("submit after the second run() rejected: {}", r.reason)))?;
        probes.wait_ran(1, &c.deadline()).map_err(|_| {
            c.timeout("the loop stopped running tasks after a second run() was refused")
        })?;
        c.stop(&mut lt)?;

        c.phase("run() after the loop terminated");
        let l = lp.clone();
        let r = c.bounded("run() after termination", move || l.run())?;
        match &r {
            Err(e @ RunError::Terminated) if e.to_string().contains(TERMINATED_MESSAGE) => {}
            _ => {
                return Err(c.fail(format!(
                    "run() after shutdown completed returned {}; expected Err(Terminated)",
                    describe_run(&r)
                )));
            }
        }
        expect_terminated(c, &lp, &probes, 1, false, "after shutdown completed")?;
        expect_terminated(c, &lp, &probes, 2, true, "after shutdown completed")?;
        let (l, bound) = (lp.clone(), c.ctx.wait_bound);
        let r = c.bounded("shutdown() after termination", move || l.shutdown(bound))?;
        if r.is_err() {
            return Err(c.fail(format!(
                "shutdown() on a loop already shut down returned {}; expected Ok(())",
                describe_shutdown(&r)
            )));
        }
        let l = lp.clone();
        let dropped = c.bounded("close() after termination", move || l.close())?;
        if dropped != 0 {
            return Err(
                c.fail(format!("close() after a completed shutdown dropped {dropped} tasks"))
            );
        }

        c.phase("run() after close()");
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let l = lp.clone();
        c.bounded("close()", move || l.close())?;
        c.join_ok(&mut lt)?;
        let l = lp.clone();
        let r = c.bounded("run() after close", move || l.run())?;
        if !matches!(r, Err(RunError::Terminated)) {
            return Err(c.fail(format!(
                "run() after close() returned {}; expected Err(Terminated)",
                describe_run(&r)
            )));
        }
        c.note(
            "second concurrent run(): AlreadyRunning; run() after shutdown or close: Terminated",
        );
        c.note("submissions after termination rejected as terminated with the closure handed back");
        Ok(())
    })
}

/// Submits probe `id` (internally if `internal`) and requires a "terminated" rejection that hands
/// the closure back alive.
fn expect_terminated<L: EventLoop>(
    c: &Check,
    lp: &Arc<L>,
    probes: &Arc<ProbeSet>,
    id: usize,
    internal: bool,
    when: &str,
) -> Result<(), Violation> {
    let what = if internal { "submit_internal" } else { "submit" };
    let r = if internal { lp.submit_internal(probes.task(id)) } else { lp.submit(probes.task(id)) };
    match r {
        Ok(()) => {
            Err(c.fail(format!("{what} {when} was accepted; expected a terminated rejection")))
        }
        Err(r) => {
            if r.reason != RejectReason::Terminated || !r.to_string().contains(TERMINATED_MESSAGE) {
                return Err(c.fail(format!(
                    "{what} {when} was rejected with `{r}`; expected \"{TERMINATED_MESSAGE}\""
                )));
            }
            if probes.drops_of(id) != 0 || probes.runs_of(id) != 0 {
                return Err(c.fail(format!(
                    "{what} {when}: the rejected closure was run or dropped by the loop instead of \
                     being handed back"
                )));
            }
            drop(r);
            if probes.drops_of(id) != 1 {
                return Err(
                    c.fail(format!("{what} {when}: the handed-back closure is not the one given"))
                );
            }
            Ok(())
        }
    }
}

/// Queues, on `lp`, external, internal, microtask (if supported) and timer (if supported) probes
/// starting at `first`; returns how many were accepted (all must be).
fn queue_everything<L: EventLoop>(
    c: &Check,
    lp: &Arc<L>,
    probes: &Arc<ProbeSet>,
    first: usize,
    n_ext: usize,
    n_other: usize,
) -> Result<usize, Violation> {
    let caps = L::CAPABILITIES;
    let mut id = first;
    for _ in 0..n_ext {
        lp.submit(probes.task(id))
            .map_err(|r| c.fail(format!("submit #{id} rejected: {}", r.reason)))?;
        id += 1;
    }
    for _ in 0..n_other {
        lp.submit_internal(probes.task(id))
            .map_err(|r| c.fail(format!("submit_internal #{id} rejected: {}", r.reason)))?;
        id += 1;
    }
    if caps.microtasks {
        for _ in 0..n_other {
            lp.schedule_microtask(probes.task(id))
                .map_err(|r| c.fail(format!("schedule_microtask #{id} rejected: {}", r.reason)))?;
            id += 1;
        }
    }
    if caps.timers {
        for k in 0..n_other.min(20) {
            let delay = if k % 2 == 0 { Duration::ZERO } else { FAR };
            lp.schedule_timer(delay, probes.task(id))
                .map_err(|r| c.fail(format!("schedule_timer #{id} rejected: {}", r.reason)))?;
            id += 1;
        }
    }
    Ok(id - first)
}

/// **close_drops_pending**: `close` drops, never runs, every queued closure, exactly once.
///
/// 1. A barrier task holds the running loop; behind it 1,000 external and 100 internal tasks,
///    100 microtasks (if supported) and 20 timers (if supported: 10 due now, 10 in an hour) are
///    queued. `close()` must return that count; after releasing the barrier none of them may run,
///    `run` returns `Ok(())`, and every one has been dropped exactly once by then (drop
///    counters); `stats().tasks_dropped` equals the count. A second `close()` returns 0;
///    `shutdown` then returns `Err(Closed)`; `submit` is rejected as terminated with the closure
///    handed back.
/// 2. `close()` on a loop that never ran, with 100 tasks queued: returns 100; `run` then returns
///    `Err(Terminated)`; nothing ran; all dropped once.
/// 3. `close()` on an idle running loop returns 0 (1 with a pending far timer, if supported) and
///    `run` returns `Ok(())`.
///
/// Same N in quick mode.
pub fn check_close_drops_pending<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "close_drops_pending", |c| {
        c.phase("part 1: close() with work queued behind a barrier");
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let mut gate = c.block(&lp)?;
        let probes = ProbeSet::new(1_300);
        let pending = queue_everything(c, &lp, &probes, 0, 1_000, 100)?;
        let l = lp.clone();
        let dropped = c.bounded("close()", move || l.close())?;
        let dropped_at_return = probes.dropped_unrun_count();
        if dropped != pending as u64 {
            return Err(c.fail(format!(
                "close() with {pending} closures queued returned {dropped}; expected {pending}"
            )));
        }
        gate.release();
        c.join_ok(&mut lt)?;
        probes.verify_never_ran(0..pending).map_err(|e| {
            c.fail(format!("closures queued when close() was called ran afterwards: {e}"))
        })?;
        let now = probes.dropped_unrun_count();
        if now != pending as u64 {
            return Err(c.fail(format!(
                "only {now} of {pending} closures pending at close() were dropped by the time run() \
                 returned"
            )));
        }
        let stats = lp.stats();
        if stats.tasks_dropped != pending as u64 {
            return Err(c.fail(format!(
                "stats().tasks_dropped = {} after close() dropped {pending}",
                stats.tasks_dropped
            )));
        }
        let l = lp.clone();
        let again = c.bounded("a second close()", move || l.close())?;
        if again != 0 {
            return Err(c.fail(format!("a second close() returned {again}; expected 0")));
        }
        let (l, bound) = (lp.clone(), c.ctx.wait_bound);
        let r = c.bounded("shutdown() after close()", move || l.shutdown(bound))?;
        if r != Err(ShutdownError::Closed) {
            return Err(c.fail(format!(
                "shutdown() after close() returned {}; expected Err(Closed)",
                describe_shutdown(&r)
            )));
        }
        expect_terminated(c, &lp, &probes, 1_250, false, "after close()")?;
        drop(lp);
        drop(lt);
        probes.verify_dropped_once().map_err(|e| c.fail(e))?;
        c.count("part1.dropped", dropped);
        c.count("part1.dropped_before_close_returned", dropped_at_return);
        c.note(format!(
            "part 1: close() dropped all {pending} queued closures ({dropped_at_return} before it \
             returned), none ran; shutdown() after close: Err(Closed)"
        ));

        c.phase("part 2: close() on a loop that never ran");
        let lp = c.new_loop::<L>()?;
        let probes = ProbeSet::new(100);
        for id in 0..100 {
            lp.submit(probes.task(id))
                .map_err(|r| c.fail(format!("submit #{id} before run rejected: {}", r.reason)))?;
        }
        let l = lp.clone();
        let dropped = c.bounded("close() before run", move || l.close())?;
        if dropped != 100 {
            return Err(c.fail(format!("close() before run() with 100 queued returned {dropped}")));
        }
        let l = lp.clone();
        let r = c.bounded("run() after close", move || l.run())?;
        if !matches!(r, Err(RunError::Terminated)) {
            return Err(c.fail(format!(
                "run() on a loop closed before it ran returned {}; expected Err(Terminated)",
                describe_run(&r)
            )));
        }
        probes.verify_never_ran(0..100).map_err(|e| c.fail(e))?;
        drop(lp);
        probes.verify_dropped_once().map_err(|e| c.fail(e))?;
        c.note("part 2: close() before run() dropped all 100; run() then Err(Terminated)");

        c.phase("part 3: close() on an idle running loop");
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let probes = ProbeSet::new(1);
        let mut expect = 0;
        if L::CAPABILITIES.timers {
            lp.schedule_timer(FAR, probes.task(0))
                .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
            expect = 1;
        }
        let l = lp.clone();
        let dropped = c.bounded("close() on an idle loop", move || l.close())?;
        if dropped != expect {
            return Err(
                c.fail(format!("close() on an idle loop returned {dropped}; expected {expect}"))
            );
        }
        c.join_ok(&mut lt)?;
        drop(lp);
        drop(lt);
        probes.verify_dropped_once().map_err(|e| c.fail(e))?;
        c.note("part 3: close() on an idle loop: run() returned Ok(())");
        Ok(())
    })
}

/// **drop_without_shutdown**: dropping a loop that was never shut down neither hangs nor leaks.
///
/// 1. A loop that never ran, with 1,000 external and 100 internal tasks, 100 microtasks (if
///    supported) and 20 timers (if supported) queued, is dropped (its only `Arc`) on a helper
///    thread: the drop must finish within the wait bound, nothing may run, and every closure must
///    be dropped exactly once (drop counters).
/// 2. A fresh, unused loop is dropped within the bound.
///
/// (A loop whose `run` is executing cannot be dropped: the loop thread holds a reference.)
pub fn check_drop_without_shutdown<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "drop_without_shutdown", |c| {
        c.phase("part 1: drop a never-run loop with work queued");
        let lp = c.new_loop::<L>()?;
        let probes = ProbeSet::new(1_300);
        let queued = queue_everything(c, &lp, &probes, 0, 1_000, 100)?;
        c.bounded("drop of the loop", move || drop(lp))?;
        probes
            .verify_never_ran(0..queued)
            .map_err(|e| c.fail(format!("dropping the loop ran tasks: {e}")))?;
        probes
            .verify_dropped_once()
            .map_err(|e| c.fail(format!("after dropping the loop: {e}")))?;
        c.count("dropped", queued as u64);
        c.note(format!(
            "part 1: dropping a never-run loop dropped all {queued} queued closures once"
        ));

        c.phase("part 2: drop an unused loop");
        let lp = c.new_loop::<L>()?;
        c.bounded("drop of an unused loop", move || drop(lp))?;
        c.note("part 2: dropping an unused loop returned promptly");
        Ok(())
    })
}
