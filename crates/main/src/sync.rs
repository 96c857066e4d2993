//! The synchronisation primitives the loop is built from, switched to loom's model-checked ones
//! under `--cfg loom`, so `tests/loom_wake.rs` checks the *real* wake-up protocol and queue rather
//! than a copy of them.
//!
//! Everything that takes part in the protocol (the state word, the queue's indices, slot flags
//! and segment links, the consumer token, thread parking, the loop-thread marker) comes from
//! here. Plain statistics counters do not: they order nothing.

#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use model::{Condvar, Mutex};

use std::cell::Cell;
use std::time::Duration;

/// The loop thread's park token: `park` blocks until the token is available and consumes it,
/// `unpark` makes it available (once; repeated unparks do not accumulate). Exactly
/// `std::thread::park`/`Thread::unpark` (a futex) outside loom.
#[cfg(not(loom))]
pub(crate) struct Parker {
    thread: Mutex<Option<std::thread::Thread>>,
}

#[cfg(not(loom))]
impl Parker {
    pub(crate) fn new() -> Self {
        Self { thread: Mutex::new(None) }
    }

    /// Makes the calling thread the one `park` blocks and `unpark` wakes.
    pub(crate) fn register_current(&self) {
        *self.thread.lock() = Some(std::thread::current());
    }

    /// Makes the token available to the registered thread (a futex wake if it is parked).
    pub(crate) fn unpark(&self) {
        if let Some(t) = self.thread.lock().as_ref() {
            t.unpark();
        }
    }

    /// Blocks the registered (calling) thread until the token is available (spurious returns
    /// allowed).
    pub(crate) fn park(&self) {
        std::thread::park();
    }

    /// As [`Parker::park`], for at most `timeout`.
    pub(crate) fn park_timeout(&self, timeout: Duration) {
        std::thread::park_timeout(timeout);
    }
}

/// Under loom the token is a mutex-guarded flag with a condvar: loom's own `unpark` is absorbed
/// if the target is blocked on a loom mutex at that moment (it treats the unpark as waking that
/// block), which std's park token is not, so modelling it with `loom::thread::park` would report
/// lost wake-ups that cannot happen. This models std's semantics exactly (minus spurious
/// returns). Loom has no clock: a timed park is an untimed one.
#[cfg(loom)]
pub(crate) struct Parker {
    token: Mutex<bool>,
    available: Condvar,
}

#[cfg(loom)]
impl Parker {
    pub(crate) fn new() -> Self {
        Self { token: Mutex::new(false), available: Condvar::new() }
    }

    pub(crate) fn register_current(&self) {}

    pub(crate) fn unpark(&self) {
        *self.token.lock() = true;
        self.available.notify_all();
    }

    pub(crate) fn park(&self) {
        let mut token = self.token.lock();
        while !*token {
            self.available.wait(&mut token);
        }
        *token = false;
    }

    pub(crate) fn park_timeout(&self, _timeout: Duration) {
        self.park();
    }
}

/// One step of a bounded busy-wait (a pause instruction; under loom, a yield so the model
/// scheduler can run the thread being waited for).
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Gives the CPU away while waiting for another thread that may have been preempted (2 vCPUs
/// shared by many threads: spinning on a descheduled thread only delays it).
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// One step of a bounded wait for another thread's short critical section: a spin hint for the
/// first 100 calls (`waits` counts them), then a yield so a preempted holder can run. Used
/// wherever the loop or a producer waits for a few instructions of someone else (the consumer
/// token, a segment install, a claimed slot being written, entrants leaving).
pub(crate) fn wait_step(waits: &mut u32) {
    *waits = waits.saturating_add(1);
    if *waits < 100 { spin_hint() } else { yield_now() }
}

// The address of the loop whose `run` is executing on this thread (0: none). A thread-local
// rather than a `ThreadId` comparison because `schedule_microtask` asks "am I on the loop
// thread?" on every call, and this costs one TLS load.
#[cfg(not(loom))]
std::thread_local! {
    static CURRENT_LOOP: Cell<usize> = const { Cell::new(0) };
}
// Loom runs every model thread on one OS thread, so a std thread-local would be shared between
// model threads; loom's is per model thread.
#[cfg(loom)]
loom::thread_local! {
    static CURRENT_LOOP: Cell<usize> = Cell::new(0);
}

/// The address of the loop running on this thread, 0 if none.
pub(crate) fn current_loop() -> usize {
    CURRENT_LOOP.with(Cell::get)
}

/// Records (or, with 0, clears) the loop running on this thread.
pub(crate) fn set_current_loop(addr: usize) {
    CURRENT_LOOP.with(|c| c.set(addr));
}

/// An `UnsafeCell` with loom's closure-based access API, so the same code compiles against
/// both (loom tracks every access for data races).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a raw pointer to the contents; the caller's protocol guarantees
    /// exclusive access for the duration.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(loom)]
mod model {
    use std::ops::{Deref, DerefMut};
    use std::sync::PoisonError;
    use std::time::Instant;

    /// loom's mutex with parking_lot's non-poisoning `lock()`.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
        }
    }

    /// `Option` only so [`Condvar::wait`] can hand the guard to loom by value and put it back.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_deref().expect("guard is present outside a wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_deref_mut().expect("guard is present outside a wait")
        }
    }

    /// loom's condvar with parking_lot's `wait(&mut guard)` shape.
    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard is present outside a wait");
            guard.0 = Some(self.0.wait(inner).unwrap_or_else(PoisonError::into_inner));
        }

        /// No clock under loom: modelled as an untimed wait.
        pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, _deadline: Instant) {
            self.wait(guard);
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

/// Asks the CPU to bring the cache line at `ptr` into this core's cache in a writable state,
/// without waiting for it: x86-64 `PREFETCHW` (executed as a no-op by CPUs without it), aarch64
/// `PRFM PSTL1KEEP`; nothing elsewhere, under loom and under Miri (no inline assembly). Why the queue uses it: `queue.rs`,
/// "Prefetching for write".
#[inline]
pub(crate) fn prefetch_for_write<T>(ptr: *const T) {
    #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
    // SAFETY: a prefetch never faults and changes no architectural state, whatever the address.
    unsafe {
        std::arch::asm!("prefetchw [{}]", in(reg) ptr, options(nostack, preserves_flags, readonly));
    }
    #[cfg(all(target_arch = "aarch64", not(loom), not(miri)))]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!("prfm pstl1keep, [{}]", in(reg) ptr, options(nostack, preserves_flags, readonly));
    }
    #[cfg(any(loom, miri, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
    let _ = ptr;
}
