//! The locking primitives the loop is built from, switched to loom's model-checked ones under
//! `--cfg loom`.
//!
//! The loop code is written against parking_lot's API (`lock()` without poisoning,
//! `Condvar::wait(&mut guard)`). Under loom, thin wrappers give loom's `std`-shaped primitives the
//! same API, so the loom tests check the *real* sleep/wake handshake rather than a copy of it.

#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex};

/// Identifies the loop thread (to accept its submissions while draining, and to let `shutdown`
/// called from inside a task return without waiting for itself).
#[cfg(not(loom))]
pub(crate) type ThreadId = std::thread::ThreadId;

/// The calling thread's identity.
#[cfg(not(loom))]
pub(crate) fn current_thread() -> ThreadId {
    std::thread::current().id()
}

#[cfg(loom)]
pub(crate) use self::model::{Condvar, Mutex, ThreadId, current_thread};

#[cfg(loom)]
mod model {
    use std::ops::{Deref, DerefMut};
    use std::sync::PoisonError;
    use std::time::Instant;

    /// Loom runs every model thread on one OS thread, so `std`'s thread ids would all compare
    /// equal; loom's own ids tell the model threads apart.
    pub(crate) type ThreadId = loom::thread::ThreadId;

    pub(crate) fn current_thread() -> ThreadId {
        loom::thread::current().id()
    }

    /// loom's mutex with parking_lot's non-poisoning `lock()`.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
        }
    }

    /// The guard is an `Option` only so [`Condvar::wait`] can hand it to loom by value and put
    /// it back; it is `Some` whenever user code can see it.
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
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard is present outside a wait");
            guard.0 = Some(self.0.wait(inner).unwrap_or_else(PoisonError::into_inner));
        }

        /// Loom has no clock: a timed wait is modelled as a wait that ends only by notification
        /// (a legal outcome of a real timed wait whose deadline has not passed). Models must
        /// therefore not rely on a timeout to make progress.
        pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, _deadline: Instant) {
            self.wait(guard);
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}
