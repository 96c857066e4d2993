//! A bounded multi-producer ring with per-slot sequence numbers (Dmitry Vyukov's bounded MPMC
//! queue), used as alt-two's pre-allocated task arena (65,536 slots) and microtask ring (4,096).
//!
//! Every slot carries a sequence number that says whose turn it is:
//!
//! * `seq == pos`: the slot is free for the producer that claims position `pos`;
//! * `seq == pos + 1`: the value for position `pos` is written and published;
//! * `seq == pos + capacity`: the consumer took it; free for position `pos + capacity`.
//!
//! A producer claims a position with a CAS on `tail`, **writes the value, then publishes** it
//! with a release store of `seq = pos + 1`. A consumer takes position `pos` only once it has read
//! (acquire) `seq == pos + 1`, so it can never observe a claimed-but-unwritten slot. That is the
//! fix for the historical AlternateTwo microtask ring, which advanced `tail` and only then wrote
//! the slot, so the consumer could read an empty slot, treat it as "no more work", and lose the
//! task (`docs/HISTORY.md`, bug 8). The consumer touches only the slots it used: it
//! moves the value out and hands the slot to the next lap.
//!
//! The top bit of `tail` is a **closed** flag: once set (by shutdown or close) no claim can
//! succeed, because every claim is a CAS on the whole word. The positions claimed before it was
//! set are exactly `0..final_tail`, so whoever drains after closing knows when it is done.
//!
//! Head and tail sit on their own cache lines (`CachePadded`), so producers claiming slots and
//! the consumer taking them do not false-share.

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicUsize, UnsafeCell, yield_now};

/// The closed flag, kept in the top bit of `tail` (positions never reach 2^63).
const CLOSED: usize = 1 << (usize::BITS - 1);

/// Why [`Ring::push`] did not take a value; the value comes back untouched.
#[derive(Debug)]
pub enum PushError<V> {
    /// Every slot holds a value the consumer has not taken yet.
    Full(V),
    /// The ring was closed ([`Ring::close`]); it never accepts again.
    Closed(V),
}

/// The outcome of [`Ring::pop`].
#[derive(Debug, PartialEq, Eq)]
pub enum Pop<T> {
    /// The value at the head position.
    Item(T),
    /// Nothing claimed beyond the head: the ring is empty.
    Empty,
    /// The head position is claimed by a producer that has not published its value yet. The
    /// value is *not* lost: a later pop returns it once the producer has written it.
    Pending,
}

struct Slot<T> {
    /// See the module docs for the meaning of the values.
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded MPMC ring of `capacity` pre-allocated slots (a power of two).
///
/// In alt-two the loop thread is the only regular consumer; `close` (any thread) also pops, to
/// drop what is queued, which is why pops claim positions with a CAS too.
pub struct Ring<T> {
    head: CachePadded<AtomicUsize>,
    /// Claimed positions, plus [`CLOSED`] in the top bit.
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    mask: usize,
}

// SAFETY: a value is written only by the producer that won the CAS for its position and read
// only by the consumer that won the CAS for the same position after observing (acquire) the
// producer's release store of `seq`, so each value is accessed by one thread at a time and moves
// between threads whole: `T: Send` is all that is needed to share the ring.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: the ring owns its values (`T: Send`), so moving the ring moves them.
unsafe impl<T: Send> Send for Ring<T> {}

impl<T> Ring<T> {
    /// An empty ring with `capacity` slots, all allocated now.
    ///
    /// # Panics
    /// If `capacity` is not a power of two ≥ 2.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity.is_power_of_two() && capacity >= 2, "capacity {capacity}");
        let slots = (0..capacity)
            .map(|i| Slot {
                seq: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Self {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots,
            mask: capacity - 1,
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Claims the next position and stores `into(v)` in it. `into` runs only once a slot is
    /// claimed, so a rejected `v` comes back exactly as given (callers keep the concrete closure
    /// type and coerce to a trait object only inside `into`). Returns the claimed position.
    ///
    /// # Errors
    /// [`PushError::Full`] if every slot is occupied, [`PushError::Closed`] once closed.
    pub fn push<V>(&self, v: V, into: impl FnOnce(V) -> T) -> Result<usize, PushError<V>> {
        self.push_hooked(v, into, || ())
    }

    /// [`Ring::push`] with `between` called after the claim and before the value is written and
    /// published, so tests can act (pop, check) in the publication window.
    pub(crate) fn push_hooked<V>(
        &self,
        v: V,
        into: impl FnOnce(V) -> T,
        between: impl FnOnce(),
    ) -> Result<usize, PushError<V>> {
        let mut tail = self.tail.load(Relaxed);
        loop {
            if tail & CLOSED != 0 {
                return Err(PushError::Closed(v));
            }
            let slot = &self.slots[tail & self.mask];
            let seq = slot.seq.load(Acquire);
            if seq == tail {
                // AcqRel: the acquire half makes this claim synchronise with the loop's
                // read-modify-write of `tail` before it sleeps (see `wake.rs`); the release half
                // orders nothing the consumer needs (it synchronises through `seq`).
                match self.tail.compare_exchange_weak(tail, tail + 1, AcqRel, Relaxed) {
                    Ok(_) => {
                        between();
                        // Write, then publish: the consumer reads the value only after it sees
                        // `seq == tail + 1`, which the release store below makes visible only
                        // together with the write.
                        slot.value.with_mut(|p| {
                            // SAFETY: winning the CAS for position `tail` while `seq == tail`
                            // gives this thread exclusive access to the slot until it publishes:
                            // the consumer waits for `seq == tail + 1`, and other producers need
                            // `seq == their position`, which is at least one lap away.
                            unsafe { p.write(MaybeUninit::new(into(v))) }
                        });
                        slot.seq.store(tail + 1, Release);
                        return Ok(tail);
                    }
                    Err(actual) => tail = actual,
                }
            } else if seq < tail {
                // The slot still holds the value from the previous lap: full, unless `tail`
                // moved meanwhile (then retry with the new position).
                let now = self.tail.load(Relaxed);
                if now == tail {
                    return Err(PushError::Full(v));
                }
                tail = now;
            } else {
                // Another producer claimed `tail` already.
                tail = self.tail.load(Relaxed);
            }
        }
    }

    /// Takes the value at the head position, if published.
    pub fn pop(&self) -> Pop<T> {
        let mut head = self.head.load(Relaxed);
        loop {
            let slot = &self.slots[head & self.mask];
            let seq = slot.seq.load(Acquire);
            if seq == head + 1 {
                match self.head.compare_exchange_weak(head, head + 1, Relaxed, Relaxed) {
                    Ok(_) => {
                        let value = slot.value.with_mut(|p| {
                            // SAFETY: `seq == head + 1` (read with acquire) means the producer
                            // of position `head` wrote the value and published it; winning the
                            // CAS on `head` makes this the only consumer of the position, and no
                            // producer touches the slot before the release store below.
                            unsafe { p.read().assume_init() }
                        });
                        // Hand the slot to the producer of the next lap. The value was moved
                        // out above, so the slot holds nothing that needs dropping.
                        slot.seq.store(head + self.capacity(), Release);
                        return Pop::Item(value);
                    }
                    Err(actual) => head = actual,
                }
            } else if seq == head {
                // Not published for this lap: empty, or claimed and being written.
                let tail = self.tail.load(Acquire) & !CLOSED;
                let now = self.head.load(Relaxed);
                if now != head {
                    head = now;
                } else if tail == head {
                    return Pop::Empty;
                } else {
                    return Pop::Pending;
                }
            } else {
                // Another consumer took position `head` already.
                head = self.head.load(Relaxed);
            }
        }
    }

    /// Whether the value at the head position is published (acquire: everything its producer did
    /// before publishing it is visible to the caller afterwards).
    pub fn head_ready(&self) -> bool {
        let head = self.head.load(Relaxed);
        self.slots[head & self.mask].seq.load(Acquire) == head + 1
    }

    /// The consumer's position: how many values have been taken.
    pub fn head(&self) -> usize {
        self.head.load(Relaxed)
    }

    /// How many positions producers have claimed (published or not), without the closed flag.
    pub fn tail(&self) -> usize {
        self.tail.load(Acquire) & !CLOSED
    }

    /// [`Ring::tail`] read with a read-modify-write, which always sees the latest value of
    /// `tail`. The loop uses it after announcing that it is about to sleep: a producer whose
    /// claim comes later in `tail`'s modification order synchronises with this RMW and is
    /// guaranteed to see the announcement (the wake-up handshake in `wake.rs`).
    pub fn tail_latest(&self) -> usize {
        self.tail.fetch_add(0, AcqRel) & !CLOSED
    }

    /// Whether values are claimed but not yet taken (published or still being written).
    pub fn has_claims(&self) -> bool {
        self.tail() != self.head()
    }

    /// Closes the ring for good and returns the final tail: positions `head..final` are the
    /// values still to be taken (some possibly still being written). Idempotent.
    pub fn close(&self) -> usize {
        self.tail.fetch_or(CLOSED, AcqRel) & !CLOSED
    }

    /// Whether [`Ring::close`] was called.
    #[cfg(any(test, loom))]
    pub fn is_closed(&self) -> bool {
        self.tail.load(Acquire) & CLOSED != 0
    }

    /// Takes every value up to position `end` (a final tail from [`Ring::close`]), waiting
    /// (yielding) for producers that claimed a position but are still writing it; stops early
    /// if another consumer takes the last ones. Returns the values in order.
    pub fn drain_to(&self, end: usize) -> Vec<T> {
        let mut out = Vec::new();
        while self.head() < end {
            match self.pop() {
                Pop::Item(v) => out.push(v),
                Pop::Pending => yield_now(),
                Pop::Empty => break,
            }
        }
        out
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: no producer is mid-push, so every claimed position is published.
        while let Pop::Item(v) = self.pop() {
            // A panicking destructor must not leak the values behind it.
            loop_api::drop_isolated(v);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_and_wrap_around() {
        let r = Ring::<u32>::new(4);
        for lap in 0..3_u32 {
            for i in 0..4 {
                r.push(lap * 10 + i, |v| v).unwrap();
            }
            assert!(matches!(r.push(99, |v| v), Err(PushError::Full(99))));
            for i in 0..4 {
                assert_eq!(r.pop(), Pop::Item(lap * 10 + i));
            }
            assert_eq!(r.pop(), Pop::Empty);
        }
        assert_eq!(r.head(), 12);
        assert_eq!(r.tail(), 12);
    }

    /// Regression test for the historical AlternateTwo microtask ring (docs/HISTORY.md, bug 8):
    /// its producer published the position (advanced `tail`) before writing the slot, so a
    /// consumer could read the empty slot and lose the task. Here the consumer pops *inside* the
    /// window between claim and publication: it must report `Pending`, must not advance, and
    /// must get the value once the producer published it.
    #[test]
    fn a_claimed_but_unwritten_slot_is_never_consumed() {
        let r = Ring::<String>::new(4096);
        r.push("first".to_owned(), |v| v).unwrap();
        assert_eq!(r.pop(), Pop::Item("first".to_owned()));
        let pos = r
            .push_hooked(
                "second".to_owned(),
                |v| v,
                || {
                    assert_eq!(r.tail(), 2, "the position is claimed");
                    assert_eq!(r.pop(), Pop::Pending, "claimed, not yet written");
                    assert_eq!(r.head(), 1, "the consumer did not skip the slot");
                    assert!(r.has_claims());
                },
            )
            .unwrap();
        assert_eq!(pos, 1);
        assert_eq!(r.pop(), Pop::Item("second".to_owned()));
        assert_eq!(r.pop(), Pop::Empty);
    }

    #[test]
    fn close_rejects_and_reports_the_final_tail() {
        let r = Ring::<u8>::new(2);
        r.push(1, |v| v).unwrap();
        assert_eq!(r.close(), 1);
        assert!(r.is_closed());
        assert!(matches!(r.push(2, |v| v), Err(PushError::Closed(2))));
        assert_eq!(r.close(), 1, "idempotent");
        assert_eq!(r.drain_to(1), vec![1]);
        assert_eq!(r.pop(), Pop::Empty);
    }

    #[test]
    fn dropping_the_ring_drops_what_is_queued() {
        let marker = std::sync::Arc::new(());
        let r = Ring::new(8);
        for _ in 0..5 {
            r.push(marker.clone(), |v| v).unwrap();
        }
        drop(r.pop());
        assert_eq!(std::sync::Arc::strong_count(&marker), 5);
        drop(r);
        assert_eq!(std::sync::Arc::strong_count(&marker), 1);
    }

    #[test]
    fn concurrent_producers_lose_nothing_and_keep_their_order() {
        const P: usize = 4;
        const N: usize = 50_000;
        let r = std::sync::Arc::new(Ring::<(usize, usize)>::new(64));
        let producers: Vec<_> = (0..P)
            .map(|p| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..N {
                        let mut v = (p, i);
                        loop {
                            match r.push(v, |v| v) {
                                Ok(_) => break,
                                Err(PushError::Full(back)) => {
                                    v = back;
                                    std::thread::yield_now();
                                }
                                Err(PushError::Closed(_)) => unreachable!(),
                            }
                        }
                    }
                })
            })
            .collect();
        let mut next = [0_usize; P];
        let mut got = 0;
        while got < P * N {
            match r.pop() {
                Pop::Item((p, i)) => {
                    assert_eq!(i, next[p], "producer {p} out of order");
                    next[p] += 1;
                    got += 1;
                }
                Pop::Empty | Pop::Pending => std::thread::yield_now(),
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(next, [N; P]);
    }
}
