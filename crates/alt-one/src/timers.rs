//! The loop's pending timers: the shared heap of `loop-timers` (a min-heap by `(deadline,
//! sequence)` with lazy cancellation) plus the flag that closes it to new timers once a shutdown
//! or close begins, behind the loop's timer mutex (AlternateOne's `timersMu`).

use std::ops::{Deref, DerefMut};

use loop_timers::TimerHeap;

use crate::Task;

/// The heap and its admission flag.
pub(crate) struct Timers {
    /// Cleared by `shutdown` and `close`: from then on `schedule_timer` is rejected.
    pub(crate) accepting: bool,
    heap: TimerHeap<Task>,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Self { accepting: true, heap: TimerHeap::new() }
    }
}

impl Deref for Timers {
    type Target = TimerHeap<Task>;

    fn deref(&self) -> &Self::Target {
        &self.heap
    }
}

impl DerefMut for Timers {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.heap
    }
}
