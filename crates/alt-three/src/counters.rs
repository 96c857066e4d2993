//! The loop's statistics, as relaxed atomics (they order nothing; they only count).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use loop_api::LoopStats;

/// A counter written only by the loop thread (there is at most one, see `Phase::Running`).
///
/// With a single writer a relaxed load + store is an exact increment and, unlike `fetch_add`,
/// costs no locked instruction on the per-task path. Readers still see monotonic values.
#[derive(Default)]
pub(crate) struct LoopCounter(AtomicU64);

impl LoopCounter {
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed) + n, Relaxed);
    }

    pub(crate) fn raise_to(&self, n: u64) {
        if n > self.0.load(Relaxed) {
            self.0.store(n, Relaxed);
        }
    }

    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A counter any thread may bump.
#[derive(Default)]
pub(crate) struct SharedCounter(AtomicU64);

impl SharedCounter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) external_run: LoopCounter,
    pub(crate) internal_run: LoopCounter,
    pub(crate) microtasks_run: LoopCounter,
    pub(crate) timers_fired: LoopCounter,
    pub(crate) io_callbacks: LoopCounter,
    pub(crate) panics: LoopCounter,
    pub(crate) sleeps: LoopCounter,
    pub(crate) polls: LoopCounter,
    pub(crate) ticks: LoopCounter,
    pub(crate) max_batch: LoopCounter,
    /// Bumped by `close` (any thread) and by the drain (loop thread).
    pub(crate) tasks_dropped: SharedCounter,
    /// Bumped by the thread that wrote the eventfd (producers, `shutdown`, `close`).
    pub(crate) wake_syscalls: SharedCounter,
    pub(crate) wakes_elided: SharedCounter,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> LoopStats {
        LoopStats {
            tasks_run_external: self.external_run.get(),
            tasks_run_internal: self.internal_run.get(),
            microtasks_run: self.microtasks_run.get(),
            timers_fired: self.timers_fired.get(),
            io_callbacks: self.io_callbacks.get(),
            panics: self.panics.get(),
            tasks_dropped: self.tasks_dropped.get(),
            wake_syscalls: self.wake_syscalls.get(),
            wakes_elided: self.wakes_elided.get(),
            sleeps: self.sleeps.get(),
            polls: self.polls.get(),
            ticks: self.ticks.get(),
            max_batch: self.max_batch.get(),
        }
    }
}
