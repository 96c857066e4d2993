//! Chunked FIFO lanes of 128-slot chunks, a chunk pool, and the O(1) invariants validated around
//! every push and pop.
//!
//! A lane is a deque of chunks; only the front chunk is consumed (its `head` advances) and only
//! the back chunk is filled (its `tail` advances), so every chunk in between is full. That makes
//! the length checkable in O(1) from the two ends, which is what lets the loop validate it on
//! every push and pop in release builds too (AlternateOne's `validateInvariants`). Every slot
//! carries the task id allocated under the ingress lock; ids are strictly increasing per lane, so
//! a pop also checks FIFO order.

use std::collections::VecDeque;
use std::fmt;

/// Slots per chunk (AlternateOne's and AlternateThree's value).
pub(crate) const CHUNK_SLOTS: usize = 128;

/// Chunks kept for reuse per loop; beyond this, returned chunks are freed. 64 chunks hold 8,192
/// tasks, enough for the tournament's bursts to recycle without hoarding memory after a spike.
pub(crate) const POOL_CAPACITY: usize = 64;

/// One 128-slot chunk. Slots in `head..tail` are `Some`, all others `None`.
pub(crate) struct Chunk<T> {
    slots: Box<[Option<(u64, T)>]>,
    head: usize,
    tail: usize,
}

impl<T> Chunk<T> {
    fn new() -> Self {
        Self { slots: (0..CHUNK_SLOTS).map(|_| None).collect(), head: 0, tail: 0 }
    }
}

/// Empty chunks waiting for reuse.
pub(crate) struct ChunkPool<T> {
    free: Vec<Chunk<T>>,
}

impl<T> ChunkPool<T> {
    pub(crate) fn new() -> Self {
        Self { free: Vec::new() }
    }

    fn get(&mut self) -> Chunk<T> {
        self.free.pop().unwrap_or_else(Chunk::new)
    }

    /// Takes a chunk back. AlternateOne clears all 128 slots on return; pops already cleared the
    /// consumed ones, so this is defence in depth: a pooled chunk never keeps a closure alive.
    fn put(&mut self, mut chunk: Chunk<T>) {
        for slot in chunk.slots.iter_mut() {
            *slot = None;
        }
        chunk.head = 0;
        chunk.tail = 0;
        if self.free.len() < POOL_CAPACITY {
            self.free.push(chunk);
        }
    }

    /// Chunks currently pooled.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.free.len()
    }
}

/// A broken lane invariant: a bug in this crate, reported with the lane's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvariantError {
    pub(crate) lane: &'static str,
    pub(crate) what: String,
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "alt-one {} lane invariant violated: {}", self.lane, self.what)
    }
}

/// A FIFO of `(id, item)` in 128-slot chunks.
pub(crate) struct Lane<T> {
    name: &'static str,
    chunks: VecDeque<Chunk<T>>,
    len: usize,
    /// Id of the last item popped (0 before the first; ids start at 1).
    last_popped: u64,
}

impl<T> Lane<T> {
    pub(crate) fn new(name: &'static str) -> Self {
        Self { name, chunks: VecDeque::new(), len: 0, last_popped: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn broken(&self, what: String) -> InvariantError {
        InvariantError { lane: self.name, what }
    }

    /// Checks the structural invariants in O(1): the length agrees with the cursors of the end
    /// chunks, cursors are ordered and in range, middle chunks are full.
    pub(crate) fn validate(&self) -> Result<(), InvariantError> {
        let (Some(front), Some(back)) = (self.chunks.front(), self.chunks.back()) else {
            return if self.len == 0 {
                Ok(())
            } else {
                Err(self.broken(format!("no chunk but length {}", self.len)))
            };
        };
        for (end, c) in [("front", front), ("back", back)] {
            if c.head > c.tail || c.tail > CHUNK_SLOTS {
                return Err(self.broken(format!(
                    "{end} chunk cursors out of order: head {} tail {}",
                    c.head, c.tail
                )));
            }
        }
        let n = self.chunks.len();
        let expected = if n == 1 {
            front.tail - front.head
        } else {
            if front.tail != CHUNK_SLOTS || back.head != 0 {
                return Err(self.broken(format!(
                    "{n} chunks but front tail {} / back head {}",
                    front.tail, back.head
                )));
            }
            (CHUNK_SLOTS - front.head) + back.tail + CHUNK_SLOTS * (n - 2)
        };
        if expected != self.len {
            return Err(self.broken(format!("length {} but cursors hold {expected}", self.len)));
        }
        Ok(())
    }

    /// Appends `item` with `id` (which must exceed every id pushed before).
    pub(crate) fn push(
        &mut self,
        pool: &mut ChunkPool<T>,
        id: u64,
        item: T,
    ) -> Result<(), InvariantError> {
        self.validate()?;
        if self.chunks.back().is_none_or(|c| c.tail == CHUNK_SLOTS) {
            self.chunks.push_back(pool.get());
        }
        let back = self.chunks.back_mut().expect("a chunk with room was just ensured");
        back.slots[back.tail] = Some((id, item));
        back.tail += 1;
        self.len += 1;
        self.validate()
    }

    /// Removes the oldest item, clearing its slot. A drained chunk goes back to the pool, except
    /// the last one, whose cursors are reset instead (AlternateOne's behaviour).
    pub(crate) fn pop(
        &mut self,
        pool: &mut ChunkPool<T>,
    ) -> Result<Option<(u64, T)>, InvariantError> {
        self.validate()?;
        if self.len == 0 {
            return Ok(None);
        }
        let front = self.chunks.front_mut().expect("non-empty lane has a chunk");
        let at = front.head;
        let Some((id, item)) = front.slots[at].take() else {
            return Err(self.broken(format!("slot {at} inside head..tail is empty")));
        };
        front.head += 1;
        let drained = front.head == front.tail;
        self.len -= 1;
        if drained {
            if self.chunks.len() == 1 {
                let only = self.chunks.front_mut().expect("checked above");
                only.head = 0;
                only.tail = 0;
            } else if let Some(chunk) = self.chunks.pop_front() {
                pool.put(chunk);
            }
        }
        if id <= self.last_popped {
            return Err(self.broken(format!("popped id {id} after id {}", self.last_popped)));
        }
        self.last_popped = id;
        self.validate()?;
        Ok(Some((id, item)))
    }

    /// Removes every item, oldest first (for `close`), returning the chunks to the pool.
    pub(crate) fn take_all(&mut self, pool: &mut ChunkPool<T>) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        while let Some(mut chunk) = self.chunks.pop_front() {
            out.extend(
                chunk.slots[chunk.head..chunk.tail]
                    .iter_mut()
                    .filter_map(Option::take)
                    .map(|(_, t)| t),
            );
            chunk.head = chunk.tail;
            pool.put(chunk);
        }
        self.len = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn fill(lane: &mut Lane<u32>, pool: &mut ChunkPool<u32>, ids: std::ops::Range<u64>) {
        for id in ids {
            lane.push(pool, id, id as u32).unwrap();
        }
    }

    #[test]
    fn fifo_across_many_chunks_with_validation_on_every_step() {
        let mut pool = ChunkPool::new();
        let mut lane = Lane::new("test");
        fill(&mut lane, &mut pool, 1..1001);
        assert_eq!(lane.len(), 1000);
        assert_eq!(lane.chunks.len(), 1000usize.div_ceil(CHUNK_SLOTS));
        for want in 1..1001u64 {
            assert_eq!(lane.pop(&mut pool).unwrap(), Some((want, want as u32)));
        }
        assert_eq!(lane.pop(&mut pool).unwrap(), None);
        assert!(lane.is_empty());
        assert_eq!(lane.chunks.len(), 1, "the last chunk is kept with reset cursors");
        assert_eq!(pool.len(), 7, "drained chunks went back to the pool");
        fill(&mut lane, &mut pool, 1001..1300);
        assert_eq!(pool.len(), 5, "and are reused");
    }

    #[test]
    fn corrupted_length_is_detected() {
        let mut pool = ChunkPool::new();
        let mut lane = Lane::new("external");
        fill(&mut lane, &mut pool, 1..4);
        lane.len = 7;
        let err = lane.pop(&mut pool).unwrap_err();
        assert_eq!(err.lane, "external");
        assert!(err.to_string().contains("length 7 but cursors hold 3"), "{err}");
        lane.len = 0;
        lane.chunks.clear();
        lane.len = 1;
        assert!(lane.validate().unwrap_err().to_string().contains("no chunk but length 1"));
    }

    #[test]
    fn out_of_order_ids_are_detected() {
        let mut pool = ChunkPool::new();
        let mut lane = Lane::new("internal");
        lane.push(&mut pool, 5, 0).unwrap();
        lane.push(&mut pool, 3, 0).unwrap();
        lane.pop(&mut pool).unwrap();
        let err = lane.pop(&mut pool).unwrap_err();
        assert!(err.to_string().contains("popped id 3 after id 5"), "{err}");
    }

    #[test]
    fn pooled_chunks_never_keep_a_closure_alive() {
        let marker = Arc::new(());
        let mut pool = ChunkPool::new();
        let mut lane = Lane::new("test");
        for id in 1..=(3 * CHUNK_SLOTS as u64) {
            lane.push(&mut pool, id, marker.clone()).unwrap();
        }
        for _ in 0..(2 * CHUNK_SLOTS) {
            drop(lane.pop(&mut pool).unwrap());
        }
        let rest = lane.take_all(&mut pool);
        assert_eq!(rest.len(), CHUNK_SLOTS);
        drop(rest);
        assert!(pool.len() >= 2);
        assert_eq!(Arc::strong_count(&marker), 1, "no pooled slot holds a clone");
    }
}
