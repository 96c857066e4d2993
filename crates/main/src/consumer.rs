//! The consumer token: who may pop the loop's queues right now.
//!
//! The ingress queues are single-consumer. Normally the consumer is the loop thread, but
//! [`EventLoop::close`](loop_api::EventLoop::close) must drop (and count) every queued task
//! *before it returns*, from any thread, even while the loop is blocked inside a task. So the
//! consumer side (the pop ends of the three MPSC queues and the loop-local microtask queue) is
//! guarded by a token: the loop holds it whenever it is not running user code and releases it
//! around every callback; `close` takes it to drain.
//!
//! The loop takes and releases the token twice per task, so its side must be cheap; a foreign
//! taker is rare (`close`), so its side may be slow. The token is therefore an *asymmetric*
//! Dekker pair (`fence.rs`): the loop stores `loop_held`, issues the light fence (no
//! instruction with membarrier) and loads `foreign_wants`; a foreign taker stores
//! `foreign_wants`, issues the heavy fence (`membarrier`) and loads `loop_held`. At least one of
//! them sees the other and steps back, so they never hold it together. Foreign takers queue on a
//! mutex among themselves.
//!
//! Measured: the previous token, a test-and-test-and-set spin lock, cost the loop a locked
//! `swap` per task; see the crate docs ("Measurements") for what dropping it bought.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
#[cfg(not(loom))]
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

#[cfg(not(loom))]
use crate::fence::Fences;
#[cfg(loom)]
use crate::sync::AtomicBool;
#[cfg(not(loom))]
use crate::sync::{AtomicBool, Mutex, MutexGuard, wait_step};
use crate::task::Task;

/// The token and the state it guards besides the queues' pop ends.
pub(crate) struct Consumer {
    /// The loop thread holds the token (written only by the loop thread).
    #[cfg(not(loom))]
    loop_held: AtomicBool,
    /// A foreign thread holds the token or is taking it.
    #[cfg(not(loom))]
    foreign_wants: AtomicBool,
    /// Serialises foreign takers.
    #[cfg(not(loom))]
    foreign: Mutex<()>,
    #[cfg(not(loom))]
    fences: Fences,
    /// Microtasks scheduled on the loop thread (FIFO). A `VecDeque` is a growable ring: it
    /// never loses an element and, once grown, never allocates again.
    local_micro: UnsafeCell<VecDeque<Task>>,
    #[cfg(loom)]
    held: AtomicBool,
    #[cfg(loom)]
    model_lock: crate::sync::Mutex<bool>,
    #[cfg(loom)]
    model_released: crate::sync::Condvar,
}

// SAFETY: `local_micro` is only accessed through a `Token`, which exists only while its creator
// holds the token (the Dekker pair or, under loom, the model lock orders the holders), so
// accesses never overlap.
unsafe impl Sync for Consumer {}

impl Consumer {
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(not(loom))]
            loop_held: AtomicBool::new(false),
            #[cfg(not(loom))]
            foreign_wants: AtomicBool::new(false),
            #[cfg(not(loom))]
            foreign: Mutex::new(()),
            #[cfg(not(loom))]
            fences: Fences::new(),
            local_micro: UnsafeCell::new(VecDeque::new()),
            #[cfg(loom)]
            held: AtomicBool::new(false),
            #[cfg(loom)]
            model_lock: crate::sync::Mutex::new(false),
            #[cfg(loom)]
            model_released: crate::sync::Condvar::new(),
        }
    }

    /// Takes the token on the loop thread (the thread inside `run`; only it may call this),
    /// waiting while a foreign thread holds it. No locked instruction on the way in when no
    /// foreign taker is present.
    #[cfg(not(loom))]
    pub(crate) fn acquire_on_loop(&self) -> Token<'_> {
        let mut waits = 0_u32;
        loop {
            self.loop_held.store(true, Relaxed);
            self.fences.light();
            // Acquire: pairs with a foreign holder's release, so its pops are visible.
            if !self.foreign_wants.load(Acquire) {
                return Token { consumer: self, foreign: None };
            }
            // A foreign thread holds the token or is taking it: step back, wait, retry.
            self.loop_held.store(false, Release);
            while self.foreign_wants.load(Relaxed) {
                wait_step(&mut waits);
            }
        }
    }

    /// Takes the token from any thread (`close`), waiting for other foreign takers and for the
    /// loop to leave its own (short, never user-code) critical section. Costs a membarrier.
    #[cfg(not(loom))]
    pub(crate) fn acquire_foreign(&self) -> Token<'_> {
        let guard = self.foreign.lock();
        self.foreign_wants.store(true, Relaxed);
        self.fences.heavy();
        let mut waits = 0_u32;
        // Acquire: pairs with the loop's release, so its pops are visible.
        while self.loop_held.load(Acquire) {
            wait_step(&mut waits);
        }
        Token { consumer: self, foreign: Some(guard) }
    }

    #[cfg(not(loom))]
    fn release(&self, foreign: bool) {
        if foreign {
            self.foreign_wants.store(false, Release);
        } else {
            self.loop_held.store(false, Release);
        }
    }

    /// Under loom a taker blocks on a condvar instead of running the Dekker pair: loom's
    /// scheduler, once its preemption bound is spent, may keep running a spinning thread and
    /// never the holder, and loom cannot model membarrier. The token's exclusion (what the
    /// wake-up models rely on) is the same; the Dekker pair has its own model
    /// (`tests/loom_token.rs`).
    #[cfg(loom)]
    pub(crate) fn acquire_on_loop(&self) -> Token<'_> {
        let mut held = self.model_lock.lock();
        while *held {
            self.model_released.wait(&mut held);
        }
        *held = true;
        drop(held);
        self.held.store(true, std::sync::atomic::Ordering::Relaxed);
        Token { consumer: self }
    }

    /// As [`Consumer::acquire_on_loop`] under loom.
    #[cfg(loom)]
    pub(crate) fn acquire_foreign(&self) -> Token<'_> {
        self.acquire_on_loop()
    }

    #[cfg(loom)]
    fn release(&self) {
        self.held.store(false, std::sync::atomic::Ordering::Relaxed);
        *self.model_lock.lock() = false;
        self.model_released.notify_all();
    }
}

/// Proof of holding the consumer token; released on drop.
pub(crate) struct Token<'a> {
    consumer: &'a Consumer,
    /// A foreign holder's place among foreign takers (released after the token).
    #[cfg(not(loom))]
    foreign: Option<MutexGuard<'a, ()>>,
}

impl Token<'_> {
    /// The loop-local microtask queue.
    pub(crate) fn local_micro(&mut self) -> &mut VecDeque<Task> {
        // SAFETY: we hold the token, so nobody else accesses `local_micro`; `&mut self` keeps
        // the borrow unique on this side.
        unsafe { &mut *self.consumer.local_micro.get() }
    }
}

impl Drop for Token<'_> {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        self.consumer.release(self.foreign.is_some());
        #[cfg(loom)]
        self.consumer.release();
        // A foreign guard (field) is dropped after this, so the next foreign taker starts
        // once `foreign_wants` is clear.
    }
}
