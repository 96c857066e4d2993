//! Retention: no queue slot, chunk, arena cell or pool keeps a closure — and what it captured —
//! alive after the closure ran or was dropped.
//!
//! The defect this guards against is the audit finding "IMP-002" of one of the historical
//! reports: chunks returned to a pool without clearing their slots, so data captured by
//! closures that had already run (or had been discarded) could not be freed until the slot was
//! reused, possibly never. Rust's `FnOnce` makes the *run* path hard to get wrong in safe code,
//! but loops that store closures inline in raw slots (`ptr::read` out of an arena), keep
//! cancelled timers in their heap until the deadline, recycle chunks on `close` by resetting
//! cursors instead of dropping the contents, or keep unregistered readiness callbacks around,
//! all retain captured data; this check observes that directly.
//!
//! Every closure captures a clone of one `Arc<()>` (the *marker*); the check owns the only other
//! reference. Once the closures ran or were dropped, `Arc::strong_count(&marker)` must be back
//! to 1 — **while the loop object itself is still alive**, so "freed when the loop is dropped"
//! does not count. Loops may release a closure shortly after it ran (on the loop thread's next
//! tick, or through a deferred free list), so after each phase the check completes two round
//! trips through the loop (a task submitted and awaited) and then waits, bounded by
//! [`CheckContext::wait_bound`] with a spin/yield loop (never a sleep), for the count to reach 1.

use std::sync::Arc;
use std::time::Duration;

use loop_api::EventLoop;

use super::{Check, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Pipe, Tally, spin_until};

/// A timer delay far beyond any check: such a timer is pending until cancelled or dropped.
const FAR: Duration = Duration::from_secs(3600);

/// **retention**: closures are released once they ran or were dropped.
///
/// 1. *Ran*: on a running loop, N external tasks (every fourth one internal), plus — where
///    supported — microtasks scheduled from a foreign thread and from inside a task, and timers
///    with short delays, each capturing the marker. After all ran and two round trips,
///    `strong_count` must return to 1.
/// 2. *Cancelled timers* (timers): 100 far-future timers capturing the marker are cancelled
///    (`Ok(true)` each); their closures must be released.
/// 3. *Unregistered readiness callback* (readiness): a callback capturing the marker is
///    registered on a pipe and unregistered; it must be released.
/// 4. After a graceful `shutdown`, nothing captured is left.
/// 5. *Dropped by `close`*: behind a barrier task, N external and N/4 internal tasks, microtasks
///    and far timers (where supported) are queued; `close` drops them; after the barrier is
///    released and `run` returned, `strong_count` must be 1 with the loop still alive.
///
/// N = 10,000 (1,000 quick). Phases a contender lacks the capability for are skipped and noted.
pub fn check_retention<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "retention", |c| {
        let caps = L::CAPABILITIES;
        let n = c.n(10_000, 1_000);
        let marker = Arc::new(());

        c.phase("closures that ran");
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let ran = Arc::new(Tally::new());
        let mut expected = 0_u64;
        for i in 0..n {
            let (m, r) = (marker.clone(), ran.clone());
            let task = move || {
                std::hint::black_box(&m);
                r.add(1);
            };
            let res = if i % 4 == 1 { lp.submit_internal(task) } else { lp.submit(task) };
            res.map_err(|r| {
                c.fail(format!("submit #{i} to a running loop rejected: {}", r.reason))
            })?;
            expected += 1;
        }
        let micro = n / 10;
        if caps.microtasks {
            for i in 0..micro {
                let (m, r) = (marker.clone(), ran.clone());
                lp.schedule_microtask(move || {
                    std::hint::black_box(&m);
                    r.add(1);
                })
                .map_err(|r| {
                    c.fail(format!(
                        "schedule_microtask #{i} from a foreign thread rejected: {}",
                        r.reason
                    ))
                })?;
            }
            let (l, m, r) = (lp.clone(), marker.clone(), ran.clone());
            lp.submit(move || {
                for _ in 0..micro {
                    let (m, r2) = (m.clone(), r.clone());
                    if l.schedule_microtask(move || {
                        std::hint::black_box(&m);
                        r2.add(1);
                    })
                    .is_err()
                    {
                        // Counted as ran so the wait ends; the count check below reports it.
                        r.add(1_000_000_000);
                    }
                }
                r.add(1);
            })
            .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
            expected += 2 * micro as u64 + 1;
        }
        let timers = 100_u64;
        if caps.timers {
            for i in 0..timers {
                let (m, r) = (marker.clone(), ran.clone());
                lp.schedule_timer(Duration::from_micros(i * 10), move || {
                    std::hint::black_box(&m);
                    r.add(1);
                })
                .map_err(|r| c.fail(format!("schedule_timer #{i} rejected: {}", r.reason)))?;
            }
            expected += timers;
        }
        ran.wait_for(expected, &c.deadline())
            .map_err(|got| c.timeout(format!("only {got} of {expected} callbacks ran")))?;
        if ran.get() != expected {
            return Err(c.fail(format!(
                "{} callbacks reported for {expected} queued (a schedule_microtask from a task \
                 was rejected, or a callback ran twice)",
                ran.get()
            )));
        }
        settle(c, &lp)?;
        released(c, &marker, &format!("after {expected} callbacks ran and the loop went idle"))?;
        c.note(format!(
            "ran: {n} tasks ({} internal){}{}: every capture released",
            n / 4 + usize::from(n % 4 > 1),
            if caps.microtasks { format!(", {} microtasks", 2 * micro) } else { String::new() },
            if caps.timers { format!(", {timers} timers") } else { String::new() },
        ));

        if caps.timers {
            c.phase("cancelled timers");
            for i in 0..timers {
                let m = marker.clone();
                let id = lp
                    .schedule_timer(FAR, move || {
                        std::hint::black_box(&m);
                    })
                    .map_err(|r| c.fail(format!("schedule_timer #{i} rejected: {}", r.reason)))?;
                match lp.cancel_timer(id) {
                    Ok(true) => {}
                    other => {
                        return Err(c.fail(format!(
                            "cancel_timer of a pending far-future timer returned {other:?}, \
                             expected Ok(true)"
                        )));
                    }
                }
            }
            settle(c, &lp)?;
            released(c, &marker, &format!("after {timers} pending timers were cancelled"))?;
            c.note(format!("{timers} cancelled timers: released"));
        }

        if caps.readiness {
            c.phase("unregistered readiness callback");
            let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?;
            let m = marker.clone();
            lp.register_readable(pipe.read_fd, move || {
                std::hint::black_box(&m);
            })
            .map_err(|r| c.fail(format!("register_readable rejected: {}", r.reason)))?;
            lp.unregister(pipe.read_fd).map_err(|e| c.fail(format!("unregister failed: {e}")))?;
            settle(c, &lp)?;
            released(c, &marker, "after the readiness callback was unregistered")?;
            drop(pipe);
            c.note("unregistered readiness callback: released");
        }

        c.phase("after a graceful shutdown");
        c.stop(&mut lt)?;
        released(c, &marker, "after shutdown() drained the loop and run() returned")?;
        drop(lp);

        c.phase("closures dropped by close()");
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let mut gate = c.block(&lp)?;
        let mut queued = 0_u64;
        for i in 0..n {
            let m = marker.clone();
            let task = move || {
                std::hint::black_box(&m);
            };
            let res = if i % 4 == 1 { lp.submit_internal(task) } else { lp.submit(task) };
            res.map_err(|r| {
                c.fail(format!("submit #{i} behind a barrier rejected: {}", r.reason))
            })?;
            queued += 1;
        }
        if caps.microtasks {
            for i in 0..micro {
                let m = marker.clone();
                lp.schedule_microtask(move || {
                    std::hint::black_box(&m);
                })
                .map_err(|r| c.fail(format!("schedule_microtask #{i} rejected: {}", r.reason)))?;
                queued += 1;
            }
        }
        if caps.timers {
            for i in 0..timers {
                let m = marker.clone();
                lp.schedule_timer(FAR, move || {
                    std::hint::black_box(&m);
                })
                .map_err(|r| c.fail(format!("schedule_timer #{i} rejected: {}", r.reason)))?;
                queued += 1;
            }
        }
        let held = Arc::strong_count(&marker) as u64 - 1;
        if held != queued {
            return Err(c.fail(format!(
                "{queued} closures queued behind the barrier but {held} captures alive before \
                 close() (a closure ran or was dropped early)"
            )));
        }
        let l = lp.clone();
        let dropped = c.bounded("close()", move || l.close())?;
        gate.release();
        c.join_ok(&mut lt)?;
        released(
            c,
            &marker,
            &format!(
                "after close() dropped the queued closures (it reported {dropped}) and run() \
                 returned, with the loop object still alive"
            ),
        )?;
        c.count("closed_with_queued", queued);
        c.count("close_reported_dropped", dropped);
        c.note(format!(
            "{queued} closures dropped by close(): released before the loop was dropped"
        ));
        drop(lp);
        Ok(())
    })
}

/// Two round trips through the loop (a task submitted and awaited, twice), so every tick that
/// could release a finished closure has completed.
fn settle<L: EventLoop>(c: &Check, lp: &Arc<L>) -> Result<(), Violation> {
    for k in 0..2 {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        lp.submit(move || {
            let _ = tx.send(());
        })
        .map_err(|r| c.fail(format!("round-trip submit #{k} rejected: {}", r.reason)))?;
        rx.recv_timeout(c.ctx.wait_bound)
            .map_err(|_| c.timeout(format!("round-trip task #{k} on an idle loop never ran")))?;
    }
    Ok(())
}

/// Waits (bounded spin/yield) until the check holds the only reference to `marker`.
fn released(c: &Check, marker: &Arc<()>, when: &str) -> Result<(), Violation> {
    if spin_until(&c.deadline(), || Arc::strong_count(marker) == 1) {
        return Ok(());
    }
    let kept = Arc::strong_count(marker) - 1;
    Err(c.fail(format!(
        "{kept} closure(s) still hold their captured data {when}: Arc::strong_count = {} \
         (expected 1 within {:?}); a queue slot, chunk, arena cell, timer heap or pool keeps \
         closures alive after they ran or were dropped",
        kept + 1,
        c.ctx.wait_bound
    )))
}
