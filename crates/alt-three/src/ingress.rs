//! The lifecycle gate and the two locked queues: the external ingress (chunks under the ingress
//! mutex) and the internal queue (a double buffer under its own mutex).
//!
//! Each queue's mutex guards a copy of the [`Gate`], so a submission checks acceptance and
//! pushes in one critical section of the queue it uses (AlternateThree: "`Submit` takes the lock
//! first, then checks the state"). `run`, `shutdown`, `close` and the loop's final drain decision
//! update the gate under *both* locks (ingress, then internal), so either queue's copy is always
//! current, and the decision "nothing left: stop" sees every accepted task.

use std::collections::VecDeque;
use std::thread::ThreadId;

use crate::Task;
use crate::chunk::{ChunkPool, ChunkQueue};

/// Whether `run` has been entered, by which thread, and whether it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runner {
    Idle,
    Running(ThreadId),
    Stopped,
}

/// The lifecycle flags that decide acceptance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gate {
    pub(crate) runner: Runner,
    /// `shutdown` was called: only the loop thread may add work; the loop drains and stops.
    pub(crate) stop_requested: bool,
    /// `close` was called: nothing is accepted, nothing more runs.
    pub(crate) closed: bool,
    /// The shutdown drain completed.
    pub(crate) drained: bool,
    /// `run` is ending (its last destructors run): nothing is accepted, from any thread.
    pub(crate) sealed: bool,
}

impl Gate {
    fn new() -> Self {
        Self {
            runner: Runner::Idle,
            stop_requested: false,
            closed: false,
            drained: false,
            sealed: false,
        }
    }

    pub(crate) fn on_loop_thread(&self) -> bool {
        self.runner == Runner::Running(std::thread::current().id())
    }

    /// Whether the calling thread may add work now: not closed, not stopped, and either no stop
    /// requested or the caller is the loop thread (tasks run by the drain may still submit).
    pub(crate) fn accepts(&self) -> bool {
        !self.closed
            && !self.sealed
            && self.runner != Runner::Stopped
            && (!self.stop_requested || self.on_loop_thread())
    }
}

/// Under the ingress mutex.
pub(crate) struct Ingress {
    pub(crate) gate: Gate,
    pub(crate) queue: ChunkQueue<Task>,
    pub(crate) pool: ChunkPool<Task>,
}

impl Ingress {
    pub(crate) fn new() -> Self {
        Self { gate: Gate::new(), queue: ChunkQueue::new(), pool: ChunkPool::new() }
    }
}

/// Under the internal mutex: the producers' half of the double buffer.
pub(crate) struct Internal {
    pub(crate) gate: Gate,
    pub(crate) queue: VecDeque<Task>,
}

impl Internal {
    pub(crate) fn new() -> Self {
        Self { gate: Gate::new(), queue: VecDeque::new() }
    }
}

/// Under the in-flight mutex: the tasks the loop took and has not started yet (the consumer's
/// half of the internal double buffer, and the external batch buffer). Behind a mutex only so
/// that `close` can drop what has not started; the loop pops one task at a time and never holds
/// it while a task runs.
#[derive(Default)]
pub(crate) struct InFlight {
    pub(crate) internal: VecDeque<Task>,
    pub(crate) external: VecDeque<Task>,
}
