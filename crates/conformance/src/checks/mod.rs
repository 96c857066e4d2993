//! The checks, one module per group, and the harness they share.
//!
//! Every check is `pub fn check_<name><L: EventLoop>(&CheckContext) -> Result<Report, Violation>`.
//! The harness (`run_check`) runs the body on its own thread with `catch_unwind`, bounded by
//! [`CheckContext::check_bound`]: a panic becomes a [`ViolationKind::Panic`], a hang a
//! [`ViolationKind::Timeout`] naming the phase the check was in. Inside the body every wait is
//! bounded by [`CheckContext::wait_bound`].

pub mod affinity;
pub mod capabilities;
pub mod exactly_once;
pub mod fifo;
pub mod hostile;
pub mod internal;
pub mod lifecycle;
pub mod microtask;
pub mod panic;
pub mod readiness;
pub mod readiness_load;
pub mod reentrancy;
pub mod retention;
pub mod shutdown;
pub mod stats;
pub mod timers;
pub mod wakeup;

use std::fmt::Display;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use loop_api::{EventLoop, RunError, ShutdownError};

use crate::outcome::{CheckContext, Report, Violation, ViolationKind};
use crate::support::{
    Deadline, Gate, Latch, LoopThread, Pending, ProbeSet, WaitError, lock, spawn_bounded,
    wait_for_sleep,
};

/// The state of one running check: context, current phase, and the report being built.
pub(crate) struct Check {
    pub(crate) ctx: CheckContext,
    pub(crate) name: &'static str,
    phase: Arc<Mutex<String>>,
    summary: Vec<String>,
    counts: Vec<(String, u64)>,
    timings: Vec<(String, Duration)>,
    /// Whether waiting for `stats().sleeps` to advance still works for this loop (cleared the
    /// first time it is not observed within the bound).
    sleep_sync: Option<bool>,
}

/// Room for probe submissions made while waiting for a shutdown to be recorded
/// ([`Check::await_stop_recorded`]).
pub(crate) const STOP_PROBES: usize = 200_000;

/// Bound on waiting for a loop to be observed asleep (`stats().sleeps` advancing). Not a
/// violation when exceeded: the check notes it and stops waiting for sleeps.
const SLEEP_OBSERVE_BOUND: Duration = Duration::from_secs(1);

/// Runs `body` as check `name`: on its own thread, panics caught, bounded by the context's
/// `check_bound`, and turns what the body recorded into a [`Report`].
pub(crate) fn run_check<F>(
    ctx: &CheckContext,
    name: &'static str,
    body: F,
) -> Result<Report, Violation>
where
    F: FnOnce(&mut Check) -> Result<(), Violation> + Send + 'static,
{
    let started = Instant::now();
    let phase = Arc::new(Mutex::new(String::from("starting")));
    let mut check = Check {
        ctx: ctx.clone(),
        name,
        phase: phase.clone(),
        summary: Vec::new(),
        counts: Vec::new(),
        timings: Vec::new(),
        sleep_sync: None,
    };
    let violation = |kind, message: String| Violation {
        check: name,
        contender: ctx.contender.clone(),
        kind,
        message,
        phase: Some(lock(&phase).clone()),
    };
    let mut pending = match spawn_bounded(&format!("conformance-{name}"), move || {
        let r = body(&mut check);
        (check, r)
    }) {
        Ok(p) => p,
        Err(e) => return Err(violation(ViolationKind::Setup, format!("cannot spawn: {e}"))),
    };
    match pending.wait(&Deadline::after(ctx.check_bound)) {
        Ok((check, Ok(()))) => Ok(Report {
            check: name,
            contender: ctx.contender.clone(),
            skipped: None,
            summary: check.summary,
            counts: check.counts,
            timings: check.timings,
            elapsed: started.elapsed(),
        }),
        Ok((_, Err(v))) => Err(v),
        Err(WaitError::Panicked(msg)) => Err(violation(
            ViolationKind::Panic,
            format!("the check panicked (typically inside a call into the loop): {msg}"),
        )),
        Err(WaitError::TimedOut(bound)) => Err(violation(
            ViolationKind::Timeout,
            format!(
                "the check did not finish within its bound of {bound:?}: a call into the loop \
                 hung (the check's thread is leaked)"
            ),
        )),
    }
}

/// [`run_check`] if `supported`, else a skipped report naming `capability`.
pub(crate) fn gated<F>(
    ctx: &CheckContext,
    name: &'static str,
    supported: bool,
    capability: &str,
    body: F,
) -> Result<Report, Violation>
where
    F: FnOnce(&mut Check) -> Result<(), Violation> + Send + 'static,
{
    if supported {
        run_check(ctx, name, body)
    } else {
        Ok(Report::skipped(
            name,
            &ctx.contender,
            format!("the contender declares the `{capability}` capability unsupported"),
        ))
    }
}

impl Check {
    fn violation(&self, kind: ViolationKind, message: String) -> Violation {
        Violation {
            check: self.name,
            contender: self.ctx.contender.clone(),
            kind,
            message,
            phase: Some(lock(&self.phase).clone()),
        }
    }

    /// A property violation.
    pub(crate) fn fail(&self, message: impl Display) -> Violation {
        self.violation(ViolationKind::Property, message.to_string())
    }

    /// A bounded wait expired; `missing` says what never happened.
    pub(crate) fn timeout(&self, missing: impl Display) -> Violation {
        self.violation(
            ViolationKind::Timeout,
            format!("after waiting {:?}: {missing}", self.ctx.wait_bound),
        )
    }

    /// The check could not be set up.
    pub(crate) fn setup(&self, message: impl Display) -> Violation {
        self.violation(ViolationKind::Setup, message.to_string())
    }

    /// Maps a [`WaitError`] of `what` to a violation.
    pub(crate) fn wait_error(&self, what: &str, e: WaitError) -> Violation {
        match e {
            WaitError::TimedOut(_) => self.timeout(format!("{what} never returned (hang)")),
            WaitError::Panicked(m) => {
                self.violation(ViolationKind::Panic, format!("{what} panicked: {m}"))
            }
        }
    }

    /// Sets the phase named in violations.
    pub(crate) fn phase(&self, phase: impl Into<String>) {
        *lock(&self.phase) = phase.into();
    }

    /// A deadline of `wait_bound` from now.
    pub(crate) fn deadline(&self) -> Deadline {
        Deadline::after(self.ctx.wait_bound)
    }

    /// `full` at [`Scale::Full`](crate::Scale::Full), `quick` at
    /// [`Scale::Quick`](crate::Scale::Quick).
    pub(crate) fn n(&self, full: usize, quick: usize) -> usize {
        if self.ctx.is_quick() { quick } else { full }
    }

    /// Adds a summary line.
    pub(crate) fn note(&mut self, line: impl Into<String>) {
        self.summary.push(line.into());
    }

    /// Records a count.
    pub(crate) fn count(&mut self, key: impl Into<String>, value: u64) {
        self.counts.push((key.into(), value));
    }

    /// Records a timing.
    pub(crate) fn timing(&mut self, key: impl Into<String>, value: Duration) {
        self.timings.push((key.into(), value));
    }

    /// `L::new(&config)` as an `Arc`.
    pub(crate) fn new_loop<L: EventLoop>(&self) -> Result<Arc<L>, Violation> {
        L::new(&self.ctx.config)
            .map(Arc::new)
            .map_err(|e| self.setup(format!("L::new failed: {e}")))
    }

    /// Spawns the loop thread without waiting for anything.
    pub(crate) fn spawn_run<L: EventLoop>(&self, lp: &Arc<L>) -> Result<LoopThread<L>, Violation> {
        LoopThread::spawn(lp, &format!("loop-{}", self.name), self.ctx.wait_bound)
            .map_err(|e| self.setup(format!("cannot spawn the loop thread: {e}")))
    }

    /// Spawns the loop thread and completes one warm-up round trip (a submitted task that must
    /// run on the loop thread), so the loop is known to be running.
    pub(crate) fn start<L: EventLoop>(&self, lp: &Arc<L>) -> Result<LoopThread<L>, Violation> {
        let mut lt = self.spawn_run(lp)?;
        let (tx, rx) = std::sync::mpsc::channel::<ThreadId>();
        lp.submit(move || {
            let _ = tx.send(std::thread::current().id());
        })
        .map_err(|r| self.fail(format!("warm-up submit on a fresh loop rejected: {}", r.reason)))?;
        match rx.recv_timeout(self.ctx.wait_bound) {
            Ok(t) if t == lt.thread_id() => Ok(lt),
            Ok(t) => Err(self.fail(format!(
                "warm-up task ran on thread {t:?}, not on the loop thread {:?}",
                lt.thread_id()
            ))),
            Err(_) => {
                if lt.has_returned() {
                    let r = lt.join(&self.deadline());
                    return Err(
                        self.fail(format!("run() returned before running the warm-up task: {r:?}"))
                    );
                }
                Err(self.timeout("the warm-up task submitted right after run() started never ran"))
            }
        }
    }

    /// Calls `f` on a helper thread and waits for it with the wait bound.
    pub(crate) fn bounded<R, F>(&self, what: &str, f: F) -> Result<R, Violation>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let mut p = spawn_bounded(&format!("conformance-{}", self.name), f)
            .map_err(|e| self.setup(format!("cannot spawn a thread for {what}: {e}")))?;
        p.wait(&self.deadline()).map_err(|e| self.wait_error(what, e))
    }

    /// Starts `f` on a helper thread; the caller awaits it.
    pub(crate) fn spawn<R, F>(&self, what: &str, f: F) -> Result<Pending<R>, Violation>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        spawn_bounded(&format!("conformance-{}", self.name), f)
            .map_err(|e| self.setup(format!("cannot spawn a thread for {what}: {e}")))
    }

    /// Runs `f(0..n)` on `n` threads released together by a latch, and collects their results in
    /// order ([`Check::start_parallel`] then [`Check::collect`]).
    pub(crate) fn parallel<R, F>(&self, what: &str, n: usize, f: F) -> Result<Vec<R>, Violation>
    where
        R: Send + 'static,
        F: Fn(usize) -> R + Send + Sync + 'static,
    {
        let pending = self.start_parallel(what, n, f)?;
        self.collect(what, pending)
    }

    /// Starts `f(0..n)` on `n` threads and releases them together (a latch); the caller collects
    /// them with [`Check::collect`].
    pub(crate) fn start_parallel<R, F>(
        &self,
        what: &str,
        n: usize,
        f: F,
    ) -> Result<Vec<Pending<Option<R>>>, Violation>
    where
        R: Send + 'static,
        F: Fn(usize) -> R + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let latch = Arc::new(Latch::new());
        let release_bound = self.ctx.wait_bound;
        let mut pending = Vec::with_capacity(n);
        for k in 0..n {
            let (f, latch) = (f.clone(), latch.clone());
            pending.push(self.spawn(what, move || {
                if latch.wait(&Deadline::after(release_bound)) { Some(f(k)) } else { None }
            })?);
        }
        latch.open();
        Ok(pending)
    }

    /// Awaits threads started by [`Check::start_parallel`], with one shared wait bound; a thread
    /// that does not return is a timeout naming `what` and its index.
    pub(crate) fn collect<R>(
        &self,
        what: &str,
        pending: Vec<Pending<Option<R>>>,
    ) -> Result<Vec<R>, Violation> {
        let n = pending.len();
        let deadline = self.deadline();
        let mut out = Vec::with_capacity(n);
        for (k, mut p) in pending.into_iter().enumerate() {
            match p.wait(&deadline) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => return Err(self.setup(format!("{what} #{k} was never released"))),
                Err(WaitError::TimedOut(_)) => {
                    return Err(self.timeout(format!(
                        "{what} #{k} of {n} never returned ({k} returned before it)"
                    )));
                }
                Err(e) => return Err(self.wait_error(&format!("{what} #{k}"), e)),
            }
        }
        Ok(out)
    }

    /// Calls `shutdown(wait_bound)` on a helper thread; it must return `Ok(())`; then `run` must
    /// return `Ok(())`.
    pub(crate) fn stop<L: EventLoop>(&self, lt: &mut LoopThread<L>) -> Result<(), Violation> {
        let l = lt.event_loop().clone();
        let bound = self.ctx.wait_bound;
        let r = self.bounded("shutdown()", move || l.shutdown(bound))?;
        if let Err(e) = r {
            return Err(self.fail(format!("shutdown() on a running loop returned Err({e:?}): {e}")));
        }
        self.join_ok(lt)
    }

    /// `run` must return `Ok(())` within the wait bound.
    pub(crate) fn join_ok<L: EventLoop>(&self, lt: &mut LoopThread<L>) -> Result<(), Violation> {
        match lt.join(&self.deadline()) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.fail(format!(
                "run() returned Err({e:?}) (\"{e}\") after the loop was stopped; expected Ok(())"
            ))),
            Err(WaitError::TimedOut(_)) => {
                Err(self.timeout("run() did not return after the loop was stopped"))
            }
            Err(WaitError::Panicked(m)) => Err(self.violation(
                ViolationKind::Panic,
                format!("a panic escaped run() on the loop thread: {m}"),
            )),
        }
    }

    /// Submits a barrier task and waits until it runs; the loop is then busy until the gate is
    /// released (or dropped).
    pub(crate) fn block<L: EventLoop>(&self, lp: &Arc<L>) -> Result<Gate, Violation> {
        let (gate, task) = Gate::new(self.ctx.check_bound);
        lp.submit(task)
            .map_err(|r| self.fail(format!("submit of the barrier task rejected: {}", r.reason)))?;
        if !gate.wait_entered(&self.deadline()) {
            return Err(self.timeout("the barrier task submitted to a running loop never started"));
        }
        Ok(gate)
    }

    /// After `shutdown` was started on another thread, waits until the loop records the stop:
    /// probe submissions (ids from `next_id` in `probes`) are made until one is rejected. Returns
    /// the ids that were accepted meanwhile (they must run like any accepted task).
    pub(crate) fn await_stop_recorded<L: EventLoop>(
        &self,
        lp: &Arc<L>,
        probes: &Arc<ProbeSet>,
        next_id: usize,
    ) -> Result<std::ops::Range<usize>, Violation> {
        let deadline = self.deadline();
        let mut id = next_id;
        loop {
            if id >= probes.capacity() || deadline.expired() {
                return Err(self.timeout(format!(
                    "shutdown() was called but submissions were still accepted ({} probe \
                     submissions accepted after the call); the loop must stop accepting",
                    id - next_id
                )));
            }
            match lp.submit(probes.task(id)) {
                Ok(()) => {
                    id += 1;
                    std::thread::yield_now();
                }
                Err(r) => {
                    if r.reason != loop_api::RejectReason::Terminated {
                        return Err(self.fail(format!(
                            "a submission after shutdown() was rejected with `{}`, expected \
                             \"{}\"",
                            r.reason,
                            loop_api::TERMINATED_MESSAGE
                        )));
                    }
                    return Ok(next_id..id);
                }
            }
        }
    }

    /// Whether waiting for `stats().sleeps` is usable for this loop.
    fn sleep_sync_enabled<L: EventLoop>(&self) -> bool {
        L::CAPABILITIES.wake_accounting && self.sleep_sync != Some(false)
    }

    /// Waits (bounded) until the loop went to sleep after `since` was read on the loop thread.
    /// Returns whether it was observed. Only for loops declaring `wake_accounting`; the first
    /// miss disables further waiting and adds a note.
    pub(crate) fn await_sleep_after<L: EventLoop>(&mut self, lp: &L, since: u64) -> bool {
        if !self.sleep_sync_enabled::<L>() {
            return false;
        }
        let ok = wait_for_sleep(lp, since, &Deadline::after(SLEEP_OBSERVE_BOUND));
        if ok {
            self.sleep_sync = Some(true);
        } else {
            self.sleep_sync = Some(false);
            self.note(format!(
                "stats().sleeps did not advance within {SLEEP_OBSERVE_BOUND:?} of the loop going \
                 idle; later rounds do not wait for the loop to sleep"
            ));
        }
        ok
    }

    /// Makes sure the (running, idle) loop is asleep where that can be observed: a round trip
    /// reads `stats().sleeps` on the loop thread, then waits until it advances. Returns whether
    /// sleep was observed.
    pub(crate) fn ensure_asleep<L: EventLoop>(&mut self, lp: &Arc<L>) -> Result<bool, Violation> {
        if !self.sleep_sync_enabled::<L>() {
            return Ok(false);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let l = lp.clone();
        lp.submit(move || {
            let _ = tx.send(l.stats().sleeps);
        })
        .map_err(|r| self.fail(format!("submit to an idle running loop rejected: {}", r.reason)))?;
        let since = rx
            .recv_timeout(self.ctx.wait_bound)
            .map_err(|_| self.timeout("a task submitted to an idle loop never ran"))?;
        Ok(self.await_sleep_after(&**lp, since))
    }
}

/// Shorthand for `shutdown` results in messages.
pub(crate) fn describe_shutdown(r: &Result<(), ShutdownError>) -> String {
    match r {
        Ok(()) => "Ok(())".to_owned(),
        Err(e) => format!("Err({e:?}) (\"{e}\")"),
    }
}

/// Shorthand for `run` results in messages.
pub(crate) fn describe_run(r: &Result<(), RunError>) -> String {
    match r {
        Ok(()) => "Ok(())".to_owned(),
        Err(e) => format!("Err({e:?}) (\"{e}\")"),
    }
}
