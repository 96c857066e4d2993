//! The loop's pending timers: the shared heap of `loop-timers` (a min-heap by `(deadline,
//! sequence)` with lazy cancellation) plus the flag that closes it to new timers once a shutdown
//! or close begins, behind the loop's timer mutex (AlternateOne's `timersMu`; AlternateThree's
//! equivalent).

use std::ops::{Deref, DerefMut};

use loop_timers::TimerHeap;

/// A timer callback: the alternates box every closure.
pub type Task = Box<dyn FnOnce() + Send + 'static>;

/// The heap and its admission flag. Dereferences to the [`TimerHeap`] for everything else.
pub struct Timers {
    /// Cleared by `shutdown` and `close`: from then on `schedule_timer` is rejected.
    pub accepting: bool,
    heap: TimerHeap<Task>,
}

impl Default for Timers {
    fn default() -> Self {
        Self::new()
    }
}

impl Timers {
    /// An empty heap that accepts timers.
    pub fn new() -> Self {
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
