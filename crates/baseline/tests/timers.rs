//! Timers: never early, deadline order, cancellation, cross-thread wake-up, shutdown.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCount, Gate, LIMIT, RunCount, new_loop, spawn_run, wait_for};
use loop_api::{EventLoop, RejectReason, TimerId};
use loop_baseline::BaselineLoop;

/// Schedules timers with shuffled delays (duplicates included) and checks each firing against
/// what the test can prove about its deadline: the loop computes the deadline during the
/// `schedule_timer` call, so it lies in `[before + delay, after + delay]`.
#[test]
fn timers_never_fire_early_and_fire_in_deadline_order() {
    const N: usize = 40;
    let lp = new_loop();
    let running = spawn_run(&lp);
    let (tx, rx) = mpsc::channel();
    let mut bounds = Vec::with_capacity(N);
    for i in 0..N {
        let delay = Duration::from_millis(((i * 7919) % 31) as u64);
        let tx = tx.clone();
        let before = Instant::now();
        lp.schedule_timer(delay, move || tx.send((i, Instant::now())).unwrap()).unwrap();
        let after = Instant::now();
        bounds.push((before + delay, after + delay));
    }
    let mut position = vec![usize::MAX; N];
    for pos in 0..N {
        let (i, fired) = rx.recv_timeout(LIMIT).expect("timer did not fire");
        assert!(fired >= bounds[i].0, "timer {i} fired {:?} early", bounds[i].0 - fired);
        assert_eq!(position[i], usize::MAX, "timer {i} fired twice");
        position[i] = pos;
    }
    for i in 0..N {
        for j in 0..N {
            // Provably earlier deadline, or the same delay scheduled earlier (equal or earlier
            // deadline, and ties fire in scheduling order).
            let same_delay_scheduled_first = i < j && (i * 7919) % 31 == (j * 7919) % 31;
            if bounds[i].1 < bounds[j].0 || same_delay_scheduled_first {
                assert!(position[i] < position[j], "timer {i} must fire before timer {j}");
            }
        }
    }
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    assert_eq!(lp.stats().timers_fired, N as u64);
}

#[test]
fn timers_with_equal_deadlines_fire_in_scheduling_order() {
    let lp = new_loop();
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    // Scheduled from inside one task, so every deadline is computed on the loop thread in order.
    {
        let (lp2, order) = (lp.clone(), order.clone());
        lp.submit(move || {
            for i in 0..100 {
                let (order, tx) = (order.clone(), tx.clone());
                lp2.schedule_timer(Duration::from_millis(2), move || {
                    order.lock().push(i);
                    if i == 99 {
                        tx.send(()).unwrap();
                    }
                })
                .unwrap();
            }
        })
        .unwrap();
    }
    let running = spawn_run(&lp);
    rx.recv_timeout(LIMIT).expect("timers did not fire");
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    assert_eq!(*order.lock(), (0..100).collect::<Vec<_>>());
}

#[test]
fn cancel_reports_whether_the_timer_was_pending_and_prevents_firing() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let fired = RunCount::default();

    // Pending → Ok(true); its closure is dropped by the time cancel returns; twice → Ok(false).
    let marker = Arc::new(());
    let m = marker.clone();
    let far = lp.schedule_timer(Duration::from_secs(3600), move || drop(m)).unwrap();
    assert_eq!(lp.cancel_timer(far), Ok(true));
    assert_eq!(Arc::strong_count(&marker), 1, "cancelled closure dropped");
    assert_eq!(lp.cancel_timer(far), Ok(false), "already cancelled");
    assert_eq!(lp.cancel_timer(TimerId(u64::MAX)), Ok(false), "unknown id");

    // A cancelled short timer never fires: a sentinel due later fires, and timers fire in
    // deadline order, so had the cancelled one been going to fire it would have fired first.
    // The gate keeps the loop from firing anything until the cancel is done, however slowly
    // this thread runs.
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let (tx, rx) = mpsc::channel();
    let f = fired.clone();
    let cancelled = lp.schedule_timer(Duration::from_millis(5), move || f.hit()).unwrap();
    lp.schedule_timer(Duration::from_millis(15), move || tx.send(()).unwrap()).unwrap();
    assert_eq!(lp.cancel_timer(cancelled), Ok(true));
    gate.release();
    rx.recv_timeout(LIMIT).expect("sentinel timer did not fire");
    assert_eq!(fired.get(), 0, "cancelled timer fired");

    // Fired → Ok(false).
    let (tx, rx) = mpsc::channel();
    let done = lp.schedule_timer(Duration::ZERO, move || tx.send(()).unwrap()).unwrap();
    rx.recv_timeout(LIMIT).expect("timer did not fire");
    assert_eq!(lp.cancel_timer(done), Ok(false), "already fired");

    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    assert_eq!(lp.stats().timers_fired, 2);
}

#[test]
fn a_timer_scheduled_from_another_thread_wakes_a_loop_sleeping_until_a_later_deadline() {
    let lp = new_loop();
    let far = lp.schedule_timer(Duration::from_secs(3600), || ()).unwrap();
    let running = spawn_run(&lp);
    // The loop's first sleep is until the far deadline.
    wait_for("the loop to sleep", || lp.stats().sleeps >= 1);
    let (tx, rx) = mpsc::channel();
    let scheduler = {
        let lp = lp.clone();
        thread::spawn(move || {
            let earliest = Instant::now() + Duration::from_millis(5);
            lp.schedule_timer(Duration::from_millis(5), move || tx.send(earliest).unwrap())
                .unwrap();
        })
    };
    scheduler.join().unwrap();
    let earliest = rx.recv_timeout(LIMIT).expect("sleeping loop missed the earlier timer");
    assert!(Instant::now() >= earliest);
    assert_eq!(lp.stats().wake_syscalls, 1, "the earlier timer notified the sleeping loop");
    assert_eq!(lp.cancel_timer(far), Ok(true));
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
}

#[test]
fn a_later_timer_does_not_wake_the_sleeping_loop() {
    let lp = new_loop();
    lp.schedule_timer(Duration::from_secs(60), || ()).unwrap();
    let running = spawn_run(&lp);
    wait_for("the loop to sleep", || lp.stats().sleeps >= 1);
    lp.schedule_timer(Duration::from_secs(3600), || ()).unwrap();
    let stats = lp.stats();
    // Both schedules elided the notify: the first found the loop not yet running, the second
    // found it sleeping until an earlier deadline.
    assert_eq!((stats.wake_syscalls, stats.wakes_elided), (0, 2));
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    assert_eq!(lp.stats().tasks_dropped, 2);
}

#[test]
fn shutdown_fires_due_timers_drops_pending_ones_and_rejects_new_ones() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let due = RunCount::default();
    let d = due.clone();
    // Due long before the drain ends (the loop is blocked in the gate until then).
    lp.schedule_timer(Duration::ZERO, move || d.hit()).unwrap();
    let drops = DropCount::default();
    let later = RunCount::default();
    let (t, l) = (drops.token(), later.clone());
    lp.schedule_timer(Duration::from_secs(3600), move || {
        l.hit();
        drop(t);
    })
    .unwrap();
    // A task that runs during the drain may still submit tasks, but not timers.
    let (tx, rx) = mpsc::channel();
    {
        let lp2 = lp.clone();
        lp.submit(move || {
            let marker = Arc::new(());
            let m = marker.clone();
            let r = lp2.schedule_timer(Duration::ZERO, move || drop(m)).unwrap_err();
            let handed_back =
                r.reason == RejectReason::Terminated && Arc::strong_count(&marker) == 2;
            tx.send(handed_back).unwrap();
        })
        .unwrap();
    }
    let waiter = {
        let lp = lp.clone();
        thread::spawn(move || lp.shutdown(LIMIT))
    };
    wait_for("shutdown to be requested", || lp.submit(|| ()).is_err());
    let started = Instant::now();
    gate.release();
    assert_eq!(waiter.join().unwrap(), Ok(()));
    assert!(started.elapsed() < Duration::from_secs(60), "shutdown waited for the far timer");
    running.join().unwrap();
    assert!(rx.recv_timeout(LIMIT).unwrap(), "timer during drain not handed back");
    assert_eq!(due.get(), 1, "a due timer fires during the drain");
    assert_eq!((later.get(), drops.get()), (0, 1), "pending timer dropped once, not run");
    assert_eq!(lp.stats().tasks_dropped, 1);
}

/// A pending timer dropped at the end of the drain runs its destructor on the loop thread; a
/// task that destructor submits is accepted, so it must run before `run` returns.
#[test]
fn a_task_submitted_by_a_timer_dropped_at_shutdown_still_runs() {
    struct SubmitsOnDrop(Arc<BaselineLoop>, RunCount);
    impl Drop for SubmitsOnDrop {
        fn drop(&mut self) {
            let ran = self.1.clone();
            self.0.submit(move || ran.hit()).expect("loop-thread submit while draining");
        }
    }
    let lp = new_loop();
    let ran = RunCount::default();
    let s = SubmitsOnDrop(lp.clone(), ran.clone());
    lp.schedule_timer(Duration::from_secs(3600), move || drop(s)).unwrap();
    let running = spawn_run(&lp);
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    assert_eq!(ran.get(), 1);
    assert_eq!(lp.stats().tasks_dropped, 1);
}

/// A zero-delay timer that keeps rescheduling itself must not starve the task queue: each
/// firing pass only fires timers scheduled before it began.
#[test]
fn a_self_rescheduling_zero_delay_timer_does_not_starve_tasks() {
    const CHAIN: usize = 1_000;
    fn link(lp: Arc<BaselineLoop>, count: Arc<AtomicUsize>, done: mpsc::Sender<()>) {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        if n == CHAIN {
            done.send(()).unwrap();
            return;
        }
        let lp2 = lp.clone();
        lp.schedule_timer(Duration::ZERO, move || link(lp2, count, done)).unwrap();
    }
    let lp = new_loop();
    let count = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let (seen_tx, seen_rx) = mpsc::channel();
    {
        let (lp2, count) = (lp.clone(), count.clone());
        lp.schedule_timer(Duration::ZERO, move || {
            let c = count.clone();
            lp2.submit(move || seen_tx.send(c.load(Ordering::SeqCst)).unwrap()).unwrap();
            link(lp2, count, done_tx);
        })
        .unwrap();
    }
    let running = spawn_run(&lp);
    let seen = seen_rx.recv_timeout(LIMIT).expect("task starved");
    done_rx.recv_timeout(LIMIT).expect("chain did not finish");
    assert!(seen < CHAIN, "the task waited for the whole timer chain ({seen} links)");
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
}

#[test]
fn an_unrepresentable_delay_gives_a_timer_that_never_fires_but_can_be_cancelled() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let id = lp.schedule_timer(Duration::MAX, || panic!("must never fire")).unwrap();
    let (tx, rx) = mpsc::channel();
    lp.schedule_timer(Duration::ZERO, move || tx.send(()).unwrap()).unwrap();
    rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(lp.cancel_timer(id), Ok(true));
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    assert_eq!(lp.stats().panics, 0);
}
