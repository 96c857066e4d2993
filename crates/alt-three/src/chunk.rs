//! The external ingress: a FIFO of 128-slot chunks drawn from a chunk pool (AlternateThree's
//! `IngressQueue`).
//!
//! Only the front chunk is consumed and only the back chunk is filled. A pop takes (and so
//! clears) its slot; a drained chunk goes back to the pool, except the last one, whose cursors are
//! reset. Returning a chunk clears only what is needed — the slots between its cursors, which a
//! drained chunk does not have — instead of all 128 (AlternateThree zeroed every slot), but a
//! pooled chunk never holds a closure: every slot outside `head..tail` is `None`.

use std::collections::VecDeque;

/// Slots per chunk (AlternateThree's value).
pub(crate) const CHUNK_SLOTS: usize = 128;

/// Chunks kept for reuse per loop; beyond this, returned chunks are freed. 64 chunks hold 8,192
/// tasks: enough for the tournament's bursts to recycle, without hoarding memory after a spike.
pub(crate) const POOL_CAPACITY: usize = 64;

/// One chunk. Slots in `head..tail` are `Some`, all others `None`.
pub(crate) struct Chunk<T> {
    slots: Box<[Option<T>]>,
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

    /// Takes a chunk back, clearing only the slots still between its cursors.
    fn put(&mut self, mut chunk: Chunk<T>) {
        for slot in &mut chunk.slots[chunk.head..chunk.tail] {
            *slot = None;
        }
        debug_assert!(chunk.slots.iter().all(Option::is_none), "pooled chunk holds a closure");
        chunk.head = 0;
        chunk.tail = 0;
        if self.free.len() < POOL_CAPACITY {
            self.free.push(chunk);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.free.len()
    }
}

/// A FIFO in 128-slot chunks.
pub(crate) struct ChunkQueue<T> {
    chunks: VecDeque<Chunk<T>>,
    len: usize,
}

impl<T> ChunkQueue<T> {
    pub(crate) fn new() -> Self {
        Self { chunks: VecDeque::new(), len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, pool: &mut ChunkPool<T>, item: T) {
        if self.chunks.back().is_none_or(|c| c.tail == CHUNK_SLOTS) {
            self.chunks.push_back(pool.get());
        }
        let back = self.chunks.back_mut().expect("a chunk with room was just ensured");
        back.slots[back.tail] = Some(item);
        back.tail += 1;
        self.len += 1;
    }

    pub(crate) fn pop(&mut self, pool: &mut ChunkPool<T>) -> Option<T> {
        let only_chunk = self.chunks.len() == 1;
        let front = self.chunks.front_mut()?;
        if front.head == front.tail {
            return None;
        }
        let item = front.slots[front.head].take();
        front.head += 1;
        self.len -= 1;
        if front.head == front.tail {
            if only_chunk {
                front.head = 0;
                front.tail = 0;
            } else if let Some(chunk) = self.chunks.pop_front() {
                pool.put(chunk);
            }
        }
        debug_assert!(item.is_some(), "slot inside head..tail was empty");
        item
    }

    /// Moves up to `max` items, oldest first, to the back of `out`; returns how many.
    pub(crate) fn pop_into(
        &mut self,
        pool: &mut ChunkPool<T>,
        out: &mut VecDeque<T>,
        max: usize,
    ) -> usize {
        let mut n = 0;
        while n < max {
            let Some(item) = self.pop(pool) else { break };
            out.push_back(item);
            n += 1;
        }
        n
    }

    /// Removes every item, oldest first (for `close`).
    pub(crate) fn take_all(&mut self, pool: &mut ChunkPool<T>) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        while let Some(mut chunk) = self.chunks.pop_front() {
            out.extend(chunk.slots[chunk.head..chunk.tail].iter_mut().filter_map(Option::take));
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

    #[test]
    fn fifo_across_chunks_and_chunks_are_recycled() {
        let mut pool = ChunkPool::new();
        let mut q = ChunkQueue::new();
        for i in 0..1000 {
            q.push(&mut pool, i);
        }
        assert_eq!(q.len(), 1000);
        let mut out = VecDeque::new();
        assert_eq!(q.pop_into(&mut pool, &mut out, 600), 600);
        assert!(out.iter().copied().eq(0..600));
        for want in 600..1000 {
            assert_eq!(q.pop(&mut pool), Some(want));
        }
        assert_eq!(q.pop(&mut pool), None);
        assert_eq!(q.len(), 0);
        assert_eq!(pool.len(), 7, "drained chunks went back, the last one was kept");
        for i in 0..300 {
            q.push(&mut pool, i);
        }
        assert_eq!(pool.len(), 5, "and were reused");
    }

    #[test]
    fn pooled_chunks_never_keep_a_closure_alive() {
        let marker = Arc::new(());
        let mut pool = ChunkPool::new();
        let mut q = ChunkQueue::new();
        for _ in 0..(3 * CHUNK_SLOTS) {
            q.push(&mut pool, marker.clone());
        }
        for _ in 0..(2 * CHUNK_SLOTS + 5) {
            drop(q.pop(&mut pool));
        }
        drop(q.take_all(&mut pool));
        assert!(pool.len() >= 2);
        assert_eq!(Arc::strong_count(&marker), 1, "no pooled slot holds a clone");
        assert!(pool.free.iter().all(|c| c.slots.iter().all(Option::is_none)));
    }
}
