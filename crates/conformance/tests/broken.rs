//! The checks can fail: each deliberately broken flavor of the reference loop must make the
//! check aimed at its defect return a `Violation` (of the expected kind, saying the expected
//! thing), while the same check passes on the correct reference.
//!
//! Broken loops run at quick scale with a 1 s wait bound, so a hang costs about a second.

mod support;

use std::time::Duration;

use loop_api::LoopConfig;
use loop_conformance::{CheckContext, CheckFn, Violation, ViolationKind};
use support::*;

fn ctx(name: &str) -> CheckContext {
    CheckContext::new(name, LoopConfig::default())
        .quick()
        .with_wait_bound(Duration::from_secs(1))
        .with_check_bound(Duration::from_secs(30))
}

/// `broken` must fail (with `kind`, if given, and a message containing `needle`); `correct`
/// must pass.
fn must_fail(
    flavor: &str,
    check: &str,
    broken: CheckFn,
    correct: CheckFn,
    kind: Option<ViolationKind>,
    needle: &str,
) -> Violation {
    let v = match broken(&ctx(flavor)) {
        Ok(report) => panic!("`{check}` passed on the broken flavor {flavor}: {report}"),
        Err(v) => v,
    };
    println!("{v}");
    assert_eq!(v.check, check, "{v}");
    assert_eq!(v.contender, flavor, "{v}");
    if let Some(kind) = kind {
        assert_eq!(v.kind, kind, "{v}");
    }
    assert!(v.message.contains(needle), "expected {needle:?} in: {v}");
    let shown = v.to_string();
    assert!(shown.contains(check) && shown.contains(flavor), "{shown}");
    if let Err(v) = correct(&ctx("correct")) {
        panic!("`{check}` failed on the correct reference: {v}");
    }
    v
}

macro_rules! broken {
    ($test:ident: $flavor:ident breaks $check:ident, $kind:expr, $needle:literal) => {
        #[test]
        fn $test() {
            must_fail(
                stringify!($flavor),
                stringify!($check),
                loop_conformance::by_name::$check::<RefLoop<$flavor>>,
                loop_conformance::by_name::$check::<RefLoop<Correct>>,
                $kind,
                $needle,
            );
        }
    };
}

const PROPERTY: Option<ViolationKind> = Some(ViolationKind::Property);
const TIMEOUT: Option<ViolationKind> = Some(ViolationKind::Timeout);
const PANIC: Option<ViolationKind> = Some(ViolationKind::Panic);
const ANY: Option<ViolationKind> = None;

// Exactly-once and FIFO.
broken!(dropped_task_fails_burst: DropEvery1000th breaks exactly_once_burst, TIMEOUT, "of 1000 burst tasks ran");
broken!(dropped_task_fails_multi_producer: DropEvery1000th breaks exactly_once_multi_producer, TIMEOUT, "tasks from 4 producers ran");
broken!(dropped_task_fails_conservation: DropEvery1000th breaks shutdown_conservation, PROPERTY, "accepted tasks had run");
broken!(lifo_fails_fifo: LifoExternal breaks fifo_per_producer, PROPERTY, "out of per-producer order");

// Shutdown and lifecycle.
broken!(no_conservation_fails_conservation: NoShutdownConservation breaks shutdown_conservation, PROPERTY, "accepted tasks had run");
broken!(no_conservation_fails_racing_submits: NoShutdownConservation breaks concurrent_shutdown_with_submits, PROPERTY, "tasks executed");
broken!(drain_on_caller_fails_conservation: DrainOnShutdownCaller breaks shutdown_conservation, PROPERTY, "other than the loop thread");
broken!(t28_fails_shutdown_before_run: ShutdownBeforeRunLoses breaks shutdown_before_run, PROPERTY, "T28");
broken!(one_woken_caller_fails_concurrent_shutdown: ShutdownWakesOneCaller breaks concurrent_shutdown, ANY, "caller #");
broken!(run_twice_accepted_fails_run_twice: RunTwiceAccepted breaks run_twice, TIMEOUT, "second concurrent run()");
broken!(close_running_tasks_fails_close: CloseRunsTasks breaks close_drops_pending, PROPERTY, "ran afterwards");
broken!(leaking_drop_fails_drop_without_shutdown: DropLeaks breaks drop_without_shutdown, PROPERTY, "leaked");

// Affinity, priority, internal queue.
broken!(caller_thread_fails_affinity: InternalOnCallerThread breaks thread_affinity, PROPERTY, "off the loop thread");
broken!(internal_after_external_fails_priority: InternalAfterExternal breaks internal_priority, PROPERTY, "expected the internal task(s)");

// Panics.
broken!(uncaught_panic_fails_isolation: NoPanicCatch breaks panic_isolation, PROPERTY, "the panic stopped the loop");
broken!(uncaught_panic_fails_isolation_multiple: NoPanicCatch breaks panic_isolation_multiple, PROPERTY, "the panic stopped the loop");
broken!(uncounted_panics_fail_isolation: PanicsNotCounted breaks panic_isolation, PROPERTY, "stats().panics");

// Microtasks and wake-ups.
broken!(microtask_without_wake_fails_foreign_wake: MicrotaskNoWake breaks microtask_foreign_wake, TIMEOUT, "lost wake-up for microtasks");
broken!(microtasks_per_tick_fail_order: MicrotasksPerTick breaks microtask_order, PROPERTY, "did not run right after A");
broken!(lost_wakeup_fails_round_trips: LostWakeupEvery100th breaks no_lost_wakeup, TIMEOUT, "lost wake-up");
broken!(false_microtask_capability_fails_declaration: MicrotasksDeclaredButRejected breaks capabilities_declared, PROPERTY, "declared supported");

// Reentrancy.
broken!(tasks_under_lock_fail_reentrancy: RunsTasksUnderLock breaks reentrancy, TIMEOUT, "self-deadlock");

// Timers.
broken!(early_timers_fail_ordering: TimersFireEarly breaks timer_ordering, PROPERTY, "before its deadline");
broken!(fifo_timers_fail_ordering: TimersInSchedulingOrder breaks timer_ordering, PROPERTY, "although its deadline");
broken!(ignored_cancel_fails_cancel: CancelIgnored breaks timer_cancel, PROPERTY, "fired anyway");

// Readiness.
broken!(ignored_unregister_fails_readiness: UnregisterIgnored breaks readiness, PROPERTY, "unregister");
broken!(stale_callback_fails_readiness: StaleCallbackOnReuse breaks readiness, PROPERTY, "old callback");
broken!(phantom_event_fails_stale_events: PhantomEventOnReuse breaks stale_events, PROPERTY, "phantom event");
broken!(stale_callback_fails_stale_events: StaleCallbackOnReuse breaks stale_events, PROPERTY, "old callback ran");
broken!(double_dispatch_fails_no_double_dispatch: DoubleDispatch breaks no_double_dispatch, PROPERTY, "dispatched twice");

// Retention (IMP-002): closures kept alive after they were dropped.
broken!(close_keeping_slots_fails_retention: CloseKeepsSlots breaks retention, PROPERTY, "still hold their captured data after close()");
broken!(kept_cancelled_timers_fail_retention: CancelledTimersKept breaks retention, PROPERTY, "after 100 pending timers were cancelled");

// Statistics.
broken!(max_batch_backwards_fails_stats: MaxBatchIsLastBatch breaks stats_accounting, PROPERTY, "went backwards");

// The harness itself: panics, hangs and stuck loop threads become violations, never a panic or
// a hang of the caller.
broken!(panicking_submit_is_a_violation: SubmitPanicsAt10 breaks exactly_once_burst, PANIC, "deliberate panic inside submit");
broken!(run_that_never_returns_is_a_violation: RunNeverReturns breaks exactly_once_burst, TIMEOUT, "run() did not return");

#[test]
fn a_hanging_submit_is_bounded_by_the_check_bound() {
    let ctx = ctx("SubmitHangsAt10").with_check_bound(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let v = loop_conformance::check_exactly_once_burst::<RefLoop<SubmitHangsAt10>>(&ctx)
        .expect_err("a hanging submit must be a violation");
    assert_eq!(v.kind, ViolationKind::Timeout, "{v}");
    assert!(v.message.contains("did not finish within"), "{v}");
    assert_eq!(v.phase.as_deref(), Some("burst of 1000 tasks"), "{v}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn quick_gate_disqualifies_a_broken_loop() {
    let v = loop_conformance::quick_gate::<RefLoop<DropEvery1000th>>(
        "DropEvery1000th",
        &LoopConfig::default(),
    )
    .expect_err("the gate must catch a loop that drops tasks");
    assert_eq!(v.contender, "DropEvery1000th");
    assert!(v.to_string().contains("DropEvery1000th"), "{v}");
}
