//! A counting global allocator: how many allocations (and bytes) a stretch of code makes,
//! process-wide, for the `alloc-pressure` workload, and how many bytes are *live* (allocated and
//! not yet freed) with a resettable high-water mark, for the `footprint` workload.
//!
//! [`CountingAllocator`] forwards every call to [`System`]. It counts only inside a
//! [`count`] window and tracks live bytes only while a [`HeapTracker`] exists: outside both,
//! the whole overhead is one relaxed load of a global flag word per allocation or free (no
//! store, no shared cache line written), so the timing passes run at the allocator's normal
//! speed. Inside a window every allocation does two relaxed `fetch_add`s on global counters,
//! and while tracking every allocation and free adjusts the live counter (and allocations raise
//! the high-water mark with a `fetch_max`); the workloads therefore count and track in untimed
//! passes only.
//!
//! Live bytes are **requested** bytes (`Layout::size`, the new size for `realloc`): the system
//! allocator's per-block headers, size-class rounding and fragmentation are not included (RSS
//! shows those). They are net bytes *since the tracker was created*: a block allocated before
//! and freed during tracking counts negative, so tracked values are deltas, which is how the
//! footprint workload uses them.
//!
//! Counting is process-wide: allocations of every thread (producers, the loop thread, anything
//! else running) are included, which is what "allocations per task" of a cross-thread submit
//! means. Windows are serialised by a global lock. A binary that has not installed the allocator
//! counts nothing; [`is_installed`] says which case applies, so a zero is never reported as a
//! measurement.
//!
//! Install it in a binary with
//! `#[global_allocator] static GLOBAL: tournament::alloc_count::CountingAllocator = tournament::alloc_count::CountingAllocator;`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

/// Bit of [`FLAGS`]: a [`count`] window is open.
const COUNTING: u8 = 1;
/// Bit of [`FLAGS`]: a [`HeapTracker`] exists.
const TRACKING: u8 = 2;

static FLAGS: AtomicU8 = AtomicU8::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicI64 = AtomicI64::new(0);
static HIGH: AtomicI64 = AtomicI64::new(0);
static WINDOW: Mutex<()> = Mutex::new(());
static TRACKER: Mutex<()> = Mutex::new(());

/// The system allocator, counting allocations while a [`count`] window is open.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

#[inline]
fn record(size: usize) {
    let flags = FLAGS.load(Ordering::Relaxed);
    if flags == 0 {
        return;
    }
    if flags & COUNTING != 0 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
    if flags & TRACKING != 0 {
        live_add(size as i64);
    }
}

#[inline]
fn live_add(delta: i64) {
    let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
    if delta > 0 {
        HIGH.fetch_max(now, Ordering::Relaxed);
    }
}

#[inline]
fn record_free(size: usize) {
    if FLAGS.load(Ordering::Relaxed) & TRACKING != 0 {
        live_add(-(size as i64));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded unchanged (see the impl's comment).
        unsafe { System.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record_free(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    /// A reallocation counts as one allocation of `new_size` bytes (it may move the block);
    /// for live bytes it frees the old size and allocates the new one.
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record_free(layout.size());
        record(new_size);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations counted in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocCount {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub allocs: u64,
    /// Bytes requested by those calls.
    pub bytes: u64,
}

/// Runs `f` with counting on and returns its result with the allocations the whole process made
/// meanwhile. Windows are serialised (a second caller waits for the first).
pub fn count<R>(f: impl FnOnce() -> R) -> (R, AllocCount) {
    let _window = WINDOW.lock().unwrap_or_else(|e| e.into_inner());
    let (a0, b0) = (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    FLAGS.fetch_or(COUNTING, Ordering::SeqCst);
    let r = f();
    FLAGS.fetch_and(!COUNTING, Ordering::SeqCst);
    let count = AllocCount {
        allocs: ALLOCS.load(Ordering::Relaxed) - a0,
        bytes: BYTES.load(Ordering::Relaxed) - b0,
    };
    (r, count)
}

/// Whether [`CountingAllocator`] is this process's global allocator (probed once by counting a
/// deliberate allocation).
pub fn is_installed() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let ((), c) = count(|| drop(std::hint::black_box(Box::new(std::hint::black_box(7_u64)))));
        c.allocs > 0
    })
}

/// Live-heap tracking while it exists: [`HeapTracker::live`] is the net number of bytes
/// allocated minus freed by the whole process since [`HeapTracker::start`], and
/// [`HeapTracker::high_water`] the largest value it reached since the start or the last
/// [`HeapTracker::reset_high_water`]. One tracker at a time (a second `start` waits for the first
/// to be dropped). Process-wide: measure with nothing else running in the process, and keep the
/// measuring code itself from allocating between readings (pre-allocate what it needs).
#[derive(Debug)]
pub struct HeapTracker {
    _one: std::sync::MutexGuard<'static, ()>,
}

impl HeapTracker {
    /// Starts tracking with live bytes and high-water mark at 0; `None` when
    /// [`CountingAllocator`] is not the global allocator (nothing could be tracked, so nothing
    /// is reported).
    pub fn start() -> Option<HeapTracker> {
        if !is_installed() {
            return None;
        }
        let one = TRACKER.lock().unwrap_or_else(|e| e.into_inner());
        LIVE.store(0, Ordering::SeqCst);
        HIGH.store(0, Ordering::SeqCst);
        FLAGS.fetch_or(TRACKING, Ordering::SeqCst);
        Some(HeapTracker { _one: one })
    }

    /// Net bytes allocated minus freed since [`HeapTracker::start`] (negative when more
    /// pre-existing memory was freed than allocated).
    pub fn live(&self) -> i64 {
        LIVE.load(Ordering::SeqCst)
    }

    /// Largest [`HeapTracker::live`] value since the start or the last reset, bytes.
    pub fn high_water(&self) -> i64 {
        HIGH.load(Ordering::SeqCst)
    }

    /// Restarts the high-water mark from the current live value.
    pub fn reset_high_water(&self) {
        HIGH.store(LIVE.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

impl Drop for HeapTracker {
    fn drop(&mut self) {
        FLAGS.fetch_and(!TRACKING, Ordering::SeqCst);
    }
}
