//! The loop's pending timers: the shared heap of `loop-timers` (a min-heap by `(deadline,
//! sequence)` with lazy cancellation), holding this loop's inline `Task`s, behind the loop's timer mutex.

use crate::task::Task;

/// The loop's pending timers.
pub(crate) type Timers = loop_timers::TimerHeap<Task>;
