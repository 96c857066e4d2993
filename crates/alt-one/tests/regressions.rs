//! Regression tests for the Go AlternateOne's bugs (`docs/HISTORY.md`, bugs 11,
//! 12, 15) and for alt-one's own guarantees (validated state machine, level-triggered
//! readiness). Every wait is bounded and fails loudly; nothing synchronises by sleeping.
#![cfg(not(loom))]

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use loop_alt_one::AltOneLoop;
use loop_alt_one::state::LoopState;
use loop_api::{EventLoop, LoopConfig, RunError};

/// Generous bound for "this must happen"; reached only when the loop is broken. It is well
/// below AlternateOne's 10 s poll cap, so a wake-up that only the cap delivers fails the test.
const BOUND: Duration = Duration::from_secs(5);

type Runner = thread::JoinHandle<Result<(), RunError>>;

fn start() -> (Arc<AltOneLoop>, Runner) {
    let lp = Arc::new(AltOneLoop::new(&LoopConfig::default()).expect("new"));
    assert_eq!(lp.state(), LoopState::Awake);
    let runner = {
        let lp = lp.clone();
        thread::spawn(move || lp.run())
    };
    (lp, runner)
}

fn stop(lp: &AltOneLoop, runner: Runner) {
    lp.shutdown(BOUND).expect("shutdown");
    runner.join().expect("loop thread panicked").expect("run");
    assert_eq!(lp.state(), LoopState::Terminated);
}

/// Waits until the loop is blocked in (or entering) its poll after a round trip.
fn wait_asleep(lp: &Arc<AltOneLoop>) {
    let (tx, rx) = mpsc::channel();
    let l = lp.clone();
    lp.submit(move || tx.send(l.stats().sleeps).unwrap()).unwrap_or_else(|r| panic!("{r}"));
    let before = rx.recv_timeout(BOUND).expect("round trip never completed");
    let deadline = Instant::now() + BOUND;
    while lp.stats().sleeps <= before || lp.state() != LoopState::Sleeping {
        assert!(Instant::now() < deadline, "the idle loop never went to sleep");
        thread::yield_now();
    }
}

/// A non-blocking connected socket pair: readable end for the loop, writable end for the test.
fn socket_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    (a, b)
}

/// Bug #11: a microtask scheduled from a foreign thread must wake a sleeping loop (Go's
/// `ScheduleMicrotask` never did, so it waited for the 10 s poll cap).
#[test]
fn foreign_microtask_wakes_a_sleeping_loop() {
    let (lp, runner) = start();
    for _ in 0..5 {
        wait_asleep(&lp);
        let wakes = lp.stats().wake_syscalls;
        let (tx, rx) = mpsc::channel();
        lp.schedule_microtask(move || tx.send(thread::current().id()).unwrap())
            .unwrap_or_else(|r| panic!("{r}"));
        let ran_on = rx.recv_timeout(BOUND).expect("microtask to a sleeping loop never ran");
        assert_ne!(ran_on, thread::current().id());
        assert!(lp.stats().wake_syscalls > wakes, "the microtask did not write the eventfd");
    }
    stop(&lp, runner);
}

/// Bug #12: tasks drained during shutdown run with no lock held, so calling back into the loop
/// (every submission kind, timers, registration, stats) returns instead of self-deadlocking.
#[test]
fn drained_tasks_can_call_back_into_the_loop() {
    let lp = Arc::new(AltOneLoop::new(&LoopConfig::default()).expect("new"));
    let ran = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    {
        let (l, ran) = (lp.clone(), ran.clone());
        lp.submit(move || {
            let bump = |r: &Arc<AtomicU64>| {
                let r = r.clone();
                move || {
                    r.fetch_add(1, Ordering::SeqCst);
                }
            };
            l.submit(bump(&ran)).unwrap_or_else(|r| panic!("submit: {r}"));
            l.submit_internal(bump(&ran)).unwrap_or_else(|r| panic!("submit_internal: {r}"));
            l.schedule_microtask(bump(&ran)).unwrap_or_else(|r| panic!("microtask: {r}"));
            // Rejected during shutdown (timers are closed first), but must return.
            assert!(l.schedule_timer(Duration::ZERO, || ()).is_err());
            let (a, _b) = socket_pair();
            l.register_readable(a.as_raw_fd(), || ()).unwrap_or_else(|r| panic!("register: {r}"));
            l.unregister(a.as_raw_fd()).expect("unregister");
            let _ = l.stats();
            tx.send(()).unwrap();
        })
        .unwrap_or_else(|r| panic!("{r}"));
    }
    // The stop is recorded before `run`: the task above runs in the shutdown drain.
    let shutdown = {
        let lp = lp.clone();
        thread::spawn(move || lp.shutdown(BOUND))
    };
    let deadline = Instant::now() + BOUND;
    while lp.state() != LoopState::Terminating {
        assert!(Instant::now() < deadline, "shutdown never recorded the stop");
        thread::yield_now();
    }
    let runner = {
        let lp = lp.clone();
        thread::spawn(move || lp.run())
    };
    rx.recv_timeout(BOUND).expect("the drained task deadlocked calling back into the loop");
    assert_eq!(shutdown.join().unwrap(), Ok(()));
    runner.join().unwrap().expect("run");
    assert_eq!(ran.load(Ordering::SeqCst), 3, "everything the drained task submitted ran");
    assert_eq!(lp.stats().tasks_dropped, 0);
}

/// Bug #15: registering an fd from a foreign thread must not wait for a sleeping poll to return
/// (Go held the poller mutex across `epoll_wait`), and registering from inside a readiness
/// callback must not deadlock.
#[test]
fn registration_does_not_block_behind_a_sleeping_poll() {
    let (lp, runner) = start();
    let (a, mut a_peer) = socket_pair();
    let (b, mut b_peer) = socket_pair();
    wait_asleep(&lp);
    let registered = {
        let lp = lp.clone();
        let (tx, rx) = mpsc::channel();
        let (a_fd, b_fd) = (a.as_raw_fd(), b.as_raw_fd());
        let (got_b_tx, got_b) = mpsc::channel();
        thread::spawn(move || {
            let l = lp.clone();
            let r = lp.register_readable(a_fd, move || {
                let mut buf = [0u8; 8];
                let _ = (&a).read(&mut buf);
                // From inside a callback: register another fd (Go deadlocked here).
                let tx = got_b_tx.clone();
                let _ = l.register_readable(b_fd, move || {
                    let _ = tx.send(());
                });
            });
            tx.send(r.is_ok()).unwrap();
        });
        (rx.recv_timeout(BOUND).expect("register_readable blocked behind the sleeping poll"), got_b)
    };
    assert!(registered.0, "registration rejected");
    a_peer.write_all(b"x").unwrap();
    // The callback on `a` registers `b` from the loop thread; then a byte on `b` fires it.
    let deadline = Instant::now() + BOUND;
    while lp.unregister(b.as_raw_fd()).is_err() {
        assert!(Instant::now() < deadline, "the callback never registered the second fd");
        thread::yield_now();
    }
    // Register `b` again from here to prove its callback path works end to end.
    let (tx, rx) = mpsc::channel();
    let b_fd = b.as_raw_fd();
    lp.register_readable(b_fd, move || {
        let mut buf = [0u8; 8];
        let _ = (&b).read(&mut buf);
        let _ = tx.send(());
    })
    .unwrap_or_else(|r| panic!("{r}"));
    b_peer.write_all(b"y").unwrap();
    rx.recv_timeout(BOUND).expect("readiness callback never ran");
    drop(registered.1);
    stop(&lp, runner);
}

/// Readiness is level-triggered: a callback that leaves data unread is called again.
#[test]
fn readiness_is_level_triggered() {
    let (lp, runner) = start();
    let (r, mut w) = socket_pair();
    let fd = r.as_raw_fd();
    let (tx, rx) = mpsc::channel();
    lp.register_readable(fd, move || {
        let mut one = [0u8; 1];
        if (&r).read(&mut one).is_ok() {
            tx.send(one[0]).unwrap();
        }
    })
    .unwrap_or_else(|r| panic!("{r}"));
    w.write_all(b"abc").unwrap();
    let got: Vec<u8> =
        (0..3).map(|_| rx.recv_timeout(BOUND).expect("callback not called again")).collect();
    assert_eq!(got, b"abc");
    lp.unregister(fd).expect("unregister");
    assert_eq!(lp.stats().io_callbacks, 3);
    stop(&lp, runner);
}

/// The state machine is observable and moves only along its table; a second `run` is an error.
#[test]
fn lifecycle_states_follow_the_table() {
    let (lp, runner) = start();
    wait_asleep(&lp);
    assert_eq!(lp.run().unwrap_err().to_string(), "loop is already running");
    stop(&lp, runner);
    assert!(matches!(lp.run(), Err(RunError::Terminated)));
    // Closed before it ever ran: Awake → Terminating → Terminated.
    let idle = AltOneLoop::new(&LoopConfig::default()).unwrap();
    idle.submit(|| ()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(idle.close(), 1);
    assert_eq!(idle.state(), LoopState::Terminated);
    assert!(matches!(idle.run(), Err(RunError::Terminated)));
}

/// The external budget bounds each tick, internal work bypasses it.
#[test]
fn external_batches_respect_the_budget() {
    let lp = Arc::new(
        AltOneLoop::new(&LoopConfig { batch_budget: 100, ..LoopConfig::default() }).unwrap(),
    );
    let ran = Arc::new(AtomicU64::new(0));
    for _ in 0..1_000 {
        let r = ran.clone();
        lp.submit(move || {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap_or_else(|r| panic!("{r}"));
    }
    for _ in 0..300 {
        lp.submit_internal(|| ()).unwrap_or_else(|r| panic!("{r}"));
    }
    lp.shutdown(Duration::ZERO).expect_err("not running yet: times out");
    lp.run().expect("run drains");
    let s = lp.stats();
    assert_eq!(ran.load(Ordering::SeqCst), 1_000);
    assert_eq!(s.tasks_run_external, 1_000);
    assert_eq!(s.tasks_run_internal, 300);
    assert_eq!(s.max_batch, 100);
    assert!(s.ticks >= 10, "{s:?}");
}
