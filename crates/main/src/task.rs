//! [`Task`]: a type-erased `FnOnce() + Send` stored inline when its captures fit in 24 bytes.
//!
//! Boxing a closure (malloc on the producer, free on the consumer) is most of the cost of passing
//! it between threads on the reference machine (`docs/REFERENCE-MACHINE.md`: 1M boxed
//! closures through a SegQueue cost 143–176 ns each, the same queue carrying `u64` 22–28 ns). A
//! `Task` is 32 bytes: one function pointer that either runs or drops the payload, and 24 bytes
//! of storage holding the closure itself (if it fits: size ≤ 24, alignment ≤ 8) or a `Box` of it.
//! Queued by value in the ingress segments, a small closure costs no allocation at all.

use std::mem::{ManuallyDrop, MaybeUninit};

/// Bytes of closure capture stored inline (three words).
pub const INLINE_CAPTURE_BYTES: usize = 24;

/// Inline storage: three machine words, 8-byte aligned.
type Storage = MaybeUninit<[usize; 3]>;

/// What the erased function does with the payload.
#[derive(Clone, Copy)]
enum Op {
    Run,
    Drop,
}

/// A queued closure, inline or boxed. Dropping an unrun `Task` drops the closure.
pub(crate) struct Task {
    /// Reads the payload out of `data` (exactly once) and runs or drops it.
    ///
    /// Contract: `data` holds a live payload of the type this function was instantiated for.
    op: unsafe fn(*mut Storage, Op),
    data: Storage,
}

// SAFETY: a `Task` is only built by `Task::new` from an `F: Send` (or a `Box<F>` of one), which
// it owns exclusively; moving it to another thread moves that `F`.
unsafe impl Send for Task {}

/// Whether `F` fits the inline storage (size and alignment).
const fn fits_inline<F>() -> bool {
    size_of::<F>() <= INLINE_CAPTURE_BYTES && align_of::<F>() <= align_of::<Storage>()
}

impl Task {
    /// Wraps `f`, inline if `inline` is set and it fits, boxed otherwise.
    pub(crate) fn new<F>(f: F, inline: bool) -> Self
    where
        F: FnOnce() + Send + 'static,
    {
        let mut data = Storage::uninit();
        if inline && fits_inline::<F>() {
            // SAFETY: `fits_inline` checked that an `F` fits in `Storage` in size and alignment,
            // so the start of `data` is a valid, aligned place for one.
            unsafe { data.as_mut_ptr().cast::<F>().write(f) };
            Task { op: inline_op::<F>, data }
        } else {
            // A `Box<F>` of a sized `F` is one pointer: 8 bytes, 8-aligned, always fits.
            // SAFETY: as above, for `Box<F>`.
            unsafe { data.as_mut_ptr().cast::<Box<F>>().write(Box::new(f)) };
            Task { op: boxed_op::<F>, data }
        }
    }

    /// Takes back the closure of a task that was never queued (a submission refused at the
    /// queue's mark), so it can be handed back to the caller in [`loop_api::Rejected`].
    ///
    /// # Safety
    /// `self` was built by `Task::new::<F>(_, inline)` with exactly this `F` and this `inline`.
    pub(crate) unsafe fn into_closure<F>(self, inline: bool) -> F
    where
        F: FnOnce() + Send + 'static,
    {
        let mut this = ManuallyDrop::new(self);
        let data = this.data.as_mut_ptr();
        if inline && fits_inline::<F>() {
            // SAFETY: the caller guarantees `new` wrote an `F` inline here (same test as in
            // `new`); `ManuallyDrop` keeps `Drop` from reading it again.
            unsafe { data.cast::<F>().read() }
        } else {
            // SAFETY: as above, for the `Box<F>` `new` wrote otherwise.
            *unsafe { data.cast::<Box<F>>().read() }
        }
    }

    /// Runs the closure (consuming it). A panic propagates to the caller; the closure has been
    /// moved out by then, so nothing is dropped twice.
    pub(crate) fn run(self) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `data` holds the live payload `new` wrote for `op`; `op` moves it out, and
        // `ManuallyDrop` keeps our `Drop` from touching it again.
        unsafe { (this.op)(&mut this.data, Op::Run) }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: a `Task` that is dropped was never run (`run` wraps it in `ManuallyDrop`), so
        // `data` still holds the payload written by `new` for `op`.
        unsafe { (self.op)(&mut self.data, Op::Drop) }
    }
}

/// Moves an inline `F` out of `data`, then runs or drops it.
///
/// # Safety
/// `data` holds a live `F` (written by [`Task::new`]) that nobody reads again.
unsafe fn inline_op<F: FnOnce()>(data: *mut Storage, op: Op) {
    // SAFETY: the caller guarantees a live, aligned `F` at `data`, read exactly once.
    let f = unsafe { data.cast::<F>().read() };
    match op {
        Op::Run => f(),
        Op::Drop => drop(f),
    }
}

/// Moves a `Box<F>` out of `data`, then runs or drops the closure.
///
/// # Safety
/// `data` holds a live `Box<F>` (written by [`Task::new`]) that nobody reads again.
unsafe fn boxed_op<F: FnOnce()>(data: *mut Storage, op: Op) {
    // SAFETY: the caller guarantees a live, aligned `Box<F>` at `data`, read exactly once.
    let f = unsafe { data.cast::<Box<F>>().read() };
    match op {
        Op::Run => f(),
        Op::Drop => drop(f),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Wraps `f` and takes it back, as a refused submission does.
    fn wrap_and_take_back<F: FnOnce() + Send + 'static>(f: F, inline: bool) -> F {
        // SAFETY: built just here with this closure type and this `inline`.
        unsafe { Task::new(f, inline).into_closure::<F>(inline) }
    }

    #[test]
    fn a_refused_task_gives_its_closure_back_inline_and_boxed() {
        let marker = Arc::new(());
        for inline in [true, false] {
            let m = marker.clone();
            let small = move || drop(m);
            let back = wrap_and_take_back(small, inline);
            assert_eq!(Arc::strong_count(&marker), 2, "taken back, not dropped");
            back();
            assert_eq!(Arc::strong_count(&marker), 1);
        }
        let big = [7_u64; 8];
        let m = marker.clone();
        let large = move || drop((big, m));
        let back = wrap_and_take_back(large, true);
        assert_eq!(Arc::strong_count(&marker), 2);
        drop(back);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn a_task_is_four_words() {
        assert_eq!(size_of::<Task>(), 32);
    }

    #[test]
    fn small_and_large_closures_run_once_and_drop_their_captures() {
        for inline in [true, false] {
            let hits = Arc::new(AtomicUsize::new(0));
            let (h, big) = (hits.clone(), [7_u64; 8]);
            let large = Task::new(
                move || {
                    assert_eq!(big[7], 7);
                    h.fetch_add(1, Ordering::SeqCst);
                },
                inline,
            );
            let h = hits.clone();
            let small = Task::new(
                move || {
                    h.fetch_add(1, Ordering::SeqCst);
                },
                inline,
            );
            small.run();
            large.run();
            assert_eq!(hits.load(Ordering::SeqCst), 2);
            assert_eq!(Arc::strong_count(&hits), 1, "captures dropped after running");
        }
    }

    #[test]
    fn dropping_an_unrun_task_drops_the_closure_without_running_it() {
        let marker = Arc::new(());
        let m = marker.clone();
        let t = Task::new(move || panic!("must not run {m:?}"), true);
        assert_eq!(Arc::strong_count(&marker), 2);
        drop(t);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn a_panicking_task_unwinds_without_double_drop() {
        let marker = Arc::new(());
        let m = marker.clone();
        let t = Task::new(
            move || {
                let _keep = &m;
                panic!("intentional");
            },
            true,
        );
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.run())).is_err());
        assert_eq!(Arc::strong_count(&marker), 1, "capture dropped exactly once by the unwind");
    }

    #[test]
    fn over_aligned_closures_are_boxed() {
        #[repr(align(32))]
        struct Wide(u8);
        let w = Wide(3);
        assert!(!fits_inline::<Wide>());
        let out = Arc::new(AtomicUsize::new(0));
        let o = out.clone();
        Task::new(move || o.store(usize::from(w.0), Ordering::SeqCst), true).run();
        assert_eq!(out.load(Ordering::SeqCst), 3);
    }
}
