//! The internal priority queue: a `VecDeque` under a mutex, with a length readable without it.
//!
//! Internal work is rare next to external work (it is the loop's own continuation queue), so a
//! mutex costs little here and makes acceptance trivially conserving: the accepting check and the
//! push share one critical section with the flag that shutdown sets.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use crossbeam_utils::CachePadded;

use crate::Task;
use crate::lane::Pusher;
use crate::sync::{AtomicUsize, Mutex};

struct Queue {
    items: VecDeque<Task>,
    /// Shutdown requested: only the loop thread may still add.
    foreign_closed: bool,
    /// Closed: nobody may add.
    closed: bool,
}

/// The internal queue.
pub(crate) struct Internal {
    queue: Mutex<Queue>,
    /// `queue.items.len()`, so the loop checks for internal work without locking.
    len: CachePadded<AtomicUsize>,
}

impl Internal {
    pub(crate) fn new() -> Self {
        Self {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                foreign_closed: false,
                closed: false,
            }),
            len: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Queues `task`, boxed as given until accepted.
    ///
    /// # Errors
    /// The task, if the queue no longer accepts from this pusher.
    pub(crate) fn push<F>(
        &self,
        task: Box<F>,
        pusher: impl FnOnce() -> Pusher,
    ) -> Result<(), Box<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let mut q = self.queue.lock();
        if q.closed || (q.foreign_closed && pusher() == Pusher::Foreign) {
            return Err(task);
        }
        q.items.push_back(task);
        // An RMW, so the loop's pre-sleep RMW of `len` orders against it (wake.rs).
        self.len.fetch_add(1, AcqRel);
        Ok(())
    }

    /// Takes the oldest task (loop thread).
    pub(crate) fn pop(&self) -> Option<Task> {
        if self.len.load(Acquire) == 0 {
            return None;
        }
        let mut q = self.queue.lock();
        let task = q.items.pop_front()?;
        self.len.fetch_sub(1, AcqRel);
        Some(task)
    }

    /// Whether a task is queued (cheap).
    pub(crate) fn may_have_work(&self) -> bool {
        self.len.load(Acquire) > 0
    }

    /// [`Internal::may_have_work`] with an RMW that sees the latest value (pre-sleep check).
    pub(crate) fn may_have_work_latest(&self) -> bool {
        self.len.fetch_add(0, AcqRel) > 0
    }

    /// Stops accepting from foreign threads (shutdown).
    pub(crate) fn close_foreign(&self) {
        self.queue.lock().foreign_closed = true;
    }

    /// Closes for everyone and takes what is queued.
    pub(crate) fn close_and_take(&self) -> VecDeque<Task> {
        let mut q = self.queue.lock();
        q.closed = true;
        q.foreign_closed = true;
        self.len.store(0, Relaxed);
        std::mem::take(&mut q.items)
    }
}
