//! Statistics: exact task counts, monotonic counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loop_api::{EventLoop, LoopStats};

use super::run_check;
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Deadline, Tally};

/// Every field of [`LoopStats`] with its name.
fn fields(s: &LoopStats) -> [(&'static str, u64); 13] {
    [
        ("tasks_run_external", s.tasks_run_external),
        ("tasks_run_internal", s.tasks_run_internal),
        ("microtasks_run", s.microtasks_run),
        ("timers_fired", s.timers_fired),
        ("io_callbacks", s.io_callbacks),
        ("panics", s.panics),
        ("tasks_dropped", s.tasks_dropped),
        ("wake_syscalls", s.wake_syscalls),
        ("wakes_elided", s.wakes_elided),
        ("sleeps", s.sleeps),
        ("polls", s.polls),
        ("ticks", s.ticks),
        ("max_batch", s.max_batch),
    ]
}

/// `Err` naming the first counter that went backwards from `a` to `b`.
fn monotonic(a: &LoopStats, b: &LoopStats, when: &str) -> Result<(), String> {
    for ((name, x), (_, y)) in fields(a).into_iter().zip(fields(b)) {
        if y < x {
            return Err(format!("stats().{name} went backwards from {x} to {y} ({when})"));
        }
    }
    Ok(())
}

/// **stats_accounting**: `stats()` counts exactly what ran, and no counter ever goes backwards.
///
/// Workload on a fresh loop (same in quick mode): warm-up task; a barrier task with 2,000 external
/// tasks queued behind it; 100 `submit_internal`; 100 microtasks (if supported); 10 timers due
/// within 1 ms (if supported); 50 sequential round trips. Meanwhile a sampler thread reads
/// `stats()` continuously, and snapshots are taken between phases and after `run` returned: every
/// field (including `max_batch`, a maximum) must be non-decreasing across all of them. Final
/// values: external + internal tasks = 2,152 (internal = 100 exactly when internal priority is
/// supported), microtasks = 100 / 0, timers = 10 / 0, io_callbacks = panics = tasks_dropped = 0,
/// ticks ≥ 1, 1 ≤ max_batch ≤ 2,001, and max_batch ≤ the batch budget when the loop declares it
/// honours `batch_budget`.
pub fn check_stats_accounting<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "stats_accounting", |c| {
        let caps = L::CAPABILITIES;
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s, bound) = (lp.clone(), stop.clone(), c.ctx.check_bound);
        let mut sampler = c.spawn("stats sampler", move || {
            let deadline = Deadline::after(bound);
            let mut prev = l.stats();
            let mut samples = 1_u64;
            while !s.load(Ordering::SeqCst) && !deadline.expired() {
                let now = l.stats();
                monotonic(&prev, &now, &format!("between two consecutive samples, #{samples}"))?;
                prev = now;
                samples += 1;
                std::thread::yield_now();
            }
            Ok::<u64, String>(samples)
        })?;
        let mut snaps = vec![("after warm-up", lp.stats())];

        c.phase("2,000 external tasks behind a barrier");
        let ran = Arc::new(Tally::new());
        let task = |t: &Arc<Tally>| {
            let t = t.clone();
            move || {
                t.add(1);
            }
        };
        let mut gate = c.block(&lp)?;
        for i in 0..2_000 {
            lp.submit(task(&ran))
                .map_err(|r| c.fail(format!("submit #{i} rejected: {}", r.reason)))?;
        }
        gate.release();
        ran.wait_for(2_000, &c.deadline())
            .map_err(|s| c.timeout(format!("only {s} of 2000 tasks ran")))?;
        snaps.push(("after the 2,000-task batch", lp.stats()));

        c.phase("internal tasks, microtasks, timers");
        let other = Arc::new(Tally::new());
        let mut n_other = 0;
        for _ in 0..100 {
            lp.submit_internal(task(&other))
                .map_err(|r| c.fail(format!("submit_internal rejected: {}", r.reason)))?;
            n_other += 1;
        }
        if caps.microtasks {
            for _ in 0..100 {
                lp.schedule_microtask(task(&other))
                    .map_err(|r| c.fail(format!("schedule_microtask rejected: {}", r.reason)))?;
                n_other += 1;
            }
        }
        if caps.timers {
            for k in 0..10 {
                lp.schedule_timer(Duration::from_micros(k * 100), task(&other))
                    .map_err(|r| c.fail(format!("schedule_timer rejected: {}", r.reason)))?;
                n_other += 1;
            }
        }
        other
            .wait_for(n_other, &c.deadline())
            .map_err(|s| c.timeout(format!("only {s} of {n_other} callbacks ran")))?;
        snaps.push(("after internal tasks, microtasks and timers", lp.stats()));

        c.phase("50 sequential round trips");
        let rt = Arc::new(Tally::new());
        for i in 0..50 {
            lp.submit(task(&rt)).map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
            rt.wait_for(i + 1, &c.deadline())
                .map_err(|_| c.timeout(format!("round trip {i} never completed")))?;
        }
        snaps.push(("after 50 round trips", lp.stats()));
        c.stop(&mut lt)?;
        let end = lp.stats();
        snaps.push(("after run() returned", end));
        stop.store(true, Ordering::SeqCst);
        let samples = sampler
            .wait(&c.deadline())
            .map_err(|e| c.wait_error("the stats sampler", e))?
            .map_err(|e| c.fail(e))?;
        for w in snaps.windows(2) {
            monotonic(&w[0].1, &w[1].1, &format!("from {} to {}", w[0].0, w[1].0))
                .map_err(|e| c.fail(e))?;
        }

        let mut problems = Vec::new();
        let total_tasks = 1 + 1 + 2_000 + 100 + 50;
        if end.tasks_run_external + end.tasks_run_internal != total_tasks {
            problems.push(format!(
                "tasks_run_external ({}) + tasks_run_internal ({}) = {}; expected {total_tasks}",
                end.tasks_run_external,
                end.tasks_run_internal,
                end.tasks_run_external + end.tasks_run_internal
            ));
        }
        if caps.internal_priority && end.tasks_run_internal != 100 {
            problems.push(format!("tasks_run_internal = {}; expected 100", end.tasks_run_internal));
        }
        let want = |on: bool, n: u64| if on { n } else { 0 };
        for (name, got, expected) in [
            ("microtasks_run", end.microtasks_run, want(caps.microtasks, 100)),
            ("timers_fired", end.timers_fired, want(caps.timers, 10)),
            ("io_callbacks", end.io_callbacks, 0),
            ("panics", end.panics, 0),
            ("tasks_dropped", end.tasks_dropped, 0),
        ] {
            if got != expected {
                problems.push(format!("{name} = {got}; expected {expected}"));
            }
        }
        if end.ticks == 0 {
            problems.push("ticks = 0 after thousands of tasks".to_owned());
        }
        if end.max_batch == 0 || end.max_batch > 2_001 {
            problems.push(format!("max_batch = {}; expected 1..=2001", end.max_batch));
        }
        let budget = c.ctx.config.effective_batch_budget() as u64;
        if caps.batch_budget && end.max_batch > budget {
            problems.push(format!(
                "max_batch = {} exceeds the batch budget {budget} the loop declares it honours",
                end.max_batch
            ));
        }
        if let Some(p) = problems.first() {
            return Err(c.fail(format!(
                "final stats() wrong: {p} (all problems: {problems:?}; stats: {end:?})"
            )));
        }
        c.count("samples", samples);
        for (name, v) in fields(&end) {
            c.count(name, v);
        }
        c.note(format!("counters exact for the workload and monotonic over {samples} concurrent samples and {} snapshots", snaps.len()));
        Ok(())
    })
}
