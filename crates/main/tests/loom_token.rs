//! Loom model of the consumer token's asymmetric Dekker pair (`src/consumer.rs`,
//! `src/fence.rs`), in isolation: under loom the loop's own token is a model lock (loom cannot
//! model `membarrier`, and its scheduler starves spinning waiters), so this model checks the
//! protocol's shape instead. Both fences are `fence(SeqCst)` here, which is the guarantee
//! `membarrier(PRIVATE_EXPEDITED)` plus a compiler fence gives the real code.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p loop-main --test loom_token
//! ```
//!
//! A loom `UnsafeCell` stands for the queues' pop ends: loom fails the model if the loop and
//! the foreign taker ever access it at the same time, or without a happens-before edge.

#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, fence};
use loom::thread;

struct Token {
    loop_held: AtomicBool,
    foreign_wants: AtomicBool,
    /// The state the token guards (the queues' pop ends).
    guarded: UnsafeCell<u32>,
}

// SAFETY: `guarded` is only accessed by the holder of the token; whether the protocol makes
// that so is exactly what loom checks here.
unsafe impl Sync for Token {}

impl Token {
    /// `Consumer::acquire_on_loop`, with or without the light fence; gives up (returns false)
    /// instead of waiting when a foreign taker is present, which keeps the model finite.
    fn try_acquire_on_loop(&self, fenced: bool) -> bool {
        self.loop_held.store(true, Relaxed);
        if fenced {
            fence(SeqCst);
        }
        if !self.foreign_wants.load(Acquire) {
            return true;
        }
        self.loop_held.store(false, Release);
        false
    }

    /// `Consumer::acquire_foreign` (one foreign taker, so no mutex), with or without the heavy
    /// fence; gives up instead of waiting when the loop holds the token.
    fn try_acquire_foreign(&self, fenced: bool) -> bool {
        self.foreign_wants.store(true, Relaxed);
        if fenced {
            fence(SeqCst);
        }
        if !self.loop_held.load(Acquire) {
            return true;
        }
        self.foreign_wants.store(false, Release);
        false
    }
}

/// The loop takes the token twice (as around a callback) while a foreign thread tries once;
/// whoever holds it increments the guarded counter.
fn token_model(fenced: bool) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let t = Arc::new(Token {
            loop_held: AtomicBool::new(false),
            foreign_wants: AtomicBool::new(false),
            guarded: UnsafeCell::new(0),
        });
        let foreign = {
            let t = t.clone();
            thread::spawn(move || {
                if t.try_acquire_foreign(fenced) {
                    // SAFETY: the token is held; loom checks that claim (it is the model's point).
                    t.guarded.with_mut(|p| unsafe { *p += 1 });
                    t.foreign_wants.store(false, Release);
                }
            })
        };
        for _ in 0..2 {
            if t.try_acquire_on_loop(fenced) {
                // SAFETY: as above.
                t.guarded.with_mut(|p| unsafe { *p += 1 });
                t.loop_held.store(false, Release);
            }
        }
        foreign.join().unwrap();
    });
}

/// The real protocol's shape: the loop and a foreign taker never hold the token together.
#[test]
fn the_asymmetric_token_excludes_the_loop_and_a_foreign_taker() {
    token_model(true);
}

/// Negative control: without the fences each side's load may miss the other's store (store
/// buffering), both enter, and loom reports the concurrent access to the guarded cell.
#[test]
#[should_panic]
fn negative_control_an_unfenced_token_is_caught() {
    token_model(false);
}
