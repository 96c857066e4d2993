//! The state word: one `AtomicU64` that producers and the loop both read-modify-write, holding
//! the loop's sleep mode, the wake-pending bit, the lifecycle flags and the number of
//! submissions in flight.
//!
//! ```text
//! bits 0..2   MODE          0 = running (or spinning), PARKED (futex), POLLING (epoll)
//!                           written only by the loop thread
//! bit  2      WAKE_PENDING  a producer has claimed the wake-up of the current sleep
//! bit  3      STOP          shutdown requested
//! bit  4      CLOSED        close() called
//! bit  5      DONE          run() finished
//! bits 8..64  IN_FLIGHT     submissions between their entry check and their publication
//! ```
//!
//! Keeping all of it in one word is what makes the protocol checkable: a producer's "leave"
//! (after publishing its task) and the loop's "I am going to sleep" are read-modify-writes of the
//! same location, so they are totally ordered and each sees the other's effect in one direction
//! or the other (see the crate docs, "The wake-up protocol").

use std::sync::atomic::Ordering::{AcqRel, Acquire};

use crossbeam_utils::CachePadded;

use crate::sync::AtomicU64;

/// Mask of the sleep-mode field.
pub(crate) const MODE_MASK: u64 = 0b11;
/// The loop is parked on its thread's futex (`std::thread::park`); wake with `unpark`.
pub(crate) const PARKED: u64 = 1;
/// The loop is blocked in `epoll_wait` (`mio::Poll::poll`); wake with `mio::Waker::wake`.
pub(crate) const POLLING: u64 = 2;
/// A producer claimed the wake-up of the current sleep; later producers skip it.
pub(crate) const WAKE_PENDING: u64 = 1 << 2;
/// `shutdown` was requested.
pub(crate) const STOP: u64 = 1 << 3;
/// `close` was called.
pub(crate) const CLOSED: u64 = 1 << 4;
/// `run` finished; nothing is accepted any more.
pub(crate) const DONE: u64 = 1 << 5;
/// One submission in flight.
const IN_FLIGHT_ONE: u64 = 1 << 8;

/// Submissions in flight in state value `s`.
pub(crate) fn in_flight(s: u64) -> u64 {
    s >> 8
}

/// The loop's sleep mode in `s` (0, [`PARKED`] or [`POLLING`]).
pub(crate) fn mode(s: u64) -> u64 {
    s & MODE_MASK
}

/// The state word (on its own cache line).
pub(crate) struct StateWord(CachePadded<AtomicU64>);

impl StateWord {
    pub(crate) fn new() -> Self {
        Self(CachePadded::new(AtomicU64::new(0)))
    }

    /// The current value (acquire).
    pub(crate) fn load(&self) -> u64 {
        self.0.load(Acquire)
    }

    /// The latest value, by a read-modify-write that changes nothing: used where a caller waits
    /// for other threads to change the word (a plain load may legally keep returning an older
    /// value, and loom explores exactly that).
    pub(crate) fn load_latest(&self) -> u64 {
        self.0.fetch_add(0, AcqRel)
    }

    /// Loop thread only: undoes [`StateWord::publish_sleep`] without sleeping. Returns whether a
    /// producer had already claimed the wake-up of this sleep (its `unpark` or eventfd write is
    /// then on its way, and the caller should consume it by sleeping once).
    pub(crate) fn abort_sleep(&self) -> bool {
        self.0.fetch_and(!(MODE_MASK | WAKE_PENDING), AcqRel) & WAKE_PENDING != 0
    }

    /// A submission enters: returns the value before (the caller checks the lifecycle flags in
    /// it; a rejected entrant must still [`StateWord::leave`]).
    pub(crate) fn enter(&self) -> u64 {
        self.0.fetch_add(IN_FLIGHT_ONE, Acquire)
    }

    /// A submission leaves after publishing its work: returns the value after. Release makes
    /// the published work visible to a loop whose later read-modify-write reads this value;
    /// acquire lets the producer see the mode the loop published before it.
    pub(crate) fn leave(&self) -> u64 {
        self.0.fetch_sub(IN_FLIGHT_ONE, AcqRel) - IN_FLIGHT_ONE
    }

    /// Sets lifecycle `flag` ([`STOP`], [`CLOSED`], [`DONE`]); returns the value before.
    pub(crate) fn set_flag(&self, flag: u64) -> u64 {
        self.0.fetch_or(flag, AcqRel)
    }

    /// Loop thread only: publishes that it is about to sleep in `mode`. Returns the value
    /// before; the caller must re-check for work *after* this and undo it with
    /// [`StateWord::end_sleep`] if it does not sleep.
    pub(crate) fn publish_sleep(&self, mode: u64) -> u64 {
        debug_assert!(mode == PARKED || mode == POLLING);
        self.0.fetch_or(mode, AcqRel)
    }

    /// Loop thread only: back to running; clears the mode and the wake-pending bit together,
    /// so the next sleep starts with no pending claim.
    pub(crate) fn end_sleep(&self) {
        self.0.fetch_and(!(MODE_MASK | WAKE_PENDING), AcqRel);
    }

    /// Producer side, given a state value `seen` read by its own read-modify-write after it
    /// published work: returns the mode to wake if this caller must wake the loop, `None` if the
    /// loop is awake or another producer already claimed this sleep's wake-up.
    ///
    /// The claim is a CAS that sets [`WAKE_PENDING`] only while a sleep mode is published, so
    /// at most one claim succeeds per sleep (the loop clears the bit when it wakes).
    pub(crate) fn claim_wake(&self, seen: u64) -> Option<u64> {
        let mut cur = seen;
        loop {
            if mode(cur) == 0 || cur & WAKE_PENDING != 0 {
                return None;
            }
            match self.0.compare_exchange_weak(cur, cur | WAKE_PENDING, AcqRel, Acquire) {
                Ok(_) => return Some(mode(cur)),
                Err(now) => cur = now,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_claim_per_sleep() {
        let s = StateWord::new();
        assert_eq!(s.claim_wake(s.load()), None, "running loop: nothing to wake");
        s.publish_sleep(PARKED);
        assert_eq!(s.claim_wake(s.load()), Some(PARKED));
        assert_eq!(s.claim_wake(s.load()), None, "already claimed");
        s.end_sleep();
        assert_eq!(s.load() & (MODE_MASK | WAKE_PENDING), 0);
        s.publish_sleep(POLLING);
        assert_eq!(s.claim_wake(0), None, "the caller's own view says awake: no wake");
        let stale = POLLING | (5 << 8);
        assert_eq!(s.claim_wake(stale), Some(POLLING), "a stale view is refreshed by the CAS");
    }

    #[test]
    fn in_flight_counts_and_flags_are_independent() {
        let s = StateWord::new();
        s.enter();
        s.enter();
        assert_eq!(in_flight(s.set_flag(STOP)), 2);
        let after = s.leave();
        assert_eq!(in_flight(after), 1);
        assert_ne!(after & STOP, 0);
        assert_eq!(in_flight(s.leave()), 0);
    }
}
