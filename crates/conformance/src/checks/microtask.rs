//! Microtasks: drained after every task; a foreign schedule wakes a sleeping loop.

use std::sync::Arc;

use loop_api::EventLoop;

use super::gated;
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Sequence, Tally};

/// **microtask_order** (only if `capabilities.microtasks`): microtasks are drained after every
/// task, in FIFO order, including microtasks scheduled by microtasks.
///
/// Behind a barrier: a foreign thread schedules microtask `mf` while the barrier task runs; then
/// external task A (schedules m1 — which schedules m3 — and m2), external task B, and internal
/// task I (schedules mi) are queued. After release the order must contain `mf` before A (it is
/// due at the checkpoint after the barrier task), `A m1 m2 m3` consecutively, B after m3, and
/// `I mi` consecutively. Same in quick mode.
pub fn check_microtask_order<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    gated(ctx, "microtask_order", L::CAPABILITIES.microtasks, "microtasks", |c| {
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let seq = Sequence::new();
        let mut gate = c.block(&lp)?;
        let s = seq.clone();
        lp.schedule_microtask(move || s.push("mf")).map_err(|r| {
            c.fail(format!("schedule_microtask from a foreign thread rejected: {}", r.reason))
        })?;
        let (l, s) = (lp.clone(), seq.clone());
        lp.submit(move || {
            s.push("A");
            let (l2, s1) = (l.clone(), s.clone());
            let ok1 = l.schedule_microtask(move || {
                s1.push("m1");
                let s3 = s1.clone();
                if l2.schedule_microtask(move || s3.push("m3")).is_err() {
                    s1.push("schedule_microtask from a microtask rejected");
                }
            });
            let s2 = s.clone();
            let ok2 = l.schedule_microtask(move || s2.push("m2"));
            if ok1.is_err() || ok2.is_err() {
                s.push("schedule_microtask from a task rejected");
            }
        })
        .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
        let s = seq.clone();
        lp.submit(move || s.push("B"))
            .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
        let (l, s) = (lp.clone(), seq.clone());
        lp.submit_internal(move || {
            s.push("I");
            let si = s.clone();
            if l.schedule_microtask(move || si.push("mi")).is_err() {
                s.push("schedule_microtask from an internal task rejected");
            }
        })
        .map_err(|r| c.fail(format!("submit_internal rejected: {}", r.reason)))?;
        gate.release();
        seq.wait_len(8, &c.deadline()).map_err(|seen| {
            c.timeout(format!("only {seen} of 8 tasks/microtasks ran: {:?}", seq.events()))
        })?;
        c.stop(&mut lt)?;
        let ev = seq.events();
        let pos = |label: &str| ev.iter().position(|e| e == label);
        let bad = |why: &str| c.fail(format!("{why}; observed order {ev:?}"));
        if ev.len() != 8 || ev.iter().any(|e| e.contains("rejected")) {
            return Err(bad("unexpected events"));
        }
        let (Some(a), Some(b), Some(i), Some(mf)) = (pos("A"), pos("B"), pos("I"), pos("mf"))
        else {
            return Err(bad("a task is missing"));
        };
        if ev[a..a + 4] != ["A", "m1", "m2", "m3"] {
            return Err(bad(
                "microtasks scheduled by task A (and by its microtask) did not run right after A, in FIFO order",
            ));
        }
        if b < a + 4 {
            return Err(bad("task B ran before the microtasks of the task before it"));
        }
        if ev.get(i + 1).map(String::as_str) != Some("mi") {
            return Err(bad(
                "the microtask scheduled by an internal task did not run right after it",
            ));
        }
        if mf > a {
            return Err(bad(
                "a microtask scheduled from a foreign thread during the barrier task ran after the next task",
            ));
        }
        c.note(format!("order {ev:?}: microtasks drained after every task, FIFO"));
        Ok(())
    })
}

/// **microtask_foreign_wake** (only if `capabilities.microtasks`): microtasks scheduled from a
/// foreign thread wake a sleeping loop (regression test for the Go AlternateOne bug where
/// `ScheduleMicrotask` never woke the loop, so microtasks waited for the 10 s poll cap).
///
/// With the loop asleep (observed through `stats().sleeps` when the loop declares
/// `wake_accounting`), 100 microtasks are scheduled in a burst: all must run within the wait
/// bound. Then 20 rounds (quick: 5) of: loop asleep → one microtask → it runs. Ports the Go
/// `TestMicrotaskCapability`.
pub fn check_microtask_foreign_wake<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    gated(ctx, "microtask_foreign_wake", L::CAPABILITIES.microtasks, "microtasks", |c| {
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        c.phase("burst of 100 microtasks to a sleeping loop");
        let asleep = c.ensure_asleep(&lp)?;
        let ran = Arc::new(Tally::new());
        for k in 0..100 {
            let r = ran.clone();
            lp.schedule_microtask(move || {
                r.add(1);
            })
            .map_err(|r| {
                c.fail(format!(
                    "schedule_microtask #{k} from a foreign thread rejected: {}",
                    r.reason
                ))
            })?;
        }
        ran.wait_for(100, &c.deadline()).map_err(|seen| {
            c.timeout(format!(
                "only {seen} of 100 microtasks scheduled from a foreign thread to {} loop ran \
                 (lost wake-up for microtasks)",
                if asleep { "a sleeping" } else { "an idle" }
            ))
        })?;
        let rounds = c.n(20, 5);
        let mut slept = u64::from(asleep);
        for round in 0..rounds {
            c.phase(format!("single microtask to a sleeping loop, round {round} of {rounds}"));
            slept += u64::from(c.ensure_asleep(&lp)?);
            let r = ran.clone();
            lp.schedule_microtask(move || {
                r.add(1);
            })
            .map_err(|r| c.fail(format!("schedule_microtask rejected: {}", r.reason)))?;
            ran.wait_for(101 + round as u64, &c.deadline()).map_err(|_| {
                c.timeout(format!("round {round}: a microtask scheduled from a foreign thread to an idle loop never ran"))
            })?;
        }
        c.stop(&mut lt)?;
        c.count("microtasks", ran.get());
        c.count("rounds_observed_asleep", slept);
        c.note(format!(
            "100-microtask burst and {rounds} single microtasks from a foreign thread all ran \
             ({slept} of {} times the loop was observed asleep first)",
            rounds + 1
        ));
        Ok(())
    })
}
