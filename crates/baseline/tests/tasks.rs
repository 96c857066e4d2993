//! Task execution: exactly once, FIFO, on the loop thread, panic isolation, wake accounting.

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::{Gate, LIMIT, RunCount, new_loop, spawn_run, wait_for};
use loop_api::{Capability, EventLoop, RejectReason};
use loop_baseline::BaselineLoop;

#[test]
fn every_task_of_a_10k_burst_runs_exactly_once_in_per_producer_order() {
    const PRODUCERS: usize = 4;
    const PER_PRODUCER: usize = 2_500;
    const N: usize = PRODUCERS * PER_PRODUCER;
    let lp = new_loop();
    let runs: Arc<Vec<AtomicU32>> = Arc::new((0..N).map(|_| AtomicU32::new(0)).collect());
    // Last sequence number seen per producer, plus one (0 = none yet). Only the loop thread
    // writes it, so a relaxed load/store pair is enough.
    let last: Arc<Vec<AtomicU64>> = Arc::new((0..PRODUCERS).map(|_| AtomicU64::new(0)).collect());
    let running = spawn_run(&lp);
    let start = Arc::new(Barrier::new(PRODUCERS));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (lp, runs, last, start) = (lp.clone(), runs.clone(), last.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..PER_PRODUCER {
                    let (runs, last) = (runs.clone(), last.clone());
                    lp.submit(move || {
                        runs[p * PER_PRODUCER + i].fetch_add(1, Ordering::Relaxed);
                        let prev = last[p].load(Ordering::Relaxed);
                        assert_eq!(prev, i as u64, "producer {p}: FIFO broken");
                        last[p].store(i as u64 + 1, Ordering::Relaxed);
                    })
                    .unwrap_or_else(|r| panic!("submit rejected: {r}"));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    lp.shutdown(LIMIT).expect("shutdown");
    running.join().expect("run");
    let counts: Vec<u32> = runs.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let wrong: Vec<_> = counts.iter().enumerate().filter(|(_, c)| **c != 1).take(5).collect();
    assert!(wrong.is_empty(), "tasks not run exactly once (id, count): {wrong:?}");
    let stats = lp.stats();
    assert_eq!(stats.panics, 0, "a FIFO assertion failed inside a task");
    assert_eq!(stats.tasks_run_external, N as u64);
    assert_eq!(stats.tasks_dropped, 0);
    // Each submission either notified the sleeping loop or elided the notify; `shutdown` may
    // have added one notify of its own.
    let wake_decisions = stats.wake_syscalls + stats.wakes_elided;
    assert!((N as u64..=N as u64 + 1).contains(&wake_decisions), "{stats:?}");
    assert!(stats.max_batch >= 1 && stats.max_batch <= N as u64);
    assert!(stats.ticks >= 1);
}

#[test]
fn every_callback_runs_on_the_loop_thread() {
    let lp = new_loop();
    let (tx, rx) = mpsc::channel();
    let report = |tx: &mpsc::Sender<(&'static str, thread::ThreadId)>, what| {
        let tx = tx.clone();
        move || tx.send((what, thread::current().id())).unwrap()
    };
    lp.submit(report(&tx, "before run")).unwrap();
    lp.schedule_timer(Duration::ZERO, report(&tx, "timer before run")).unwrap();
    let running = spawn_run(&lp);
    let from_task = {
        let (lp2, inner) = (lp.clone(), report(&tx, "submitted by a task"));
        let timer = report(&tx, "timer from a task");
        move || {
            lp2.submit(inner).unwrap();
            lp2.schedule_timer(Duration::ZERO, timer).unwrap();
        }
    };
    lp.submit(from_task).unwrap();
    let other = {
        let (lp, f) = (lp.clone(), report(&tx, "from another thread"));
        thread::spawn(move || lp.submit_internal(f).unwrap())
    };
    other.join().unwrap();
    for _ in 0..5 {
        let (what, id) = rx.recv_timeout(LIMIT).expect("callback did not run");
        assert_eq!(id, running.thread, "{what} ran off the loop thread");
    }
    assert_ne!(running.thread, thread::current().id());
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
}

#[test]
fn a_panicking_task_or_timer_does_not_stop_the_loop_and_is_counted() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let (tx, rx) = mpsc::channel();
    lp.submit(|| panic!("task panic (expected by the test)")).unwrap();
    lp.schedule_timer(Duration::ZERO, || panic!("timer panic (expected by the test)")).unwrap();
    let tx2 = tx.clone();
    lp.submit(move || tx2.send("task after panic").unwrap()).unwrap();
    // The timer panicked before (or after) this one; either way this one must fire.
    lp.schedule_timer(Duration::from_millis(1), move || tx.send("timer after panic").unwrap())
        .unwrap();
    let mut got = vec![rx.recv_timeout(LIMIT).unwrap(), rx.recv_timeout(LIMIT).unwrap()];
    got.sort_unstable();
    assert_eq!(got, ["task after panic", "timer after panic"]);
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    let stats = lp.stats();
    assert_eq!(stats.panics, 2);
    assert_eq!(stats.tasks_run_external, 2, "panicking tasks count as run");
    assert_eq!(stats.timers_fired, 2, "panicking timers count as fired");
}

#[test]
fn submit_internal_behaves_exactly_as_submit() {
    let lp = new_loop();
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    for i in 0..10 {
        let order = order.clone();
        let f = move || order.lock().push(i);
        if i % 2 == 0 { lp.submit(f) } else { lp.submit_internal(f) }.unwrap();
    }
    let running = spawn_run(&lp);
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    assert_eq!(*order.lock(), (0..10).collect::<Vec<_>>(), "no priority: one FIFO queue");
    let stats = lp.stats();
    assert_eq!(stats.tasks_run_external, 10);
    assert_eq!(stats.tasks_run_internal, 0);
    let r = lp.submit_internal(|| ()).unwrap_err();
    assert_eq!(r.reason, RejectReason::Terminated);
}

#[test]
fn capabilities_are_declared_and_unsupported_operations_hand_the_closure_back() {
    let lp = new_loop();
    let caps = lp.capabilities();
    assert_eq!(caps, BaselineLoop::CAPABILITIES);
    assert!(!caps.internal_priority && !caps.microtasks && !caps.readiness);
    assert!(caps.timers && caps.wake_accounting);
    assert!(!caps.batch_budget && !caps.spin_before_sleep && !caps.inline_tasks);

    let marker = Arc::new(());
    let m = marker.clone();
    let r = lp.schedule_microtask(move || drop(m)).unwrap_err();
    assert_eq!(r.reason, RejectReason::Unsupported(Capability::Microtasks));
    assert_eq!(Arc::strong_count(&marker), 2, "closure handed back alive");
    drop(r);
    assert_eq!(Arc::strong_count(&marker), 1);
    let r = lp.register_readable(0, || ()).unwrap_err();
    assert_eq!(r.reason, RejectReason::Unsupported(Capability::Readiness));
    assert!(lp.unregister(0).is_err());
}

#[test]
fn a_submission_to_a_sleeping_loop_wakes_it_once_and_busy_submissions_elide_the_wake() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    wait_for("the idle loop to sleep", || lp.stats().sleeps >= 1);
    // The loop counts a sleep in the same critical section in which it sets `waiting`, so from
    // here on it is waiting (parking_lot condvars have no spurious wake-ups).
    let before = lp.stats();
    assert_eq!((before.wake_syscalls, before.wakes_elided), (0, 0));
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let ran = RunCount::default();
    for _ in 0..10 {
        let ran = ran.clone();
        lp.submit(move || ran.hit()).unwrap();
    }
    let stats = lp.stats();
    assert_eq!(stats.wake_syscalls, 1, "one notify for the sleeping loop");
    assert_eq!(stats.wakes_elided, 10, "the busy loop needs no notify");
    gate.release();
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    assert_eq!(ran.get(), 10);
}

#[test]
fn no_lost_wakeup_across_many_sleep_wake_cycles() {
    // Each round trip makes the loop go idle and sleep again before the next submission, so
    // every submission races the loop's transition to sleep.
    let lp = new_loop();
    let running = spawn_run(&lp);
    let (tx, rx) = mpsc::channel();
    for i in 0..2_000 {
        let tx = tx.clone();
        lp.submit(move || tx.send(i).unwrap()).unwrap();
        assert_eq!(rx.recv_timeout(LIMIT).expect("lost wake-up"), i);
    }
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    let stats = lp.stats();
    assert_eq!(stats.tasks_run_external, 2_000);
    assert!(stats.sleeps >= 1);
}
