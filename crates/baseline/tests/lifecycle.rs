//! Lifecycle: run, shutdown (conserving), close (dropping), drop.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::{DropCount, Gate, LIMIT, RunCount, new_loop, spawn_run, wait_for};
use loop_api::{EventLoop, RejectReason, RunError, ShutdownError, TERMINATED_MESSAGE};

/// Shutdown from another thread while the loop is blocked with 10,000 tasks queued behind a
/// gate: all of them run, and so do the tasks they submit while draining.
#[test]
fn shutdown_drains_everything_accepted_including_tasks_submitted_while_draining() {
    const N: usize = 10_000;
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let ran = RunCount::default();
    let nested = RunCount::default();
    for i in 0..N {
        let (ran, nested, lp2) = (ran.clone(), nested.clone(), lp.clone());
        lp.submit(move || {
            ran.hit();
            if i % 100 == 0 {
                // Submitted on the loop thread during the drain: must be accepted and run.
                lp2.submit(move || nested.hit()).expect("loop-thread submit while draining");
            }
        })
        .unwrap();
    }
    let shutdown = {
        let lp = lp.clone();
        thread::spawn(move || lp.shutdown(LIMIT))
    };
    // Wait until the shutdown is requested: other threads' submissions are then rejected.
    let rejected = RunCount::default();
    wait_for("shutdown to be requested", || {
        let r = rejected.clone();
        lp.submit(move || r.hit()).is_err()
    });
    gate.release();
    assert_eq!(shutdown.join().unwrap(), Ok(()));
    running.join().expect("run returns Ok after the drain");
    assert_eq!(ran.get(), N);
    assert_eq!(nested.get(), N / 100);
    let stats = lp.stats();
    // The probe submissions accepted before the shutdown ran too (the gate is the extra one).
    assert_eq!(stats.tasks_run_external as usize, 1 + N + N / 100 + rejected.get());
    assert_eq!(stats.tasks_dropped, 0);
}

#[test]
fn a_rejected_submit_after_shutdown_hands_the_closure_back() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    let marker = Arc::new(41);
    let m = marker.clone();
    let r = lp.submit(move || assert_eq!(*m, 41)).unwrap_err();
    assert_eq!(r.reason, RejectReason::Terminated);
    assert_eq!(r.reason.to_string(), TERMINATED_MESSAGE);
    assert!(r.to_string().contains("loop has been terminated"), "{r}");
    assert_eq!(Arc::strong_count(&marker), 2, "the closure came back alive, not dropped");
    (r.into_task())();
    assert_eq!(Arc::strong_count(&marker), 1);
    let r = lp.schedule_timer(Duration::ZERO, || ()).unwrap_err();
    assert_eq!(r.reason, RejectReason::Terminated);
}

#[test]
fn concurrent_shutdown_callers_all_return_ok_once_drained() {
    const CALLERS: usize = 4;
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let ran = RunCount::default();
    for _ in 0..1_000 {
        let ran = ran.clone();
        lp.submit(move || ran.hit()).unwrap();
    }
    let start = Arc::new(Barrier::new(CALLERS + 1));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (lp, start) = (lp.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                lp.shutdown(LIMIT)
            })
        })
        .collect();
    start.wait();
    gate.release();
    for c in callers {
        assert_eq!(c.join().unwrap(), Ok(()));
    }
    running.join().unwrap();
    assert_eq!(ran.get(), 1_000);
    assert_eq!(lp.shutdown(LIMIT), Ok(()), "a late caller also gets Ok");
}

#[test]
fn shutdown_from_inside_a_task_returns_at_once_and_the_loop_drains() {
    let lp = new_loop();
    let (tx, rx) = mpsc::channel();
    let ran = RunCount::default();
    {
        let (lp2, ran) = (lp.clone(), ran.clone());
        lp.submit(move || {
            tx.send(lp2.shutdown(LIMIT)).unwrap();
            // Still accepted: we are the loop thread, draining.
            lp2.submit(move || ran.hit()).unwrap();
        })
        .unwrap();
    }
    for _ in 0..10 {
        let ran = ran.clone();
        lp.submit(move || ran.hit()).unwrap();
    }
    let running = spawn_run(&lp);
    assert_eq!(rx.recv_timeout(LIMIT).expect("shutdown inside a task hung"), Ok(()));
    running.join().unwrap();
    assert_eq!(ran.get(), 11);
}

#[test]
fn shutdown_before_run_is_honoured_by_the_next_run_and_both_return_ok() {
    let lp = new_loop();
    let ran = RunCount::default();
    for _ in 0..100 {
        let ran = ran.clone();
        lp.submit(move || ran.hit()).unwrap();
    }
    let waiter = {
        let lp = lp.clone();
        thread::spawn(move || lp.shutdown(LIMIT))
    };
    wait_for("shutdown to be requested", || lp.submit(|| ()).is_err());
    assert_eq!(lp.run().map_err(|e| e.to_string()), Ok(()));
    assert_eq!(waiter.join().unwrap(), Ok(()));
    assert_eq!(ran.get(), 100);
    assert!(matches!(lp.run(), Err(RunError::Terminated)));
}

#[test]
fn shutdown_before_run_times_out_if_run_never_comes_and_drop_frees_the_tasks() {
    let lp = new_loop();
    let drops = DropCount::default();
    let ran = RunCount::default();
    for _ in 0..10 {
        let (t, ran) = (drops.token(), ran.clone());
        lp.submit(move || {
            ran.hit();
            drop(t);
        })
        .unwrap();
    }
    assert_eq!(lp.shutdown(Duration::from_millis(20)), Err(ShutdownError::Timeout));
    assert_eq!(lp.shutdown(Duration::ZERO), Err(ShutdownError::Timeout), "still not drained");
    assert_eq!(drops.get(), 0);
    drop(Arc::try_unwrap(lp).expect("sole owner"));
    assert_eq!(drops.get(), 10, "each queued task dropped exactly once");
    assert_eq!(ran.get(), 0);
}

#[test]
fn run_twice_is_already_running_and_run_after_termination_is_terminated() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    assert!(matches!(lp.run(), Err(RunError::AlreadyRunning)));
    let (tx, rx) = mpsc::channel();
    {
        let lp2 = lp.clone();
        lp.submit(move || tx.send(matches!(lp2.run(), Err(RunError::AlreadyRunning))).unwrap())
            .unwrap();
    }
    gate.release();
    assert!(rx.recv_timeout(LIMIT).unwrap(), "run from inside a task");
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    let err = lp.run().unwrap_err();
    assert!(matches!(err, RunError::Terminated));
    assert!(err.to_string().contains(TERMINATED_MESSAGE));

    let closed = new_loop();
    closed.close();
    assert!(matches!(closed.run(), Err(RunError::Terminated)), "closed before it ever ran");
}

/// Tasks queued behind a running task (some in the same batch, some in the ingress queue) and
/// pending timers are dropped by `close`, each exactly once, before it returns; none runs.
#[test]
fn close_drops_pending_work_exactly_once_and_none_runs_after_it_returns() {
    let lp = new_loop();
    let drops = DropCount::default();
    let ran = RunCount::default();
    let queue = |n| {
        for _ in 0..n {
            let (t, ran) = (drops.token(), ran.clone());
            lp.submit(move || {
                ran.hit();
                drop(t);
            })
            .unwrap();
        }
    };
    // Submitted before `run`: the gate and these 50 become the first batch.
    let gate = Gate::submit(&lp);
    queue(50);
    let running = spawn_run(&lp);
    gate.wait_entered();
    // These wait in the ingress queue.
    queue(50);
    let t = drops.token();
    lp.schedule_timer(Duration::ZERO, move || drop(t)).unwrap();
    let t = drops.token();
    lp.schedule_timer(Duration::from_secs(3600), move || drop(t)).unwrap();

    assert_eq!(lp.close(), 102);
    assert_eq!(drops.get(), 102, "dropped before close returned");
    gate.release();
    running.join().expect("run returns Ok after close");
    assert_eq!(ran.get(), 0, "nothing ran after close");
    assert_eq!(drops.get(), 102, "nothing dropped twice");
    let stats = lp.stats();
    assert_eq!(stats.tasks_dropped, 102);
    assert_eq!(stats.tasks_run_external, 1, "only the gate");
    assert_eq!(stats.timers_fired, 0);
}

#[test]
fn close_from_inside_a_task_does_not_deadlock() {
    let lp = new_loop();
    let drops = DropCount::default();
    let ran = RunCount::default();
    let (tx, rx) = mpsc::channel();
    {
        let lp2 = lp.clone();
        lp.submit(move || tx.send(lp2.close()).unwrap()).unwrap();
    }
    for _ in 0..20 {
        let (t, ran) = (drops.token(), ran.clone());
        lp.submit(move || {
            ran.hit();
            drop(t);
        })
        .unwrap();
    }
    let running = spawn_run(&lp);
    assert_eq!(rx.recv_timeout(LIMIT).expect("close inside a task hung"), 20);
    running.join().unwrap();
    assert_eq!((ran.get(), drops.get()), (0, 20));
    assert_eq!(lp.stats().tasks_dropped, 20);
}

#[test]
fn close_is_idempotent_and_then_everything_reports_terminated() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let drops = DropCount::default();
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let t = drops.token();
    lp.submit(move || drop(t)).unwrap();
    assert_eq!(lp.close(), 1);
    assert_eq!(lp.close(), 0);
    gate.release();
    running.join().unwrap();
    assert_eq!(lp.close(), 0);
    assert_eq!(lp.shutdown(LIMIT), Err(ShutdownError::Closed));
    assert!(ShutdownError::Closed.to_string().contains(TERMINATED_MESSAGE));
    let r = lp.submit(|| ()).unwrap_err();
    assert_eq!(r.reason, RejectReason::Terminated);
    assert!(matches!(lp.run(), Err(RunError::Terminated)));
    assert_eq!(lp.stats().tasks_dropped, 1);
}

#[test]
fn close_releases_a_waiting_shutdown_caller_with_closed() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let waiter = {
        let lp = lp.clone();
        thread::spawn(move || lp.shutdown(LIMIT))
    };
    wait_for("shutdown to be requested", || lp.submit(|| ()).is_err());
    lp.close();
    assert_eq!(waiter.join().unwrap(), Err(ShutdownError::Closed));
    gate.release();
    running.join().unwrap();
}

/// Destructors of the closures `close` drops run outside the loop's locks: they may call back
/// into the loop (and are rejected) without deadlocking.
#[test]
fn destructors_run_by_close_may_call_back_into_the_loop() {
    struct CallsBack(Arc<loop_baseline::BaselineLoop>, Arc<AtomicUsize>);
    impl Drop for CallsBack {
        fn drop(&mut self) {
            let rejected = self.0.submit(|| ()).is_err();
            let cancel = self.0.cancel_timer(loop_api::TimerId(1));
            assert_eq!(self.0.close(), 0);
            if rejected && cancel == Ok(false) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let lp = new_loop();
    let ok = Arc::new(AtomicUsize::new(0));
    let c = CallsBack(lp.clone(), ok.clone());
    lp.submit(move || drop(c)).unwrap();
    let c = CallsBack(lp.clone(), ok.clone());
    lp.schedule_timer(Duration::from_secs(3600), move || drop(c)).unwrap();
    let (tx, rx) = mpsc::channel();
    {
        let lp = lp.clone();
        thread::spawn(move || tx.send(lp.close()).unwrap());
    }
    assert_eq!(rx.recv_timeout(LIMIT).expect("close deadlocked"), 2);
    assert_eq!(ok.load(Ordering::SeqCst), 2);
}

#[test]
fn dropping_an_unrun_loop_drops_each_queued_task_and_timer_exactly_once() {
    let lp = new_loop();
    let drops = DropCount::default();
    let ran = RunCount::default();
    for i in 0..1_000 {
        let (t, ran) = (drops.token(), ran.clone());
        let f = move || {
            ran.hit();
            drop(t);
        };
        if i % 10 == 0 {
            lp.schedule_timer(Duration::from_millis(i), f).unwrap();
        } else {
            lp.submit(f).unwrap();
        }
    }
    let lp = Arc::try_unwrap(lp).expect("sole owner");
    drop(lp);
    assert_eq!(drops.get(), 1_000);
    assert_eq!(ran.get(), 0);
}
