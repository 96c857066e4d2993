//! Soak: hours of the conservation contract in minutes of wall time.
//!
//! The conformance checks each exercise one property a few thousand times. A soak repeats the
//! whole life of a loop — create, run, be hammered from several producer threads and from its
//! own tasks, stop — round after round until a time budget is spent, and accounts for **every**
//! closure by id with a [`ProbeSet`]:
//!
//! * every *accepted* closure (its `submit` returned `Ok`) runs exactly once, on the loop
//!   thread, unless a `close` dropped it: per round, `ran + dropped by close == accepted`;
//! * every *rejected* closure comes back to its submitter (it is dropped there, never run);
//! * no id runs twice;
//! * once the loop is gone, every closure ever made has been dropped exactly once (no leak, no
//!   double drop).
//!
//! Rounds cycle through three endings, so the stop paths are raced, not only the happy path:
//!
//! 1. [`Ending::Drained`]: the producers finish, then `shutdown` (everything accepted runs);
//! 2. [`Ending::ShutdownRace`]: `shutdown` once half the round was accepted, while the producers
//!    keep submitting (the rest is rejected; everything accepted still runs);
//! 3. [`Ending::CloseRace`]: `close` once half the round was accepted, while the producers keep
//!    submitting (what was queued is dropped and counted by `close`'s return value).
//!
//! From the loop thread, every 16th task submits a follow-up task (reentrant `submit`); where the
//! loop declares them, another 16th schedules a microtask and another a timer (half due at
//! once, half after 1 ms, so some are still pending when a round stops). Each may be accepted
//! (also while a shutdown drains) or rejected (after close). Timers still pending when a
//! graceful drain ends are dropped unrun, as the contract allows, so a shutdown round holds
//! timers only to "run or dropped, exactly once"; tasks and microtasks must all run.
//!
//! Where the loop declares readiness, each round also registers a pipe whose callback drains
//! it; the producers write a byte into it every 64 tasks, and drained rounds check that no byte
//! goes unread, then unregister the fd and register it anew (see [`readiness`]).
//!
//! Every wait is bounded ([`SoakSettings::wait_bound`]); a loop that hangs is a finding of the
//! round, not a hung soak. No sleeps anywhere.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Weak};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, LoopConfig, RunError};

use crate::support::{Deadline, LoopThread, ProbeSet, spawn_bounded};

pub mod readiness;

use readiness::{Poker, RoundReadiness};

/// From the loop thread, task `id` submits a follow-up task when `id % FOLLOW_UP_EVERY == 0`,
/// schedules a microtask when it is `FOLLOW_UP_EVERY / 2`, a timer when `FOLLOW_UP_EVERY / 4`.
pub const FOLLOW_UP_EVERY: usize = 16;

/// Which id range a probe belongs to (producers' tasks first, then one range per follow-up kind,
/// each `n.div_ceil(FOLLOW_UP_EVERY)` long).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Task,
    FollowUp,
    Microtask,
    Timer,
}

/// The id layout of a round of `n` producer tasks.
#[derive(Debug, Clone, Copy)]
struct Layout {
    n: usize,
    per_kind: usize,
}

impl Layout {
    fn new(n: usize) -> Self {
        Layout { n, per_kind: n.div_ceil(FOLLOW_UP_EVERY) }
    }
    fn total(&self) -> usize {
        self.n + 3 * self.per_kind
    }
    fn child(&self, kind: Kind, parent: usize) -> usize {
        let slot = parent / FOLLOW_UP_EVERY;
        match kind {
            Kind::Task => parent,
            Kind::FollowUp => self.n + slot,
            Kind::Microtask => self.n + self.per_kind + slot,
            Kind::Timer => self.n + 2 * self.per_kind + slot,
        }
    }
    fn kind_of(&self, id: usize) -> Kind {
        match id.checked_sub(self.n).map(|k| k / self.per_kind) {
            None => Kind::Task,
            Some(0) => Kind::FollowUp,
            Some(1) => Kind::Microtask,
            _ => Kind::Timer,
        }
    }
}

/// How a round stops its loop (they cycle in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Producers finish, then a graceful `shutdown`.
    Drained,
    /// `shutdown` once half the round's tasks were accepted, producers still submitting.
    ShutdownRace,
    /// `close` once half the round's tasks were accepted, producers still submitting.
    CloseRace,
}

impl Ending {
    /// The ending of round `round` (0-based).
    pub fn of_round(round: u64) -> Ending {
        match round % 3 {
            0 => Ending::Drained,
            1 => Ending::ShutdownRace,
            _ => Ending::CloseRace,
        }
    }
}

/// What a soak does.
#[derive(Debug, Clone)]
pub struct SoakSettings {
    /// Wall time budget: no round starts after it has passed (the last round finishes).
    pub duration: Duration,
    /// Producer threads per round (≥ 1).
    pub producers: usize,
    /// Tasks the producers submit per round, all together (≥ 2), before follow-ups.
    pub tasks_per_round: usize,
    /// Bound of every wait inside a round (a shutdown, the loop thread's exit, a producer).
    pub wait_bound: Duration,
}

impl Default for SoakSettings {
    /// 60 s, 3 producers, 100,000 tasks per round, 30 s wait bound.
    fn default() -> Self {
        SoakSettings {
            duration: Duration::from_secs(60),
            producers: 3,
            tasks_per_round: 100_000,
            wait_bound: Duration::from_secs(30),
        }
    }
}

/// The running totals of a soak (all rounds so far).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoakTotals {
    /// Rounds completed.
    pub rounds: u64,
    /// Closures whose `submit` returned `Ok` (producers' and follow-ups).
    pub accepted: u64,
    /// Closures whose `submit` was rejected (they came back and were dropped by the submitter).
    pub rejected: u64,
    /// Closures that ran (each at least once).
    pub ran: u64,
    /// Closures `close` reported dropped (the sum of its return values).
    pub dropped_by_close: u64,
    /// Accepted closures that neither ran nor were counted by `close`: lost.
    pub lost: u64,
    /// Ids that ran more than once.
    pub ran_twice: u64,
    /// Closures not dropped exactly once after their loop was gone (leaked or double-dropped).
    pub bad_drops: u64,
    /// Threads other than the loop thread that ran tasks, plus readiness calls made off it.
    pub off_loop_thread: u64,
    /// Rounds that failed outright (a hang, a panic out of `run`, an error from `new`/`run`).
    pub failed_rounds: u64,
    /// Readiness callback invocations (0 where the loop does not declare readiness).
    pub fd_callbacks: u64,
    /// Bytes written to a drained round's pipe that no readiness callback read in time.
    pub unread_bytes: u64,
    /// Readiness callback invocations after their `unregister` had returned.
    pub calls_after_unregister: u64,
    /// The first few findings, in words (at most [`SoakTotals::MAX_FINDINGS`]).
    pub findings: Vec<String>,
    /// Wall time spent, ms.
    pub elapsed_ms: u64,
}

impl SoakTotals {
    /// How many findings are kept in words.
    pub const MAX_FINDINGS: usize = 10;

    /// Whether the soak found nothing wrong.
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.ran_twice == 0
            && self.bad_drops == 0
            && self.off_loop_thread == 0
            && self.failed_rounds == 0
            && self.unread_bytes == 0
            && self.calls_after_unregister == 0
    }

    fn note(&mut self, round: u64, what: String) {
        if self.findings.len() < Self::MAX_FINDINGS {
            self.findings.push(format!("round {round}: {what}"));
        }
    }
}

impl fmt::Display for SoakTotals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rounds, {} accepted, {} rejected, {} ran, {} dropped by close, {} lost, {} ran \
             twice, {} bad drops, {} off the loop thread, {} failed rounds, {} fd callbacks, {} \
             unread bytes, {} calls after unregister",
            self.rounds,
            self.accepted,
            self.rejected,
            self.ran,
            self.dropped_by_close,
            self.lost,
            self.ran_twice,
            self.bad_drops,
            self.off_loop_thread,
            self.failed_rounds,
            self.fd_callbacks,
            self.unread_bytes,
            self.calls_after_unregister
        )
    }
}

/// Soaks loop type `L` with `config` under `settings`, calling `progress` with the totals after
/// every round, until the duration has passed or `stop` is set. Returns the final totals; a
/// defect is reported in them ([`SoakTotals::clean`]), never by a panic.
///
/// # Panics
/// `settings.producers` is 0 or `settings.tasks_per_round` is below 2.
pub fn soak<L: EventLoop>(
    config: &LoopConfig,
    settings: &SoakSettings,
    stop: &AtomicBool,
    mut progress: impl FnMut(&SoakTotals),
) -> SoakTotals {
    assert!(settings.producers >= 1, "a soak needs at least one producer");
    assert!(settings.tasks_per_round >= 2, "a soak round needs at least 2 tasks");
    let start = Instant::now();
    let mut totals = SoakTotals::default();
    while start.elapsed() < settings.duration && !stop.load(Ordering::Relaxed) {
        let round = totals.rounds;
        if let Err(why) = soak_round::<L>(config, settings, round, &mut totals) {
            totals.failed_rounds += 1;
            totals.note(round, why);
        }
        totals.rounds += 1;
        totals.elapsed_ms = start.elapsed().as_millis() as u64;
        progress(&totals);
    }
    totals.elapsed_ms = start.elapsed().as_millis() as u64;
    totals
}

/// Counters shared by the producers and the tasks of one round.
struct RoundCounters {
    /// Accepted tasks and microtasks.
    accepted: AtomicU64,
    /// Accepted timers.
    accepted_timers: AtomicU64,
    rejected: AtomicU64,
}

/// One round; adds its accounting to `totals`. `Err` when the round could not be completed
/// (its accounting is then not added, apart from what is certain).
fn soak_round<L: EventLoop>(
    config: &LoopConfig,
    settings: &SoakSettings,
    round: u64,
    totals: &mut SoakTotals,
) -> Result<(), String> {
    let ending = Ending::of_round(round);
    let n = settings.tasks_per_round;
    let layout = Layout::new(n);
    let set = ProbeSet::new(layout.total());
    let lp = Arc::new(L::new(config).map_err(|e| format!("L::new failed: {e}"))?);
    let mut lt = LoopThread::spawn(&lp, "soak-loop", settings.wait_bound)
        .map_err(|e| format!("cannot spawn the loop thread: {e}"))?;
    let loop_tid = lt.thread_id();
    let mut readiness = RoundReadiness::start::<L>(&lp, loop_tid)?;
    let counters = Arc::new(RoundCounters {
        accepted: AtomicU64::new(0),
        accepted_timers: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
    });
    let start_line = Arc::new(Barrier::new(settings.producers + 1));

    let mut producers = Vec::with_capacity(settings.producers);
    for p in 0..settings.producers {
        let (lp, set, counters, start_line) =
            (Arc::clone(&lp), Arc::clone(&set), Arc::clone(&counters), Arc::clone(&start_line));
        let poker: Option<Poker> = readiness.as_ref().map(RoundReadiness::poker);
        // Producer p submits ids p, p + P, p + 2P, …: the producers' ids interleave, so "half
        // accepted" is reached by all of them at about the same time.
        let stride = settings.producers;
        producers.push(
            spawn_bounded("soak-producer", move || {
                start_line.wait();
                let weak = Arc::downgrade(&lp);
                for id in (p..n).step_by(stride) {
                    if let Some(poker) = poker.as_ref().filter(|_| Poker::pokes(id)) {
                        poker.poke();
                    }
                    let task = task_for(&set, &weak, &counters, id, layout);
                    match lp.submit(task) {
                        Ok(()) => {
                            counters.accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(rejected) => {
                            counters.rejected.fetch_add(1, Ordering::SeqCst);
                            // The closure came back: dropping it here is its one drop.
                            drop(rejected.task);
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot spawn a producer: {e}"))?,
        );
    }
    start_line.wait();

    let deadline = Deadline::after(settings.wait_bound);
    let mut dropped_by_close = 0_u64;
    match ending {
        Ending::Drained => {
            if let Some(r) = readiness.as_mut() {
                // While the producers are still submitting, so the shutdown below still meets a
                // backlog (waiting for the pipe after they finished would let the queue drain
                // first, and a shutdown that discards queued tasks would go unnoticed).
                wait_submitted(&counters, (n / 4) as u64, &deadline)?;
                let findings = r.settle_and_reregister(&*lp, &deadline);
                if !findings.is_empty() {
                    totals.failed_rounds += 1;
                }
                for finding in findings {
                    totals.note(round, format!("{ending:?}: {finding}"));
                }
            }
            for p in &mut producers {
                p.wait(&deadline).map_err(|e| format!("a producer {e}"))?;
            }
            lp.shutdown(settings.wait_bound).map_err(|e| format!("shutdown: {e}"))?;
        }
        Ending::ShutdownRace | Ending::CloseRace => {
            wait_submitted(&counters, (n / 2) as u64, &deadline)?;
            if ending == Ending::ShutdownRace {
                lp.shutdown(settings.wait_bound).map_err(|e| format!("racing shutdown: {e}"))?;
            } else {
                dropped_by_close = lp.close();
            }
            for p in &mut producers {
                p.wait(&deadline).map_err(|e| format!("a producer {e}"))?;
            }
        }
    }
    match lt.join(&deadline) {
        Ok(Ok(())) => {}
        // `close` won the race against the loop thread's first `run`: the contract has that
        // `run` return `Terminated` (everything queued was dropped and counted by `close`).
        Ok(Err(RunError::Terminated)) if ending == Ending::CloseRace => {}
        Ok(Err(e)) => return Err(format!("{ending:?}: run returned {e}")),
        Err(e) => return Err(format!("the loop thread {e}")),
    }
    // Once `run` returned nothing of this round is still running or queued; `close` after a
    // completed shutdown is a no-op returning 0, which keeps the sum exact either way.
    dropped_by_close += lp.close();
    let accepted_timers = counters.accepted_timers.load(Ordering::SeqCst);
    let accepted = counters.accepted.load(Ordering::SeqCst) + accepted_timers;
    let rejected = counters.rejected.load(Ordering::SeqCst);
    let ran = set.ran_count();

    // Drop every handle to the loop, so its queues (and any closure still in them) are gone
    // before the drops are counted.
    drop(lt);
    drop(producers);
    let lp_alive = Arc::strong_count(&lp);
    drop(lp);
    if lp_alive != 1 {
        totals.note(round, format!("{} handles to the loop outlived the round", lp_alive - 1));
    }

    let (mut twice, mut bad_drops, mut timers_ran) = (0_u64, 0_u64, 0_u64);
    for id in 0..layout.total() {
        if set.runs_of(id) > 1 {
            twice += 1;
        }
        if layout.kind_of(id) == Kind::Timer && set.runs_of(id) > 0 {
            timers_ran += 1;
        }
        // Every closure made is dropped exactly once; a follow-up id whose parent never ran was
        // never made.
        if set.drops_of(id) != set.created_of(id) || set.created_of(id) > 1 {
            bad_drops += 1;
        }
    }
    let fd = readiness.take().map(RoundReadiness::finish).unwrap_or_default();
    let off_thread = set.threads().iter().filter(|t| **t != loop_tid).count() as u64;
    // `close` drops (and counts) every queued task, microtask and timer; a completed drain runs
    // every task and microtask but may drop timers not yet due (uncounted), so there the
    // conservation is over tasks and microtasks only, and the drop check holds the timers.
    let (want, got) = if ending == Ending::CloseRace {
        (accepted, ran + dropped_by_close)
    } else {
        (accepted - accepted_timers, ran - timers_ran + dropped_by_close)
    };
    let lost = want.saturating_sub(got);
    let excess = got.saturating_sub(want);

    totals.accepted += accepted;
    totals.rejected += rejected;
    totals.ran += ran;
    totals.dropped_by_close += dropped_by_close;
    totals.lost += lost;
    totals.ran_twice += twice;
    totals.bad_drops += bad_drops + fd.bad_drops;
    totals.off_loop_thread += off_thread + fd.off_loop_thread;
    totals.fd_callbacks += fd.calls;
    totals.unread_bytes += fd.unread_bytes;
    totals.calls_after_unregister += fd.calls_after_unregister;
    if fd.bad_drops > 0 {
        let n = fd.bad_drops;
        totals.note(round, format!("{ending:?}: {n} readiness callbacks not dropped exactly once"));
    }
    if fd.calls_after_unregister > 0 {
        let n = fd.calls_after_unregister;
        totals.note(
            round,
            format!("{ending:?}: a readiness callback ran {n} times after its unregister returned"),
        );
    }
    if fd.off_loop_thread > 0 {
        let n = fd.off_loop_thread;
        totals.note(round, format!("{ending:?}: {n} readiness calls off the loop thread"));
    }
    if lost > 0 {
        totals.note(round, format!("{ending:?}: {lost} accepted closures neither ran nor were dropped by close ({accepted} accepted, {ran} ran, {dropped_by_close} dropped)"));
    }
    if excess > 0 {
        totals.note(round, format!("{ending:?}: ran + dropped exceeds accepted by {excess}"));
        totals.failed_rounds += 1;
    }
    if twice > 0 {
        totals.note(round, format!("{ending:?}: {twice} ids ran more than once"));
    }
    if bad_drops > 0 {
        totals.note(round, format!("{ending:?}: {bad_drops} closures not dropped exactly once"));
    }
    if off_thread > 0 {
        totals.note(
            round,
            format!("{ending:?}: tasks ran on {off_thread} threads besides the loop thread"),
        );
    }
    if ending != Ending::CloseRace && dropped_by_close > 0 {
        totals.note(
            round,
            format!("{ending:?}: close after a completed shutdown dropped {dropped_by_close}"),
        );
    }
    Ok(())
}

/// Waits until the producers made `count` submissions (accepted or rejected).
fn wait_submitted(counters: &RoundCounters, count: u64, deadline: &Deadline) -> Result<(), String> {
    let reached = crate::support::spin_until(deadline, || {
        counters.accepted.load(Ordering::SeqCst) + counters.rejected.load(Ordering::SeqCst) >= count
    });
    if reached {
        Ok(())
    } else {
        Err(format!("producers did not reach {count} submissions in time"))
    }
}

/// What a producer task does from the loop thread after running its probe ([`FOLLOW_UP_EVERY`]).
fn follow_up_kind<L: EventLoop>(id: usize) -> Option<Kind> {
    match id % FOLLOW_UP_EVERY {
        0 => Some(Kind::FollowUp),
        r if r == FOLLOW_UP_EVERY / 2 && L::CAPABILITIES.microtasks => Some(Kind::Microtask),
        r if r == FOLLOW_UP_EVERY / 4 && L::CAPABILITIES.timers => Some(Kind::Timer),
        _ => None,
    }
}

/// The closure for producer id `id`: runs its probe and, for some ids, submits a follow-up
/// task, schedules a microtask or a timer from the loop thread ([`follow_up_kind`]).
fn task_for<L: EventLoop>(
    set: &Arc<ProbeSet>,
    lp: &Weak<L>,
    counters: &Arc<RoundCounters>,
    id: usize,
    layout: Layout,
) -> impl FnOnce() + Send + 'static + use<L> {
    let probe = set.probe(id);
    let follow_up = follow_up_kind::<L>(id).map(|kind| {
        (Arc::clone(set), Weak::clone(lp), Arc::clone(counters), kind, layout.child(kind, id))
    });
    move || {
        probe.run();
        let Some((set, lp, counters, kind, child)) = follow_up else { return };
        let Some(lp) = lp.upgrade() else { return };
        let accepted = match kind {
            Kind::Microtask => lp.schedule_microtask(set.task(child)).map_err(|r| drop(r.task)),
            Kind::Timer => {
                // Half due at once, half after 1 ms: some are pending when the round stops.
                let delay = Duration::from_millis((child % 2) as u64);
                lp.schedule_timer(delay, set.task(child)).map(|_| ()).map_err(|r| drop(r.task))
            }
            Kind::Task | Kind::FollowUp => lp.submit(set.task(child)).map_err(|r| drop(r.task)),
        };
        let counter = match (accepted, kind) {
            (Ok(()), Kind::Timer) => &counters.accepted_timers,
            (Ok(()), _) => &counters.accepted,
            (Err(()), _) => &counters.rejected,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}
