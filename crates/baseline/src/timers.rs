//! The loop's pending timers: the shared heap of `loop-timers` (a min-heap by `(deadline,
//! sequence)` with lazy cancellation), holding this loop's boxed callbacks, behind the loop's state mutex.

use crate::Task;

/// The loop's pending timers.
pub(crate) type Timers = loop_timers::TimerHeap<Task>;
