//! [`Queue`]: an unbounded lock-free multi-producer, single-consumer FIFO of values stored in
//! linked segments, with finished segments recycled through a small pool.
//!
//! ## Why not `crossbeam_queue::SegQueue`
//!
//! SegQueue is the same shape (its index/segment scheme is the model for this one) and stores
//! values by value, but it frees every 31-slot block once consumed and allocates a new one: one
//! malloc/free pair per 31 tasks, forever. The issue requires **zero** allocations per task after
//! warm-up (proven by `tests/alloc.rs`), so consumed segments go back to a pool that the producer
//! opening the next segment takes from. SegQueue is also MPMC; with one consumer, `pop` needs no
//! read-side CAS and segments need no reader-counted destruction.
//!
//! ## Protocol
//!
//! * The tail word holds a monotonic index shifted left by one and a MARK bit (bit 0), the
//!   "closed to producers" flag crossbeam-channel's list flavour keeps in the same place: once
//!   [`Queue::mark`] sets it, a producer's claim CAS fails and the producer is refused (unless
//!   the caller allows it past the mark: the loop thread while it drains), so every claim that
//!   succeeded is ordered before the mark and the value `mark` returns bounds them all. This is
//!   what lets a submission be accepted or refused with the queue's own CAS, without a second
//!   read-modify-write on a shared lifecycle word.
//! * The tail is a monotonic index plus the segment it points into. Each segment owns
//!   [`LAP`] = `SEG + 1` index values: `SEG` slots and one *installing* marker. A producer loads
//!   the index (skipping while it is on the marker), loads the segment pointer, and claims the
//!   slot with a CAS on the index. Because the segment pointer is stored before the index enters
//!   its lap, a successful CAS proves the loaded segment is the slot's segment.
//! * The producer that claims a segment's last slot moves the index onto the marker, takes a
//!   segment, publishes it (segment pointer, index, `next` link) and only then writes its
//!   value. Every producer waits while the index is on the marker, so the segment is taken
//!   *before* the claim: a producer that is about to try for a segment's last slot first takes a
//!   segment from the pool, or allocates one (as SegQueue allocates its next block in advance).
//!   The wait then never contains a `malloc`, which on a fragmented heap can take microseconds
//!   (measured: a multi-producer run right after async-executor's doubled main's cost per task
//!   through exactly that stall). A producer that took one and lost the race gives it back.
//! * The pool is a mutex-guarded `Vec`, taken once per [`SEG`] tasks: several producers may take
//!   from it at once (each preparing for the same last slot), which a lock-free stack would have
//!   to make ABA-safe.
//! * A value is published by its slot's *stamp*: the producer stores its claimed index plus
//!   one (release) after writing the value, and the consumer takes the value when the stamp of
//!   the slot at its head equals its own index plus one (acquire), as in Vyukov's bounded MPMC
//!   queue. Indices only grow, so a stamp left from an earlier use of a recycled segment never
//!   matches again and the consumer never writes to a slot: the slot lines it read stay clean
//!   in its cache, and its stores never wait for a line a producer owns. (A `ready` flag that
//!   the consumer cleared cost the loop a cross-core wait at its next locked instruction per
//!   task: 27% of its `ping-pong` profile sat on the consumer token's swap.)
//! * After the last slot of a segment the consumer follows `next`
//!   (visible: it was stored before that slot's value) and recycles the finished segment: every
//!   producer of that segment has finished with it, since all its slots were written.
//! * Segment memory is freed only for a segment no other thread can reach that the pool has no
//!   room for (a finished one, by the consumer; a prepared, never-linked one, by the producer
//!   that took it) and when the queue is dropped.
//!
//! ## Prefetching for write
//!
//! A producer's claim CAS is a locked instruction, and on x86 a locked instruction waits until
//! every earlier store has left the store buffer. The store of the previous value went to a slot
//! line the consumer last touched (it polled it, or read it before the segment came back
//! recycled), so that store waits for the line to cross cores first (the
//! reference VM's cross-core transfer is most of a 110–140 ns round trip): one full transfer
//! per push, serialised. A profile of `ping-pong` showed exactly that: ~97% of the producer's
//! samples in `wake_if_asleep` sat on the instruction after its locked increment, the first
//! locked instruction after the slot store. So after claiming slot `i` the producer asks for
//! ownership of slot `i +` [`PREFETCH_AHEAD`] (`PREFETCHW`; `PRFM PSTL1KEEP` on aarch64), and of
//! the first slots of a segment it is about to install. The line then travels while the
//! producer does other work, and is usually there when the store comes.
//!
//! Measured with the tournament (quick, `main` alone, 5 samples per cell, three alternating
//! rounds per setting; ns/task medians for ping-pong / burst b=1000 / burst b=10000):
//! no prefetch 56–74 / 73–76 / 71–73; 4 ahead 42–54 / 55–58 / 55–62; 6 ahead 26–44 / 48–55 /
//! 45–50; 8 ahead 33–40 / 51–73 / 37–50; 10 ahead 39–45 / 50–77 / 26–54; 12 ahead 51–53 /
//! 56–57 / 51–60 (one build reading the distance from the environment). 6, 8 and 10 form the
//! best band and cannot be told apart at this noise; 8, in its middle, was kept.

use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crossbeam_utils::CachePadded;

use crate::sync::{
    AtomicPtr, AtomicUsize, Mutex, UnsafeCell, prefetch_for_write, spin_hint, wait_step,
};

/// How many slots ahead of the one it claimed a producer asks for ownership of (see the module
/// docs, "Prefetching for write"): 8 × 40-byte slots, five cache lines.
const PREFETCH_AHEAD: usize = 8;

/// Bit 0 of the tail word: the queue is closed to producers not allowed past the mark.
const MARK: usize = 1;
/// The tail word's index starts at bit 1.
const SHIFT: usize = 1;
/// One index step in the tail word.
const STEP: usize = 1 << SHIFT;

/// Slots per segment. 128 × 40-byte slots ≈ 5 KiB: big enough that opening a segment (a pool lock
/// and three stores) is rare, small enough that a recycled one is cheap to hold.
#[cfg(not(loom))]
pub(crate) const SEG: usize = 128;
/// Under loom: tiny, so a model crosses segment boundaries with two values.
#[cfg(loom)]
pub(crate) const SEG: usize = 2;

/// Index values per segment: `SEG` slots plus the "next segment being installed" marker.
const LAP: usize = SEG + 1;

/// Recycled segments kept per queue: 128 × 128 slots lets a backlog of 16,384 tasks be queued
/// again without allocating (≈ 650 KiB at most per queue). Beyond it, finished segments are freed.
#[cfg(not(loom))]
const POOL_MAX: usize = 128;
#[cfg(loom)]
const POOL_MAX: usize = 2;

struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    /// The index this slot was last written at, plus one (0: never written); stored (release)
    /// by the producer after writing `value`.
    stamp: AtomicUsize,
}

struct Segment<T> {
    slots: [Slot<T>; SEG],
    /// The next segment of the queue, set before the value of this segment's last slot.
    next: AtomicPtr<Segment<T>>,
}

impl<T> Segment<T> {
    fn alloc() -> *mut Segment<T> {
        Box::into_raw(Box::new(Segment {
            slots: std::array::from_fn(|_| Slot {
                value: UnsafeCell::new(MaybeUninit::uninit()),
                stamp: AtomicUsize::new(0),
            }),
            next: AtomicPtr::new(ptr::null_mut()),
        }))
    }
}

/// The consumer's position (only the consumer touches it).
struct Head<T> {
    index: usize,
    segment: *mut Segment<T>,
}

/// Unbounded MPSC FIFO (per producer; across producers, in the order slots were claimed).
pub(crate) struct Queue<T> {
    /// `index << SHIFT | MARK?` (see the module docs).
    tail_index: CachePadded<AtomicUsize>,
    tail_segment: AtomicPtr<Segment<T>>,
    head: CachePadded<UnsafeCell<Head<T>>>,
    /// Finished (or prepared but unused) segments, at most [`POOL_MAX`].
    pool: CachePadded<Mutex<Vec<*mut Segment<T>>>>,
}

// SAFETY: values of type `T: Send` move from producers to the consumer through the queue; all
// shared state is atomics, and the consumer-only state is accessed under the `pop` contract.
unsafe impl<T: Send> Send for Queue<T> {}
// SAFETY: as above: `push` is safe from any thread, `pop`'s contract makes the consumer unique.
unsafe impl<T: Send> Sync for Queue<T> {}

impl<T> Queue<T> {
    /// An empty queue with its first segment allocated.
    pub(crate) fn new() -> Self {
        let first = Segment::alloc();
        Self {
            tail_index: CachePadded::new(AtomicUsize::new(0)),
            tail_segment: AtomicPtr::new(first),
            head: CachePadded::new(UnsafeCell::new(Head { index: 0, segment: first })),
            pool: CachePadded::new(Mutex::new(Vec::new())),
        }
    }

    /// Appends `value`, unless the queue is marked ([`Queue::mark`]) and `may_pass_mark`
    /// (asked at most once, only when the mark is seen) says no: then `value` comes back.
    ///
    /// Lock-free except while the producer that claimed a segment's last slot installs the next
    /// segment (a pool pop, or one allocation), during which others wait.
    ///
    /// # Errors
    /// `Err(value)` if the mark refused it; the queue is unchanged.
    pub(crate) fn push(&self, value: T, may_pass_mark: impl FnOnce() -> bool) -> Result<(), T> {
        let mut waits = 0_u32;
        let mut may_pass = Some(may_pass_mark);
        // The next segment, taken before trying for the current one's last slot.
        let mut prepared: Option<*mut Segment<T>> = None;
        loop {
            let tail = self.tail_index.load(Acquire);
            if tail & MARK != 0
                && let Some(ask) = may_pass.take()
                && !ask()
            {
                if let Some(unused) = prepared {
                    self.give_back(unused);
                }
                return Err(value);
            }
            let offset = (tail >> SHIFT) % LAP;
            if offset == SEG {
                // The next segment is being installed.
                wait_step(&mut waits);
                continue;
            }
            if offset + 1 == SEG && prepared.is_none() {
                let next = self.take_segment();
                for slot in 0..PREFETCH_AHEAD.min(SEG) {
                    // SAFETY: `next` is live (ours until installed or given back), `slot` is in
                    // bounds; only an address is formed.
                    prefetch_for_write(unsafe { ptr::addr_of!((*next).slots[slot]) });
                }
                prepared = Some(next);
            }
            let segment = self.tail_segment.load(Acquire);
            // A mark set since the load makes this CAS fail, so a claim never slips past it.
            if self.tail_index.compare_exchange_weak(tail, tail + STEP, AcqRel, Relaxed).is_err() {
                spin_hint();
                continue;
            }
            // We own slot `offset` of `segment` (see the module docs for why it is this one).
            if offset + 1 == SEG {
                let next = prepared.take().unwrap_or_else(|| self.take_segment());
                self.tail_segment.store(next, Release);
                // Off the installing marker. An add, not a store: a mark may have been set
                // meanwhile (no claim can have been: every claimer waits while on the marker).
                self.tail_index.fetch_add(STEP, Release);
                // SAFETY: `segment` cannot be recycled before its last slot (ours) is written.
                unsafe { (*segment).next.store(next, Release) };
            }
            // SAFETY: the slot is ours alone until its stamp is set; the segment is live (above).
            let slot = unsafe { &(*segment).slots[offset] };
            if offset + PREFETCH_AHEAD < SEG {
                // SAFETY: `segment` is live (above) and the index is in bounds; only an address
                // is formed, nothing is read or written.
                prefetch_for_write(unsafe {
                    ptr::addr_of!((*segment).slots[offset + PREFETCH_AHEAD])
                });
            }
            slot.value.with_mut(|p| {
                // SAFETY: exclusive access to the slot (claimed by the CAS); it holds no value
                // (the consumer moved the previous one out before recycling the segment).
                unsafe { p.write(MaybeUninit::new(value)) }
            });
            slot.stamp.store((tail >> SHIFT) + 1, Release);
            if let Some(unused) = prepared {
                // Another producer claimed the last slot; ours was not needed.
                self.give_back(unused);
            }
            return Ok(());
        }
    }

    /// Sets the mark (idempotent) and returns the tail index it was set at: every claim that
    /// will ever succeed without being allowed past the mark is below it.
    pub(crate) fn mark(&self) -> usize {
        self.tail_index.fetch_or(MARK, AcqRel) >> SHIFT
    }

    /// The tail index, read with a read-modify-write (acq-rel) that changes nothing.
    ///
    /// The sleep handshake needs the RMW: if this read is ordered before a producer's claim
    /// CAS in the tail's modification order, that CAS reads from it (acquire) and so sees
    /// everything the caller did before, in particular a published sleep mode; if after, the
    /// index shows the claim. A plain load gives neither (the store-buffering race;
    /// `tests/loom_wake.rs` has the negative control).
    pub(crate) fn latest_tail(&self) -> usize {
        self.tail_index.fetch_or(0, AcqRel) >> SHIFT
    }

    /// The consumer's index: everything below it has been popped.
    ///
    /// # Safety
    /// As [`Queue::pop`]: only the consumer may call it.
    pub(crate) unsafe fn head_index(&self) -> usize {
        // SAFETY: the caller is the unique consumer.
        self.head.with_mut(|head| unsafe { (*head).index })
    }

    /// A recycled segment, or a new one (allocated outside the pool lock).
    fn take_segment(&self) -> *mut Segment<T> {
        let pooled = self.pool.lock().pop();
        pooled.unwrap_or_else(Segment::alloc)
    }

    /// Puts a segment no thread can reach (finished and reset, or prepared and never linked) in
    /// the pool, or frees it if the pool is full.
    fn give_back(&self, segment: *mut Segment<T>) {
        let mut pool = self.pool.lock();
        if pool.len() < POOL_MAX {
            // The unlock publishes the segment's reset state to the producer that takes it.
            pool.push(segment);
            return;
        }
        drop(pool);
        // SAFETY: allocated by `Segment::alloc` and unreachable (caller's contract).
        drop(unsafe { Box::from_raw(segment) });
    }

    /// Takes the oldest value, or `None` if the queue is empty (or its oldest slot is claimed but
    /// not yet written: its producer will publish it right away).
    ///
    /// # Safety
    /// Only one thread may be in `pop`/`is_empty` at a time (the single consumer); callers
    /// guarantee it with the loop's consumer token.
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        self.head.with_mut(|head| {
            // SAFETY: the caller is the unique consumer; nobody else touches `head`.
            let head = unsafe { &mut *head };
            let offset = head.index % LAP;
            // SAFETY: the head segment is live until the consumer itself recycles it below.
            let segment = unsafe { &*head.segment };
            let slot = &segment.slots[offset];
            if slot.stamp.load(Acquire) != head.index + 1 {
                return None;
            }
            // SAFETY: the stamp (acquire) shows the producer finished writing the value; moving it
            // out and clearing the flag makes the slot empty again.
            let value = slot.value.with_mut(|p| unsafe { p.read().assume_init() });
            head.index += 1;
            if offset + 1 == SEG {
                let next = segment.next.load(Acquire);
                debug_assert!(!next.is_null(), "next segment linked before the last slot");
                let done = std::mem::replace(&mut head.segment, next);
                head.index += 1; // skip the installing marker
                self.recycle(done);
            }
            Some(value)
        })
    }

    /// Whether `pop` would return `None` now.
    ///
    /// # Safety
    /// As [`Queue::pop`]: only the consumer may call it.
    pub(crate) unsafe fn is_empty(&self) -> bool {
        self.head.with_mut(|head| {
            // SAFETY: the caller is the unique consumer.
            let head = unsafe { &*head };
            // SAFETY: the head segment is live (only the consumer recycles it).
            let segment = unsafe { &*head.segment };
            segment.slots[head.index % LAP].stamp.load(Acquire) != head.index + 1
        })
    }

    /// Returns a finished segment (every slot consumed) to the pool, or frees it
    /// if the pool is full. Consumer only.
    fn recycle(&self, segment: *mut Segment<T>) {
        // SAFETY: every producer of this segment is done with it (all slots were written and
        // consumed), so nothing else reaches it; reset its link before it is reused.
        unsafe { (*segment).next.store(ptr::null_mut(), Relaxed) };
        self.give_back(segment);
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no producer or other consumer exists any more.
        while let Some(value) = unsafe { self.pop() } {
            // A panicking destructor must not leak the values (and segments) behind it.
            loop_api::drop_isolated(value);
        }
        // Quiescent and empty: the head segment is the tail segment, nothing links past it.
        let head = self.head.with_mut(|h| {
            // SAFETY: exclusive access (`&mut self`).
            unsafe { (*h).segment }
        });
        // SAFETY: allocated by `Segment::alloc`, reachable from nowhere else now.
        drop(unsafe { Box::from_raw(head) });
        for seg in self.pool.lock().drain(..) {
            // SAFETY: pooled segments are owned by the pool; we are its last user.
            drop(unsafe { Box::from_raw(seg) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    /// Pushes to an unmarked queue (the mark is never consulted).
    fn put<T>(q: &Queue<T>, value: T) {
        assert!(q.push(value, || unreachable!("unmarked queue")).is_ok());
    }

    #[test]
    fn a_mark_refuses_later_claims_and_bounds_earlier_ones() {
        let q = Queue::new();
        for i in 0..(SEG + 5) {
            put(&q, i);
        }
        let end = q.mark();
        assert_eq!(q.mark(), end, "marking is idempotent");
        assert_eq!(q.latest_tail(), end);
        let mut asked = 0;
        assert_eq!(
            q.push(999, || {
                asked += 1;
                false
            }),
            Err(999),
            "refused at the mark"
        );
        assert_eq!(asked, 1);
        assert!(q.push(1000, || true).is_ok(), "allowed past the mark");
        assert_eq!(q.latest_tail(), end + 1);
        let mut got = Vec::new();
        // SAFETY: single consumer.
        while let Some(v) = unsafe { q.pop() } {
            got.push(v);
        }
        assert_eq!(got, (0..(SEG + 5)).chain([1000]).collect::<Vec<_>>());
        // SAFETY: as above.
        assert_eq!(unsafe { q.head_index() }, q.latest_tail());
    }

    #[test]
    fn a_mark_set_while_a_segment_is_installed_survives_the_install() {
        let q = Queue::new();
        for i in 0..(SEG - 1) {
            put(&q, i);
        }
        q.mark();
        // This push claims the last slot of the first segment and installs the next one.
        assert!(q.push(SEG - 1, || true).is_ok());
        assert_ne!(q.tail_index.load(Relaxed) & MARK, 0, "the install kept the mark");
        assert_eq!(q.push(0, || false), Err(0));
    }

    #[test]
    fn single_thread_fifo_across_many_segments() {
        let q = Queue::new();
        for round in 0..3 {
            for i in 0..(SEG * 5 + 3) {
                put(&q, (round, i));
            }
            for i in 0..(SEG * 5 + 3) {
                // SAFETY: this thread is the only consumer.
                assert_eq!(unsafe { q.pop() }, Some((round, i)));
            }
            // SAFETY: as above.
            assert!(unsafe { q.is_empty() } && unsafe { q.pop() }.is_none());
        }
    }

    #[test]
    fn recycled_segments_are_reused_and_pool_is_bounded() {
        let q = Queue::new();
        for i in 0..(SEG * (POOL_MAX + 10)) {
            put(&q, i);
        }
        // SAFETY: single consumer.
        while unsafe { q.pop() }.is_some() {}
        let pooled = q.pool.lock().len();
        assert!(pooled <= POOL_MAX && pooled > 0, "{pooled}");
    }

    #[test]
    fn unconsumed_values_are_dropped_with_the_queue() {
        let marker = Arc::new(());
        let q = Queue::new();
        for _ in 0..(SEG + 7) {
            put(&q, marker.clone());
        }
        // SAFETY: single consumer.
        drop(unsafe { q.pop() });
        drop(q);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn concurrent_producers_keep_per_producer_order_and_lose_nothing() {
        const P: usize = 4;
        const N: usize = 20_000;
        let q = Arc::new(Queue::new());
        let start = Arc::new(Barrier::new(P + 1));
        let producers: Vec<_> = (0..P)
            .map(|p| {
                let (q, start) = (q.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..N {
                        put(&q, (p, i));
                    }
                })
            })
            .collect();
        start.wait();
        let mut next = [0_usize; P];
        let mut got = 0;
        // Bounded: a lost value fails loudly instead of hanging.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while got < P * N {
            assert!(std::time::Instant::now() < deadline, "only {got} of {} values arrived", P * N);
            // SAFETY: this thread is the only consumer.
            match unsafe { q.pop() } {
                Some((p, i)) => {
                    assert_eq!(i, next[p], "producer {p} out of order");
                    next[p] += 1;
                    got += 1;
                }
                None => std::hint::spin_loop(),
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        // SAFETY: as above.
        assert!(unsafe { q.pop() }.is_none());
    }
}
