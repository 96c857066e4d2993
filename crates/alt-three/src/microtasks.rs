//! AlternateThree's loop-private microtask list.
//!
//! There is no public microtask API (the capability is declared unsupported, and
//! `schedule_microtask` hands the closure back); the list exists because the Go loop drained it
//! at fixed points of every tick, and the drain points are part of the design being measured.
//! Only the loop thread touches it. A drain runs at most [`MICROTASK_BUDGET`] microtasks; if more
//! remain, the next poll must not block (AlternateThree's `forceNonBlockingPoll`).

use std::collections::VecDeque;

use crate::Task;

/// Microtasks run per drain (AlternateThree's budget).
pub(crate) const MICROTASK_BUDGET: usize = 1024;

/// Initial capacity (AlternateThree's value).
const INITIAL_CAPACITY: usize = 64;

pub(crate) struct Microtasks {
    queue: VecDeque<Task>,
}

impl Microtasks {
    pub(crate) fn new() -> Self {
        Self { queue: VecDeque::with_capacity(INITIAL_CAPACITY) }
    }

    /// Queues a microtask (loop thread only).
    #[cfg(test)]
    pub(crate) fn push(&mut self, task: Task) {
        self.queue.push_back(task);
    }

    pub(crate) fn pop(&mut self) -> Option<Task> {
        let task = self.queue.pop_front();
        // AlternateThree's compaction: give memory back after a spike.
        if self.queue.capacity() > MICROTASK_BUDGET && self.queue.len() < self.queue.capacity() / 4
        {
            self.queue.shrink_to(INITIAL_CAPACITY.max(self.queue.len()));
        }
        task
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Takes every queued microtask (for `close`, which drops them outside the lock).
    pub(crate) fn take_all(&mut self) -> VecDeque<Task> {
        std::mem::take(&mut self.queue)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn fifo_and_compaction_after_a_spike() {
        let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let mut m = Microtasks::new();
        for i in 0..3 {
            let o = order.clone();
            m.push(Box::new(move || o.lock().push(i)));
        }
        while let Some(t) = m.pop() {
            t();
        }
        assert_eq!(*order.lock(), vec![0, 1, 2]);
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..10_000 {
            let r = ran.clone();
            m.push(Box::new(move || {
                r.fetch_add(1, Ordering::Relaxed);
            }));
        }
        while let Some(t) = m.pop() {
            t();
        }
        assert_eq!(ran.load(Ordering::Relaxed), 10_000);
        assert!(m.is_empty());
        assert!(m.queue.capacity() <= MICROTASK_BUDGET, "capacity {}", m.queue.capacity());
        m.push(Box::new(|| ()));
        assert_eq!(m.take_all().len(), 1);
    }
}
