//! The loop's statistics, as relaxed atomics (they order nothing; they only count).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crossbeam_utils::CachePadded;
use loop_api::LoopStats;

/// A counter written only by the loop thread (there is at most one: `run` is exclusive).
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

    pub(crate) fn get(&self) -> u64 {
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

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Stripes of a [`StripedCounter`]: more than the threads that usually submit at the same
/// instant on the machines we measure (2–8 cores), few enough to sum in a snapshot.
const STRIPES: usize = 8;

/// Hands each thread its stripe, round-robin.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// This thread's stripe of every [`StripedCounter`] (assigned on first use).
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Relaxed) % STRIPES;
}

/// A counter that many threads bump on their hot path: one cache-padded cell per stripe, each
/// thread bumping its own, so producers on different cores do not contend for one line (the
/// "striped counter" of Java's `LongAdder`). A snapshot sums the stripes; every stripe only
/// grows, so the sum seen by successive snapshots is monotonic.
#[derive(Default)]
pub(crate) struct StripedCounter([CachePadded<AtomicU64>; STRIPES]);

impl StripedCounter {
    pub(crate) fn add(&self, n: u64) {
        let stripe = STRIPE.with(|s| *s);
        self.0[stripe].fetch_add(n, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.iter().map(|c| c.load(Relaxed)).sum()
    }
}

/// Every counter behind [`LoopStats`]. Loop-thread counters share cache lines with each other
/// (only the loop writes them); the producer-side ones sit on their own lines so that a producer
/// bumping `wakes_elided` never invalidates a line the loop writes per task.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) external: LoopCounter,
    pub(crate) internal: LoopCounter,
    pub(crate) microtasks: LoopCounter,
    pub(crate) timers_fired: LoopCounter,
    pub(crate) io_callbacks: LoopCounter,
    pub(crate) panics: SharedCounter,
    pub(crate) sleeps: LoopCounter,
    pub(crate) polls: LoopCounter,
    pub(crate) ticks: LoopCounter,
    pub(crate) max_batch: LoopCounter,
    /// Loop-thread submissions (microtasks into the local queue) never need a wake.
    pub(crate) elided_local: LoopCounter,
    /// Bumped by `close` (any thread) and by the drain (loop thread).
    pub(crate) tasks_dropped: SharedCounter,
    /// Producer side: wakes that cost a futex call or an eventfd write.
    pub(crate) wake_syscalls: CachePadded<SharedCounter>,
    /// Producer side: submissions that found the loop awake or a wake already pending (striped:
    /// every accepted submission bumps one of the two, and this is the common one).
    pub(crate) wakes_elided: StripedCounter,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> LoopStats {
        LoopStats {
            tasks_run_external: self.external.get(),
            tasks_run_internal: self.internal.get(),
            microtasks_run: self.microtasks.get(),
            timers_fired: self.timers_fired.get(),
            io_callbacks: self.io_callbacks.get(),
            panics: self.panics.get(),
            tasks_dropped: self.tasks_dropped.get(),
            wake_syscalls: self.wake_syscalls.get(),
            // Two monotonic counters: their sum is monotonic too.
            wakes_elided: self.wakes_elided.get() + self.elided_local.get(),
            sleeps: self.sleeps.get(),
            polls: self.polls.get(),
            ticks: self.ticks.get(),
            max_batch: self.max_batch.get(),
        }
    }
}
