//! A counting global allocator: how many allocations (and bytes) a stretch of code makes,
//! process-wide, for the `alloc-pressure` workload.
//!
//! [`CountingAllocator`] forwards every call to [`System`]. It counts only inside a
//! [`count`] window: outside one, the whole overhead is one relaxed load of a global flag per
//! allocation (no store, no shared cache line written), so the timing passes run at the
//! allocator's normal speed. Inside a window every allocation does two relaxed `fetch_add`s on
//! global counters; the workload therefore counts in a separate, untimed pass.
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static WINDOW: Mutex<()> = Mutex::new(());

/// The system allocator, counting allocations while a [`count`] window is open.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

#[inline]
fn record(size: usize) {
    if ENABLED.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size as u64, Ordering::Relaxed);
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
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    /// A reallocation counts as one allocation of `new_size` bytes (it may move the block).
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
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
    ENABLED.store(true, Ordering::SeqCst);
    let r = f();
    ENABLED.store(false, Ordering::SeqCst);
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
