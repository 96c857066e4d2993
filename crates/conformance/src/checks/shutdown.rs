//! Graceful shutdown: conservation, concurrent callers, shutdown before run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, RejectReason, ShutdownError};

use super::{Check, STOP_PROBES, describe_run, describe_shutdown, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Deadline, ProbeSet, spin_until};

/// **shutdown_conservation**: a barrier task holds the loop; N tasks are submitted behind it
/// (all must be accepted); `shutdown(wait_bound)` is called on another thread; once the loop has
/// recorded the stop (a probe submission is rejected with "loop has been terminated"), the
/// barrier is released. `shutdown` must return `Ok(())`, and by then every accepted task (the N
/// plus any probe accepted before the stop) must have run exactly once on the loop thread.
///
/// N = 10,000; quick: 1,000. Ports the Go `TestShutdownPreacceptedConservation`.
pub fn check_shutdown_conservation<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "shutdown_conservation", |c| {
        let n = c.n(10_000, 1_000);
        conservation::<L>(c, n)
    })
}

/// **shutdown_conservation_stress**: [`check_shutdown_conservation`] with N = 100,000
/// (quick: 10,000). Ports the Go `TestShutdownPreacceptedConservationStress`.
pub fn check_shutdown_conservation_stress<L: EventLoop>(
    ctx: &CheckContext,
) -> Result<Report, Violation> {
    run_check(ctx, "shutdown_conservation_stress", |c| {
        let n = c.n(100_000, 10_000);
        conservation::<L>(c, n)
    })
}

fn conservation<L: EventLoop>(c: &mut Check, n: usize) -> Result<(), Violation> {
    c.phase(format!("barrier + {n} queued tasks"));
    let lp = c.new_loop::<L>()?;
    let mut lt = c.start(&lp)?;
    let mut gate = c.block(&lp)?;
    let probes = ProbeSet::new(n + STOP_PROBES);
    for id in 0..n {
        if let Err(r) = lp.submit(probes.task(id)) {
            return Err(
                c.fail(format!("submit #{id} of {n} behind the barrier rejected: {}", r.reason))
            );
        }
    }
    c.phase(format!("shutdown with {n} tasks queued behind the barrier"));
    let (l, bound) = (lp.clone(), c.ctx.wait_bound);
    let mut sd = c.spawn("shutdown()", move || l.shutdown(bound))?;
    let extra = c.await_stop_recorded(&lp, &probes, n)?;
    let accepted = extra.end;
    let t0 = Instant::now();
    gate.release();
    let r = sd.wait(&c.deadline()).map_err(|e| c.wait_error("shutdown()", e))?;
    let drain = t0.elapsed();
    if r.is_err() {
        return Err(c.fail(format!(
            "shutdown() with {accepted} accepted tasks pending returned {}; expected Ok(())",
            describe_shutdown(&r)
        )));
    }
    let ran = probes.ran_count();
    if ran != accepted as u64 {
        return Err(c.fail(format!(
            "shutdown() returned Ok(()) but only {ran} of {accepted} accepted tasks had run ({} \
             lost)",
            accepted as u64 - ran.min(accepted as u64)
        )));
    }
    c.join_ok(&mut lt)?;
    probes.verify_ran_once(0..accepted, Some(lt.thread_id())).map_err(|e| c.fail(e))?;
    drop(lp);
    drop(lt);
    probes.verify_dropped_once().map_err(|e| c.fail(e))?;
    c.count(format!("n_{n}.accepted"), accepted as u64);
    c.count(format!("n_{n}.executed"), ran);
    c.timing(format!("n_{n}.drain"), drain);
    c.note(format!(
        "{n} tasks (+{} accepted probes) queued behind a barrier during shutdown: all ran exactly \
         once, shutdown returned Ok after a {drain:.2?} drain",
        extra.len()
    ));
    Ok(())
}

/// **concurrent_shutdown**: 10 threads released together each call `shutdown(wait_bound)`.
/// Every caller must return, with `Ok(())`, and `run` must return `Ok(())`. Two rounds on fresh
/// loops:
///
/// 1. on an idle running loop (the Go `TestConcurrentShutdown`, which only demanded "no hang";
///    the contract demands `Ok` for every caller);
/// 2. on a loop held busy by a barrier task with 100 tasks queued behind it, so the callers are
///    all waiting for the drain: the barrier is released once every caller is about to call
///    `shutdown` and the stop was recorded; every caller must then get `Ok(())` (a loop that
///    wakes only one waiter fails), and the 100 tasks must have run.
///
/// Same in quick mode.
pub fn check_concurrent_shutdown<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "concurrent_shutdown", |c| {
        let callers = 10;
        c.phase("10 concurrent shutdown() callers on an idle loop");
        concurrent_round::<L>(c, callers)?;
        c.phase("10 concurrent shutdown() callers waiting for a busy loop");
        busy_round::<L>(c, callers)?;
        c.count("callers", callers as u64);
        c.note(format!(
            "{callers} concurrent shutdown() callers all returned Ok(()), on an idle loop and \
             while waiting for a busy loop to drain"
        ));
        Ok(())
    })
}

fn concurrent_round<L: EventLoop>(c: &mut Check, callers: usize) -> Result<(), Violation> {
    let lp = c.new_loop::<L>()?;
    let mut lt = c.start(&lp)?;
    let (l, bound) = (lp.clone(), c.ctx.wait_bound);
    let results = c.parallel("shutdown() caller", callers, move |_| l.shutdown(bound))?;
    expect_all_ok(c, &results)?;
    c.join_ok(&mut lt)
}

fn expect_all_ok(c: &Check, results: &[Result<(), ShutdownError>]) -> Result<(), Violation> {
    let n = results.len();
    for (k, r) in results.iter().enumerate() {
        if r.is_err() {
            return Err(c.fail(format!(
                "concurrent shutdown() caller #{k} of {n} returned {}; every caller must get Ok(())",
                describe_shutdown(r)
            )));
        }
    }
    Ok(())
}

fn busy_round<L: EventLoop>(c: &mut Check, callers: usize) -> Result<(), Violation> {
    let lp = c.new_loop::<L>()?;
    let mut lt = c.start(&lp)?;
    let mut gate = c.block(&lp)?;
    let queued = 100;
    let probes = ProbeSet::new(queued + STOP_PROBES);
    for id in 0..queued {
        lp.submit(probes.task(id))
            .map_err(|r| c.fail(format!("submit #{id} rejected: {}", r.reason)))?;
    }
    let entering = Arc::new(AtomicUsize::new(0));
    let (l, e, bound) = (lp.clone(), entering.clone(), c.ctx.wait_bound);
    let pending = c.start_parallel("shutdown() caller", callers, move |_| {
        e.fetch_add(1, Ordering::SeqCst);
        l.shutdown(bound)
    })?;
    if !spin_until(&c.deadline(), || entering.load(Ordering::SeqCst) == callers) {
        return Err(c.setup("the shutdown() callers were not all started"));
    }
    let extra = c.await_stop_recorded(&lp, &probes, queued)?;
    // Give the callers that are about to call shutdown() the CPU before the drain can finish
    // (not needed for correctness, only to make "all waiting" the likely case).
    for _ in 0..100 {
        std::thread::yield_now();
    }
    gate.release();
    let results = c.collect("shutdown() caller", pending)?;
    expect_all_ok(c, &results)?;
    if probes.ran_count() != extra.end as u64 {
        return Err(c.fail(format!(
            "all shutdown() callers returned Ok(()) but only {} of {} accepted tasks had run",
            probes.ran_count(),
            extra.end
        )));
    }
    c.join_ok(&mut lt)?;
    probes.verify_ran_once(0..extra.end, Some(lt.thread_id())).map_err(|e| c.fail(e))
}

/// **concurrent_shutdown_repeated**: [`check_concurrent_shutdown`] with 3 callers on each of 10
/// fresh loops (quick: 3 loops). Ports the Go `TestConcurrentShutdownRepeated`.
pub fn check_concurrent_shutdown_repeated<L: EventLoop>(
    ctx: &CheckContext,
) -> Result<Report, Violation> {
    run_check(ctx, "concurrent_shutdown_repeated", |c| {
        let loops = c.n(10, 3);
        for i in 0..loops {
            c.phase(format!("loop {i} of {loops}: 3 concurrent shutdown() callers"));
            concurrent_round::<L>(c, 3)?;
        }
        c.count("loops", loops as u64);
        c.note(format!("{loops} fresh loops × 3 concurrent shutdown() callers: all Ok(())"));
        Ok(())
    })
}

/// **concurrent_shutdown_with_submits**: 5 submitter threads (1,000 submits each) race 5
/// `shutdown` callers, all released together; the callers are staggered into the middle of the
/// submissions (each spins, bounded, until 30 %, 35 %, … of them were made), so both acceptances
/// and rejections occur. Two rounds on fresh loops: the loop running freely (the Go
/// `TestConcurrentShutdownWithSubmits`), and the loop held busy by a barrier task until every
/// submitter finished (so accepted tasks pile up and must be drained by the shutdown).
///
/// Requires, in each round: accepted + rejected = 5,000; every rejection says "loop has been
/// terminated" and hands the very closure back (it never ran and was not dropped by the loop);
/// a submitter never gets an acceptance after a rejection; every `shutdown` returns `Ok(())`;
/// accepted == executed, each exactly once on the loop thread; every closure dropped exactly
/// once in the end. Same N in quick mode.
pub fn check_concurrent_shutdown_with_submits<L: EventLoop>(
    ctx: &CheckContext,
) -> Result<Report, Violation> {
    run_check(ctx, "concurrent_shutdown_with_submits", |c| {
        for busy in [false, true] {
            racing_round::<L>(c, busy)?;
        }
        Ok(())
    })
}

fn racing_round<L: EventLoop>(c: &mut Check, busy: bool) -> Result<(), Violation> {
    let (submitters, per, callers) = (5_usize, 1_000_usize, 5_usize);
    let total = submitters * per;
    let round = if busy { "busy" } else { "free" };
    c.phase(format!(
        "{submitters} submitters × {per} racing {callers} shutdown() callers, loop {}",
        if busy { "held busy by a barrier" } else { "running freely" }
    ));
    let lp = c.new_loop::<L>()?;
    let mut lt = c.start(&lp)?;
    let mut gate = if busy { Some(c.block(&lp)?) } else { None };
    let probes = ProbeSet::new(total);
    let progress = Arc::new(AtomicUsize::new(0));
    let (l, p, bound) = (lp.clone(), probes.clone(), c.ctx.wait_bound);
    let mut pending =
        c.start_parallel("submitter or shutdown() caller", submitters + callers, move |k| {
            if k >= submitters {
                // Stagger the callers into the middle of the submissions, so that both
                // acceptances and rejections happen (an idle loop stops accepting at once).
                let start_at = total * 3 / 10 + (k - submitters) * total / 20;
                spin_until(&Deadline::after(bound), || {
                    progress.load(Ordering::Relaxed) >= start_at
                });
                return Role::Shutdown(l.shutdown(bound));
            }
            let mut out = Submitted::default();
            for i in 0..per {
                let id = k * per + i;
                progress.fetch_add(1, Ordering::Relaxed);
                match l.submit(p.task(id)) {
                    Ok(()) => {
                        if !out.rejected.is_empty() {
                            out.accepted_after_rejection += 1;
                        }
                        out.accepted.push(id);
                    }
                    Err(r) => {
                        if r.reason != RejectReason::Terminated {
                            out.bad_reasons.push(r.reason.to_string());
                        }
                        out.rejected.push((id, Box::new(r.task)));
                    }
                }
            }
            Role::Submit(out)
        })?;
    let shutdowns = pending.split_off(submitters);
    let mut results = c.collect("submitter", pending)?;
    // In the busy round the barrier holds the loop until every submitter is done, so the
    // shutdown callers are still waiting for the drain here.
    if let Some(g) = gate.as_mut() {
        g.release();
    }
    results.extend(c.collect("shutdown() caller racing submitters", shutdowns)?);
    let mut accepted = Vec::new();
    let mut returned: Vec<(usize, Box<dyn FnOnce() + Send>)> = Vec::new();
    for (k, r) in results.into_iter().enumerate() {
        match r {
            Role::Shutdown(r) => {
                if r.is_err() {
                    return Err(c.fail(format!(
                        "shutdown() caller #{} racing submitters returned {}; expected Ok(())",
                        k - submitters,
                        describe_shutdown(&r)
                    )));
                }
            }
            Role::Submit(s) => {
                if let Some(reason) = s.bad_reasons.first() {
                    return Err(c.fail(format!(
                        "submitter #{k}: a submission racing shutdown was rejected with \
                         `{reason}`, expected \"{}\"",
                        loop_api::TERMINATED_MESSAGE
                    )));
                }
                if s.accepted_after_rejection > 0 {
                    return Err(c.fail(format!(
                        "submitter #{k}: {} submissions were accepted after an earlier one was \
                         rejected as terminated",
                        s.accepted_after_rejection
                    )));
                }
                accepted.extend(s.accepted);
                for (id, t) in s.rejected {
                    let t: Box<dyn FnOnce() + Send> = t;
                    returned.push((id, t));
                }
            }
        }
    }
    if accepted.len() + returned.len() != total {
        return Err(c.fail(format!(
            "accepted ({}) + rejected ({}) != {total} submissions",
            accepted.len(),
            returned.len()
        )));
    }
    let executed = probes.ran_count();
    if executed != accepted.len() as u64 {
        return Err(c.fail(format!(
            "{} submissions were accepted but {executed} tasks executed when every shutdown() \
             had returned Ok(())",
            accepted.len()
        )));
    }
    c.join_ok(&mut lt)?;
    probes
        .verify_ran_once(accepted.iter().copied(), Some(lt.thread_id()))
        .map_err(|e| c.fail(e))?;
    for (id, _) in &returned {
        if probes.runs_of(*id) != 0 || probes.drops_of(*id) != 0 {
            return Err(c.fail(format!(
                "the closure of rejected submission {id} was run ({}) or dropped ({}) by the \
                 loop although it was handed back to the caller",
                probes.runs_of(*id),
                probes.drops_of(*id)
            )));
        }
    }
    let n_rejected = returned.len();
    drop(returned);
    drop(lp);
    drop(lt);
    probes.verify_dropped_once().map_err(|e| c.fail(e))?;
    c.count(format!("{round}.accepted"), accepted.len() as u64);
    c.count(format!("{round}.rejected"), n_rejected as u64);
    c.count(format!("{round}.executed"), executed);
    c.note(format!(
        "loop {round}: {} accepted (all ran exactly once) + {n_rejected} rejected (all handed \
         back unrun) = {total}; {callers} racing shutdown() callers all Ok(())",
        accepted.len()
    ));
    Ok(())
}

enum Role<T> {
    Submit(Submitted<T>),
    Shutdown(Result<(), ShutdownError>),
}

struct Submitted<T> {
    accepted: Vec<usize>,
    rejected: Vec<(usize, Box<T>)>,
    bad_reasons: Vec<String>,
    accepted_after_rejection: usize,
}

impl<T> Default for Submitted<T> {
    fn default() -> Self {
        Self {
            accepted: Vec::new(),
            rejected: Vec::new(),
            bad_reasons: Vec::new(),
            accepted_after_rejection: 0,
        }
    }
}

/// **shutdown_before_run**: tasks accepted before `run` are never silently lost (regression test
/// for the Go "T28" bug, where shutdown on an unstarted loop marked it terminated without
/// draining). Contract (documented on `EventLoop::shutdown`): shutdown before run records the
/// stop; the next `run` drains everything accepted and returns `Ok(())`; the shutdown caller waits
/// for that, bounded by its timeout. Three parts, each on a fresh loop with 100 external + 20
/// internal tasks accepted before run (same N in quick mode):
///
/// 1. `shutdown(100 ms)` with no `run`: must return `Err(Timeout)` within 100 ms + wait bound
///    (`Ok` would claim a drain that did not happen); later submissions are rejected as
///    terminated; then `run` must drain all 120 on the loop thread and return `Ok(())`.
/// 2. `shutdown(wait_bound)` on another thread; once the stop is recorded (a probe submission is
///    rejected), `run` starts; the waiting `shutdown` must return `Ok(())` and `run` `Ok(())`,
///    every accepted task having run exactly once.
/// 3. No tasks: `shutdown(100 ms)` returns (`Ok` or `Timeout`), then `run` returns `Ok(())`.
pub fn check_shutdown_before_run<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "shutdown_before_run", |c| {
        let (n_ext, n_int) = (100_usize, 20_usize);
        let n = n_ext + n_int;
        let short = Duration::from_millis(100);

        c.phase("part 1: shutdown(100 ms) on a loop that never ran");
        let lp = c.new_loop::<L>()?;
        let probes = ProbeSet::new(n + 1);
        submit_before_run(c, &lp, &probes, n_ext, n_int)?;
        let l = lp.clone();
        let mut sd = c.spawn("shutdown() before run", move || l.shutdown(short))?;
        let r = sd
            .wait(&Deadline::after(short + c.ctx.wait_bound))
            .map_err(|e| c.wait_error("shutdown(100 ms) on a loop that never ran", e))?;
        match r {
            Err(ShutdownError::Timeout) => {}
            Ok(()) => {
                return Err(c.fail(format!(
                    "shutdown() before run() returned Ok(()) although none of the {n} accepted \
                     tasks had run (T28: accepted work silently lost or shutdown lying)"
                )));
            }
            Err(e) => {
                return Err(c.fail(format!(
                    "shutdown(100 ms) before run() returned Err({e:?}); expected Err(Timeout)"
                )));
            }
        }
        match lp.submit(probes.task(n)) {
            Err(r) if r.reason == RejectReason::Terminated => {}
            Err(r) => {
                return Err(c.fail(format!(
                    "a submission after shutdown() (before run) was rejected with `{}`, expected \
                     \"{}\"",
                    r.reason,
                    loop_api::TERMINATED_MESSAGE
                )));
            }
            Ok(()) => {
                return Err(c.fail(
                    "a submission after shutdown() (before run) was accepted; the stop must be \
                     recorded even though the loop never ran",
                ));
            }
        }
        let mut lt = c.spawn_run(&lp)?;
        c.join_ok(&mut lt).map_err(|mut v| {
            v.message += &format!(
                " (T28: run() after shutdown-before-run must drain the {n} accepted tasks)"
            );
            v
        })?;
        probes.verify_ran_once(0..n, Some(lt.thread_id())).map_err(|e| c.fail(e))?;
        drop(lp);
        drop(lt);
        probes.verify_dropped_once().map_err(|e| c.fail(e))?;
        c.note(format!(
            "part 1: shutdown(100 ms) before run timed out; run() then drained all {n} tasks and \
             returned Ok"
        ));

        c.phase("part 2: shutdown(wait bound) waiting for a later run()");
        let lp = c.new_loop::<L>()?;
        let probes = ProbeSet::new(n + STOP_PROBES);
        submit_before_run(c, &lp, &probes, n_ext, n_int)?;
        let (l, bound) = (lp.clone(), c.ctx.wait_bound);
        let mut sd = c.spawn("shutdown() before run", move || l.shutdown(bound))?;
        let extra = c.await_stop_recorded(&lp, &probes, n)?;
        let t0 = Instant::now();
        let mut lt = c.spawn_run(&lp)?;
        let r = sd.wait(&c.deadline()).map_err(|e| c.wait_error("shutdown() before run", e))?;
        if r.is_err() {
            return Err(c.fail(format!(
                "shutdown() called before run() returned {} although run() started and drained; \
                 expected Ok(())",
                describe_shutdown(&r)
            )));
        }
        let ran = probes.ran_count();
        if ran != extra.end as u64 {
            return Err(c.fail(format!(
                "shutdown() returned Ok(()) but only {ran} of {} tasks accepted before run() had \
                 run",
                extra.end
            )));
        }
        c.join_ok(&mut lt)?;
        probes.verify_ran_once(0..extra.end, Some(lt.thread_id())).map_err(|e| c.fail(e))?;
        drop(lp);
        drop(lt);
        probes.verify_dropped_once().map_err(|e| c.fail(e))?;
        c.timing("part2.run_to_shutdown_ok", t0.elapsed());
        c.note(format!(
            "part 2: a shutdown() caller waiting before run() got Ok once run() drained all {} \
             accepted tasks",
            extra.end
        ));

        c.phase("part 3: shutdown(100 ms) before run with nothing queued");
        let lp = c.new_loop::<L>()?;
        let l = lp.clone();
        let r = c.bounded("shutdown(100 ms) before run", move || l.shutdown(short))?;
        if let Err(e) = r {
            if e != ShutdownError::Timeout {
                return Err(c.fail(format!(
                    "shutdown(100 ms) on an empty loop that never ran returned Err({e:?})"
                )));
            }
        }
        let mut lt = c.spawn_run(&lp)?;
        match lt.join(&c.deadline()) {
            Ok(Ok(())) => {}
            Ok(r) => {
                return Err(c.fail(format!(
                    "run() after shutdown-before-run (empty loop) returned {}; expected Ok(())",
                    describe_run(&r)
                )));
            }
            Err(e) => return Err(c.wait_error("run() after shutdown-before-run (empty loop)", e)),
        }
        c.note(format!("part 3: empty loop: shutdown before run returned {r:?}, run() then Ok"));
        Ok(())
    })
}

fn submit_before_run<L: EventLoop>(
    c: &Check,
    lp: &Arc<L>,
    probes: &Arc<ProbeSet>,
    n_ext: usize,
    n_int: usize,
) -> Result<(), Violation> {
    for id in 0..n_ext {
        if let Err(r) = lp.submit(probes.task(id)) {
            return Err(c.fail(format!("submit #{id} before run() rejected: {}", r.reason)));
        }
    }
    for id in n_ext..n_ext + n_int {
        if let Err(r) = lp.submit_internal(probes.task(id)) {
            return Err(
                c.fail(format!("submit_internal #{id} before run() rejected: {}", r.reason))
            );
        }
    }
    Ok(())
}
