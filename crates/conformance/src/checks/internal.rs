//! The internal queue: priority over external work, chains, mixed workloads.

use std::sync::{Arc, Mutex};

use loop_api::EventLoop;

use super::{Check, gated, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Sequence, Tally, lock};

/// Number of external tasks queued ahead of the internal one (the Go
/// `SchedulerPriorityLatency` backlog).
const BACKLOG: usize = 64;

/// **internal_priority** (only if `capabilities.internal_priority`): internal work runs before
/// external work that was queued at the time.
///
/// 1. A barrier holds the loop; 64 external tasks, then 1 internal task are queued; after release
///    the internal task must run first.
/// 2. The same with 3 internal tasks: they must run first, in FIFO order.
/// 3. Behind the barrier: task X, then 64 external tasks; X calls `submit_internal(I)` on the loop
///    thread: I must run right after X, before the 64.
///
/// Same N in quick mode.
pub fn check_internal_priority<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    gated(ctx, "internal_priority", L::CAPABILITIES.internal_priority, "internal-priority", |c| {
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        for n_int in [1_usize, 3] {
            c.phase(format!("{BACKLOG} external then {n_int} internal behind a barrier"));
            let seq = Sequence::new();
            let mut gate = c.block(&lp)?;
            for i in 0..BACKLOG {
                let s = seq.clone();
                lp.submit(move || s.push(format!("E{i}")))
                    .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
            }
            for i in 0..n_int {
                let s = seq.clone();
                lp.submit_internal(move || s.push(format!("I{i}")))
                    .map_err(|r| c.fail(format!("submit_internal rejected: {}", r.reason)))?;
            }
            gate.release();
            let total = (BACKLOG + n_int) as u64;
            seq.wait_len(total, &c.deadline())
                .map_err(|seen| c.timeout(format!("only {seen} of {total} queued tasks ran")))?;
            let events = seq.events();
            let want: Vec<String> = (0..n_int).map(|i| format!("I{i}")).collect();
            if events[..n_int] != want[..] {
                return Err(c.fail(format!(
                    "with {BACKLOG} external tasks queued before {n_int} internal task(s), the \
                     run order began {:?}; expected the internal task(s) {want:?} first",
                    &events[..(n_int + 3).min(events.len())]
                )));
            }
        }

        c.phase("submit_internal from a task with a queued external backlog");
        let seq = Sequence::new();
        let mut gate = c.block(&lp)?;
        let (l, s) = (lp.clone(), seq.clone());
        lp.submit(move || {
            s.push("X");
            let s2 = s.clone();
            if l.submit_internal(move || s2.push("I")).is_err() {
                s.push("submit_internal rejected");
            }
        })
        .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
        for i in 0..BACKLOG {
            let s = seq.clone();
            lp.submit(move || s.push(format!("E{i}")))
                .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
        }
        gate.release();
        let total = (BACKLOG + 2) as u64;
        seq.wait_len(total, &c.deadline())
            .map_err(|seen| c.timeout(format!("only {seen} of {total} tasks ran")))?;
        let events = seq.events();
        if events[..2] != ["X", "I"] {
            return Err(c.fail(format!(
                "an internal task submitted by a running task with {BACKLOG} external tasks queued \
                 ran at position {:?} (order began {:?}); expected right after its submitter",
                events.iter().position(|e| e == "I"),
                &events[..4.min(events.len())]
            )));
        }
        c.stop(&mut lt)?;
        c.note(format!("internal tasks ran before a {BACKLOG}-task external backlog (1 and 3 queued; 1 from inside a task)"));
        Ok(())
    })
}

fn chain_step<L: EventLoop>(
    lp: Arc<L>,
    step: usize,
    depth: usize,
    done: Arc<Tally>,
    err: Arc<Mutex<Option<String>>>,
) {
    done.add(1);
    if step < depth {
        let l = lp.clone();
        let (d, e) = (done.clone(), err.clone());
        if let Err(r) = lp.submit_internal(move || chain_step(l, step + 1, depth, d, e)) {
            lock(&err).get_or_insert(format!(
                "submit_internal at chain step {step} rejected: {}",
                r.reason
            ));
        }
    }
}

/// **internal_chain**: a task submitted externally calls `submit_internal`, and each internal
/// task submits the next from inside, to depth D; exactly D internal steps must run, no
/// submission may fail. D = 50 and 100 (quick: 50). Ports the Go
/// `TestInternalChainDepth50/100`.
pub fn check_internal_chain<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "internal_chain", |c| {
        let depths: &[usize] = if c.ctx.is_quick() { &[50] } else { &[50, 100] };
        for &depth in depths {
            c.phase(format!("internal chain of depth {depth}"));
            let lp = c.new_loop::<L>()?;
            let mut lt = c.start(&lp)?;
            let done = Arc::new(Tally::new());
            let err = Arc::new(Mutex::new(None));
            let (l, d, e) = (lp.clone(), done.clone(), err.clone());
            lp.submit(move || {
                let l2 = l.clone();
                let (d2, e2) = (d.clone(), e.clone());
                if let Err(r) = l.submit_internal(move || chain_step(l2, 1, depth, d2, e2)) {
                    lock(&e).get_or_insert(format!(
                        "submit_internal from the root task rejected: {}",
                        r.reason
                    ));
                }
            })
            .map_err(|r| c.fail(format!("submit of the chain root rejected: {}", r.reason)))?;
            let wait = done.wait_for(depth as u64, &c.deadline());
            if let Some(e) = lock(&err).clone() {
                return Err(c.fail(e));
            }
            wait.map_err(|seen| {
                c.timeout(format!("only {seen} of {depth} chained internal steps ran"))
            })?;
            c.stop(&mut lt)?;
            if done.get() != depth as u64 {
                return Err(c.fail(format!(
                    "{} chained internal steps ran; expected exactly {depth}",
                    done.get()
                )));
            }
            c.count(format!("depth_{depth}.steps"), done.get());
        }
        c.note(format!("internal chains of depth {depths:?} completed exactly"));
        Ok(())
    })
}

/// **mixed_external_internal**: 10 producers × 100 external tasks, each of which calls
/// `submit_internal` from inside the loop: exactly 1,000 external and 1,000 internal executions,
/// no rejection; after `shutdown`, `stats()` must count exactly 2,000 (+1 warm-up) tasks run
/// (`tasks_run_internal` = 1,000 when internal priority is supported, else counted as external).
/// Ports the Go `TestExternalInternalMixedWorkload`. Same N in quick mode.
pub fn check_mixed_external_internal<L: EventLoop>(
    ctx: &CheckContext,
) -> Result<Report, Violation> {
    run_check(ctx, "mixed_external_internal", |c| {
        let (producers, per) = (10_usize, 100_usize);
        let total = (producers * per) as u64;
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let (ext, int) = (Arc::new(Tally::new()), Arc::new(Tally::new()));
        let err = Arc::new(Mutex::new(None::<String>));
        let (l, x, i, e) = (lp.clone(), ext.clone(), int.clone(), err.clone());
        let results = c.parallel("producer", producers, move |k| {
            for n in 0..per {
                let (l2, x2, i2, e2) = (l.clone(), x.clone(), i.clone(), e.clone());
                let r = l.submit(move || {
                    x2.add(1);
                    let i3 = i2.clone();
                    if let Err(r) = l2.submit_internal(move || {
                        i3.add(1);
                    }) {
                        lock(&e2).get_or_insert(format!(
                            "submit_internal inside a task rejected: {}",
                            r.reason
                        ));
                    }
                });
                if let Err(r) = r {
                    return Err(format!("producer {k}: submit #{n} rejected: {}", r.reason));
                }
            }
            Ok(())
        })?;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(c.fail(e));
        }
        ext.wait_for(total, &c.deadline())
            .map_err(|s| c.timeout(format!("only {s} of {total} external tasks ran")))?;
        let w = int.wait_for(total, &c.deadline());
        if let Some(e) = lock(&err).clone() {
            return Err(c.fail(e));
        }
        w.map_err(|s| c.timeout(format!("only {s} of {total} internal tasks ran")))?;
        c.stop(&mut lt)?;
        check_counts(c, ext.get(), int.get(), total)?;
        let st = lp.stats();
        let run = st.tasks_run_external + st.tasks_run_internal;
        if run != 2 * total + 1 {
            return Err(c.fail(format!(
                "stats() counts {} external + {} internal tasks run; expected {} in total \
                 ({total} external + {total} internal + 1 warm-up)",
                st.tasks_run_external,
                st.tasks_run_internal,
                2 * total + 1
            )));
        }
        if L::CAPABILITIES.internal_priority && st.tasks_run_internal != total {
            return Err(c.fail(format!(
                "stats().tasks_run_internal = {}; expected {total}",
                st.tasks_run_internal
            )));
        }
        c.count("external", ext.get());
        c.count("internal", int.get());
        c.note(format!(
            "{total} external tasks each submitted an internal task: exactly {total} + {total} ran"
        ));
        Ok(())
    })
}

fn check_counts(c: &Check, ext: u64, int: u64, total: u64) -> Result<(), Violation> {
    if ext != total || int != total {
        return Err(c.fail(format!(
            "{ext} external and {int} internal tasks ran; expected exactly {total} each"
        )));
    }
    Ok(())
}
