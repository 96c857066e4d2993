//! The validated lifecycle state machine and the wake-pending flag: the loop's sleep/wake
//! handshake.
//!
//! AlternateOne's five states and its table of allowed transitions are kept as they were
//! (`docs/HISTORY.md`, "AlternateOne"; AlternateThree uses the same). Every transition goes through
//! [`Handshake::transition`], which refuses a transition outside the table with
//! [`TransitionError::NotAllowed`] and reports a lost race (the state was not the expected one)
//! with [`TransitionError::Lost`]; nothing is silently overwritten. Where the Go code panicked on
//! any failed transition (and AlternateThree's plain stores could overwrite `Terminating`,
//! HISTORY.md bug 5, which is why `Running ⇄ Sleeping` moves by compare-and-swap only), the loop
//! here handles the one expected race (a shutdown or close moved the state to `Terminating` under
//! it) and panics only on a genuinely invalid transition, which would be a bug in this crate.
//!
//! The handshake (a Dekker pattern): a producer first publishes its task under its queue's lock,
//! *then* loads the state; the loop first moves `Running → Sleeping`, *then* looks at the lanes
//! under the same lock. So either the loop sees the task, or the producer sees `Sleeping`. A
//! producer that sees `Sleeping` claims the wake-pending flag (`false → true`); only the claimant
//! writes the eventfd, so concurrent producers pay one syscall per sleep (a second one only in
//! the short window after the loop cleared the flag, while the state still reads `Sleeping`:
//! writes ≤ flag clears + 1). The loop clears the flag after each poll. `tests/loom_wake.rs` model-checks exactly these methods.

use std::fmt;
use std::sync::atomic::Ordering::SeqCst;

use crate::sync::{AtomicBool, AtomicU8};

/// A lifecycle state of the loop. The numeric values are the Go AlternateOne's and
/// AlternateThree's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LoopState {
    /// Created, `run` not called yet; submissions are queued.
    Awake = 0,
    /// Stopped for good: drained by a shutdown, or closed.
    Terminated = 1,
    /// The loop thread is in (or about to enter) the blocking poll; producers must wake it.
    Sleeping = 2,
    /// A shutdown or close was requested; the loop drains (or drops) and stops.
    Terminating = 3,
    /// The loop thread is running ticks.
    Running = 4,
}

impl LoopState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => LoopState::Awake,
            1 => LoopState::Terminated,
            2 => LoopState::Sleeping,
            3 => LoopState::Terminating,
            4 => LoopState::Running,
            // Only `Handshake` stores into the atomic, and only `LoopState as u8` values.
            other => unreachable!("invalid loop state value {other}"),
        }
    }

    /// Whether `self → to` is in the allowed-transition table: `Awake → {Running, Terminating}`,
    /// `Running → {Sleeping, Terminating}`, `Sleeping → {Running, Terminating}`,
    /// `Terminating → {Terminated}`. Nothing leaves `Terminated`.
    pub fn can_transition_to(self, to: LoopState) -> bool {
        use LoopState::*;
        matches!(
            (self, to),
            (Awake, Running | Terminating)
                | (Running, Sleeping | Terminating)
                | (Sleeping, Running | Terminating)
                | (Terminating, Terminated)
        )
    }
}

/// A state transition that did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionError {
    /// `from → to` is not in the allowed-transition table (see [`LoopState::can_transition_to`]).
    NotAllowed {
        /// The state the caller asked to leave.
        from: LoopState,
        /// The state the caller asked to enter.
        to: LoopState,
    },
    /// The transition is allowed, but the state was `actual`, not `from`, so nothing changed.
    Lost {
        /// The state the caller expected.
        from: LoopState,
        /// The state the caller asked to enter.
        to: LoopState,
        /// The state found instead.
        actual: LoopState,
    },
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionError::NotAllowed { from, to } => {
                write!(f, "invalid loop state transition {from:?} -> {to:?}")
            }
            TransitionError::Lost { from, to, actual } => {
                write!(f, "loop state transition {from:?} -> {to:?} lost: state is {actual:?}")
            }
        }
    }
}

impl std::error::Error for TransitionError {}

/// The loop state plus the wake-pending flag. Shared by the loop thread and every producer.
#[derive(Debug)]
pub struct Handshake {
    state: AtomicU8,
    /// Set by the producer that claimed the right to write the eventfd for the current sleep;
    /// cleared by the loop after the poll returns.
    wake_pending: AtomicBool,
}

impl Default for Handshake {
    fn default() -> Self {
        Self::new()
    }
}

impl Handshake {
    /// A handshake in [`LoopState::Awake`] with no wake pending.
    pub fn new() -> Self {
        Self { state: AtomicU8::new(LoopState::Awake as u8), wake_pending: AtomicBool::new(false) }
    }

    /// The current state (sequentially consistent load).
    pub fn state(&self) -> LoopState {
        LoopState::from_u8(self.state.load(SeqCst))
    }

    /// Moves the state from `from` to `to` by compare-and-swap.
    ///
    /// # Errors
    /// [`TransitionError::NotAllowed`] if the table forbids `from → to` (the state is left
    /// untouched); [`TransitionError::Lost`] if the state was not `from`.
    pub fn transition(&self, from: LoopState, to: LoopState) -> Result<(), TransitionError> {
        if !from.can_transition_to(to) {
            return Err(TransitionError::NotAllowed { from, to });
        }
        self.state.compare_exchange(from as u8, to as u8, SeqCst, SeqCst).map(drop).map_err(
            |actual| TransitionError::Lost { from, to, actual: LoopState::from_u8(actual) },
        )
    }

    /// Moves any live state (`Awake`, `Running`, `Sleeping`) to `Terminating`, and returns the
    /// state it left (`Terminating` if it was already there: a no-op).
    ///
    /// # Errors
    /// [`TransitionError::NotAllowed`] from `Terminated`.
    pub fn begin_termination(&self) -> Result<LoopState, TransitionError> {
        loop {
            let current = self.state();
            if current == LoopState::Terminating {
                return Ok(current);
            }
            match self.transition(current, LoopState::Terminating) {
                Ok(()) => return Ok(current),
                Err(TransitionError::Lost { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Producer side, called *after* publishing work: `true` if the loop sleeps and this caller
    /// won the wake-pending flag, so it must write the eventfd (and, if the write fails, call
    /// [`Handshake::release_claim`]). `false`: the loop is awake, or another producer's write is
    /// already on its way; the wake is elided.
    pub fn claim_wake(&self) -> bool {
        self.state() == LoopState::Sleeping && self.claim_flag()
    }

    /// Like [`Handshake::claim_wake`] but regardless of the state, for shutdown and close, which
    /// have just moved a sleeping loop to `Terminating`.
    pub fn claim_flag(&self) -> bool {
        self.wake_pending.compare_exchange(false, true, SeqCst, SeqCst).is_ok()
    }

    /// Gives the claim back after a failed eventfd write, so a later producer retries the wake.
    pub fn release_claim(&self) {
        self.wake_pending.store(false, SeqCst);
    }

    /// Loop side, first step of a sleep: `Running → Sleeping`. After `Ok`, the loop must look at
    /// its queues again before blocking (the handshake's second half).
    ///
    /// # Errors
    /// As [`Handshake::transition`]; `Lost` with `actual == Terminating` when a shutdown or close
    /// came first (the loop must not sleep then).
    pub fn enter_sleep(&self) -> Result<(), TransitionError> {
        self.transition(LoopState::Running, LoopState::Sleeping)
    }

    /// Loop side, after the poll returned (or after deciding not to block): clears the
    /// wake-pending flag, then moves `Sleeping → Running`. Returns `Ok(false)` if a shutdown or
    /// close moved the state to `Terminating` meanwhile.
    ///
    /// # Errors
    /// Any other failed transition (a bug: only the loop thread leaves `Sleeping` for `Running`).
    pub fn leave_sleep(&self) -> Result<bool, TransitionError> {
        // Cleared before the state changes: a producer that still sees `Sleeping` after this
        // either claims the flag and writes (a spurious but harmless wake of a later poll), or
        // finds it claimed by a producer whose write is still to come, after this clear, so that
        // write wakes the next poll. Either way no claimed write is ever lost.
        self.wake_pending.store(false, SeqCst);
        match self.transition(LoopState::Sleeping, LoopState::Running) {
            Ok(()) => Ok(true),
            Err(TransitionError::Lost { actual: LoopState::Terminating, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether a wake is claimed and not yet consumed (for tests and diagnostics).
    pub fn wake_pending(&self) -> bool {
        self.wake_pending.load(SeqCst)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::LoopState::*;
    use super::*;

    const ALL: [LoopState; 5] = [Awake, Terminated, Sleeping, Terminating, Running];

    #[test]
    fn only_the_table_transitions_are_allowed() {
        let allowed = [
            (Awake, Running),
            (Awake, Terminating),
            (Running, Sleeping),
            (Running, Terminating),
            (Sleeping, Running),
            (Sleeping, Terminating),
            (Terminating, Terminated),
        ];
        for from in ALL {
            for to in ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    allowed.contains(&(from, to)),
                    "{from:?}->{to:?}"
                );
            }
        }
    }

    #[test]
    fn an_invalid_transition_is_an_error_and_changes_nothing() {
        let h = Handshake::new();
        let err = h.transition(Awake, Sleeping).unwrap_err();
        assert_eq!(err, TransitionError::NotAllowed { from: Awake, to: Sleeping });
        assert!(err.to_string().contains("invalid loop state transition"));
        assert_eq!(h.state(), Awake);
        let err = h.transition(Running, Sleeping).unwrap_err();
        assert_eq!(err, TransitionError::Lost { from: Running, to: Sleeping, actual: Awake });
        assert_eq!(h.state(), Awake);
    }

    #[test]
    fn termination_is_reached_from_every_live_state_and_is_final() {
        for path in [&[][..], &[Running][..], &[Running, Sleeping][..]] {
            let h = Handshake::new();
            let mut from = Awake;
            for &to in path {
                h.transition(from, to).unwrap();
                from = to;
            }
            assert_eq!(h.begin_termination(), Ok(from));
            assert_eq!(h.begin_termination(), Ok(Terminating), "idempotent");
            h.transition(Terminating, Terminated).unwrap();
            assert!(h.begin_termination().is_err());
            assert!(h.transition(Terminated, Running).is_err());
        }
    }

    #[test]
    fn only_one_producer_claims_the_wake_of_a_sleep() {
        let h = Handshake::new();
        assert!(!h.claim_wake(), "not sleeping");
        h.transition(Awake, Running).unwrap();
        h.enter_sleep().unwrap();
        assert!(h.claim_wake());
        assert!(!h.claim_wake(), "second producer elides");
        assert_eq!(h.leave_sleep(), Ok(true));
        assert!(!h.wake_pending());
        assert_eq!(h.state(), Running);
        h.enter_sleep().unwrap();
        assert!(h.claim_wake(), "a new sleep can be claimed again");
        h.release_claim();
        assert!(h.claim_wake(), "a released claim can be retried");
    }

    #[test]
    fn a_termination_during_sleep_is_reported_not_overwritten() {
        let h = Handshake::new();
        h.transition(Awake, Running).unwrap();
        h.enter_sleep().unwrap();
        assert_eq!(h.begin_termination(), Ok(Sleeping));
        assert_eq!(h.leave_sleep(), Ok(false));
        assert_eq!(h.state(), Terminating, "bug #5: poll must not overwrite Terminating");
        assert!(matches!(h.enter_sleep(), Err(TransitionError::Lost { actual: Terminating, .. })));
    }
}
