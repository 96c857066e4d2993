//! The arena-full policy: a full 65,536-slot ring overflows into the fenced lane without losing,
//! duplicating or reordering any producer's tasks, and without blocking anyone — including the
//! loop thread itself.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::{FifoCheck, Gate, LIMIT, RunCount, new_loop, spawn_run, wait_for};
use loop_alt_two::{EXTERNAL_CAPACITY, MICROTASK_CAPACITY};
use loop_api::EventLoop;

/// 4 producers × 50,000 tasks (3× the arena). The loop is held by a gate until 100,000 tasks
/// were accepted — more than the ring holds, so the overflow lane is in use — then released
/// while the producers keep going, so ring, overflow and the reused ring interleave. Every task
/// must run exactly once and every producer's tasks in submission order.
#[test]
fn a_burst_larger_than_the_arena_keeps_per_producer_fifo() {
    const P: usize = 4;
    const PER: usize = 50_000;
    const HOLD_UNTIL: usize = 100_000;
    const { assert!(HOLD_UNTIL > EXTERNAL_CAPACITY + 1, "the gate must hold past a full ring") };
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let check = FifoCheck::new(P);
    let accepted = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(P));
    let producers: Vec<_> = (0..P)
        .map(|p| {
            let (lp, check, accepted, start) =
                (lp.clone(), check.clone(), accepted.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..PER {
                    lp.submit(check.task(p, i)).unwrap_or_else(|r| panic!("submit: {r}"));
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    wait_for("100,000 submissions accepted behind the gate", || {
        accepted.load(Ordering::SeqCst) >= HOLD_UNTIL
    });
    // The loop has not taken a single task since the gate: at least 100,000 − 65,536 of them are
    // in the overflow lane, and nobody blocked.
    assert_eq!(lp.stats().tasks_run_external, 0);
    gate.release();
    for p in producers {
        p.join().expect("producer");
    }
    check.ran().wait(P * PER, "all 200,000 tasks to run");
    lp.shutdown(LIMIT).expect("shutdown");
    running.join().expect("run");
    check.assert_complete(&[PER; P]);
    let stats = lp.stats();
    assert_eq!(stats.tasks_run_external, (P * PER + 1) as u64, "{stats:?}");
    assert!(stats.max_batch <= 256, "{stats:?}");
}

/// A task on the loop thread submits 70,000 tasks to a ring that a foreign producer already
/// filled: the loop cannot wait for itself, so they go to the overflow lane. No deadlock, and
/// both producers' tasks all run, each producer's in submission order.
#[test]
fn the_loop_thread_submitting_to_a_full_ring_does_not_deadlock() {
    const FOREIGN: usize = EXTERNAL_CAPACITY;
    const LOCAL: usize = 70_000;
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let check = FifoCheck::new(2);
    // Producer 1 (the loop thread) submits from inside a task queued *first*, behind the gate.
    let (l, c) = (lp.clone(), check.clone());
    let local_done = RunCount::default();
    let d = local_done.clone();
    lp.submit(move || {
        for i in 0..LOCAL {
            l.submit(c.task(1, i)).unwrap_or_else(|r| panic!("loop-thread submit: {r}"));
        }
        d.hit();
    })
    .unwrap();
    // Producer 0 fills the rest of the ring (and a little overflow) while the loop is gated.
    for i in 0..FOREIGN {
        lp.submit(check.task(0, i)).unwrap_or_else(|r| panic!("submit: {r}"));
    }
    gate.release();
    local_done.wait(1, "the submitting task to finish (a deadlock would hang here)");
    check.ran().wait(FOREIGN + LOCAL, "every task to run");
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    check.assert_complete(&[FOREIGN, LOCAL]);
}

/// Microtasks scheduled by one task overflow the 4,096-slot microtask ring: all run, in order,
/// before the next task.
#[test]
fn microtasks_beyond_the_ring_run_in_order_before_the_next_task() {
    const N: usize = 3 * MICROTASK_CAPACITY;
    let lp = new_loop();
    let running = spawn_run(&lp);
    let check = FifoCheck::new(1);
    let seen_by_next = Arc::new(AtomicUsize::new(usize::MAX));
    let (l, c) = (lp.clone(), check.clone());
    let gate = Gate::submit(&lp);
    lp.submit(move || {
        for i in 0..N {
            l.schedule_microtask(c.task(0, i)).unwrap_or_else(|r| panic!("microtask: {r}"));
        }
    })
    .unwrap();
    let (s, c) = (seen_by_next.clone(), check.clone());
    lp.submit(move || s.store(c.ran().get(), Ordering::SeqCst)).unwrap();
    gate.release();
    wait_for("the next task", || seen_by_next.load(Ordering::SeqCst) != usize::MAX);
    assert_eq!(seen_by_next.load(Ordering::SeqCst), N, "all microtasks ran before the next task");
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    check.assert_complete(&[N]);
    assert_eq!(lp.stats().microtasks_run, N as u64);
}

/// Foreign threads schedule microtasks beyond the ring's capacity while the loop is gated:
/// nothing is rejected ("buffer full" was an error historically), lost or reordered.
#[test]
fn foreign_microtasks_beyond_the_ring_are_kept_in_order() {
    const P: usize = 3;
    const PER: usize = 5_000;
    let lp = new_loop();
    let running = spawn_run(&lp);
    let gate = Gate::submit(&lp);
    gate.wait_entered();
    let check = FifoCheck::new(P);
    let producers: Vec<_> = (0..P)
        .map(|p| {
            let (lp, check) = (lp.clone(), check.clone());
            thread::spawn(move || {
                for i in 0..PER {
                    lp.schedule_microtask(check.task(p, i)).unwrap_or_else(|r| panic!("{r}"));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    gate.release();
    check.ran().wait(P * PER, "every microtask to run");
    lp.shutdown(LIMIT).unwrap();
    running.join().unwrap();
    check.assert_complete(&[PER; P]);
}
