//! Loom model checks of the sleep/wake handshake, run against the real loop code (under
//! `--cfg loom` its mutexes and condvars are loom's, see `src/sync.rs`):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p loop-baseline --release --test loom_wake
//! ```
//!
//! The protocol under test: a producer pushes its task and then looks at `waiting`, both under
//! the state mutex; the loop, under the same mutex, finds the queue empty, sets `waiting` and
//! waits on the condvar (which releases the mutex atomically). Loom explores every interleaving;
//! a lost wake-up would leave the loop blocked forever, which loom reports as a deadlock.
//!
//! Loom has no clock, so these models use no timers (a timed wait is modelled as an untimed one).
#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use loom::thread;
use loop_api::{EventLoop, LoopConfig, RunError};
use loop_baseline::BaselineLoop;

fn new_loop() -> Arc<BaselineLoop> {
    Arc::new(BaselineLoop::new(&LoopConfig::default()).unwrap())
}

/// A task submitted to a loop that is (or is about to be) asleep always runs. The task then
/// stops the loop from inside, so the model terminates only if the task ran.
#[test]
fn a_task_submitted_to_a_sleeping_loop_always_runs() {
    // Which sides of the race the exploration covered (plain statics: they outlive the model's
    // executions, and each execution runs on one OS thread).
    static NOTIFIED_A_SLEEPER: AtomicUsize = AtomicUsize::new(0);
    static FOUND_IT_AWAKE: AtomicUsize = AtomicUsize::new(0);
    loom::model(|| {
        let lp = new_loop();
        let ran = Arc::new(AtomicUsize::new(0));
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let producer = {
            let (lp, ran) = (lp.clone(), ran.clone());
            thread::spawn(move || {
                let lp2 = lp.clone();
                lp.submit(move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                    assert_eq!(lp2.shutdown(Duration::MAX), Ok(()));
                })
                .unwrap_or_else(|r| panic!("{r}"));
            })
        };
        producer.join().unwrap();
        runner.join().unwrap().unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 1);
        let stats = lp.stats();
        if stats.wake_syscalls == 1 {
            NOTIFIED_A_SLEEPER.fetch_add(1, Ordering::Relaxed);
        } else {
            assert_eq!(stats.wakes_elided, 1, "{stats:?}");
            FOUND_IT_AWAKE.fetch_add(1, Ordering::Relaxed);
        }
    });
    // The model is only meaningful if loom explored both orders of the race.
    assert!(NOTIFIED_A_SLEEPER.load(Ordering::Relaxed) > 0, "never explored a sleeping loop");
    assert!(FOUND_IT_AWAKE.load(Ordering::Relaxed) > 0, "never explored an awake loop");
    eprintln!(
        "explored: {} executions notified a sleeping loop, {} found it awake",
        NOTIFIED_A_SLEEPER.load(Ordering::Relaxed),
        FOUND_IT_AWAKE.load(Ordering::Relaxed)
    );
}

/// A producer races the loop's sleep and a shutdown from a third thread: if the submission
/// was accepted it runs (conservation), if not the closure came back; nobody hangs.
#[test]
fn an_accepted_submission_racing_a_foreign_shutdown_runs() {
    loom::model(|| {
        let lp = new_loop();
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

/// Two producers race the loop's sleep: the first to find `waiting` set notifies and clears it,
/// the second elides its notify. Both tasks still run (the loop swaps the whole queue).
#[test]
fn two_producers_one_notify_both_tasks_run() {
    loom::model(|| {
        let lp = new_loop();
        let ran = Arc::new(AtomicUsize::new(0));
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let (lp, ran) = (lp.clone(), ran.clone());
                thread::spawn(move || {
                    let lp2 = lp.clone();
                    lp.submit(move || {
                        // The second task to run stops the loop from inside.
                        if ran.fetch_add(1, Ordering::Relaxed) == 1 {
                            assert_eq!(lp2.shutdown(Duration::MAX), Ok(()));
                        }
                    })
                    .unwrap_or_else(|r| panic!("{r}"));
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        runner.join().unwrap().unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 2);
        let stats = lp.stats();
        assert!(stats.wake_syscalls <= stats.sleeps, "at most one notify per sleep: {stats:?}");
    });
}

/// `close` racing a submission and the loop's sleep: the loop always stops, and every accepted
/// task either ran or was dropped by `close`, exactly once.
#[test]
fn close_racing_a_submission_never_hangs_and_accounts_for_every_task() {
    loom::model(|| {
        let lp = new_loop();
        let ran = Arc::new(AtomicUsize::new(0));
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let producer = {
            let (lp, ran) = (lp.clone(), ran.clone());
            thread::spawn(move || {
                usize::from(
                    lp.submit(move || {
                        ran.fetch_add(1, Ordering::Relaxed);
                    })
                    .is_ok(),
                )
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

/// Negative control: the same handshake with the producer checking `waiting` *before* it
/// publishes (in a separate critical section). Loom must find the lost wake-up, which shows the
/// models above would catch one.
#[test]
#[should_panic]
fn negative_control_a_broken_handshake_is_caught() {
    use loom::sync::{Condvar, Mutex};

    struct Shared {
        state: Mutex<(bool, bool)>, // (task queued, loop waiting)
        wake: Condvar,
    }

    loom::model(|| {
        let s = Arc::new(Shared { state: Mutex::new((false, false)), wake: Condvar::new() });
        let consumer = {
            let s = s.clone();
            thread::spawn(move || {
                let mut st = s.state.lock().unwrap();
                while !st.0 {
                    st.1 = true;
                    st = s.wake.wait(st).unwrap();
                    st.1 = false;
                }
            })
        };
        let was_waiting = s.state.lock().unwrap().1; // BUG: checked before publishing
        s.state.lock().unwrap().0 = true;
        if was_waiting {
            s.wake.notify_one();
        }
        consumer.join().unwrap();
    });
}
