//! The loop's statistics, as relaxed atomics (they order nothing; they only count).
//!
//! These are `std` atomics even under `--cfg loom`: they take no part in any synchronisation, so
//! modelling them would only multiply loom's interleavings.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use crossbeam_utils::CachePadded;
use loop_api::LoopStats;

use crate::sync::thread_local;

/// A counter written only by the loop thread (there is at most one).
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

/// A counter any thread may bump, for rare events (wake syscalls, drops).
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

/// Shards of a [`ShardedCounter`].
const SHARDS: usize = 16;

/// Hands each thread a shard index, round-robin.
static NEXT_SHARD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Relaxed) % SHARDS;
}

/// A counter bumped by producers on *every* submission (`wakes_elided`): a single atomic would be
/// a second contended cache line per submit next to the ring's tail, so each thread bumps its own
/// padded shard and readers sum them. Each shard is monotonic, so the sum read shard by shard
/// never goes backwards between two reads, and it is exact once producers are quiescent.
pub(crate) struct ShardedCounter {
    shards: Box<[CachePadded<AtomicU64>]>,
}

impl ShardedCounter {
    fn new() -> Self {
        Self { shards: (0..SHARDS).map(|_| CachePadded::new(AtomicU64::new(0))).collect() }
    }

    pub(crate) fn add(&self, n: u64) {
        let i = SHARD.with(|s| *s);
        self.shards[i].fetch_add(n, Relaxed);
    }

    fn get(&self) -> u64 {
        self.shards.iter().map(|s| s.load(Relaxed)).sum()
    }
}

pub(crate) struct Counters {
    pub(crate) tasks_external: LoopCounter,
    pub(crate) tasks_internal: LoopCounter,
    pub(crate) microtasks: LoopCounter,
    pub(crate) io_callbacks: LoopCounter,
    pub(crate) panics: LoopCounter,
    pub(crate) sleeps: LoopCounter,
    pub(crate) polls: LoopCounter,
    pub(crate) ticks: LoopCounter,
    pub(crate) max_batch: LoopCounter,
    /// Bumped by `close` (any thread).
    pub(crate) tasks_dropped: SharedCounter,
    /// Eventfd writes by producers, `shutdown` and `close`.
    pub(crate) wake_syscalls: SharedCounter,
    pub(crate) wakes_elided: ShardedCounter,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            tasks_external: LoopCounter::default(),
            tasks_internal: LoopCounter::default(),
            microtasks: LoopCounter::default(),
            io_callbacks: LoopCounter::default(),
            panics: LoopCounter::default(),
            sleeps: LoopCounter::default(),
            polls: LoopCounter::default(),
            ticks: LoopCounter::default(),
            max_batch: LoopCounter::default(),
            tasks_dropped: SharedCounter::default(),
            wake_syscalls: SharedCounter::default(),
            wakes_elided: ShardedCounter::new(),
        }
    }

    pub(crate) fn snapshot(&self) -> LoopStats {
        LoopStats {
            tasks_run_external: self.tasks_external.get(),
            tasks_run_internal: self.tasks_internal.get(),
            microtasks_run: self.microtasks.get(),
            timers_fired: 0,
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
