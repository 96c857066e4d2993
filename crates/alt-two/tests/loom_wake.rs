//! Loom model checks of alt-two's concurrency protocols, run against the real loop code (under
//! `--cfg loom` its atomics, mutexes and condvars are loom's, the rings have 2 slots, and the
//! eventfd/epoll pair is a model with the eventfd's semantics, see `src/poller.rs`):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p loop-alt-two --test loom_wake
//! ```
//!
//! * the wake handshake (`src/wake.rs`): a task or microtask submitted to a loop that is (about
//!   to be) asleep always runs — a lost wake-up leaves the loop blocked, which loom reports as a
//!   deadlock; and both sides of the race are explored;
//! * conservation: a submission racing `shutdown` either is rejected (closure back) or runs;
//!   racing `close`, it either runs or is counted as dropped;
//! * the slot publication protocol (`src/ring.rs`): a consumer racing a producer never reads a
//!   slot before it is written (loom's `UnsafeCell` tracking would report the race) and never
//!   loses or reorders a value, across a wrap-around of the 2-slot ring;
//! * the fenced overflow lane (`src/lane.rs`): a producer outrunning a 2-slot ring keeps FIFO;
//! * a negative control: the historical publish-before-write ring is caught.
//!
//! Preemption is bounded (3, or 2 for the `close` race) to keep the whole file under a minute.
#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use loom::thread;
use loop_alt_two::{AltTwoLoop, Pop, PushError, Ring};
use loop_api::{EventLoop, LoopConfig, RunError};

fn new_loop() -> Arc<AltTwoLoop> {
    Arc::new(AltTwoLoop::new(&LoopConfig::default()).unwrap())
}

/// Runs a model with at most `bound` preemptions per execution (the loop's tick touches many
/// atomics; unbounded exploration would take hours, and most bugs need ≤ 2 preemptions).
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b.check(f);
}

/// How a submission came out of the race with the loop's sleep.
static WOKE: AtomicUsize = AtomicUsize::new(0);
static ELIDED: AtomicUsize = AtomicUsize::new(0);

fn tally(lp: &AltTwoLoop) {
    let s = lp.stats();
    // `shutdown` from inside the task writes the eventfd once more (counted too).
    if s.wake_syscalls >= 2 {
        WOKE.fetch_add(1, Ordering::Relaxed);
    } else {
        ELIDED.fetch_add(1, Ordering::Relaxed);
    }
    // Exactly one wake decision for the one submission (the other eventfd write is shutdown's).
    // A wake may be written although the loop then finds the task in its pre-sleep re-check and
    // never blocks (`sleeps == 0`): harmless, the next poll returns at once.
    assert_eq!(s.wake_syscalls - 1 + s.wakes_elided, 1, "{s:?}");
}

/// A task submitted to a loop that is (or is about to be) asleep always runs; the task then
/// stops the loop from inside, so the model terminates only if it ran.
#[test]
fn a_task_submitted_to_a_sleeping_loop_always_runs() {
    WOKE.store(0, Ordering::Relaxed);
    ELIDED.store(0, Ordering::Relaxed);
    model(3, || {
        let lp = new_loop();
        let ran = Arc::new(AtomicUsize::new(0));
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let (l, r) = (lp.clone(), ran.clone());
        lp.submit(move || {
            r.fetch_add(1, Ordering::Relaxed);
            assert_eq!(l.shutdown(Duration::MAX), Ok(()));
        })
        .unwrap_or_else(|r| panic!("{r}"));
        runner.join().unwrap().unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 1);
        tally(&lp);
    });
    let (woke, elided) = (WOKE.load(Ordering::Relaxed), ELIDED.load(Ordering::Relaxed));
    eprintln!("explored: {woke} executions woke a sleeping loop, {elided} elided the wake");
    assert!(woke > 0, "never explored a sleeping loop");
    assert!(elided > 0, "never explored an awake loop");
}

/// The same for a microtask scheduled from a foreign thread (the historical AlternateTwo did
/// not wake the loop for microtasks at all).
#[test]
fn a_foreign_microtask_wakes_a_sleeping_loop() {
    model(3, || {
        let lp = new_loop();
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        let l = lp.clone();
        lp.schedule_microtask(move || {
            assert_eq!(l.shutdown(Duration::MAX), Ok(()));
        })
        .unwrap_or_else(|r| panic!("{r}"));
        runner.join().unwrap().unwrap();
        assert_eq!(lp.stats().microtasks_run, 1);
    });
}

/// A producer races the loop's sleep and a foreign `shutdown`: if the submission was accepted
/// it ran before `shutdown` returned (conservation); otherwise the closure came back.
#[test]
fn an_accepted_submission_racing_a_foreign_shutdown_runs() {
    model(3, || {
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

/// `close` racing a submission and the loop: the loop always stops, and an accepted task
/// either ran or was dropped by `close`, exactly once.
#[test]
fn close_racing_a_submission_accounts_for_every_task() {
    model(2, || {
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
        let run = runner.join().unwrap();
        assert!(matches!(run, Ok(()) | Err(RunError::Terminated)), "{run:?}");
        assert_eq!(ran.load(Ordering::Relaxed) as u64 + dropped, accepted as u64);
        assert_eq!(lp.stats().tasks_dropped, dropped);
    });
}

/// Slot publication on the real ring (the microtask ring's protocol, at 2 slots): a producer
/// pushes 3 values (wrapping around, meeting `Full`) while the consumer pops concurrently. The
/// consumer sees `Pending` for a claimed-but-unwritten slot, never a torn or missing value;
/// every value arrives once, in order.
#[test]
fn microtask_slot_publication() {
    model(3, || {
        let ring = Arc::new(Ring::<usize>::new(2));
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    let mut v = i;
                    loop {
                        match ring.push(v, |v| v) {
                            Ok(_) => break,
                            Err(PushError::Full(back)) => {
                                v = back;
                                thread::yield_now();
                            }
                            Err(PushError::Closed(_)) => unreachable!(),
                        }
                    }
                }
            })
        };
        let mut next = 0;
        while next < 3 {
            match ring.pop() {
                Pop::Item(v) => {
                    assert_eq!(v, next);
                    next += 1;
                }
                Pop::Empty | Pop::Pending => thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert_eq!(ring.pop(), Pop::Empty);
    });
}

/// Close racing a producer on the real ring: the producer is either rejected with its value or
/// its value is among those the closer drains; nothing else.
#[test]
fn ring_close_racing_a_push_loses_nothing() {
    model(3, || {
        let ring = Arc::new(Ring::<usize>::new(2));
        ring.push(0, |v| v).unwrap();
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || ring.push(1, |v| v).is_ok())
        };
        let end = ring.close();
        let drained = ring.drain_to(end);
        let accepted = producer.join().unwrap();
        let expected: Vec<usize> = if accepted { vec![0, 1] } else { vec![0] };
        assert_eq!(drained, expected);
        assert!(ring.is_closed());
    });
}

/// The fenced overflow lane through the real loop: with 2-slot rings, a foreign producer
/// submits 3 tasks (the third overflows unless the loop already made room) while the loop runs;
/// they run in submission order. The last task stops the loop.
#[test]
fn overflow_lane_keeps_fifo() {
    model(3, || {
        let lp = new_loop();
        let order = Arc::new(loom::sync::Mutex::new(Vec::new()));
        let runner = {
            let lp = lp.clone();
            thread::spawn(move || lp.run())
        };
        for i in 0..3 {
            let (l, o) = (lp.clone(), order.clone());
            lp.submit(move || {
                o.lock().unwrap().push(i);
                if i == 2 {
                    assert_eq!(l.shutdown(Duration::MAX), Ok(()));
                }
            })
            .unwrap_or_else(|r| panic!("{r}"));
        }
        runner.join().unwrap().unwrap();
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
    });
}

/// Negative control: the historical microtask ring (docs/HISTORY.md, bug 8) claimed the position
/// (advanced `tail`) *before* writing the slot, and the consumer read any slot below `tail`.
/// Loom must catch the consumer reading the unwritten slot (here: a racing access to the
/// `UnsafeCell`, or the empty value), which shows the publication model above would.
#[test]
#[should_panic]
fn negative_control_publish_before_write_is_caught() {
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::AtomicUsize as LoomAtomic;

    struct Broken {
        tail: LoomAtomic,
        slot: UnsafeCell<Option<usize>>,
    }
    // SAFETY: deliberately unsound (that is what loom must report); test-only.
    unsafe impl Sync for Broken {}

    loom::model(|| {
        let b = Arc::new(Broken { tail: LoomAtomic::new(0), slot: UnsafeCell::new(None) });
        let producer = {
            let b = b.clone();
            thread::spawn(move || {
                b.tail.store(1, Ordering::Release); // BUG: published first ...
                // SAFETY: none — this is the historical race.
                b.slot.with_mut(|p| unsafe { *p = Some(7) }); // ... written second
            })
        };
        if b.tail.load(Ordering::Acquire) == 1 {
            // SAFETY: none — this is the historical race.
            let v = b.slot.with(|p| unsafe { *p });
            assert_eq!(v, Some(7), "consumer read an unwritten slot");
        }
        producer.join().unwrap();
    });
}
