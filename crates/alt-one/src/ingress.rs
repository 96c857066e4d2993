//! Everything under the one ingress mutex: the three lanes, their chunk pool, the task-id
//! counter and the lifecycle flags that decide acceptance.
//!
//! Acceptance and the push happen in one critical section, and the loop's final "nothing left,
//! stop" decision happens under the same lock, so an accepted task can never miss the drain
//! (the conservation pattern of `docs/HISTORY.md`, "The historical contract").

use std::thread::ThreadId;

use crate::Task;
use crate::chunk::{ChunkPool, InvariantError, Lane};

/// Which lane a task goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaneId {
    External,
    Internal,
    Microtask,
}

/// Whether `run` has been entered, by which thread, and whether it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runner {
    Idle,
    Running(ThreadId),
    Stopped,
}

pub(crate) struct Ingress {
    external: Lane<Task>,
    internal: Lane<Task>,
    microtasks: Lane<Task>,
    pool: ChunkPool<Task>,
    /// The next task id (ids start at 1 and are never reused).
    next_id: u64,
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

impl Ingress {
    pub(crate) fn new() -> Self {
        Self {
            external: Lane::new("external"),
            internal: Lane::new("internal"),
            microtasks: Lane::new("microtask"),
            pool: ChunkPool::new(),
            next_id: 1,
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

    fn lane_mut(&mut self, lane: LaneId) -> (&mut Lane<Task>, &mut ChunkPool<Task>) {
        let l = match lane {
            LaneId::External => &mut self.external,
            LaneId::Internal => &mut self.internal,
            LaneId::Microtask => &mut self.microtasks,
        };
        (l, &mut self.pool)
    }

    /// Appends a task with a fresh id.
    ///
    /// # Panics
    /// If a lane invariant is broken (a bug in this crate), with the [`InvariantError`].
    pub(crate) fn push(&mut self, lane: LaneId, task: Task) {
        let id = self.next_id;
        self.next_id += 1;
        let (l, pool) = self.lane_mut(lane);
        l.push(pool, id, task).unwrap_or_else(|e| invariant_panic(&e));
    }

    /// Pops the oldest task of `lane`.
    ///
    /// # Panics
    /// If a lane invariant is broken (a bug in this crate), with the [`InvariantError`].
    pub(crate) fn pop(&mut self, lane: LaneId) -> Option<Task> {
        let (l, pool) = self.lane_mut(lane);
        l.pop(pool).unwrap_or_else(|e| invariant_panic(&e)).map(|(_, t)| t)
    }

    pub(crate) fn len(&self, lane: LaneId) -> usize {
        match lane {
            LaneId::External => self.external.len(),
            LaneId::Internal => self.internal.len(),
            LaneId::Microtask => self.microtasks.len(),
        }
    }

    pub(crate) fn total_len(&self) -> usize {
        self.external.len() + self.internal.len() + self.microtasks.len()
    }

    /// Takes every queued task of every lane (for `close`).
    pub(crate) fn take_all(&mut self) -> Vec<Task> {
        let mut all = self.microtasks.take_all(&mut self.pool);
        all.extend(self.internal.take_all(&mut self.pool));
        all.extend(self.external.take_all(&mut self.pool));
        all
    }
}

/// A broken invariant is a bug: surfaced loudly, never ignored (AlternateOne panicked too).
fn invariant_panic(e: &InvariantError) -> ! {
    panic!("{e}")
}
