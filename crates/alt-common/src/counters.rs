//! The loop's statistics, as relaxed atomics (they order nothing; they only count).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use loop_api::LoopStats;

/// A counter written only by the loop thread (there is at most one, see `Phase::Running`).
///
/// With a single writer a relaxed load + store is an exact increment and, unlike `fetch_add`,
/// costs no locked instruction on the per-task path. Readers still see monotonic values.
#[derive(Default)]
pub struct LoopCounter(AtomicU64);

impl LoopCounter {
    /// Adds `n`. Loop thread only (two writers could lose an increment).
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed) + n, Relaxed);
    }

    /// Raises the value to `n` if it is lower (a high-water mark). Loop thread only.
    pub fn raise_to(&self, n: u64) {
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
pub struct SharedCounter(AtomicU64);

impl SharedCounter {
    /// Adds `n` (a relaxed `fetch_add`; any thread).
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Every counter behind [`LoopStats`], one field per statistic (tasks, callbacks, sleeps and
/// polls as counts; `max_batch` in tasks).
#[derive(Default)]
pub struct Counters {
    /// External tasks run.
    pub external_run: LoopCounter,
    /// Internal (priority) tasks run.
    pub internal_run: LoopCounter,
    /// Microtasks run.
    pub microtasks_run: LoopCounter,
    /// Timer callbacks fired.
    pub timers_fired: LoopCounter,
    /// Readiness callbacks run.
    pub io_callbacks: LoopCounter,
    /// Panics caught in callbacks (all callbacks run on the loop thread).
    pub panics: LoopCounter,
    /// Blocking polls (the loop slept).
    pub sleeps: LoopCounter,
    /// Every `epoll_wait`, blocking or not.
    pub polls: LoopCounter,
    /// Iterations of the main cycle.
    pub ticks: LoopCounter,
    /// The most external tasks run in one tick.
    pub max_batch: LoopCounter,
    /// Bumped by `close` (any thread) and by the drain (loop thread).
    pub tasks_dropped: SharedCounter,
    /// Bumped by the thread that wrote the eventfd (producers, `shutdown`, `close`).
    pub wake_syscalls: SharedCounter,
    /// Bumped by producers that found the loop awake or a wake already pending.
    pub wakes_elided: SharedCounter,
}

impl Counters {
    /// A snapshot (relaxed loads; each counter is monotonic, the snapshot is not atomic across
    /// counters).
    pub fn snapshot(&self) -> LoopStats {
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
