//! Zero allocations per task after warm-up, proven with a counting global allocator.
//!
//! A burst of 16-byte closures is submitted to a running loop (twice: the first burst warms up
//! the queue's segment pool and the local buffers), then the same burst again is measured: the
//! number of allocations made by *any* thread of this test binary during the measured burst —
//! submissions, the loop running them, the completion signal — must be 0. The loop is kept busy
//! behind a gate task while the burst is queued, so the backlog (and so the segments needed)
//! is the same in both bursts and independent of scheduling.
//!
//! This file is its own test binary (the allocator is process-global); its tests run one at a
//! time through a lock so that one test's allocations never land in another's window.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use loop_api::{EventLoop, LoopConfig};
use loop_main::MainLoop;

/// Counts every allocation (and reallocation) made while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; the counters are atomics and
// allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above, for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Serialises the tests of this binary (the counters are global).
static SERIAL: Mutex<()> = Mutex::new(());

const WAIT: Duration = Duration::from_secs(20);

/// A one-shot signal that allocates nothing when set or awaited (std's futex-based `Mutex` and
/// `Condvar`; a channel's blocking `recv` would allocate its waiter list on first use).
#[derive(Default)]
struct Signal {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.cv.notify_all();
    }

    /// Waits (bounded) until set; panics on timeout.
    fn wait(&self) {
        let guard = self.set.lock().unwrap();
        let (guard, timeout) = self.cv.wait_timeout_while(guard, WAIT, |set| !*set).unwrap();
        assert!(*guard && !timeout.timed_out(), "signal not set within {WAIT:?}");
    }
}

/// Submits `n` 16-byte closures behind a gate task, releases the gate, waits until all ran.
/// Returns the allocations counted from the first submit to the last task's completion.
fn measured_burst(lp: &Arc<MainLoop>, n: u64, count: bool) -> u64 {
    let gate = Arc::new(Signal::default());
    let entered = Arc::new(Signal::default());
    let done = Arc::new(Signal::default());
    {
        let (gate, entered) = (gate.clone(), entered.clone());
        lp.submit(move || {
            entered.set();
            gate.wait();
        })
        .unwrap_or_else(|r| panic!("{r}"));
    }
    entered.wait();

    let ran = Arc::new(AtomicU64::new(0));
    // The last task signals completion; its closure is built before counting starts.
    let finisher = {
        let (ran, done) = (ran.clone(), done.clone());
        move || {
            assert_eq!(
                ran.load(Ordering::Relaxed),
                n,
                "every task of the burst ran before the finisher"
            );
            done.set();
        }
    };
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.store(count, Ordering::SeqCst);
    for _ in 0..n {
        let ran = ran.clone(); // 8 bytes
        let step = 1_u64; // + 8 bytes = a 16-byte capture
        let task = move || {
            ran.fetch_add(step, Ordering::Relaxed);
        };
        assert_eq!(size_of_val(&task), 16);
        lp.submit(task).unwrap_or_else(|r| panic!("{r}"));
    }
    lp.submit(finisher).unwrap_or_else(|r| panic!("{r}"));
    gate.set();
    done.wait();
    COUNTING.store(false, Ordering::SeqCst);
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(lp.stats().panics, 0, "the finisher's assertion held");
    after - before
}

fn run_loop(config: LoopConfig) -> (Arc<MainLoop>, std::thread::JoinHandle<()>) {
    let lp = Arc::new(MainLoop::new(&config).unwrap());
    let runner = {
        let lp = lp.clone();
        std::thread::spawn(move || lp.run().unwrap())
    };
    (lp, runner)
}

#[test]
fn no_allocation_per_small_task_after_warm_up() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (lp, runner) = run_loop(LoopConfig::default());
    const N: u64 = 10_000;
    // Warm-up: grows the segment pool (and everything else) to at least the burst's backlog.
    // A slightly larger burst, because the measured one may start at another offset in its
    // segment and so cross one more segment boundary.
    measured_burst(&lp, N + 1_000, false);
    let allocations = measured_burst(&lp, N, true);
    assert_eq!(allocations, 0, "{allocations} allocations for {N} tasks after warm-up");
    lp.shutdown(WAIT).unwrap();
    runner.join().unwrap();
}

#[test]
fn boxed_ablation_allocates_once_per_task() {
    // The control: with inline storage switched off, every task is one allocation, which shows
    // the counter does see the submissions.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (lp, runner) = run_loop(LoopConfig { inline_tasks: false, ..LoopConfig::default() });
    const N: u64 = 2_000;
    measured_burst(&lp, N + 1_000, false);
    let allocations = measured_burst(&lp, N, true);
    assert!(
        (N..N + 4).contains(&allocations),
        "{allocations} allocations for {N} boxed tasks; expected one each"
    );
    lp.shutdown(WAIT).unwrap();
    runner.join().unwrap();
}
