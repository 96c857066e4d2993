//! The sleep/wake handshake between the loop and its producers: a sleeping flag, a wake-pending
//! flag that deduplicates eventfd writes, and the poller's waker.
//!
//! ## Protocol
//!
//! *Producer*, after publishing its work with a read-modify-write (the ring's tail CAS, the
//! overflow or internal length `fetch_add`): if the loop is `SLEEPING` and the producer is the
//! first to set `wake_pending`, it writes the eventfd (counted in `wake_syscalls`); otherwise the
//! wake is elided (counted in `wakes_elided`). No fast path, no spinning: a running loop costs a
//! producer one load.
//!
//! *Loop*, with nothing to do: store `SLEEPING`, then look at every queue once more **with
//! read-modify-writes** (`fetch_add(0)`), then block in `epoll_wait` unless that look found work.
//! After waking: clear `wake_pending`, store `RUNNING`.
//!
//! Why no wake-up is lost, using only acquire/release reasoning (loom checks this; it treats
//! SeqCst as AcqRel, so the argument deliberately needs nothing stronger): a producer's publishing
//! RMW and the loop's checking RMW hit the same location, and RMWs on one location are totally
//! ordered, each reading the latest value. If the producer's RMW comes first, the loop's RMW sees
//! the work and it does not sleep. If the loop's RMW comes first, the producer's RMW reads from
//! it (a release), so everything the loop did before it — storing `SLEEPING` after clearing
//! `wake_pending` — happens before the producer's next loads: the producer sees `SLEEPING` (or a
//! later state, meaning the loop woke anyway) and a cleared `wake_pending` (or one set by another
//! producer after the clear, who writes the eventfd after setting it). Every eventfd write that
//! follows a clear reaches a later `epoll_wait` (the eventfd is edge-triggered, each write is a
//! new edge), so a set `wake_pending` always stands for a wake the loop has not consumed yet.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicBool, AtomicUsize};

const RUNNING: usize = 0;
const SLEEPING: usize = 1;

/// The loop's sleep state and the wake-dedup flag (one cache line, written by the loop once per
/// sleep and by at most one producer per sleep).
pub(crate) struct WakeState {
    state: CachePadded<AtomicUsize>,
    pending: AtomicBool,
}

impl WakeState {
    pub(crate) fn new() -> Self {
        Self { state: CachePadded::new(AtomicUsize::new(RUNNING)), pending: AtomicBool::new(false) }
    }

    /// Producer side, after publishing with an RMW: whether this caller must write the eventfd.
    /// `true` at most once per sleep.
    pub(crate) fn claim_wake(&self) -> bool {
        self.state.load(Acquire) == SLEEPING
            && !self.pending.load(Relaxed)
            && !self.pending.swap(true, AcqRel)
    }

    /// Loop side: announce the intention to sleep. The caller must then re-check its queues
    /// with RMWs and either [`WakeState::cancel_sleep`] or block and [`WakeState::woke`].
    pub(crate) fn prepare_sleep(&self) {
        self.state.store(SLEEPING, Release);
    }

    /// Loop side: the re-check found work; stay awake. `pending` is left as it is: if a
    /// producer set it, its eventfd write is on the way and makes the next poll return at once.
    pub(crate) fn cancel_sleep(&self) {
        self.state.store(RUNNING, Release);
    }

    /// Loop side, after the blocking poll returned: wakes written from now on are new.
    pub(crate) fn woke(&self) {
        self.pending.store(false, Release);
        self.state.store(RUNNING, Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_wake_per_sleep() {
        let w = WakeState::new();
        assert!(!w.claim_wake(), "running loop: no wake");
        w.prepare_sleep();
        assert!(w.claim_wake(), "first producer wakes");
        assert!(!w.claim_wake(), "second producer elides");
        w.woke();
        assert!(!w.claim_wake());
        w.prepare_sleep();
        assert!(w.claim_wake(), "a new sleep needs a new wake");
        w.cancel_sleep();
        assert!(!w.claim_wake());
    }
}
