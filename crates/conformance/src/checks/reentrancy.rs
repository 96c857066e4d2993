//! Reentrancy: every operation called from inside a task returns (never self-deadlocks).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, OpError, RejectReason, ShutdownError};

use super::{Check, describe_shutdown, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{ProbeSet, Tally, lock};

/// What the calls made from inside a task observed.
#[derive(Default)]
struct Inside {
    problems: Mutex<Vec<String>>,
    followups_expected: AtomicU64,
    followups: Tally,
    timers_accepted: AtomicU64,
    timers_refused: AtomicU64,
    timers_fired: Tally,
    returned: Tally,
}

impl Inside {
    fn problem(&self, p: String) {
        lock(&self.problems).push(p);
    }

    fn followup(self: &Arc<Self>) -> impl FnOnce() + Send + 'static + use<> {
        let s = self.clone();
        move || {
            s.followups.add(1);
        }
    }
}

/// Calls every operation of the trait from inside a task (`label` says which situation).
/// Submissions must be accepted (also while draining: they come from the loop thread); optional
/// operations must be accepted if declared and rejected as unsupported otherwise.
///
/// While `draining`, a timer may also be rejected as terminated (a timer is not a task the drain
/// must run: accepting it could hold the shutdown open for its whole delay); such rejections are
/// counted, not reported as problems.
fn calls_from_inside<L: EventLoop>(
    lp: &Arc<L>,
    st: &Arc<Inside>,
    label: &str,
    fd: Option<RawFd>,
    draining: bool,
) {
    let caps = L::CAPABILITIES;
    let timer_refused = |r: &RejectReason| draining && *r == RejectReason::Terminated;
    match lp.submit(st.followup()) {
        Ok(()) => {
            st.followups_expected.fetch_add(1, Ordering::SeqCst);
        }
        Err(r) => st.problem(format!("{label}: submit rejected: {}", r.reason)),
    }
    match lp.submit_internal(st.followup()) {
        Ok(()) => {
            st.followups_expected.fetch_add(1, Ordering::SeqCst);
        }
        Err(r) => st.problem(format!("{label}: submit_internal rejected: {}", r.reason)),
    }
    match lp.schedule_microtask(st.followup()) {
        Ok(()) if caps.microtasks => {
            st.followups_expected.fetch_add(1, Ordering::SeqCst);
        }
        Err(r) if !caps.microtasks && matches!(r.reason, RejectReason::Unsupported(_)) => {}
        Ok(()) => st.problem(format!(
            "{label}: schedule_microtask accepted although microtasks are declared unsupported"
        )),
        Err(r) => st.problem(format!("{label}: schedule_microtask rejected: {}", r.reason)),
    }
    let s = st.clone();
    let timer = move || {
        s.timers_fired.add(1);
    };
    match lp.schedule_timer(Duration::ZERO, timer) {
        Ok(_) if caps.timers => {
            st.timers_accepted.fetch_add(1, Ordering::SeqCst);
        }
        Err(r) if !caps.timers && matches!(r.reason, RejectReason::Unsupported(_)) => {}
        Ok(_) => st.problem(format!(
            "{label}: schedule_timer accepted although timers are declared unsupported"
        )),
        Err(r) if timer_refused(&r.reason) => {
            st.timers_refused.fetch_add(1, Ordering::SeqCst);
        }
        Err(r) => st.problem(format!("{label}: schedule_timer rejected: {}", r.reason)),
    }
    if caps.timers {
        match lp.schedule_timer(Duration::from_secs(3600), || ()) {
            Ok(id) => {
                if lp.cancel_timer(id) != Ok(true) {
                    st.problem(format!(
                        "{label}: cancel_timer of a pending far timer did not return Ok(true)"
                    ));
                }
                if lp.cancel_timer(id) != Ok(false) {
                    st.problem(format!("{label}: a second cancel_timer did not return Ok(false)"));
                }
            }
            Err(r) if timer_refused(&r.reason) => {}
            Err(r) => st.problem(format!("{label}: schedule_timer (far) rejected: {}", r.reason)),
        }
    }
    if let Some(fd) = fd {
        match lp.register_readable(fd, || ()) {
            Ok(()) => {
                if let Err(e) = lp.unregister(fd) {
                    st.problem(format!("{label}: unregister failed: {e}"));
                }
            }
            Err(r) => st.problem(format!("{label}: register_readable rejected: {}", r.reason)),
        }
    } else if !caps.readiness && !matches!(lp.unregister(0), Err(OpError::Unsupported(_))) {
        st.problem(format!("{label}: unregister did not report Unsupported"));
    }
    let _ = lp.stats();
    let _ = lp.capabilities();
    st.returned.add(1);
}

/// **reentrancy**: operations called from inside tasks never deadlock (regression tests for the
/// Go AlternateOne/AlternateThree bugs where a drained task calling `SubmitInternal`,
/// `ScheduleMicrotask`, `ScheduleTimer` or `Submit` self-deadlocked on the ingress mutex). Five
/// parts, each on a fresh loop, each call bounded by the wait bound:
///
/// 1. From a running task: `submit`, `submit_internal`, `schedule_microtask`, `schedule_timer`
///    (due now, and a far one that is cancelled: `Ok(true)` then `Ok(false)`),
///    `register_readable` + `unregister` on a pipe (if supported), `stats`, `capabilities`. The
///    task must return; everything it submitted must run.
/// 2. The same from a task being drained during `shutdown` (queued behind a barrier, released
///    after the stop was recorded), plus `shutdown(wait_bound)` from inside, which must return
///    `Ok(())` without waiting. Its submissions come from the loop thread, so they must be
///    accepted, and must have run when the outer `shutdown` returns `Ok(())`. A timer it schedules
///    may be accepted (and then fire or be dropped at the stop) or be rejected as terminated; the
///    report counts which.
/// 3. `shutdown` from inside a task returns `Ok(())` promptly; a `submit` after it from the same
///    task is accepted and runs; `run` returns `Ok(())`; a later foreign `shutdown` returns `Ok(())`.
/// 4. `close` from inside a task (10 tasks queued behind it) returns 10 promptly; a `submit` after
///    it is rejected as terminated; the 10 never run and are dropped once; `run` returns `Ok(())`.
/// 5. `close` from inside a task being drained during `shutdown`: returns promptly with the
///    number queued behind it; the outer `shutdown` returns `Ok(())` or `Err(Closed)`; nothing
///    behind it runs; `run` returns `Ok(())`.
pub fn check_reentrancy<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "reentrancy", |c| {
        part_running::<L>(c)?;
        part_draining::<L>(c)?;
        part_shutdown_inside::<L>(c)?;
        part_close_inside::<L>(c, false)?;
        part_close_inside::<L>(c, true)?;
        Ok(())
    })
}

fn finish_inside(c: &Check, st: &Inside, what: &str) -> Result<(), Violation> {
    st.returned.wait_for(1, &c.deadline()).map_err(|_| {
        c.timeout(format!(
            "{what}: the task calling the loop's operations never returned (self-deadlock?)"
        ))
    })?;
    if let Some(p) = lock(&st.problems).first() {
        return Err(c.fail(p.clone()));
    }
    Ok(())
}

fn part_running<L: EventLoop>(c: &mut Check) -> Result<(), Violation> {
    c.phase("part 1: operations called from a running task");
    let lp = c.new_loop::<L>()?;
    let mut lt = c.start(&lp)?;
    let pipe = if L::CAPABILITIES.readiness {
        Some(crate::support::Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?)
    } else {
        None
    };
    let st = Arc::new(Inside::default());
    let (l, s, fd) = (lp.clone(), st.clone(), pipe.as_ref().map(|p| p.read_fd));
    lp.submit(move || calls_from_inside(&l, &s, "from a running task", fd, false))
        .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
    finish_inside(c, &st, "part 1")?;
    let expected = st.followups_expected.load(Ordering::SeqCst);
    st.followups.wait_for(expected, &c.deadline()).map_err(|seen| {
        c.timeout(format!("only {seen} of {expected} callbacks submitted from inside a task ran"))
    })?;
    let timers = st.timers_accepted.load(Ordering::SeqCst);
    st.timers_fired
        .wait_for(timers, &c.deadline())
        .map_err(|_| c.timeout("a timer due now, scheduled from inside a task, never fired"))?;
    c.stop(&mut lt)?;
    c.note(format!(
        "part 1: every operation returned from inside a running task; {expected} follow-ups ran"
    ));
    Ok(())
}

fn part_draining<L: EventLoop>(c: &mut Check) -> Result<(), Violation> {
    c.phase("part 2: operations called from a task drained during shutdown");
    let lp = c.new_loop::<L>()?;
    let mut lt = c.start(&lp)?;
    let mut gate = c.block(&lp)?;
    let st = Arc::new(Inside::default());
    let inner = Arc::new(Mutex::new(None::<(Result<(), ShutdownError>, Duration)>));
    let (l, s, i, bound) = (lp.clone(), st.clone(), inner.clone(), c.ctx.wait_bound);
    lp.submit(move || {
        let t0 = Instant::now();
        let r = l.shutdown(bound);
        *lock(&i) = Some((r, t0.elapsed()));
        calls_from_inside(&l, &s, "from a task drained during shutdown", None, true);
    })
    .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
    let probes = ProbeSet::new(super::STOP_PROBES);
    let l = lp.clone();
    let mut sd = c.spawn("shutdown()", move || l.shutdown(bound))?;
    let extra = c.await_stop_recorded(&lp, &probes, 0)?;
    gate.release();
    finish_inside(c, &st, "part 2")?;
    let r = sd.wait(&c.deadline()).map_err(|e| c.wait_error("shutdown()", e))?;
    if r.is_err() {
        return Err(c.fail(format!(
            "shutdown() returned {} after draining a task that called the loop's operations",
            describe_shutdown(&r)
        )));
    }
    let expected = st.followups_expected.load(Ordering::SeqCst);
    if st.followups.get() != expected {
        return Err(c.fail(format!(
            "shutdown() returned Ok(()) but only {} of {expected} callbacks submitted from a task \
             during the drain had run",
            st.followups.get()
        )));
    }
    match lock(&inner).take() {
        Some((Ok(()), _)) => {}
        Some((r, took)) => {
            return Err(c.fail(format!(
                "shutdown() called from inside a task being drained returned {} after {took:.2?}; \
                 expected Ok(()) at once",
                describe_shutdown(&r)
            )));
        }
        None => return Err(c.fail("the drained task did not record its shutdown() result")),
    }
    c.join_ok(&mut lt)?;
    probes.verify_ran_once(extra.clone(), Some(lt.thread_id())).map_err(|e| c.fail(e))?;
    let (acc, fired) = (st.timers_accepted.load(Ordering::SeqCst), st.timers_fired.get());
    let refused = st.timers_refused.load(Ordering::SeqCst);
    c.count("part2.timers_accepted", acc);
    c.count("part2.timers_fired", fired);
    c.count("part2.timers_refused", refused);
    c.note(format!(
        "part 2: every operation returned from a task drained during shutdown; its {expected} \
         follow-ups ran before shutdown returned; timers due now scheduled while draining: \
         {acc} accepted, {fired} fired, {refused} refused as terminated"
    ));
    Ok(())
}

fn part_shutdown_inside<L: EventLoop>(c: &mut Check) -> Result<(), Violation> {
    c.phase("part 3: shutdown() from inside a task");
    let lp = c.new_loop::<L>()?;
    let mut lt = c.start(&lp)?;
    let (tx, rx) = mpsc::channel();
    let followup = Arc::new(Tally::new());
    let (l, f, bound) = (lp.clone(), followup.clone(), c.ctx.wait_bound);
    lp.submit(move || {
        let t0 = Instant::now();
        let r = l.shutdown(bound);
        let took = t0.elapsed();
        let sub = l
            .submit(move || {
                f.add(1);
            })
            .map_err(|r| r.reason.to_string());
        let _ = tx.send((r, took, sub));
    })
    .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
    let (r, took, sub) = rx.recv_timeout(2 * c.ctx.wait_bound).map_err(|_| {
        c.timeout("a task calling shutdown() from inside the loop never returned (self-deadlock)")
    })?;
    if r.is_err() {
        return Err(c.fail(format!(
            "shutdown() from inside a task returned {} after {took:.2?}; expected Ok(()) at once",
            describe_shutdown(&r)
        )));
    }
    if let Err(e) = sub {
        return Err(c.fail(format!(
            "a submit from the loop thread right after shutdown() from inside a task was rejected \
             ({e}); submissions from the loop thread during the drain must be accepted"
        )));
    }
    c.join_ok(&mut lt)?;
    if followup.get() != 1 {
        return Err(c.fail("a task submitted from the loop thread during the drain never ran"));
    }
    let (l, bound) = (lp.clone(), c.ctx.wait_bound);
    let r = c.bounded("shutdown() after an inside shutdown", move || l.shutdown(bound))?;
    if r.is_err() {
        return Err(c.fail(format!(
            "shutdown() after the loop stopped itself returned {}; expected Ok(())",
            describe_shutdown(&r)
        )));
    }
    c.timing("part3.inside_shutdown_call", took);
    c.note(format!(
        "part 3: shutdown() from inside a task returned Ok in {took:.2?}; run() then returned Ok"
    ));
    Ok(())
}

fn part_close_inside<L: EventLoop>(c: &mut Check, draining: bool) -> Result<(), Violation> {
    let part = if draining {
        "part 5: close() from a task drained during shutdown"
    } else {
        "part 4: close() from inside a task"
    };
    c.phase(part);
    let lp = c.new_loop::<L>()?;
    let mut lt = c.start(&lp)?;
    let mut gate = c.block(&lp)?;
    let behind = 10;
    let probes = ProbeSet::new(behind + 1 + super::STOP_PROBES);
    let (tx, rx) = mpsc::channel();
    let (l, p) = (lp.clone(), probes.clone());
    lp.submit(move || {
        let t0 = Instant::now();
        let n = l.close();
        let took = t0.elapsed();
        let after = match l.submit(p.task(behind)) {
            Ok(()) => Err("accepted".to_owned()),
            Err(r) if r.reason == RejectReason::Terminated => Ok(()),
            Err(r) => Err(format!("rejected with `{}`", r.reason)),
        };
        let _ = tx.send((n, took, after));
    })
    .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
    for id in 0..behind {
        lp.submit(probes.task(id))
            .map_err(|r| c.fail(format!("submit #{id} rejected: {}", r.reason)))?;
    }
    let mut sd = None;
    let mut queued = behind;
    if draining {
        let (l, bound) = (lp.clone(), c.ctx.wait_bound);
        sd = Some(c.spawn("shutdown()", move || l.shutdown(bound))?);
        queued = c.await_stop_recorded(&lp, &probes, behind + 1)?.end - 1;
    }
    gate.release();
    let (n, took, after) = rx.recv_timeout(c.ctx.wait_bound).map_err(|_| {
        c.timeout(format!("{part}: the task calling close() never returned (self-deadlock)"))
    })?;
    if n != queued as u64 {
        return Err(c.fail(format!(
            "close() from inside a task with {queued} tasks queued behind it returned {n}"
        )));
    }
    if let Err(e) = after {
        return Err(c.fail(format!("a submit right after close() from inside a task was {e}; expected a terminated rejection")));
    }
    if let Some(mut sd) = sd {
        let r = sd.wait(&c.deadline()).map_err(|e| c.wait_error("shutdown()", e))?;
        if !matches!(r, Ok(()) | Err(ShutdownError::Closed)) {
            return Err(c.fail(format!(
                "shutdown() interrupted by close() from a drained task returned {}; expected Ok(()) \
                 or Err(Closed)",
                describe_shutdown(&r)
            )));
        }
    }
    c.join_ok(&mut lt)?;
    let ids: Vec<usize> = (0..behind).chain(behind + 1..queued + 1).collect();
    probes
        .verify_never_ran(ids)
        .map_err(|e| c.fail(format!("tasks queued behind close() ran: {e}")))?;
    drop(lp);
    drop(lt);
    probes.verify_dropped_once().map_err(|e| c.fail(e))?;
    c.note(format!("{part}: returned {n} in {took:.2?}; nothing behind it ran, all dropped once"));
    Ok(())
}
