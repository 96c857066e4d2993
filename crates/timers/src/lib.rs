//! # loop-timers: the timer heap our loops share
//!
//! [`TimerHeap`] holds a loop's pending timers: a min-heap by `(deadline, sequence)` plus a map
//! from sequence number to callback. It has no synchronisation of its own; each loop keeps it
//! behind its timer (or state) mutex. It is generic over the callback type: `loop-main` stores
//! its inline `Task`s, the other loops boxed closures.
//!
//! `BinaryHeap` cannot remove an arbitrary entry, so cancelling removes only the callback and the
//! heap entry is discarded when it surfaces (lazy deletion). The heap is rebuilt when cancelled
//! entries outnumber live ones, so a cancel-heavy workload cannot grow it without bound.
//!
//! (Written first for `loop-baseline`, copied into three more loops, then moved here once.)

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use loop_api::TimerId;

/// Heap entries order by deadline, then by sequence number, so timers with equal deadlines fire
/// in the order they were scheduled (the derived `Ord` compares fields in declaration order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    deadline: Instant,
    seq: u64,
}

/// A loop's pending timers, each a callback of type `T` with an optional deadline. Every method
/// runs under the owning loop's mutex.
pub struct TimerHeap<T> {
    heap: BinaryHeap<Reverse<Entry>>,
    /// Live timers by sequence number; a timer is pending exactly while it is in this map.
    callbacks: HashMap<u64, T>,
    /// The next sequence number, which is also the next `TimerId`. Starts at 1, never reused.
    next_seq: u64,
}

/// Below this heap size a rebuild is not worth it.
const COMPACT_MIN: usize = 64;

impl<T> Default for TimerHeap<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerHeap<T> {
    /// An empty heap; the first timer gets id 1.
    pub fn new() -> Self {
        Self { heap: BinaryHeap::new(), callbacks: HashMap::new(), next_seq: 1 }
    }

    /// Number of pending (scheduled, not fired, not cancelled) timers.
    pub fn len(&self) -> usize {
        self.callbacks.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.callbacks.is_empty()
    }

    /// The sequence number the next scheduled timer will get. Timers scheduled from now on have
    /// sequence numbers `>=` this value, which lets a firing pass exclude them.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Adds a timer. `deadline` is `None` when the delay is too large for `Instant` to
    /// represent: such a timer never fires but can still be cancelled (or dropped).
    pub fn insert(&mut self, deadline: Option<Instant>, task: T) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(deadline) = deadline {
            self.heap.push(Reverse(Entry { deadline, seq }));
        }
        self.callbacks.insert(seq, task);
        TimerId(seq)
    }

    /// Removes a pending timer and returns its callback (for the caller to drop outside the
    /// lock), or `None` if it already fired, was cancelled, or never existed.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let task = self.callbacks.remove(&id.0)?;
        if self.heap.len() > COMPACT_MIN && self.heap.len() > 2 * self.callbacks.len() {
            let live = &self.callbacks;
            self.heap.retain(|Reverse(e)| live.contains_key(&e.seq));
        }
        Some(task)
    }

    /// The earliest deadline of a pending timer, discarding cancelled entries on the way.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse(top)) = self.heap.peek() {
            if self.callbacks.contains_key(&top.seq) {
                return Some(top.deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns the earliest timer if its deadline is `<= now` and it was scheduled
    /// before `seq_limit`. The limit bounds one firing pass: a timer that keeps rescheduling
    /// itself with a zero delay waits for the next tick instead of starving the task queue.
    pub fn pop_due(&mut self, now: Instant, seq_limit: u64) -> Option<T> {
        self.next_deadline()?;
        let Reverse(top) = *self.heap.peek()?;
        if top.deadline > now || top.seq >= seq_limit {
            return None;
        }
        self.heap.pop();
        self.callbacks.remove(&top.seq)
    }

    /// Removes every pending timer and returns the callbacks (for the caller to drop outside the
    /// lock).
    pub fn take_all(&mut self) -> Vec<T> {
        self.heap = BinaryHeap::new();
        std::mem::take(&mut self.callbacks).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    type Task = Box<dyn FnOnce() + Send>;
    type Timers = TimerHeap<Task>;

    fn noop() -> Task {
        Box::new(|| ())
    }

    /// Pops everything due at `now` and runs it; returns how many fired.
    fn fire_all(t: &mut Timers, now: Instant) -> usize {
        let limit = t.next_seq();
        let mut n = 0;
        while let Some(task) = t.pop_due(now, limit) {
            task();
            n += 1;
        }
        n
    }

    #[test]
    fn fires_in_deadline_order_and_ties_in_scheduling_order() {
        let base = Instant::now();
        let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let mut t = Timers::new();
        // (label, offset in ms): deliberately scheduled out of order, with ties at 5 ms.
        for (label, ms) in [(0, 9), (1, 5), (2, 1), (3, 5), (4, 0), (5, 5)] {
            let order = order.clone();
            t.insert(
                Some(base + Duration::from_millis(ms)),
                Box::new(move || order.lock().push(label)),
            );
        }
        assert_eq!(fire_all(&mut t, base + Duration::from_millis(100)), 6);
        assert_eq!(*order.lock(), vec![4, 2, 1, 3, 5, 0]);
        assert!(t.is_empty());
    }

    #[test]
    fn nothing_fires_before_its_deadline() {
        let base = Instant::now();
        let mut t = Timers::new();
        t.insert(Some(base + Duration::from_millis(10)), noop());
        assert_eq!(fire_all(&mut t, base + Duration::from_millis(9)), 0);
        assert_eq!(t.next_deadline(), Some(base + Duration::from_millis(10)));
        assert_eq!(fire_all(&mut t, base + Duration::from_millis(10)), 1);
    }

    #[test]
    fn cancel_reports_whether_the_timer_was_pending() {
        let base = Instant::now();
        let mut t = Timers::new();
        let a = t.insert(Some(base), noop());
        let b = t.insert(Some(base), noop());
        assert!(t.cancel(a).is_some());
        assert!(t.cancel(a).is_none(), "second cancel");
        assert!(t.cancel(TimerId(999)).is_none(), "unknown id");
        assert_eq!(fire_all(&mut t, base), 1);
        assert!(t.cancel(b).is_none(), "already fired");
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn ids_are_unique_and_never_reused() {
        let mut t = Timers::new();
        let a = t.insert(None, noop());
        t.cancel(a);
        let b = t.insert(None, noop());
        assert_ne!(a, b);
        assert!(b > a);
    }

    #[test]
    fn seq_limit_excludes_timers_scheduled_during_the_pass() {
        let base = Instant::now();
        let mut t = Timers::new();
        t.insert(Some(base), noop());
        let limit = t.next_seq();
        t.insert(Some(base), noop());
        assert!(t.pop_due(base, limit).is_some());
        assert!(t.pop_due(base, limit).is_none(), "scheduled after the pass began");
        assert!(t.pop_due(base, t.next_seq()).is_some());
    }

    #[test]
    fn unrepresentable_deadline_never_fires_but_is_pending() {
        let mut t = Timers::new();
        let id = t.insert(None, noop());
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline(), None);
        assert!(t.cancel(id).is_some());
        assert!(t.is_empty());
    }

    #[test]
    fn cancelled_entries_do_not_accumulate() {
        let base = Instant::now();
        let mut t = Timers::new();
        let keep = t.insert(Some(base + Duration::from_secs(3600)), noop());
        for _ in 0..10_000 {
            let id = t.insert(Some(base + Duration::from_secs(1)), noop());
            assert!(t.cancel(id).is_some());
        }
        assert!(t.heap.len() <= 2 * COMPACT_MIN + 2, "heap holds {} entries", t.heap.len());
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline(), Some(base + Duration::from_secs(3600)));
        assert!(t.cancel(keep).is_some());
    }

    #[test]
    fn take_all_hands_back_every_pending_callback() {
        struct Probe(Arc<AtomicUsize>);
        impl Drop for Probe {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let mut t = Timers::new();
        for i in 0..5u64 {
            let p = Probe(drops.clone());
            let deadline = (i % 2 == 0).then(Instant::now);
            t.insert(deadline, Box::new(move || drop(p)));
        }
        let taken = t.take_all();
        assert_eq!(taken.len(), 5);
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        drop(taken);
        assert_eq!(drops.load(Ordering::Relaxed), 5);
    }
}
