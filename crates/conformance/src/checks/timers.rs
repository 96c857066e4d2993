//! Timers: never early, deadline order, scheduled before run, cancellation.

use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, TimerId};

use super::{Check, gated};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{LoopThread, Tally, lock};

/// One scheduled timer, as observed.
#[derive(Clone, Debug)]
struct Rec {
    label: String,
    delay: Duration,
    /// Taken just before `schedule_timer`: the deadline is at least `before + delay`.
    before: Instant,
    /// Taken just after `schedule_timer` returned: the deadline is at most `after + delay`.
    after: Instant,
    /// Scheduling order among timers scheduled by the same thread with the same delay.
    order: usize,
    fired: Option<(Instant, ThreadId)>,
}

#[derive(Default)]
struct Board {
    recs: Mutex<Vec<Rec>>,
    fire_order: Mutex<Vec<usize>>,
    fired: Tally,
}

impl Board {
    /// Schedules timer `idx` (already recorded) on `lp`.
    fn schedule<L: EventLoop>(
        self: &Arc<Self>,
        lp: &L,
        label: String,
        delay: Duration,
        order: usize,
    ) -> Result<(), String> {
        let idx = {
            let mut recs = lock(&self.recs);
            let now = Instant::now();
            recs.push(Rec {
                label: label.clone(),
                delay,
                before: now,
                after: now,
                order,
                fired: None,
            });
            recs.len() - 1
        };
        let b = self.clone();
        let before = Instant::now();
        let r = lp.schedule_timer(delay, move || {
            let at = Instant::now();
            lock(&b.recs)[idx].fired = Some((at, thread::current().id()));
            lock(&b.fire_order).push(idx);
            b.fired.add(1);
        });
        let after = Instant::now();
        {
            let mut recs = lock(&self.recs);
            recs[idx].before = before;
            recs[idx].after = after;
        }
        r.map(|_| ())
            .map_err(|e| format!("schedule_timer({delay:?}) for {label} rejected: {}", e.reason))
    }
}

/// **timer_ordering** (only if `capabilities.timers`): timers never fire before their deadline
/// and fire in deadline order, ties in scheduling order.
///
/// * From inside a task (on the loop thread): 20 timers with delays 0, 2, …, 38 ms scheduled in a
///   shuffled order, then 5 timers with the same 41 ms delay.
/// * From the check's thread: 10 timers with delays 1–10 ms.
///
/// Each callback records when it fired: it must not be earlier than (instant before the
/// `schedule_timer` call) + delay — measured per timer, no tolerance. Order: whenever timer j's
/// latest possible deadline (instant after the call + delay) is earlier than timer i's earliest
/// (instant before + delay), j must fire before i; equal delays from one thread fire in
/// scheduling order. All on the loop thread; `stats().timers_fired` = 35. Same in quick mode.
pub fn check_timer_ordering<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    gated(ctx, "timer_ordering", L::CAPABILITIES.timers, "timers", |c| {
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let board = Arc::new(Board::default());
        c.phase("scheduling timers from inside a task");
        let (tx, rx) = mpsc::channel();
        let (l, b) = (lp.clone(), board.clone());
        lp.submit(move || {
            let mut errs = Vec::new();
            for i in 0..20_u64 {
                let k = (i * 7) % 20;
                if let Err(e) = b.schedule(
                    &*l,
                    format!("loop-thread timer {k}×2ms"),
                    Duration::from_millis(2 * k),
                    0,
                ) {
                    errs.push(e);
                }
            }
            for t in 0..5 {
                if let Err(e) =
                    b.schedule(&*l, format!("tie timer #{t} (41 ms)"), Duration::from_millis(41), t)
                {
                    errs.push(e);
                }
            }
            let _ = tx.send(errs);
        })
        .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
        let errs = rx
            .recv_timeout(c.ctx.wait_bound)
            .map_err(|_| c.timeout("the task scheduling timers never returned"))?;
        if let Some(e) = errs.first() {
            return Err(c.fail(e));
        }
        c.phase("scheduling timers from the check's thread");
        for k in 1..=10_u64 {
            board
                .schedule(&*lp, format!("foreign timer {k} ms"), Duration::from_millis(k), 0)
                .map_err(|e| c.fail(e))?;
        }
        c.phase("waiting for 35 timers");
        board
            .fired
            .wait_for(35, &c.deadline())
            .map_err(|seen| c.timeout(format!("only {seen} of 35 timers fired")))?;
        c.stop(&mut lt)?;
        verify_board(c, &board, &lt)?;
        let fired = lp.stats().timers_fired;
        if fired != 35 {
            return Err(c.fail(format!("35 timers fired but stats().timers_fired = {fired}")));
        }
        let recs = lock(&board.recs).clone();
        let worst_late = recs
            .iter()
            .filter_map(|r| r.fired.map(|(at, _)| at.saturating_duration_since(r.before + r.delay)))
            .max()
            .unwrap_or_default();
        c.count("timers", 35);
        c.timing("max_lateness", worst_late);
        c.note(format!("35 timers: none early, deadline order held, ties in scheduling order; worst lateness {worst_late:.2?}"));
        Ok(())
    })
}

fn verify_board<L: EventLoop>(
    c: &Check,
    board: &Board,
    lt: &LoopThread<L>,
) -> Result<(), Violation> {
    let recs = lock(&board.recs).clone();
    let order = lock(&board.fire_order).clone();
    for r in &recs {
        let Some((at, tid)) = r.fired else {
            return Err(c.fail(format!("{} never fired", r.label)));
        };
        let earliest = r.before + r.delay;
        if at < earliest {
            return Err(c.fail(format!(
                "{} fired {:?} before its deadline (delay {:?}, fired {:?} after the call began)",
                r.label,
                earliest - at,
                r.delay,
                at - r.before
            )));
        }
        if tid != lt.thread_id() {
            return Err(c.fail(format!("{} fired on thread {tid:?}, not the loop thread", r.label)));
        }
    }
    for (pos_i, &i) in order.iter().enumerate() {
        for &j in &order[pos_i + 1..] {
            // i fired before j: wrong if j's deadline was surely earlier than i's.
            let (ri, rj) = (&recs[i], &recs[j]);
            let j_latest = rj.after + rj.delay;
            let i_earliest = ri.before + ri.delay;
            if j_latest < i_earliest {
                return Err(c.fail(format!(
                    "{} fired before {} although its deadline was at least {:?} later (fire \
                     order {:?})",
                    ri.label,
                    rj.label,
                    i_earliest - j_latest,
                    order.iter().map(|&k| recs[k].label.as_str()).collect::<Vec<_>>()
                )));
            }
            let same_group =
                ri.delay == rj.delay && ri.label.starts_with("tie") && rj.label.starts_with("tie");
            if same_group && ri.order > rj.order {
                return Err(c.fail(format!(
                    "timers with equal delays fired out of scheduling order: {} before {}",
                    ri.label, rj.label
                )));
            }
        }
    }
    Ok(())
}

/// **timer_before_run** (only if `capabilities.timers`): timers scheduled before `run` fire.
/// `schedule_timer(0)` and `schedule_timer(5 ms)` on a loop that has not run (distinct ids);
/// then `run` starts; both must fire, once each, on the loop thread; a checkpoint task round trip
/// later they have still fired exactly once. Ports the Go `TestTimerScheduleCapability`.
pub fn check_timer_before_run<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    gated(ctx, "timer_before_run", L::CAPABILITIES.timers, "timers", |c| {
        let lp = c.new_loop::<L>()?;
        let fired = Arc::new(Tally::new());
        let threads = Arc::new(Mutex::new(Vec::new()));
        let mut ids: Vec<TimerId> = Vec::new();
        for delay in [Duration::ZERO, Duration::from_millis(5)] {
            let (f, t) = (fired.clone(), threads.clone());
            let id = lp
                .schedule_timer(delay, move || {
                    lock(&t).push(thread::current().id());
                    f.add(1);
                })
                .map_err(|r| {
                    c.fail(format!("schedule_timer({delay:?}) before run() rejected: {}", r.reason))
                })?;
            ids.push(id);
        }
        if ids[0] == ids[1] {
            return Err(c.fail(format!("two timers got the same id {:?}", ids[0])));
        }
        let mut lt = c.spawn_run(&lp)?;
        fired.wait_for(2, &c.deadline()).map_err(|seen| {
            c.timeout(format!("only {seen} of 2 timers scheduled before run() fired"))
        })?;
        let check = Arc::new(Tally::new());
        let k = check.clone();
        lp.submit(move || {
            k.add(1);
        })
        .map_err(|r| c.fail(format!("checkpoint submit rejected: {}", r.reason)))?;
        check.wait_for(1, &c.deadline()).map_err(|_| c.timeout("the checkpoint task never ran"))?;
        c.stop(&mut lt)?;
        if fired.get() != 2 {
            return Err(c.fail(format!(
                "timers scheduled before run() fired {} times; expected 2",
                fired.get()
            )));
        }
        if lock(&threads).iter().any(|t| *t != lt.thread_id()) {
            return Err(c.fail("a timer scheduled before run() fired off the loop thread"));
        }
        c.note("timers due now and in 5 ms, scheduled before run(), fired exactly once each");
        Ok(())
    })
}

/// **timer_cancel** (only if `capabilities.timers`): `cancel_timer` prevents firing and reports
/// whether it did.
///
/// 1. Timer A (30 ms) and sentinel B (40 ms); `cancel(A)` → `Ok(true)`, again → `Ok(false)`;
///    after B fired, A never fired; `cancel(B)` after it fired → `Ok(false)`; an unknown id →
///    `Ok(false)`.
/// 2. From inside a task: schedule C (20 ms) and a sentinel (30 ms), cancel C → `Ok(true)`; C
///    never fires.
/// 3. 50 races (quick: 10): schedule a timer due now and cancel it at once. After a later
///    sentinel fired: a timer whose cancel returned `Ok(true)` never fired, one whose cancel
///    returned `Ok(false)` fired exactly once.
///
/// `stats().timers_fired` must equal the callbacks that ran.
pub fn check_timer_cancel<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    gated(ctx, "timer_cancel", L::CAPABILITIES.timers, "timers", |c| {
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let total_fired = Arc::new(Tally::new());
        let timer = |t: &Arc<Tally>| {
            let (t, all) = (t.clone(), total_fired.clone());
            move || {
                t.add(1);
                all.add(1);
            }
        };

        c.phase("part 1: cancel from a foreign thread");
        let (a, b) = (Arc::new(Tally::new()), Arc::new(Tally::new()));
        let ida = lp
            .schedule_timer(Duration::from_millis(30), timer(&a))
            .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
        let idb = lp
            .schedule_timer(Duration::from_millis(40), timer(&b))
            .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
        expect_cancel(c, &*lp, ida, true, "a pending timer")?;
        expect_cancel(c, &*lp, ida, false, "an already cancelled timer")?;
        b.wait_for(1, &c.deadline())
            .map_err(|_| c.timeout("the sentinel timer (40 ms) never fired"))?;
        if a.get() != 0 {
            return Err(c.fail("a timer cancelled with Ok(true) fired anyway"));
        }
        expect_cancel(c, &*lp, idb, false, "a timer that already fired")?;
        expect_cancel(c, &*lp, TimerId(u64::MAX), false, "an unknown timer id")?;

        c.phase("part 2: cancel from inside a task");
        let (cc, sentinel) = (Arc::new(Tally::new()), Arc::new(Tally::new()));
        let (tx, rx) = mpsc::channel();
        let (l, tc, ts) = (lp.clone(), timer(&cc), timer(&sentinel));
        lp.submit(move || {
            let r =
                l.schedule_timer(Duration::from_millis(20), tc).map_err(|r| r.reason.to_string());
            let s =
                l.schedule_timer(Duration::from_millis(30), ts).map_err(|r| r.reason.to_string());
            let cancelled = r.clone().map(|id| l.cancel_timer(id));
            let _ = tx.send((r.map(|_| ()), s.map(|_| ()), cancelled));
        })
        .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
        let (r, s, cancelled) = rx
            .recv_timeout(c.ctx.wait_bound)
            .map_err(|_| c.timeout("the task scheduling and cancelling timers never returned"))?;
        if let Err(e) = r.and(s) {
            return Err(c.fail(format!("schedule_timer from inside a task rejected: {e}")));
        }
        if cancelled != Ok(Ok(true)) {
            return Err(c.fail(format!(
                "cancel_timer from inside a task returned {cancelled:?}; expected Ok(true)"
            )));
        }
        sentinel
            .wait_for(1, &c.deadline())
            .map_err(|_| c.timeout("the sentinel timer (30 ms) never fired"))?;
        if cc.get() != 0 {
            return Err(c.fail("a timer cancelled from inside a task fired anyway"));
        }

        let races = c.n(50, 10);
        c.phase(format!("part 3: {races} schedule/cancel races"));
        let mut raced = Vec::with_capacity(races);
        for _ in 0..races {
            let t = Arc::new(Tally::new());
            let id = lp
                .schedule_timer(Duration::ZERO, timer(&t))
                .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
            let r = lp.cancel_timer(id).map_err(|e| c.fail(format!("cancel_timer failed: {e}")))?;
            raced.push((t, r));
        }
        let end = Arc::new(Tally::new());
        lp.schedule_timer(Duration::from_millis(5), timer(&end))
            .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
        end.wait_for(1, &c.deadline())
            .map_err(|_| c.timeout("the sentinel timer (5 ms) never fired"))?;
        let mut won = 0;
        for (k, (t, cancelled)) in raced.iter().enumerate() {
            match (cancelled, t.get()) {
                (true, 0) => won += 1,
                (false, 1) => {}
                (true, n) => {
                    return Err(c.fail(format!(
                        "race {k}: cancel_timer returned Ok(true) but the timer fired {n} time(s)"
                    )));
                }
                (false, n) => {
                    return Err(c.fail(format!(
                        "race {k}: cancel_timer returned Ok(false) (\"already fired\") but the timer \
                         fired {n} time(s) by the time a later timer fired"
                    )));
                }
            }
        }
        c.stop(&mut lt)?;
        let counted = lp.stats().timers_fired;
        if counted != total_fired.get() {
            return Err(c.fail(format!(
                "{} timer callbacks ran but stats().timers_fired = {counted}",
                total_fired.get()
            )));
        }
        c.count("races", races as u64);
        c.count("races_cancelled", won);
        c.note(format!(
            "cancel_timer: Ok(true) prevented firing, Ok(false) for fired/cancelled/unknown timers; \
             {won} of {races} immediate cancels won the race"
        ));
        Ok(())
    })
}

fn expect_cancel<L: EventLoop>(
    c: &Check,
    lp: &L,
    id: TimerId,
    want: bool,
    what: &str,
) -> Result<(), Violation> {
    let r = lp.cancel_timer(id);
    if r != Ok(want) {
        return Err(c.fail(format!("cancel_timer of {what} returned {r:?}; expected Ok({want})")));
    }
    Ok(())
}
