//! A queue lane: a [`Ring`] plus a fenced overflow deque, so a full ring never loses, blocks or
//! reorders a submission.
//!
//! ## The arena-full policy: a fenced overflow lane
//!
//! When a producer finds the ring full (or, on the loop thread during a shutdown drain, closed),
//! it appends the task to the lane's overflow deque (a `VecDeque` under a mutex) together with a
//! **fence**: the ring's tail (the number of positions claimed so far) read under the overflow
//! mutex. The consumer merges the two in fence order: the overflow's front task runs as soon as
//! the ring's head has reached its fence, *before* the ring position equal to the fence.
//!
//! Why this keeps every producer's order: a producer's earlier ring task has a position below the
//! tail it reads afterwards (its own claim happened first), so it runs before the overflow task;
//! a producer's later ring task claims a position at or above that fence (tail only grows), so it
//! runs after. Fences are read under the mutex, so they are non-decreasing along the deque, and
//! the merge is a merge of two sorted sequences: an overflow task is neither overtaken nor
//! starved (it runs once the consumer has taken the `fence` ring positions before it).
//!
//! So nobody ever waits for the consumer: neither a foreign producer (no back-pressure, at the
//! price of unbounded memory while the ring stays full) nor the loop thread submitting from
//! inside a task, which could not wait for itself. The overflow is the slow path (one mutex per
//! task); the ring is back in use as soon as it has room.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use crossbeam_utils::CachePadded;

use crate::Task;
use crate::ring::{Pop, PushError, Ring};
use crate::sync::{AtomicUsize, Mutex};

/// Overflow entries whose buffer the lane keeps once the overflow has emptied. A larger buffer —
/// grown by a burst that overran the ring — is released when the last overflow task is taken,
/// so one burst does not pin its peak memory for the rest of the loop's life (the `footprint`
/// workload measured 25 MB retained after 1,000,000 queued tasks had drained before this).
/// 1,024 entries (24 KiB) keep small, repeated overflows allocation-free.
pub(crate) const OVERFLOW_KEEP: usize = 1024;

/// Who is pushing, for the acceptance rules once the lane stops accepting foreign work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pusher {
    /// Any thread but the loop thread of a running loop.
    Foreign,
    /// The loop thread (inside a task or callback of this loop).
    Loop,
}

struct Overflow {
    /// `(fence, task)` in push order; fences are non-decreasing.
    items: VecDeque<(usize, Task)>,
    /// Shutdown requested: only the loop thread may still add (its drain runs what it adds).
    foreign_closed: bool,
    /// Closed: nobody may add.
    closed: bool,
}

/// A ring of pre-allocated slots with a fenced overflow deque (see the module docs).
pub(crate) struct Lane {
    ring: Ring<Task>,
    overflow: Mutex<Overflow>,
    /// `overflow.items.len()`, readable without the mutex (the consumer's fast path, and the
    /// loop's pre-sleep check, which reads it with an RMW).
    overflow_len: CachePadded<AtomicUsize>,
}

impl Lane {
    /// A lane whose ring has `capacity` slots (a power of two), all allocated now.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            ring: Ring::new(capacity),
            overflow: Mutex::new(Overflow {
                items: VecDeque::new(),
                foreign_closed: false,
                closed: false,
            }),
            overflow_len: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Queues `task` (kept as `Box<F>` until accepted, so a rejection hands it back as given).
    /// `pusher` is evaluated only on the slow path (ring full or closed).
    ///
    /// # Errors
    /// The task, if the lane no longer accepts from this pusher.
    pub(crate) fn push<F>(
        &self,
        task: Box<F>,
        pusher: impl FnOnce() -> Pusher,
    ) -> Result<(), Box<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        match self.ring.push(task, |t| t as Task) {
            Ok(_) => Ok(()),
            Err(PushError::Full(task) | PushError::Closed(task)) => {
                self.push_overflow(task, pusher)
            }
        }
    }

    fn push_overflow<F>(&self, task: Box<F>, pusher: impl FnOnce() -> Pusher) -> Result<(), Box<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let mut o = self.overflow.lock();
        if o.closed || (o.foreign_closed && pusher() == Pusher::Foreign) {
            return Err(task);
        }
        // The ring may be closed without the overflow being closed to foreign threads only in
        // the instant between `Lane::close_foreign`'s two steps; a foreign task accepted there
        // is still drained (the overflow is part of the drain).
        let fence = self.ring.tail();
        o.items.push_back((fence, task));
        // An RMW, so the loop's pre-sleep RMW of `overflow_len` orders against it (wake.rs).
        self.overflow_len.fetch_add(1, AcqRel);
        Ok(())
    }

    /// Takes the next task in lane order (see the module docs). Consumer side: the loop thread.
    ///
    /// The ring's head slot is examined (acquire) *before* the overflow length is read, and the
    /// ring is popped only if that examination found it published: if the head task's producer
    /// had overflowed a task before it, the acquire makes that overflow push visible here, so
    /// the overflow task (whose fence is at most this position) is taken first. Reading the
    /// overflow length first could miss it and let the producer's later ring task overtake it.
    pub(crate) fn pop(&self) -> Pop<Task> {
        let ready = self.ring.head_ready();
        if self.overflow_len.load(Acquire) > 0 {
            let head = self.ring.head();
            let mut o = self.overflow.lock();
            if o.items.front().is_some_and(|&(fence, _)| fence <= head) {
                let (_, task) = o.items.pop_front().expect("front checked");
                self.overflow_len.fetch_sub(1, AcqRel);
                let grown = (o.items.is_empty() && o.items.capacity() > OVERFLOW_KEEP)
                    .then(|| std::mem::take(&mut o.items));
                drop(o);
                drop(grown); // freed outside the mutex
                return Pop::Item(task);
            }
        }
        if ready {
            // Normally the slot just examined; `close` (another consumer) may have taken it, in
            // which case this pops the next one or reports `Empty`/`Pending`. Nothing is lost:
            // after `close` the loop runs nothing more.
            self.ring.pop()
        } else if self.ring.has_claims() {
            Pop::Pending
        } else {
            Pop::Empty
        }
    }

    /// Whether the lane may hold work (cheap, for the loop's "anything left?" checks). Counts
    /// claimed-but-unpublished ring positions as work.
    pub(crate) fn may_have_work(&self) -> bool {
        self.ring.has_claims() || self.overflow_len.load(Acquire) > 0
    }

    /// [`Lane::may_have_work`] with read-modify-writes that see the latest values, for the
    /// loop's last look before it sleeps (see `wake.rs`).
    pub(crate) fn may_have_work_latest(&self) -> bool {
        self.ring.tail_latest() != self.ring.head() || self.overflow_len.fetch_add(0, AcqRel) > 0
    }

    /// Stops accepting from foreign threads (shutdown): closes the ring, then the overflow to
    /// everyone but the loop thread.
    pub(crate) fn close_foreign(&self) {
        self.ring.close();
        self.overflow.lock().foreign_closed = true;
    }

    /// Closes the lane for everyone and takes every queued task (waiting for producers still
    /// writing a claimed slot). Safe from any thread, concurrently with the consumer.
    pub(crate) fn close_and_take(&self) -> Vec<Task> {
        let end = self.ring.close();
        let overflow = {
            let mut o = self.overflow.lock();
            o.closed = true;
            o.foreign_closed = true;
            self.overflow_len.store(0, Relaxed);
            std::mem::take(&mut o.items)
        };
        let mut taken = self.ring.drain_to(end);
        taken.extend(overflow.into_iter().map(|(_, t)| t));
        taken
    }

    /// Ring slots.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::{Arc, Mutex as StdMutex};

    use super::*;

    fn recorder(log: &Arc<StdMutex<Vec<u32>>>, v: u32) -> Box<impl FnOnce() + Send + 'static> {
        let log = log.clone();
        Box::new(move || log.lock().unwrap().push(v))
    }

    fn run_all(lane: &Lane) {
        loop {
            match lane.pop() {
                Pop::Item(t) => t(),
                Pop::Empty => return,
                Pop::Pending => unreachable!("single-threaded"),
            }
        }
    }

    #[test]
    fn a_full_ring_overflows_in_order_and_the_ring_is_reused() {
        let lane = Lane::new(4);
        assert_eq!(lane.capacity(), 4);
        let log = Arc::new(StdMutex::new(Vec::new()));
        for v in 0..10 {
            lane.push(recorder(&log, v), || Pusher::Foreign).unwrap_or_else(|_| panic!());
        }
        // 4 in the ring, 6 in the overflow, all fenced at position 4.
        assert_eq!(lane.overflow_len.load(Relaxed), 6);
        // Take two from the ring: the ring has room again, and a new task goes to the ring at
        // position 4, i.e. *after* the overflow's tasks (fence 4).
        for _ in 0..2 {
            let Pop::Item(t) = lane.pop() else { panic!() };
            t();
        }
        lane.push(recorder(&log, 10), || Pusher::Foreign).unwrap_or_else(|_| panic!());
        assert_eq!(lane.overflow_len.load(Relaxed), 6, "went to the ring");
        run_all(&lane);
        assert_eq!(*log.lock().unwrap(), (0..=10).collect::<Vec<_>>());
    }

    #[test]
    fn a_grown_overflow_buffer_is_released_once_it_empties() {
        let lane = Lane::new(4);
        let log = Arc::new(StdMutex::new(Vec::new()));
        let n = 4 + 4 * OVERFLOW_KEEP as u32;
        for v in 0..n {
            lane.push(recorder(&log, v), || Pusher::Foreign).unwrap_or_else(|_| panic!());
        }
        assert!(lane.overflow.lock().items.capacity() > OVERFLOW_KEEP);
        run_all(&lane);
        assert_eq!(*log.lock().unwrap(), (0..n).collect::<Vec<_>>());
        assert_eq!(lane.overflow.lock().items.capacity(), 0, "grown buffer kept after draining");
        // A small overflow keeps its buffer.
        for v in 0..8 {
            lane.push(recorder(&log, v), || Pusher::Foreign).unwrap_or_else(|_| panic!());
        }
        run_all(&lane);
        assert!(lane.overflow.lock().items.capacity() > 0);
    }

    #[test]
    fn after_shutdown_only_the_loop_thread_may_add_and_after_close_nobody() {
        let lane = Lane::new(2);
        let log = Arc::new(StdMutex::new(Vec::new()));
        lane.push(recorder(&log, 0), || Pusher::Foreign).unwrap_or_else(|_| panic!());
        lane.close_foreign();
        assert!(lane.push(recorder(&log, 1), || Pusher::Foreign).is_err());
        lane.push(recorder(&log, 2), || Pusher::Loop).unwrap_or_else(|_| panic!());
        assert!(lane.may_have_work() && lane.may_have_work_latest());
        run_all(&lane);
        assert_eq!(*log.lock().unwrap(), vec![0, 2]);
        lane.push(recorder(&log, 3), || Pusher::Loop).unwrap_or_else(|_| panic!());
        let taken = lane.close_and_take();
        assert_eq!(taken.len(), 1);
        assert!(lane.push(recorder(&log, 4), || Pusher::Loop).is_err());
        assert!(!lane.may_have_work());
        drop(taken);
        assert_eq!(*log.lock().unwrap(), vec![0, 2], "taken tasks are dropped, not run");
    }
}
