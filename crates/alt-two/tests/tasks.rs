//! Budget, priority, wake accounting, conservation of nested submissions during the drain,
//! `close` from inside a task, and I/O under load.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{Gate, LIMIT, RunCount, new_loop, spawn_run, wait_for};
use loop_alt_two::{AltTwoLoop, MAX_EXTERNAL_BATCH};
use loop_api::{EventLoop, LoopConfig, ShutdownError};

fn loop_with_budget(batch_budget: usize) -> Arc<AltTwoLoop> {
    Arc::new(AltTwoLoop::new(&LoopConfig { batch_budget, ..LoopConfig::default() }).unwrap())
}

/// 1,000 tasks queued behind a gate: a tick runs at most `min(budget, 256)` of them.
#[test]
fn a_tick_runs_at_most_min_budget_256_external_tasks() {
    for (budget, cap) in [(1024, MAX_EXTERNAL_BATCH), (10, 10), (1, 1), (0, 1)] {
        let lp = loop_with_budget(budget);
        assert_eq!(lp.effective_budget(), cap);
        let running = spawn_run(&lp);
        let gate = Gate::submit(&lp);
        gate.wait_entered();
        let ran = RunCount::default();
        for _ in 0..1_000 {
            let r = ran.clone();
            lp.submit(move || r.hit()).unwrap();
        }
        gate.release();
        ran.wait(1_000, "the burst");
        lp.shutdown(LIMIT).unwrap();
        running.join().unwrap();
        let s = lp.stats();
        assert_eq!(s.max_batch, cap as u64, "budget {budget}: {s:?}");
        assert!(s.ticks >= (1_000 / cap) as u64, "budget {budget}: {s:?}");
    }
}

/// Wake accounting: a submission to a sleeping loop costs exactly one eventfd write; a burst to
/// a busy loop costs none (every submission counted as elided).
#[test]
fn wakes_are_paid_only_on_the_sleeping_transition() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let ran = RunCount::default();
    // Sleeps counted when the previous task ran (on the loop thread); the loop is asleep again
    // once the counter passed it.
    let seen = Arc::new(AtomicUsize::new(0));
    for round in 0..20 {
        let since = seen.load(Ordering::SeqCst) as u64;
        wait_for("the loop to sleep", || lp.stats().sleeps > since);
        let asleep = lp.stats();
        let (r, l, sn) = (ran.clone(), lp.clone(), seen.clone());
        lp.submit(move || {
            sn.store(l.stats().sleeps as usize, Ordering::SeqCst);
            r.hit();
        })
        .unwrap();
        ran.wait(round + 1, "the round trip");
        let after = lp.stats();
        assert_eq!(after.wake_syscalls - asleep.wake_syscalls, 1, "one wake: {after:?}");
        assert_eq!(after.wakes_elided, asleep.wakes_elided, "{after:?}");
    }
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let busy = lp.stats();
    for _ in 0..1_000 {
        let r = ran.clone();
        lp.submit(move || r.hit()).unwrap();
    }
    let after = lp.stats();
    assert_eq!(after.wake_syscalls, busy.wake_syscalls, "the loop was running: no wake");
    assert_eq!(after.wakes_elided - busy.wakes_elided, 1_000);
    gate.release();
    ran.wait(1_020, "the burst");
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    let s = lp.stats();
    assert!(s.sleeps >= 1 && s.polls >= s.sleeps, "{s:?}");
}

/// Historical loss (docs/HISTORY.md, "AlternateTwo"): during the shutdown drain, an external task
/// that calls `submit_internal`, `schedule_microtask` and `submit` from the loop thread. All of it
/// must run before `shutdown` returns — including chains several levels deep, and external tasks
/// that go to the overflow lane because the ring is closed.
#[test]
fn work_submitted_by_draining_tasks_of_every_kind_runs_before_shutdown_returns() {
    const N: usize = 500;
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let ran = RunCount::default();
    for _ in 0..N {
        let (l, r) = (lp.clone(), ran.clone());
        lp.submit(move || {
            r.hit();
            let (l2, r2) = (l.clone(), r.clone());
            l.submit_internal(move || {
                r2.hit();
                let r3 = r2.clone();
                l2.schedule_microtask(move || r3.hit()).expect("microtask while draining");
            })
            .expect("internal while draining");
            let r4 = r.clone();
            l.submit(move || r4.hit()).expect("external while draining");
        })
        .unwrap();
    }
    let shutdown = {
        let lp = lp.clone();
        std::thread::spawn(move || lp.shutdown(LIMIT))
    };
    wait_for("the stop to be recorded", || lp.submit(|| ()).is_err());
    gate.release();
    assert_eq!(shutdown.join().unwrap(), Ok(()));
    assert_eq!(ran.get(), 4 * N, "every nested submission ran before shutdown returned");
    running.join().unwrap();
    let s = lp.stats();
    assert_eq!(s.tasks_run_internal, N as u64);
    assert_eq!(s.microtasks_run, N as u64);
    assert_eq!(s.tasks_dropped, 0);
}

/// `close` from inside a task: returns what it dropped at once, nothing else starts, `run`
/// returns `Ok`, and a waiting `shutdown` is released with `Closed`.
#[test]
fn close_from_inside_a_task_drops_the_rest() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let dropped = Arc::new(AtomicUsize::new(usize::MAX));
    let (l, d) = (lp.clone(), dropped.clone());
    lp.submit(move || d.store(l.close() as usize, Ordering::SeqCst)).unwrap();
    let after = RunCount::default();
    for _ in 0..300 {
        let a = after.clone();
        lp.submit(move || a.hit()).unwrap();
        let a = after.clone();
        lp.submit_internal(move || a.hit()).unwrap();
    }
    let waiter = {
        let lp = lp.clone();
        std::thread::spawn(move || lp.shutdown(LIMIT))
    };
    // The internal tasks run before the closing task (priority); the 300 external ones queued
    // after it are dropped.
    gate.release();
    running.join().unwrap();
    assert_eq!(waiter.join().unwrap(), Err(ShutdownError::Closed));
    assert_eq!(after.get(), 300, "only the internal tasks ran");
    assert_eq!(dropped.load(Ordering::SeqCst), 300);
    assert_eq!(lp.stats().tasks_dropped, 300);
    assert_eq!(lp.close(), 0);
}

/// A readiness callback still runs while the loop is saturated by a task that keeps
/// resubmitting itself (the historical poll returned early whenever work was queued, so I/O
/// starved under load).
#[test]
fn readiness_is_polled_on_busy_ticks() {
    let lp = new_loop();
    let running = spawn_run(&lp);
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2");
    let [read_fd, write_fd] = fds;
    let fired = Arc::new(AtomicBool::new(false));
    let f = fired.clone();
    lp.register_readable(read_fd, move || {
        let mut buf = [0_u8; 8];
        // SAFETY: `buf` is valid for 8 bytes; `read_fd` stays open until after `unregister`.
        let _ = unsafe { libc::read(read_fd, buf.as_mut_ptr().cast(), buf.len()) };
        f.store(true, Ordering::SeqCst);
    })
    .unwrap_or_else(|r| panic!("{r}"));

    fn spin(lp: Arc<AltTwoLoop>, stop: Arc<AtomicBool>, count: Arc<AtomicUsize>) {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        count.fetch_add(1, Ordering::Relaxed);
        let l = lp.clone();
        lp.submit(move || spin(l, stop, count)).unwrap();
    }
    let spins = Arc::new(AtomicUsize::new(0));
    let (l, s, c) = (lp.clone(), fired.clone(), spins.clone());
    lp.submit(move || spin(l, s, c)).unwrap();
    wait_for("the loop to be saturated", || spins.load(Ordering::Relaxed) > 1_000);
    // SAFETY: writing one byte from a valid buffer to the pipe's write end.
    assert_eq!(unsafe { libc::write(write_fd, [1_u8].as_ptr().cast(), 1) }, 1);
    wait_for("the readiness callback under load", || fired.load(Ordering::SeqCst));
    lp.unregister(read_fd).unwrap();
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    // SAFETY: closing the two fds this test created, after unregistering.
    unsafe {
        libc::close(read_fd);
        libc::close(write_fd);
    }
    assert!(lp.stats().io_callbacks >= 1);
}
