//! Panic isolation: a panicking callback does not stop the loop.
//!
//! The panics are real `panic!`s, so the default panic hook prints them to stderr (captured by
//! the test harness); the checks deliberately leave the process-global hook alone.

use std::sync::Arc;
use std::time::Duration;

use loop_api::EventLoop;

use super::{Check, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Pipe, Tally, drain_fd};

/// The message of every deliberate panic, so stderr readers can tell them apart from real ones.
pub const INTENTIONAL_PANIC: &str = "loop-conformance: intentional panic inside a callback";

fn panicker(entered: Arc<Tally>) -> impl FnOnce() + Send + 'static {
    move || {
        entered.add(1);
        panic!("{INTENTIONAL_PANIC}");
    }
}

fn counter(t: Arc<Tally>) -> impl FnOnce() + Send + 'static {
    move || {
        t.add(1);
    }
}

/// **panic_isolation**: for each kind of callback, "before" runs, a panicking one is entered, and
/// an "after" callback submitted behind it still runs:
///
/// * `submit` (Go `TestPanicIsolation`) and `submit_internal` (Go `TestPanicIsolationInternal`);
/// * a microtask scheduled from a task, followed by a normal microtask (if microtasks supported);
/// * a timer due now, followed by a timer due 1 ms later (if timers supported);
/// * a readiness callback that reads its byte then panics; a second byte must still be delivered
///   to it (if readiness supported).
///
/// After `shutdown`, `stats().panics` must equal the number of panicking callbacks exactly.
pub fn check_panic_isolation<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "panic_isolation", |c| {
        let caps = L::CAPABILITIES;
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let mut panics = 0_u64;
        let mut kinds = Vec::new();

        for internal in [false, true] {
            let what = if internal { "submit_internal" } else { "submit" };
            c.phase(format!("panic via {what}"));
            let (before, entered, after) =
                (Arc::new(Tally::new()), Arc::new(Tally::new()), Arc::new(Tally::new()));
            let sub = |f: Box<dyn FnOnce() + Send>| {
                if internal {
                    lp.submit_internal(f).map_err(|r| r.reason)
                } else {
                    lp.submit(f).map_err(|r| r.reason)
                }
            };
            sub(Box::new(counter(before.clone())))
                .map_err(|e| c.fail(format!("{what} rejected: {e}")))?;
            before
                .wait_for(1, &c.deadline())
                .map_err(|_| c.timeout(format!("the 'before' task ({what}) never ran")))?;
            sub(Box::new(panicker(entered.clone())))
                .map_err(|e| c.fail(format!("{what} rejected: {e}")))?;
            entered
                .wait_for(1, &c.deadline())
                .map_err(|_| c.timeout(format!("the panicking task ({what}) never ran")))?;
            sub(Box::new(counter(after.clone())))
                .map_err(|e| c.fail(format!("{what} after a panic rejected: {e}")))?;
            after_ran(
                c,
                &mut lt,
                &after,
                1,
                &format!("a task submitted ({what}) after a panicking {what} task"),
            )?;
            panics += 1;
            kinds.push(what);
        }

        if caps.microtasks {
            c.phase("panic in a microtask");
            let (entered, after_micro, after_task) =
                (Arc::new(Tally::new()), Arc::new(Tally::new()), Arc::new(Tally::new()));
            let (l, e, a) = (lp.clone(), entered.clone(), after_micro.clone());
            lp.submit(move || {
                let _ = l.schedule_microtask(panicker(e));
                let _ = l.schedule_microtask(counter(a));
            })
            .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
            lp.submit(counter(after_task.clone()))
                .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
            entered
                .wait_for(1, &c.deadline())
                .map_err(|_| c.timeout("the panicking microtask never ran"))?;
            after_ran(
                c,
                &mut lt,
                &after_micro,
                1,
                "a microtask queued after a panicking microtask",
            )?;
            after_ran(c, &mut lt, &after_task, 1, "a task queued after a panicking microtask")?;
            panics += 1;
            kinds.push("microtask");
        }

        if caps.timers {
            c.phase("panic in a timer callback");
            let (entered, after) = (Arc::new(Tally::new()), Arc::new(Tally::new()));
            lp.schedule_timer(Duration::ZERO, panicker(entered.clone()))
                .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
            lp.schedule_timer(Duration::from_millis(1), counter(after.clone()))
                .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
            entered
                .wait_for(1, &c.deadline())
                .map_err(|_| c.timeout("the panicking timer never fired"))?;
            after_ran(c, &mut lt, &after, 1, "a timer due 1 ms after a panicking timer")?;
            panics += 1;
            kinds.push("timer");
        }

        if caps.readiness {
            c.phase("panic in a readiness callback");
            let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?;
            let calls = Arc::new(Tally::new());
            let (fd, k) = (pipe.read_fd, calls.clone());
            let mut first = true;
            lp.register_readable(fd, move || {
                drain_fd(fd);
                k.add(1);
                if std::mem::take(&mut first) {
                    panic!("{INTENTIONAL_PANIC}");
                }
            })
            .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
            pipe.write(1).map_err(|e| c.setup(format!("write to pipe failed: {e}")))?;
            calls
                .wait_for(1, &c.deadline())
                .map_err(|_| c.timeout("the readiness callback never ran"))?;
            pipe.write(1).map_err(|e| c.setup(format!("write to pipe failed: {e}")))?;
            after_ran(
                c,
                &mut lt,
                &calls,
                2,
                "the readiness callback, for a byte written after it panicked",
            )?;
            lp.unregister(fd).map_err(|e| c.fail(format!("unregister failed: {e}")))?;
            panics += 1;
            kinds.push("readiness");
        }

        c.phase("final stats");
        c.stop(&mut lt)?;
        let counted = lp.stats().panics;
        if counted != panics {
            return Err(c.fail(format!(
                "{panics} callbacks panicked ({}) but stats().panics = {counted}",
                kinds.join(", ")
            )));
        }
        c.count("panics", panics);
        c.note(format!("panics in {} callbacks were isolated and counted", kinds.join(", ")));
        Ok(())
    })
}

/// Waits for `t` to reach `n`; if it does not, says whether the loop thread died.
fn after_ran<L: EventLoop>(
    c: &Check,
    lt: &mut crate::support::LoopThread<L>,
    t: &Tally,
    n: u64,
    what: &str,
) -> Result<(), Violation> {
    if t.wait_for(n, &c.deadline()).is_ok() {
        return Ok(());
    }
    if lt.has_returned() {
        let r = lt.join(&c.deadline());
        return Err(c.fail(format!(
            "{what} never ran: the panic stopped the loop (run() ended with {r:?})"
        )));
    }
    Err(c.timeout(format!("{what} never ran (the loop stopped making progress after a panic)")))
}

/// **panic_isolation_multiple**: one burst of 10 panicking tasks, each followed by 10 normal
/// tasks (alternately via `submit` and `submit_internal`): all 10 panics must be entered and all
/// 100 normal tasks must run; after `shutdown`, `stats().panics` = 10. Ports the Go
/// `TestPanicIsolationMultiple`. Same N in quick mode.
pub fn check_panic_isolation_multiple<L: EventLoop>(
    ctx: &CheckContext,
) -> Result<Report, Violation> {
    run_check(ctx, "panic_isolation_multiple", |c| {
        let (n_panics, per) = (10_u64, 10_u64);
        c.phase("10 panicking tasks interleaved with 100 normal ones");
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let (entered, normal) = (Arc::new(Tally::new()), Arc::new(Tally::new()));
        for i in 0..n_panics {
            let r = if i % 2 == 0 {
                lp.submit(panicker(entered.clone())).map_err(|r| r.reason)
            } else {
                lp.submit_internal(panicker(entered.clone())).map_err(|r| r.reason)
            };
            r.map_err(|e| c.fail(format!("submission of panicking task {i} rejected: {e}")))?;
            for _ in 0..per {
                lp.submit(counter(normal.clone()))
                    .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
            }
        }
        after_ran(c, &mut lt, &entered, n_panics, "every panicking task").map_err(|mut v| {
            v.message += &format!(" ({} of {n_panics} entered)", entered.get());
            v
        })?;
        after_ran(c, &mut lt, &normal, n_panics * per, "every normal task interleaved with panics")
            .map_err(|mut v| {
                v.message += &format!(" ({} of {} ran)", normal.get(), n_panics * per);
                v
            })?;
        c.stop(&mut lt)?;
        let counted = lp.stats().panics;
        if counted != n_panics {
            return Err(c.fail(format!("{n_panics} tasks panicked but stats().panics = {counted}")));
        }
        c.count("panics", n_panics);
        c.count("normal", normal.get());
        c.note(format!(
            "{n_panics} panics interleaved with {} normal tasks: all accounted for",
            n_panics * per
        ));
        Ok(())
    })
}
