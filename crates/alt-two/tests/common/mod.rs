//! Helpers shared by the integration tests. Every wait is bounded and fails loudly; nothing
//! sleeps to synchronise.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use loop_alt_two::AltTwoLoop;
use loop_api::{EventLoop, LoopConfig, RunError};

/// Upper bound for anything a test waits for. Generous, because it only matters when the test
/// is about to fail anyway.
pub const LIMIT: Duration = Duration::from_secs(30);

pub fn new_loop() -> Arc<AltTwoLoop> {
    Arc::new(AltTwoLoop::new(&LoopConfig::default()).expect("alt-two loop"))
}

/// A loop running on its own thread.
pub struct Running {
    pub thread: ThreadId,
    done: Receiver<Result<(), RunError>>,
    handle: JoinHandle<()>,
}

/// Starts `run` on a new thread.
pub fn spawn_run(lp: &Arc<AltTwoLoop>) -> Running {
    let (tx, done) = mpsc::channel();
    let lp = lp.clone();
    let handle = thread::spawn(move || {
        let _ = tx.send(lp.run());
    });
    let thread = handle.thread().id();
    Running { thread, done, handle }
}

impl Running {
    /// Waits (bounded) for `run` to return and gives its result.
    pub fn join(self) -> Result<(), RunError> {
        let result = self.done.recv_timeout(LIMIT).expect("run did not return within the limit");
        self.handle.join().expect("loop thread panicked");
        result
    }
}

/// A task that blocks the loop until released, so a test can queue work behind it.
pub struct Gate {
    entered: Receiver<()>,
    release: Sender<()>,
}

impl Gate {
    /// Submits the blocking task.
    pub fn submit(lp: &AltTwoLoop) -> Gate {
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        lp.submit(move || {
            entered_tx.send(()).unwrap();
            // Err means the test dropped the gate (released it by dropping, or is failing).
            let _ = release_rx.recv_timeout(LIMIT);
        })
        .expect("gate accepted");
        Gate { entered, release }
    }

    /// Waits (bounded) until the loop is inside the gate task.
    pub fn wait_entered(&self) {
        self.entered.recv_timeout(LIMIT).expect("gate task did not start");
    }

    /// Lets the gate task return.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

/// Spins (yielding) until `cond` holds, failing after [`LIMIT`]. Used only to observe progress
/// counters, never as a substitute for a channel.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for: {what}");
        thread::yield_now();
    }
}

/// Counts runs.
#[derive(Clone, Default)]
pub struct RunCount(Arc<AtomicUsize>);

impl RunCount {
    pub fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until at least `n` runs were counted.
    pub fn wait(&self, n: usize, what: &str) {
        wait_for(what, || self.get() >= n);
    }
}

/// Checks per-producer FIFO on the loop thread: producer `p`'s task `i` must be its `i`-th to
/// run. Records the first violation instead of panicking (a panic inside a task is caught by
/// the loop's isolation and would only be counted).
#[derive(Clone)]
pub struct FifoCheck {
    next: Arc<Vec<AtomicUsize>>,
    violations: Arc<AtomicUsize>,
    first: Arc<std::sync::Mutex<Option<String>>>,
    ran: RunCount,
}

impl FifoCheck {
    pub fn new(producers: usize) -> Self {
        Self {
            next: Arc::new((0..producers).map(|_| AtomicUsize::new(0)).collect()),
            violations: Arc::default(),
            first: Arc::default(),
            ran: RunCount::default(),
        }
    }

    /// The body of producer `p`'s `i`-th task.
    pub fn task(&self, p: usize, i: usize) -> impl FnOnce() + Send + 'static + use<> {
        let me = self.clone();
        move || {
            let expected = me.next[p].load(Ordering::Relaxed);
            if expected != i {
                me.violations.fetch_add(1, Ordering::SeqCst);
                me.first.lock().unwrap().get_or_insert_with(|| {
                    format!("producer {p}: task {i} ran when {expected} was expected")
                });
            }
            me.next[p].store(i + 1, Ordering::Relaxed);
            me.ran.hit();
        }
    }

    pub fn ran(&self) -> &RunCount {
        &self.ran
    }

    /// Asserts that no task ran out of order and that producer `p` ran `per[p]` tasks.
    pub fn assert_complete(&self, per: &[usize]) {
        assert_eq!(
            self.violations.load(Ordering::SeqCst),
            0,
            "first violation: {:?}",
            self.first.lock().unwrap()
        );
        for (p, &n) in per.iter().enumerate() {
            assert_eq!(self.next[p].load(Ordering::SeqCst), n, "producer {p} ran a wrong count");
        }
    }
}
