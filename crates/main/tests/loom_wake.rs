//! Loom model checks of the wake-up protocol, run against the real loop code (under `--cfg loom`
//! the state word, the queue's atomics, the consumer token, parking and the loop-thread marker
//! are loom's, see `src/sync.rs`):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p loop-main --test loom_wake
//! ```
//!
//! The protocol under test (crate docs, "The wake-up protocol"): a producer enters (RMW on the
//! state word), pushes its task, leaves (RMW) and wakes the loop only if the leave showed a
//! published sleep mode and its CAS claimed the wake-up; the loop publishes its sleep mode
//! (RMW), re-checks its queues and parks. A lost wake-up leaves the loop parked forever, which
//! loom reports as a deadlock. The loops run with `spin_before_sleep = 0` (a spin only adds
//! states) and no timers (loom has no clock).
//!
//! Loom explores interleavings up to a preemption bound of 2 ([`model`]), the usual compromise
//! for models with three threads; the negative control shows that bound finds a broken
//! handshake.
#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use loom::thread;
use loop_api::{EventLoop, LoopConfig, RunError};
use loop_main::MainLoop;

fn new_loop(always_poll: bool) -> Arc<MainLoop> {
    let config =
        LoopConfig { spin_before_sleep: Duration::ZERO, always_poll, ..LoopConfig::default() };
    Arc::new(MainLoop::new(&config).unwrap())
}

/// Runs `f` under loom with a preemption bound of 2.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.max_branches = 100_000;
    builder.check(f);
}

/// A task submitted to a loop that is (or is about to be) parked always runs. The task stops the
/// loop from inside, so the model terminates only if the task ran; exactly one of
/// `wake_syscalls`/`wakes_elided` counts the submission.
#[test]
fn a_task_submitted_to_a_sleeping_loop_always_runs() {
    static WOKE_A_SLEEPER: AtomicUsize = AtomicUsize::new(0);
    static FOUND_IT_AWAKE: AtomicUsize = AtomicUsize::new(0);
    model(|| {
        let lp = new_loop(false);
        let ran = Arc::new(AtomicUsize::new(0));
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let (lp2, r) = (lp.clone(), ran.clone());
        lp.submit(move || {
            r.fetch_add(1, Ordering::Relaxed);
            assert_eq!(lp2.shutdown(Duration::MAX), Ok(()));
        })
        .unwrap_or_else(|r| panic!("{r}"));
        runner.join().unwrap().unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 1);
        let stats = lp.stats();
        assert_eq!(stats.wake_syscalls + stats.wakes_elided, 1, "{stats:?}");
        if stats.wake_syscalls == 1 {
            WOKE_A_SLEEPER.fetch_add(1, Ordering::Relaxed);
        } else {
            FOUND_IT_AWAKE.fetch_add(1, Ordering::Relaxed);
        }
    });
    // The model is only meaningful if loom explored both sides of the race.
    assert!(WOKE_A_SLEEPER.load(Ordering::Relaxed) > 0, "never explored a sleeping loop");
    assert!(FOUND_IT_AWAKE.load(Ordering::Relaxed) > 0, "never explored an awake loop");
    eprintln!(
        "explored: {} executions woke a parked loop, {} found it awake",
        WOKE_A_SLEEPER.load(Ordering::Relaxed),
        FOUND_IT_AWAKE.load(Ordering::Relaxed)
    );
}

/// Two producers race the loop's sleep: at most one of them pays a wake per sleep, and both
/// tasks run. The second task to run stops the loop.
#[test]
fn two_producers_at_most_one_wake_per_sleep() {
    model(|| {
        let lp = new_loop(false);
        let ran = Arc::new(AtomicUsize::new(0));
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let producer = {
            let (lp, ran) = (lp.clone(), ran.clone());
            thread::spawn(move || submit_counting(&lp, &ran))
        };
        submit_counting(&lp, &ran);
        producer.join().unwrap();
        runner.join().unwrap().unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 2);
        let stats = lp.stats();
        assert!(stats.wake_syscalls <= stats.sleeps, "at most one wake per sleep: {stats:?}");
        assert_eq!(stats.wake_syscalls + stats.wakes_elided, 2, "{stats:?}");
    });
}

fn submit_counting(lp: &Arc<MainLoop>, ran: &Arc<AtomicUsize>) {
    let (lp2, ran) = (lp.clone(), ran.clone());
    lp.submit(move || {
        if ran.fetch_add(1, Ordering::Relaxed) == 1 {
            assert_eq!(lp2.shutdown(Duration::MAX), Ok(()));
        }
    })
    .unwrap_or_else(|r| panic!("{r}"));
}

/// A submission races a shutdown from a third thread: if it was accepted it runs (the loop waits
/// for submissions in flight), if not the closure came back; nobody hangs.
#[test]
fn an_accepted_submission_racing_a_foreign_shutdown_runs() {
    model(|| {
        let lp = new_loop(false);
        let ran = Arc::new(AtomicUsize::new(0));
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let producer = {
            let (lp, ran) = (lp.clone(), ran.clone());
            thread::spawn(move || {
                let task = move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                };
                usize::from(lp.submit(task).is_ok())
            })
        };
        assert_eq!(lp.shutdown(Duration::MAX), Ok(()));
        let accepted = producer.join().unwrap();
        runner.join().unwrap().unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), accepted);
    });
}

/// `close` racing a submission and the loop's sleep: the loop always stops, and every accepted
/// task either ran or was dropped by `close`, exactly once.
#[test]
fn close_racing_a_submission_accounts_for_every_task() {
    model(|| {
        let lp = new_loop(false);
        let ran = Arc::new(AtomicUsize::new(0));
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let producer = {
            let (lp, ran) = (lp.clone(), ran.clone());
            thread::spawn(move || {
                let task = move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                };
                usize::from(lp.submit(task).is_ok())
            })
        };
        let dropped = lp.close();
        let accepted = producer.join().unwrap();
        // `close` may win the race against `run` itself: the loop then never starts.
        let run = runner.join().unwrap();
        assert!(matches!(run, Ok(()) | Err(RunError::Terminated)), "{run:?}");
        assert_eq!(ran.load(Ordering::Relaxed) as u64 + dropped, accepted as u64);
        assert_eq!(lp.stats().tasks_dropped, dropped);
    });
}

/// A microtask scheduled from a foreign thread wakes a parked loop (the historical AlternateOne
/// bug: microtasks never woke the loop).
#[test]
fn a_foreign_microtask_wakes_a_sleeping_loop() {
    model(|| {
        let lp = new_loop(false);
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let lp2 = lp.clone();
        lp.schedule_microtask(move || {
            assert_eq!(lp2.shutdown(Duration::MAX), Ok(()));
        })
        .unwrap_or_else(|r| panic!("{r}"));
        runner.join().unwrap().unwrap();
        assert_eq!(lp.stats().microtasks_run, 1);
    });
}

/// Negative control: the same handshake on loom atomics, but the producer reads the sleep mode
/// *before* publishing its work (no read-modify-write after the push). Loom must find the lost
/// wake-up (a deadlock), which shows the models above would catch one.
#[test]
#[should_panic]
fn negative_control_a_broken_handshake_is_caught() {
    use loom::sync::atomic::{AtomicBool, AtomicU64};

    struct Shared {
        queued: AtomicBool,
        mode: AtomicU64,
    }

    model(|| {
        let s = Arc::new(Shared { queued: AtomicBool::new(false), mode: AtomicU64::new(0) });
        let consumer = {
            let s = s.clone();
            thread::spawn(move || {
                loop {
                    if s.queued.load(Ordering::Acquire) {
                        return;
                    }
                    s.mode.fetch_or(1, Ordering::AcqRel);
                    if s.queued.load(Ordering::Acquire) {
                        s.mode.fetch_and(!1, Ordering::AcqRel);
                        return;
                    }
                    thread::park();
                    s.mode.fetch_and(!1, Ordering::AcqRel);
                }
            })
        };
        let asleep = s.mode.load(Ordering::Acquire) != 0; // BUG: read before publishing
        s.queued.store(true, Ordering::Release);
        if asleep {
            consumer.thread().unpark();
        }
        consumer.join().unwrap();
    });
}

/// The queue handshake in isolation (`queue.rs` `latest_tail`, `driver.rs` `claimed_work`): a
/// producer claims with an RMW on the tail and then *loads* the sleep mode; the loop publishes
/// its mode with an RMW and re-reads the tail. With `recheck_rmw` the re-read is an RMW, as in
/// the real code; without, a plain load.
fn tail_handshake(recheck_rmw: bool) {
    use loom::sync::atomic::{AtomicU64, AtomicUsize};

    struct Shared {
        tail: AtomicUsize,
        mode: AtomicU64,
    }

    model(move || {
        let s = Arc::new(Shared { tail: AtomicUsize::new(0), mode: AtomicU64::new(0) });
        let consumer = {
            let s = s.clone();
            thread::spawn(move || {
                loop {
                    if s.tail.load(Ordering::Acquire) > 0 {
                        return;
                    }
                    s.mode.fetch_or(1, Ordering::AcqRel);
                    let tail = if recheck_rmw {
                        s.tail.fetch_or(0, Ordering::AcqRel)
                    } else {
                        s.tail.load(Ordering::Acquire)
                    };
                    if tail > 0 {
                        s.mode.fetch_and(!1, Ordering::AcqRel);
                        return;
                    }
                    thread::park();
                    s.mode.fetch_and(!1, Ordering::AcqRel);
                }
            })
        };
        s.tail.fetch_add(1, Ordering::AcqRel); // the claim CAS
        if s.mode.load(Ordering::Acquire) != 0 {
            consumer.thread().unpark();
        }
        consumer.join().unwrap();
    });
}

/// The real code's shape: the loop's RMW re-read of the tail and the producer's claim are
/// ordered in the tail's modification order, so one of them sees the other. No lost wake-up.
#[test]
fn the_tail_rmw_recheck_never_loses_a_wakeup() {
    tail_handshake(true);
}

/// Negative control: the same handshake with a plain-load re-check. Loom must find the lost
/// wake-up (store buffering: each side's load misses the other's RMW), which shows the RMW in
/// `Queue::latest_tail` is what the protocol rests on and that the models can see its absence.
#[test]
#[should_panic]
fn negative_control_a_plain_load_recheck_is_caught() {
    tail_handshake(false);
}
