//! The consumer token: who may pop the loop's queues right now.
//!
//! The ingress queues are single-consumer. Normally the consumer is the loop thread, but
//! [`EventLoop::close`](loop_api::EventLoop::close) must drop (and count) every queued task
//! *before it returns*, from any thread, even while the loop is blocked inside a task. So the
//! consumer side (the pop ends of the three MPSC queues and the loop-local microtask queue) is
//! guarded by a token: the loop holds it whenever it is not running user code and releases it
//! around every callback; `close` takes it to drain. Taking it is one uncontended `swap` (≈5 ns
//! on the reference VM, `docs/REFERENCE-MACHINE.md`), releasing it a plain store.
//!
//! A spin lock rather than a mutex: the holders' critical sections are a few pops, never user
//! code, so waiting is short; the loop itself never blocks while holding it.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
#[cfg(not(loom))]
use std::sync::atomic::Ordering::{Acquire, Release};

use crate::sync::AtomicBool;
#[cfg(not(loom))]
use crate::sync::wait_step;
use crate::task::Task;

/// The token and the state it guards besides the queues' pop ends.
pub(crate) struct Consumer {
    held: AtomicBool,
    /// Microtasks scheduled on the loop thread (FIFO). A `VecDeque` is a growable ring: it
    /// never loses an element and, once grown, never allocates again.
    local_micro: UnsafeCell<VecDeque<Task>>,
    #[cfg(loom)]
    model_lock: crate::sync::Mutex<bool>,
    #[cfg(loom)]
    model_released: crate::sync::Condvar,
}

// SAFETY: `local_micro` is only accessed through a `Token`, which exists only while `held` is
// owned by its creator (acquire/release pair), so accesses never overlap.
unsafe impl Sync for Consumer {}

impl Consumer {
    pub(crate) fn new() -> Self {
        Self {
            held: AtomicBool::new(false),
            local_micro: UnsafeCell::new(VecDeque::new()),
            #[cfg(loom)]
            model_lock: crate::sync::Mutex::new(false),
            #[cfg(loom)]
            model_released: crate::sync::Condvar::new(),
        }
    }

    /// Takes the token, waiting (spin, then yield) while another thread holds it.
    #[cfg(not(loom))]
    pub(crate) fn acquire(&self) -> Token<'_> {
        let mut waits = 0_u32;
        // Test-and-test-and-set: waiters spin on plain loads so waiting does not bounce the line.
        while self.held.swap(true, Acquire) {
            while self.held.load(Relaxed) {
                wait_step(&mut waits);
            }
        }
        Token { consumer: self }
    }

    /// Under loom a waiter blocks on a condvar instead of spinning: loom's scheduler, once its
    /// preemption bound is spent, may keep running a spinning thread and never the holder. The
    /// token's exclusion (what the models check) is the same.
    #[cfg(loom)]
    pub(crate) fn acquire(&self) -> Token<'_> {
        let mut held = self.model_lock.lock();
        while *held {
            self.model_released.wait(&mut held);
        }
        *held = true;
        drop(held);
        self.held.store(true, Relaxed);
        Token { consumer: self }
    }

    #[cfg(loom)]
    fn release(&self) {
        self.held.store(false, Relaxed);
        *self.model_lock.lock() = false;
        self.model_released.notify_all();
    }

    #[cfg(not(loom))]
    fn release(&self) {
        self.held.store(false, Release);
    }
}

/// Proof of holding the consumer token; released on drop.
pub(crate) struct Token<'a> {
    consumer: &'a Consumer,
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
        self.consumer.release();
    }
}
