//! Regression tests for the Go AlternateThree's bugs (`docs/HISTORY.md`, bugs 5,
//! 13) and for alt-three's own guarantees. Every wait is bounded and fails loudly; nothing
//! synchronises by sleeping.
#![cfg(not(loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use loop_alt_three::AltThreeLoop;
use loop_alt_three::state::LoopState;
use loop_api::{Capability, EventLoop, LoopConfig, RejectReason, RunError};

/// Generous bound for "this must happen"; reached only when the loop is broken.
const BOUND: Duration = Duration::from_secs(5);

fn counter(c: &Arc<AtomicU64>) -> impl FnOnce() + Send + 'static + use<> {
    let c = c.clone();
    move || {
        c.fetch_add(1, Ordering::SeqCst);
    }
}

/// Bug #13: Go's shutdown ran drained tasks under `ingressMu`, and `Submit` locks before it
/// checks the state, so a drained task calling `submit` self-deadlocked. Here the drained task's
/// `submit` (and `submit_internal`) return, are accepted (loop thread), and run before the
/// shutdown completes.
#[test]
fn drained_task_calling_submit_does_not_deadlock() {
    let lp = Arc::new(AltThreeLoop::new(&LoopConfig::default()).expect("new"));
    let ran = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        let (l, ran, tx) = (lp.clone(), ran.clone(), tx.clone());
        lp.submit(move || {
            l.submit(counter(&ran)).unwrap_or_else(|r| panic!("submit while draining: {r}"));
            l.submit_internal(counter(&ran))
                .unwrap_or_else(|r| panic!("submit_internal while draining: {r}"));
            // Timers are closed once a shutdown is requested: rejected, but it returns.
            assert!(l.schedule_timer(Duration::ZERO, || ()).is_err());
            tx.send(()).unwrap();
        })
        .unwrap_or_else(|r| panic!("{r}"));
    }
    // The stop is recorded before `run`, so all three tasks run in the shutdown drain.
    let shutdown = {
        let lp = lp.clone();
        thread::spawn(move || lp.shutdown(BOUND))
    };
    let deadline = Instant::now() + BOUND;
    while lp.state() != LoopState::Terminating {
        assert!(Instant::now() < deadline, "shutdown never recorded the stop");
        thread::yield_now();
    }
    let foreign = lp.submit(|| ()).expect_err("foreign submit during shutdown must be rejected");
    assert_eq!(foreign.reason, RejectReason::Terminated);
    let runner = {
        let lp = lp.clone();
        thread::spawn(move || lp.run())
    };
    for _ in 0..3 {
        rx.recv_timeout(BOUND).expect("a drained task deadlocked calling submit");
    }
    assert_eq!(shutdown.join().unwrap(), Ok(()));
    runner.join().unwrap().expect("run");
    assert_eq!(ran.load(Ordering::SeqCst), 6, "everything the drained tasks submitted ran");
    assert_eq!(lp.state(), LoopState::Terminated);
    let s = lp.stats();
    assert_eq!((s.tasks_run_external, s.tasks_run_internal, s.tasks_dropped), (6, 3, 0));
}

/// Microtasks are a declared gap: rejected as unsupported, closure handed back alive.
#[test]
fn microtasks_are_unsupported_and_the_closure_comes_back() {
    let lp = AltThreeLoop::new(&LoopConfig::default()).expect("new");
    assert!(!lp.capabilities().microtasks);
    let marker = Arc::new(());
    let m = marker.clone();
    let r = lp.schedule_microtask(move || drop(m)).expect_err("must be unsupported");
    assert_eq!(r.reason, RejectReason::Unsupported(Capability::Microtasks));
    assert_eq!(Arc::strong_count(&marker), 2);
    drop(r);
    assert_eq!(Arc::strong_count(&marker), 1);
}

/// `close` from inside a batch drops the unstarted rest of the batch in flight (popped from the
/// ingress, not yet run) and counts it; none of it runs.
#[test]
fn close_inside_a_batch_drops_the_rest_of_the_batch() {
    let lp = Arc::new(AltThreeLoop::new(&LoopConfig::default()).expect("new"));
    let ran = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    {
        let l = lp.clone();
        lp.submit(move || tx.send(l.close()).unwrap()).unwrap_or_else(|r| panic!("{r}"));
    }
    for _ in 0..99 {
        lp.submit(counter(&ran)).unwrap_or_else(|r| panic!("{r}"));
    }
    let runner = {
        let lp = lp.clone();
        thread::spawn(move || lp.run())
    };
    assert_eq!(rx.recv_timeout(BOUND).expect("close never returned"), 99);
    runner.join().unwrap().expect("run");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let s = lp.stats();
    assert_eq!((s.tasks_dropped, s.tasks_run_external, s.max_batch), (99, 1, 1));
    assert!(matches!(lp.run(), Err(RunError::Terminated)));
}

/// The external batch is popped under one lock and bounded by the budget; internal work
/// bypasses it; the wake of a sleeping loop costs one eventfd write.
#[test]
fn batches_respect_the_budget_and_wakes_are_counted() {
    let lp = Arc::new(
        AltThreeLoop::new(&LoopConfig { batch_budget: 100, ..LoopConfig::default() }).unwrap(),
    );
    let ran = Arc::new(AtomicU64::new(0));
    for _ in 0..1_000 {
        lp.submit(counter(&ran)).unwrap_or_else(|r| panic!("{r}"));
    }
    for _ in 0..300 {
        lp.submit_internal(counter(&ran)).unwrap_or_else(|r| panic!("{r}"));
    }
    let runner = {
        let lp = lp.clone();
        thread::spawn(move || lp.run())
    };
    let deadline = Instant::now() + BOUND;
    while ran.load(Ordering::SeqCst) < 1_300 || lp.state() != LoopState::Sleeping {
        assert!(Instant::now() < deadline, "the loop never drained and went to sleep");
        thread::yield_now();
    }
    let before = lp.stats();
    let (tx, rx) = mpsc::channel();
    lp.submit(move || tx.send(()).unwrap()).unwrap_or_else(|r| panic!("{r}"));
    rx.recv_timeout(BOUND).expect("a task submitted to a sleeping loop never ran");
    let after = lp.stats();
    assert_eq!(after.wake_syscalls, before.wake_syscalls + 1, "{before:?} -> {after:?}");
    lp.shutdown(BOUND).expect("shutdown");
    runner.join().unwrap().expect("run");
    let s = lp.stats();
    assert_eq!((s.tasks_run_external, s.tasks_run_internal), (1_001, 300));
    assert_eq!(s.max_batch, 100);
    assert!(s.sleeps >= 1 && s.polls >= s.sleeps, "{s:?}");
}
