//! Hostile use: what a user who does not read the manual does to a loop — concurrent `close`
//! callers, a loop run inside a task of another loop, extreme configurations, closures whose
//! destructors panic or call back into the loop, panic payloads whose own `Drop` panics, and
//! `unregister` from a foreign thread while the callback runs. Each check holds a contender to
//! a sentence of the `loop-api` docs: "Panics in destructors" and "Nesting" on `EventLoop`,
//! `EventLoop::close`, `EventLoop::unregister` and `LoopConfig`; each of those sentences names
//! its check.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, LoopConfig};

use super::panic::INTENTIONAL_PANIC;
use super::{Check, describe_run, describe_shutdown, gated, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{
    Deadline, LoopThread, Pipe, ProbeSet, Tally, WaitError, drain_fd, lock, spin_until,
};

/// A far-future delay: such a timer is pending for the whole check.
const FAR: Duration = Duration::from_secs(3600);

/// A value whose destructor panics (with [`INTENTIONAL_PANIC`] in the message).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{INTENTIONAL_PANIC} (in a destructor)");
    }
}

/// A panic payload whose own `Drop` panics: whoever catches the first panic and drops the
/// payload meets a second one.
struct PanickyPayload;

impl Drop for PanickyPayload {
    fn drop(&mut self) {
        panic!("{INTENTIONAL_PANIC} (in the Drop of a panic payload)");
    }
}

/// A closure that runs probe `id` and whose destructor panics if it is dropped unrun (when it
/// runs, the closure is consumed and only the probe's run is recorded).
fn panicky_probe(probes: &Arc<ProbeSet>, id: usize) -> impl FnOnce() + Send + 'static + use<> {
    let p = probes.probe(id);
    let bomb = PanicOnDrop;
    move || {
        std::mem::forget(bomb);
        p.run();
    }
}

/// **close_concurrent**: `close` called by several threads at once, while the loop is busy
/// running a long queue of tiny tasks. The contract: every caller returns only once no queued
/// task can start any more; after *any* `close` call has returned, at most one more task starts
/// (the one the loop thread had already taken, `EventLoop::close`). Also: the returns add up
/// to the tasks that never started, exactly one caller returns a non-zero count (when anything
/// was dropped), `run` returns `Ok(())`, and every closure is dropped exactly once.
///
/// 10 rounds of 100,000 tasks and 4 closers released together once 100 tasks ran (quick: 2
/// rounds of 20,000).
pub fn check_close_concurrent<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "close_concurrent", |c| {
        let (rounds, n) = (c.n(10, 2), c.n(100_000, 20_000));
        let closers = 4;
        let mut worst = 0_u64;
        let mut total_dropped = 0_u64;
        for round in 0..rounds {
            c.phase(format!("round {round}: {closers} concurrent close() over {n} queued tasks"));
            let lp = c.new_loop::<L>()?;
            let mut lt = c.start(&lp)?;
            let mut gate = c.block(&lp)?;
            let probes = ProbeSet::new(n);
            for id in 0..n {
                lp.submit(probes.task(id))
                    .map_err(|r| c.fail(format!("submit #{id} rejected: {}", r.reason)))?;
            }
            gate.release();
            if probes.wait_ran(100.min(n as u64), &c.deadline()).is_err() {
                return Err(c.timeout("the queued tasks did not start running"));
            }
            let (l, p) = (lp.clone(), probes.clone());
            let results = c.parallel("close()", closers, move |_| {
                let dropped = l.close();
                (dropped, p.ran_count())
            })?;
            c.join_ok(&mut lt)?;
            let started = probes.ran_count();
            for (k, &(dropped, at_return)) in results.iter().enumerate() {
                let late = started - at_return;
                worst = worst.max(late);
                if late > 1 {
                    return Err(c.fail(format!(
                        "{late} tasks started after close() #{k} (of {closers} concurrent \
                         callers) had returned {dropped}; at most one (the task the loop had \
                         already taken) may"
                    )));
                }
            }
            let sum: u64 = results.iter().map(|r| r.0).sum();
            let nonzero = results.iter().filter(|r| r.0 != 0).count();
            if sum != n as u64 - started {
                return Err(c.fail(format!(
                    "{started} of {n} tasks started, but the {closers} close() calls returned \
                     {:?} (sum {sum}, expected {})",
                    results.iter().map(|r| r.0).collect::<Vec<_>>(),
                    n as u64 - started
                )));
            }
            if nonzero > 1 {
                return Err(c.fail(format!(
                    "{nonzero} of {closers} concurrent close() calls returned a non-zero count: \
                     {:?}; only the first may",
                    results.iter().map(|r| r.0).collect::<Vec<_>>()
                )));
            }
            total_dropped += sum;
            drop(lp);
            drop(lt);
            probes.verify_dropped_once().map_err(|e| c.fail(e))?;
        }
        c.count("rounds", rounds as u64);
        c.count("dropped", total_dropped);
        c.count("max_started_after_a_close_returned", worst);
        c.note(format!(
            "{rounds} rounds of {closers} concurrent close(): at most {worst} task started after \
             a close() returned; counts exact, every closure dropped once"
        ));
        Ok(())
    })
}

/// **nested_run**: a loop run to completion *inside a task* of another loop of the same type,
/// on the same thread. When the inner `run` returns, the outer loop must be exactly as before:
/// `shutdown` called from that same outer task only requests the stop (returns `Ok(())` at
/// once, rather than waiting for the very thread that calls it), and the outer loop's
/// drain-time submissions from its own thread (`submit`, `submit_internal`, a microtask if
/// supported) are accepted and run. The inner loop stops by a `shutdown` from inside one of its
/// own tasks and its `run` returns `Ok(())`; a contender that cannot run a loop nested in
/// another may instead have the inner `run` return an error (without panicking; noted).
pub fn check_nested_run<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "nested_run", |c| {
        c.phase("an inner loop run inside a task of the outer loop");
        let outer = c.new_loop::<L>()?;
        let mut lt = c.start(&outer)?;
        let probes = ProbeSet::new(4);
        let config = c.ctx.config.clone();
        let bound = c.ctx.wait_bound;
        let (tx, rx) = mpsc::channel::<Result<String, String>>();
        let (o, p) = (outer.clone(), probes.clone());
        outer
            .submit(move || {
                let _ = tx.send(nested_body(&o, &p, &config, bound));
            })
            .map_err(|r| c.fail(format!("submit of the nesting task rejected: {}", r.reason)))?;
        let note = match rx.recv_timeout(bound.saturating_mul(3)) {
            Ok(Ok(note)) => note,
            Ok(Err(e)) => return Err(c.fail(e)),
            Err(_) => {
                return Err(c.timeout(
                    "the task that ran an inner loop never finished (it panicked or hung)",
                ));
            }
        };
        c.phase("the outer loop drains after the nesting task");
        c.join_ok(&mut lt)?;
        probes.verify_ran_once(0..3, Some(lt.thread_id())).map_err(|e| {
            c.fail(format!(
                "drain-time submissions of the outer loop, made after an inner loop ran: {e}"
            ))
        })?;
        c.note(note);
        Ok(())
    })
}

/// The nesting task's body (on the outer loop's thread): runs an inner loop, then stops the
/// outer one and submits to it. Probes 0..2 (microtask: 2) are the drain-time submissions.
fn nested_body<L: EventLoop>(
    outer: &Arc<L>,
    probes: &Arc<ProbeSet>,
    config: &LoopConfig,
    bound: Duration,
) -> Result<String, String> {
    let inner = Arc::new(L::new(config).map_err(|e| format!("L::new of the inner loop: {e}"))?);
    let inner_ran = Arc::new(AtomicBool::new(false));
    let (i, flag) = (inner.clone(), inner_ran.clone());
    inner
        .submit(move || {
            flag.store(true, Ordering::SeqCst);
            let _ = i.shutdown(Duration::ZERO);
        })
        .map_err(|r| format!("submit to the inner loop rejected: {}", r.reason))?;
    let inner_result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.run()))
        .map_err(|p| {
            format!(
                "the inner loop's run() panicked inside a task of the outer loop: {}",
                crate::support::panic_message(&*p)
            )
        })?;
    let note = match &inner_result {
        Ok(()) if inner_ran.load(Ordering::SeqCst) => "inner run() returned Ok".to_owned(),
        Ok(()) => return Err("the inner loop's run() returned Ok without running its task".into()),
        Err(e) => {
            inner.close();
            format!("inner run() refused to nest: {e}")
        }
    };
    let started = Instant::now();
    let r = outer.shutdown(bound);
    let took = started.elapsed();
    if r.is_err() || took >= bound / 2 {
        return Err(format!(
            "after an inner loop's run() returned ({}), shutdown() called from inside a task of \
             the outer loop returned {} after {took:?}; from inside a task it must only request \
             the stop and return Ok(()) at once",
            describe_run(&inner_result),
            describe_shutdown(&r)
        ));
    }
    outer.submit(probes.task(0)).map_err(|r| {
        format!("the outer loop's own thread, draining, had submit() refused: {}", r.reason)
    })?;
    outer.submit_internal(probes.task(1)).map_err(|r| {
        format!(
            "the outer loop's own thread, draining, had submit_internal() refused: {}",
            r.reason
        )
    })?;
    if L::CAPABILITIES.microtasks {
        outer.schedule_microtask(probes.task(2)).map_err(|r| {
            format!("the outer loop's own thread had schedule_microtask() refused: {}", r.reason)
        })?;
    } else {
        probes.task(2)();
    }
    Ok(format!(
        "{note}; then the outer loop's shutdown() from the same task returned at once and its \
         drain-time submissions ran"
    ))
}

/// **extreme_config**: any configuration keeps the loop live. With
/// `spin_before_sleep = Duration::MAX` and `batch_budget = usize::MAX`, then with
/// `batch_budget = 0` (treated as 1) and no spin: a task round trip, a microtask (if
/// supported), a 20 ms timer (if supported) and a readable pipe (if supported) are each served
/// within the wait bound, and `shutdown` drains. (A loop that spins only on its task queues
/// would leave the timer and the pipe untouched at 100% CPU.)
pub fn check_extreme_config<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "extreme_config", |c| {
        let base = c.ctx.config.clone();
        let configs = [
            (
                "spin_before_sleep = MAX, batch_budget = usize::MAX",
                LoopConfig {
                    spin_before_sleep: Duration::MAX,
                    batch_budget: usize::MAX,
                    ..base.clone()
                },
            ),
            (
                "spin_before_sleep = 0, batch_budget = 0",
                LoopConfig { spin_before_sleep: Duration::ZERO, batch_budget: 0, ..base },
            ),
        ];
        let caps = L::CAPABILITIES;
        for (what, config) in configs {
            c.phase(format!("{what}: start"));
            let lp = L::new(&config)
                .map(Arc::new)
                .map_err(|e| c.setup(format!("L::new({what}) failed: {e}")))?;
            let mut lt = c.start(&lp)?;
            if caps.microtasks {
                c.phase(format!("{what}: a microtask"));
                let t = Arc::new(Tally::new());
                let (l, k) = (lp.clone(), t.clone());
                lp.submit(move || {
                    let _ = l.schedule_microtask(move || {
                        k.add(1);
                    });
                })
                .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
                t.wait_for(1, &c.deadline())
                    .map_err(|_| c.timeout(format!("{what}: a microtask never ran")))?;
            }
            if caps.timers {
                c.phase(format!("{what}: a 20 ms timer"));
                let t = Arc::new(Tally::new());
                let k = t.clone();
                let started = Instant::now();
                lp.schedule_timer(Duration::from_millis(20), move || {
                    k.add(1);
                })
                .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
                t.wait_for(1, &c.deadline()).map_err(|_| {
                    c.timeout(format!("{what}: a timer due in 20 ms had not fired"))
                })?;
                c.timing(format!("{what}: 20 ms timer fired after"), started.elapsed());
            }
            if caps.readiness {
                c.phase(format!("{what}: a readable pipe"));
                let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?;
                let t = Arc::new(Tally::new());
                let (fd, k) = (pipe.read_fd, t.clone());
                lp.register_readable(fd, move || {
                    drain_fd(fd);
                    k.add(1);
                })
                .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
                pipe.write(1).map_err(|e| c.setup(format!("write to pipe failed: {e}")))?;
                t.wait_for(1, &c.deadline()).map_err(|_| {
                    c.timeout(format!("{what}: the callback of a readable pipe never ran"))
                })?;
                lp.unregister(fd).map_err(|e| c.fail(format!("unregister failed: {e}")))?;
            }
            c.phase(format!("{what}: shutdown"));
            c.stop(&mut lt)?;
            c.note(format!("{what}: tasks, microtasks, timers and readiness served; drained"));
        }
        Ok(())
    })
}

/// What the destructor of a [`Reentrant`] closure did: per kind, whether its submission was
/// accepted.
#[derive(Default)]
struct Reentries {
    accepted: AtomicU64,
    rejected: AtomicU64,
    ran: Tally,
}

/// A value whose destructor calls back into the loop: `stats()`, then submits probe `id`
/// (external), `id + 1` (internal) and, if supported, `id + 2` (microtask).
struct Reentrant<L: EventLoop> {
    lp: Weak<L>,
    probes: Arc<ProbeSet>,
    id: usize,
    log: Arc<Reentries>,
}

impl<L: EventLoop> Drop for Reentrant<L> {
    fn drop(&mut self) {
        let Some(lp) = self.lp.upgrade() else { return };
        let _ = lp.stats();
        let log = &self.log;
        let note = |ok: bool| {
            if ok { &log.accepted } else { &log.rejected }.fetch_add(1, Ordering::SeqCst);
        };
        note(lp.submit(self.probes.task(self.id)).is_ok());
        note(lp.submit_internal(self.probes.task(self.id + 1)).is_ok());
        if L::CAPABILITIES.microtasks {
            note(lp.schedule_microtask(self.probes.task(self.id + 2)).is_ok());
        }
        log.ran.add(1);
    }
}

/// **destructor_reentry**: the destructors of closures the loop drops call back into it
/// (`stats`, `submit`, `submit_internal`, `schedule_microtask`). Whatever such a submission
/// gets — accepted or rejected — must not be lost: by the time `run` has returned (and the
/// loop is still alive), every probe submitted by a destructor has run or been dropped exactly
/// once, and no call hangs. Paths:
///
/// 1. readiness callbacks still registered when a shutdown ends `run` (if readiness);
/// 2. timers still pending when a shutdown ends `run` (if timers);
/// 3. queued tasks dropped by `close` (called from another thread, behind a barrier);
/// 4. a timer cancelled and a readiness callback unregistered from another thread (if
///    supported), after which the loop is shut down.
pub fn check_destructor_reentry<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "destructor_reentry", |c| {
        let caps = L::CAPABILITIES;
        let mut total = 0;
        for path in 0..4 {
            let what = [
                "readiness callbacks dropped when run() ends",
                "pending timers dropped by the drain",
                "queued tasks dropped by close()",
                "cancel_timer / unregister from another thread",
            ][path];
            if (path == 0 && !caps.readiness) || (path == 1 && !caps.timers) {
                continue;
            }
            if path == 3 && !caps.timers && !caps.readiness {
                continue;
            }
            c.phase(what);
            let lp = c.new_loop::<L>()?;
            let mut lt = c.start(&lp)?;
            let probes = ProbeSet::new(64);
            let log = Arc::new(Reentries::default());
            let reentrant = |k: usize| Reentrant::<L> {
                lp: Arc::downgrade(&lp),
                probes: probes.clone(),
                id: 3 * k,
                log: log.clone(),
            };
            let mut pipes = Vec::new();
            let n = 4;
            match path {
                0 => {
                    for k in 0..n {
                        let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2: {e}")))?;
                        let r = reentrant(k);
                        lp.register_readable(pipe.read_fd, move || {
                            let _ = &r;
                        })
                        .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
                        pipes.push(pipe);
                    }
                    c.stop(&mut lt)?;
                }
                1 => {
                    for k in 0..n {
                        let r = reentrant(k);
                        lp.schedule_timer(FAR, move || drop(r)).map_err(|r| {
                            c.fail(format!("schedule_timer rejected: {}", r.reason))
                        })?;
                    }
                    c.stop(&mut lt)?;
                }
                2 => {
                    let mut gate = c.block(&lp)?;
                    for k in 0..n {
                        let r = reentrant(k);
                        lp.submit(move || drop(r))
                            .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
                    }
                    let l = lp.clone();
                    let dropped = c.bounded("close()", move || l.close())?;
                    gate.release();
                    c.join_ok(&mut lt)?;
                    if dropped != n as u64 {
                        return Err(
                            c.fail(format!("close() with {n} tasks queued returned {dropped}"))
                        );
                    }
                }
                _ => {
                    let mut k = 0;
                    if caps.timers {
                        let r = reentrant(k);
                        let id = lp.schedule_timer(FAR, move || drop(r)).map_err(|r| {
                            c.fail(format!("schedule_timer rejected: {}", r.reason))
                        })?;
                        let l = lp.clone();
                        let cancelled = c.bounded("cancel_timer()", move || l.cancel_timer(id))?;
                        if cancelled != Ok(true) {
                            return Err(c.fail(format!(
                                "cancel_timer of a pending timer returned {cancelled:?}"
                            )));
                        }
                        k += 1;
                    }
                    if caps.readiness {
                        let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2: {e}")))?;
                        let r = reentrant(k);
                        lp.register_readable(pipe.read_fd, move || {
                            let _ = &r;
                        })
                        .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
                        let (l, fd) = (lp.clone(), pipe.read_fd);
                        c.bounded("unregister()", move || l.unregister(fd))?
                            .map_err(|e| c.fail(format!("unregister failed: {e}")))?;
                        pipes.push(pipe);
                        k += 1;
                    }
                    c.stop(&mut lt)?;
                    total += k;
                    verify_reentries(c, &probes, &log, k, what)?;
                    continue;
                }
            }
            total += n;
            verify_reentries(c, &probes, &log, n, what)?;
            drop(pipes);
        }
        c.count("destructors", total as u64);
        c.note(format!(
            "{total} destructors called back into the loop on every path it drops closures; \
             every submission they made ran or was dropped once before run() returned"
        ));
        Ok(())
    })
}

/// After `run` returned (loop alive): the `n` destructors ran and every probe they created was
/// run or dropped exactly once.
fn verify_reentries(
    c: &Check,
    probes: &ProbeSet,
    log: &Reentries,
    n: usize,
    what: &str,
) -> Result<(), Violation> {
    if log.ran.get() != n as u64 {
        return Err(c.fail(format!(
            "{what}: only {} of {n} destructors had run when run() returned",
            log.ran.get()
        )));
    }
    probes.verify_dropped_once().map_err(|e| {
        c.fail(format!(
            "{what}: of the submissions their destructors made ({} accepted, {} rejected), \
             accepted work was neither run nor dropped by the time run() returned: {e}",
            log.accepted.load(Ordering::SeqCst),
            log.rejected.load(Ordering::SeqCst)
        ))
    })
}

/// **destructor_panics**: a destructor that panics while the loop drops closures neither
/// escapes into the caller nor stops the loop from dropping the rest exactly once. Each
/// sub-check queues closures of every supported kind (external and internal tasks, microtasks,
/// far timers) and makes the *first* closure of one kind panic when dropped (one per loop: a
/// second panic while the first unwinds would abort the process, on a loop that lets it
/// escape). For each kind in turn:
///
/// 1. dropping a loop that never ran: the drop returns normally; every closure dropped once;
/// 2. `close` with the same queued behind a barrier: it returns the exact count without
///    panicking, `run` returns `Ok(())`, every closure dropped once by then.
///
/// Then:
///
/// 3. the drain: a timer still pending (if timers), and separately a readiness callback still
///    registered (if readiness), whose destructor panics when `shutdown` ends `run`:
///    `shutdown` returns `Ok(())`, `run` `Ok(())`, every closure dropped once;
/// 4. `cancel_timer` and `unregister` from another thread (if supported) return normally.
pub fn check_destructor_panics<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "destructor_panics", |c| {
        let caps = L::CAPABILITIES;
        let n = 20;
        let kinds = [
            ("external task", true),
            ("internal task", true),
            ("microtask", caps.microtasks),
            ("timer", caps.timers),
        ];
        for (bomb, (kind, supported)) in kinds.into_iter().enumerate() {
            if !supported {
                continue;
            }
            c.phase(format!("part 1: drop a never-run loop ({kind} destructor panics)"));
            let lp = c.new_loop::<L>()?;
            let probes = ProbeSet::new(4 * n);
            let queued = queue_panicky(c, &lp, &probes, n, bomb)?;
            c.bounded("drop of a loop holding a closure whose destructor panics", move || {
                drop(lp)
            })?;
            probes.verify_dropped_once().map_err(|e| {
                c.fail(format!(
                    "after dropping a never-run loop with {queued} queued (the first {kind} \
                     panics when dropped): {e}"
                ))
            })?;

            c.phase(format!("part 2: close() ({kind} destructor panics)"));
            let lp = c.new_loop::<L>()?;
            let mut lt = c.start(&lp)?;
            let mut gate = c.block(&lp)?;
            let probes = ProbeSet::new(4 * n);
            let queued = queue_panicky(c, &lp, &probes, n, bomb)?;
            let l = lp.clone();
            let dropped =
                c.bounded("close() over a closure whose destructor panics", move || l.close())?;
            gate.release();
            c.join_ok(&mut lt)?;
            if dropped != queued as u64 {
                return Err(c.fail(format!("close() with {queued} queued returned {dropped}")));
            }
            probes.verify_dropped_once().map_err(|e| {
                c.fail(format!(
                    "close() over {queued} closures (the first {kind} panics when dropped): {e}"
                ))
            })?;
            c.note(format!(
                "{kind} destructor panics: dropping the loop and close() ({queued} queued) \
                 dropped the rest once, nothing escaped"
            ));
        }

        for (kind, supported) in [("timer", caps.timers), ("readiness callback", caps.readiness)] {
            if !supported {
                continue;
            }
            c.phase(format!("part 3: a pending {kind} whose destructor panics at the drain"));
            let lp = c.new_loop::<L>()?;
            let mut lt = c.start(&lp)?;
            let probes = ProbeSet::new(n);
            let mut pipes = Vec::new();
            for id in 0..n {
                let p = probes.probe(id);
                let bomb = (id == 0).then(|| PanicOnDrop); // lazily: an unused one would panic here
                if kind == "timer" {
                    lp.schedule_timer(FAR, move || {
                        std::mem::forget(bomb);
                        p.run();
                    })
                    .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
                } else {
                    let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2: {e}")))?;
                    lp.register_readable(pipe.read_fd, move || {
                        let _ = (&p, &bomb);
                    })
                    .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
                    pipes.push(pipe);
                }
            }
            c.stop(&mut lt)?;
            probes.verify_dropped_once().map_err(|e| {
                c.fail(format!(
                    "{n} {kind}s dropped by the drain (the first panics when dropped): {e}"
                ))
            })?;
            drop(pipes);
            c.note(format!("the drain dropped {n} {kind}s, the first panicking; shutdown Ok"));
        }

        if caps.timers || caps.readiness {
            c.phase("part 4: cancel_timer / unregister from another thread");
            let lp = c.new_loop::<L>()?;
            let mut lt = c.start(&lp)?;
            let probes = ProbeSet::new(2);
            if caps.timers {
                let id = lp
                    .schedule_timer(FAR, panicky_probe(&probes, 0))
                    .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
                let l = lp.clone();
                let r = c
                    .bounded("cancel_timer() of a closure whose destructor panics", move || {
                        l.cancel_timer(id)
                    })?;
                if r != Ok(true) {
                    return Err(c.fail(format!("cancel_timer of a pending timer returned {r:?}")));
                }
            }
            if caps.readiness {
                let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2: {e}")))?;
                let (p, bomb) = (probes.probe(1), PanicOnDrop);
                lp.register_readable(pipe.read_fd, move || {
                    let _ = (&p, &bomb);
                })
                .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
                let (l, fd) = (lp.clone(), pipe.read_fd);
                c.bounded("unregister() of a callback whose destructor panics", move || {
                    l.unregister(fd)
                })?
                .map_err(|e| c.fail(format!("unregister failed: {e}")))?;
            }
            c.stop(&mut lt)?;
            probes.verify_dropped_once().map_err(|e| c.fail(e))?;
            c.note("cancel_timer and unregister of closures whose destructors panic returned");
        }
        Ok(())
    })
}

/// Queues `n` external tasks, `n` internal ones, `n` microtasks and `n` far timers (the last
/// two if supported); the first closure of kind `bomb` (0 external, 1 internal, 2 microtask,
/// 3 timer) panics when dropped unrun. Returns how many were queued.
fn queue_panicky<L: EventLoop>(
    c: &Check,
    lp: &Arc<L>,
    probes: &Arc<ProbeSet>,
    n: usize,
    bomb: usize,
) -> Result<usize, Violation> {
    let caps = L::CAPABILITIES;
    let mut id = 0;
    for k in 0..4 * n {
        let kind = k / n;
        if (kind == 2 && !caps.microtasks) || (kind == 3 && !caps.timers) {
            continue;
        }
        let task: Box<dyn FnOnce() + Send> = if kind == bomb && k % n == 0 {
            Box::new(panicky_probe(probes, id))
        } else {
            Box::new(probes.task(id))
        };
        let r = match kind {
            0 => lp.submit(task).map_err(|r| r.reason),
            1 => lp.submit_internal(task).map_err(|r| r.reason),
            2 => lp.schedule_microtask(task).map_err(|r| r.reason),
            _ => lp.schedule_timer(FAR, task).map(|_| ()).map_err(|r| r.reason),
        };
        r.map_err(|e| c.fail(format!("queueing closure #{id} rejected: {e}")))?;
        id += 1;
    }
    Ok(id)
}

/// **panic_payload_drop**: a callback panics with a payload whose own `Drop` panics
/// (`std::panic::panic_any`). The loop must survive it like any panic — the next task runs,
/// `run` does not die — and count it in `stats().panics`. Exercised for a task, and for a
/// microtask, a timer and a readiness callback where supported; after `shutdown` the count
/// must equal the number of such panics.
pub fn check_panic_payload_drop<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "panic_payload_drop", |c| {
        let caps = L::CAPABILITIES;
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let entered = Arc::new(Tally::new());
        let mut kinds = vec!["task"];
        let bad = |e: Arc<Tally>| {
            move || {
                e.add(1);
                std::panic::panic_any(PanickyPayload);
            }
        };
        c.phase("a task panics with a payload whose Drop panics");
        lp.submit(bad(entered.clone()))
            .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
        let mut pipe = None;
        if caps.microtasks {
            let (l, e) = (lp.clone(), entered.clone());
            lp.submit(move || {
                let _ = l.schedule_microtask(bad(e));
            })
            .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
            kinds.push("microtask");
        }
        if caps.timers {
            lp.schedule_timer(Duration::ZERO, bad(entered.clone()))
                .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
            kinds.push("timer");
        }
        if caps.readiness {
            let p = Pipe::new().map_err(|e| c.setup(format!("pipe2: {e}")))?;
            let (fd, e) = (p.read_fd, entered.clone());
            let mut first = true;
            lp.register_readable(fd, move || {
                drain_fd(fd);
                if std::mem::take(&mut first) {
                    e.add(1);
                    std::panic::panic_any(PanickyPayload);
                }
            })
            .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
            p.write(1).map_err(|e| c.setup(format!("write to pipe: {e}")))?;
            pipe = Some(p);
            kinds.push("readiness");
        }
        let expected = kinds.len() as u64;
        if entered.wait_for(expected, &c.deadline()).is_err() {
            return Err(c.timeout(format!(
                "only {} of {expected} panicking callbacks ({}) ran",
                entered.get(),
                kinds.join(", ")
            )));
        }
        c.phase("the loop still runs tasks");
        let after = Arc::new(Tally::new());
        let a = after.clone();
        let alive = lp
            .submit(move || {
                a.add(1);
            })
            .is_ok();
        if !alive || after.wait_for(1, &c.deadline()).is_err() {
            if lt.has_returned() {
                let r = lt.join(&c.deadline());
                return Err(c.fail(format!(
                    "a panic payload whose Drop panics killed the loop: run() ended with {r:?}"
                )));
            }
            return Err(c.timeout("a task after the double panics never ran"));
        }
        if let (Some(p), true) = (&pipe, caps.readiness) {
            lp.unregister(p.read_fd).map_err(|e| c.fail(format!("unregister failed: {e}")))?;
        }
        c.stop(&mut lt)?;
        let counted = lp.stats().panics;
        if counted != expected {
            return Err(c.fail(format!(
                "{expected} callbacks ({}) panicked with a payload whose Drop panics, but \
                 stats().panics = {counted}",
                kinds.join(", ")
            )));
        }
        c.count("panics", expected);
        c.note(format!(
            "panics with a panicking payload in {} were isolated and counted",
            kinds.join(", ")
        ));
        Ok(())
    })
}

/// **unregister_foreign_running**: `unregister` from a thread other than the loop thread while
/// the fd's callback is running. The contract: it returns only after that invocation has
/// returned, so that once it returns the callback is neither running nor will run again (and
/// the caller may close the fd). The callback blocks until released; the unregistering thread
/// is started and given up to 200 ms to return (it must not); the callback is then released,
/// and the check requires that `unregister` returned only after the callback had finished, and
/// that no call started after it returned. Then, on the loop thread: a callback that
/// unregisters its own fd gets `Ok(())` at once (the call must not wait for the invocation it is
/// made from) and is never called again.
pub fn check_unregister_foreign_running<L: EventLoop>(
    ctx: &CheckContext,
) -> Result<Report, Violation> {
    gated(ctx, "unregister_foreign_running", L::CAPABILITIES.readiness, "readiness", |c| {
        c.phase("unregister from another thread while the callback runs");
        let lp = c.new_loop::<L>()?;
        let mut lt: LoopThread<L> = c.start(&lp)?;
        let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2: {e}")))?;
        let entered = Arc::new(Tally::new());
        let finished = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let hold = c.ctx.check_bound;
        let (fd, e, f, k) = (pipe.read_fd, entered.clone(), finished.clone(), calls.clone());
        lp.register_readable(fd, move || {
            k.fetch_add(1, Ordering::SeqCst);
            drain_fd(fd);
            if e.get() == 0 {
                e.add(1);
                let _ = lock(&release_rx).recv_timeout(hold);
                f.store(true, Ordering::SeqCst);
            }
        })
        .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
        pipe.write(1).map_err(|e| c.setup(format!("write to pipe: {e}")))?;
        entered
            .wait_for(1, &c.deadline())
            .map_err(|_| c.timeout("the readiness callback never ran"))?;
        let calling = Arc::new(AtomicBool::new(false));
        let (l, fin, cl, k) = (lp.clone(), finished.clone(), calling.clone(), calls.clone());
        let mut unreg = c.spawn("unregister()", move || {
            cl.store(true, Ordering::SeqCst);
            let r = l.unregister(fd);
            (r, fin.load(Ordering::SeqCst), k.load(Ordering::SeqCst))
        })?;
        if !spin_until(&c.deadline(), || calling.load(Ordering::SeqCst)) {
            return Err(c.timeout("the unregistering thread never started"));
        }
        let early =
            spin_until(&Deadline::after(Duration::from_millis(200)), || unreg.is_finished());
        let _ = release_tx.send(());
        let (r, callback_done, calls_at_return) = match unreg.wait(&c.deadline()) {
            Ok(v) => v,
            Err(WaitError::TimedOut(_)) => {
                return Err(c.timeout("unregister() never returned after the callback finished"));
            }
            Err(e) => return Err(c.wait_error("unregister()", e)),
        };
        r.map_err(|e| c.fail(format!("unregister failed: {e}")))?;
        if early || !callback_done {
            return Err(c.fail(
                "unregister() from another thread returned while the fd's callback was still \
                 running; it must wait for that invocation to return",
            ));
        }
        pipe.write(1).map_err(|e| c.setup(format!("write to pipe: {e}")))?;
        c.ensure_asleep(&lp)?;
        let calls_now = calls.load(Ordering::SeqCst);
        if calls_now != calls_at_return {
            return Err(c.fail(format!(
                "the callback was called {} more time(s) after unregister() returned",
                calls_now - calls_at_return
            )));
        }

        c.phase("unregister from inside the fd's own callback");
        let own = Pipe::new().map_err(|e| c.setup(format!("pipe2: {e}")))?;
        let own_calls = Arc::new(AtomicU64::new(0));
        let (done_tx, done_rx) = mpsc::channel::<Result<(), String>>();
        let (w, ofd, k) = (Arc::downgrade(&lp), own.read_fd, own_calls.clone());
        lp.register_readable(ofd, move || {
            k.fetch_add(1, Ordering::SeqCst);
            drain_fd(ofd);
            if let Some(l) = w.upgrade() {
                let _ = done_tx.send(l.unregister(ofd).map_err(|e| e.to_string()));
            }
        })
        .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
        own.write(1).map_err(|e| c.setup(format!("write to pipe: {e}")))?;
        match done_rx.recv_timeout(c.ctx.wait_bound) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(c.fail(format!("unregister() from inside its own callback: {e}")));
            }
            Err(_) => {
                return Err(c.timeout(
                    "unregister() called from inside the fd's own callback never returned (a \
                     call on the loop thread must not wait for the running invocation)",
                ));
            }
        }
        own.write(1).map_err(|e| c.setup(format!("write to pipe: {e}")))?;
        c.ensure_asleep(&lp)?;
        let own_now = own_calls.load(Ordering::SeqCst);
        if own_now != 1 {
            return Err(c.fail(format!(
                "a callback that unregistered its own fd was called {own_now} times; once expected"
            )));
        }
        c.stop(&mut lt)?;
        c.note(
            "unregister() from another thread waited for the running callback to return; from \
             inside the callback it returned at once and the callback never ran again",
        );
        Ok(())
    })
}
