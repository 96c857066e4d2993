//! Everything guarded by the loop's one state mutex: the ingress queue, the timers, the
//! lifecycle flags and the `waiting` flag of the sleep/wake handshake.
//!
//! Keeping all of it under one lock is what makes the baseline easy to trust: a producer's
//! "is the loop still accepting?" check, its push and its "is the loop asleep?" check happen in
//! one critical section, and the loop's "is there work? no: then I am waiting" decision happens
//! in another, so a submission can neither slip past the final drain nor miss a sleeping loop.

use std::time::Instant;

use crate::Task;
use crate::sync::{ThreadId, current_thread};
use crate::timers::Timers;

/// Where the loop is in its life. Moves only forward: `Idle` → `Running` → `Stopped`, or
/// `Idle` → `Stopped` (closed before it ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Created, `run` not called yet. Submissions are queued.
    Idle,
    /// A thread is inside `run`.
    Running,
    /// `run` finished (drained or closed), or `close` was called before `run`.
    Stopped,
}

pub(crate) struct State {
    /// Accepted tasks not yet taken by the loop, in submission order.
    pub(crate) queue: Vec<Task>,
    pub(crate) timers: Timers,
    pub(crate) phase: Phase,
    /// `shutdown` was called: accept only the loop thread's own submissions, drain, stop.
    pub(crate) stop_requested: bool,
    /// `close` was called: accept nothing, run nothing more.
    pub(crate) closed: bool,
    /// The drain completed (set together with `Phase::Stopped`); `shutdown` callers return `Ok`.
    pub(crate) drained: bool,
    /// The loop is blocked on the wake condvar (or about to be: it sets this in the same critical
    /// section in which it found no work). Whoever adds work and finds it set clears it and
    /// notifies; everyone else skips the notify.
    pub(crate) waiting: bool,
    /// While `waiting`: the deadline the loop sleeps until (`None` = until notified). A new timer
    /// only needs to wake the loop if it is due earlier.
    pub(crate) sleep_until: Option<Instant>,
    /// The thread inside `run`, while `Phase::Running`.
    pub(crate) loop_thread: Option<ThreadId>,
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            queue: Vec::new(),
            timers: Timers::new(),
            phase: Phase::Idle,
            stop_requested: false,
            closed: false,
            drained: false,
            waiting: false,
            sleep_until: None,
            loop_thread: None,
        }
    }

    /// Whether the calling thread is the loop thread of a running loop.
    pub(crate) fn on_loop_thread(&self) -> bool {
        self.phase == Phase::Running && self.loop_thread == Some(current_thread())
    }

    /// Whether `submit` from the calling thread is accepted now.
    ///
    /// During a shutdown drain only the loop thread may add tasks: those are the tasks that
    /// draining tasks (or destructors the drain runs) submit, and the drain runs them too.
    pub(crate) fn accepts_task(&self) -> bool {
        if self.closed || self.phase == Phase::Stopped {
            return false;
        }
        !self.stop_requested || self.on_loop_thread()
    }

    /// Whether `schedule_timer` is accepted now. Once a shutdown is requested no thread may add
    /// a timer: the drain does not wait for future deadlines, so accepting one would mean
    /// dropping it; handing it back is more honest.
    pub(crate) fn accepts_timer(&self) -> bool {
        !self.closed && !self.stop_requested && self.phase != Phase::Stopped
    }

    /// Called after adding a task: returns `true` if the loop is waiting and the caller must
    /// notify it. Clearing the flag makes every later submitter skip the notify until the loop
    /// sleeps again (one futex wake per sleep, however many producers race).
    pub(crate) fn claim_wake(&mut self) -> bool {
        std::mem::replace(&mut self.waiting, false)
    }

    /// Called after adding a timer due at `deadline`: returns `true` (and clears `waiting`) if
    /// the loop is waiting and would otherwise sleep past `deadline`.
    pub(crate) fn claim_wake_for_deadline(&mut self, deadline: Option<Instant>) -> bool {
        let earlier = match (deadline, self.sleep_until) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(new), Some(current)) => new < current,
        };
        self.waiting && earlier && self.claim_wake()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_the_first_submitter_wakes_a_waiting_loop() {
        let mut s = State::new();
        assert!(!s.claim_wake(), "loop not waiting");
        s.waiting = true;
        assert!(s.claim_wake());
        assert!(!s.claim_wake(), "already woken");
    }

    #[test]
    fn a_timer_wakes_the_loop_only_if_it_is_due_earlier() {
        let now = Instant::now();
        let mut s = State::new();
        s.waiting = true;
        s.sleep_until = Some(now + Duration::from_millis(10));
        assert!(!s.claim_wake_for_deadline(Some(now + Duration::from_millis(20))));
        assert!(!s.claim_wake_for_deadline(None), "a timer that never fires never wakes");
        assert!(s.waiting);
        assert!(s.claim_wake_for_deadline(Some(now + Duration::from_millis(5))));
        assert!(!s.waiting);
        s.waiting = true;
        s.sleep_until = None;
        assert!(s.claim_wake_for_deadline(Some(now + Duration::from_secs(3600))));
    }

    #[test]
    fn acceptance_follows_the_lifecycle() {
        let mut s = State::new();
        assert!(s.accepts_task() && s.accepts_timer(), "idle loop accepts");
        s.stop_requested = true;
        assert!(!s.accepts_task() && !s.accepts_timer(), "stop requested before run");
        s.phase = Phase::Running;
        s.loop_thread = Some(current_thread());
        assert!(s.accepts_task(), "the loop thread may add tasks while draining");
        assert!(!s.accepts_timer(), "but not timers");
        let other = std::thread::spawn({
            let id = s.loop_thread;
            move || {
                let mut s = State::new();
                s.phase = Phase::Running;
                s.stop_requested = true;
                s.loop_thread = id;
                s.accepts_task()
            }
        });
        assert!(!other.join().unwrap(), "other threads may not");
        s.closed = true;
        assert!(!s.accepts_task(), "closed loop accepts nothing");
    }
}
