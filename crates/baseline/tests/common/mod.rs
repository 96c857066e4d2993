//! Helpers shared by the integration tests. Every wait is bounded and fails loudly; nothing
//! sleeps to synchronise.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, LoopConfig, RunError};
use loop_baseline::BaselineLoop;

/// Upper bound for anything a test waits for. Generous, because it only matters when the test
/// is about to fail anyway.
pub const LIMIT: Duration = Duration::from_secs(10);

pub fn new_loop() -> Arc<BaselineLoop> {
    Arc::new(BaselineLoop::new(&LoopConfig::default()).expect("baseline loop"))
}

/// A loop running on its own thread.
pub struct Running {
    pub thread: ThreadId,
    done: Receiver<Result<(), RunError>>,
    handle: JoinHandle<()>,
}

/// Starts `run` on a new thread.
pub fn spawn_run(lp: &Arc<BaselineLoop>) -> Running {
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

    /// Asserts that `run` has not returned yet.
    pub fn assert_still_running(&self) {
        assert!(self.done.try_recv().is_err(), "run returned early");
    }
}

/// A task that blocks the loop until released, so a test can queue work behind it.
pub struct Gate {
    entered: Receiver<()>,
    release: Sender<()>,
}

impl Gate {
    /// Submits the blocking task.
    pub fn submit(lp: &BaselineLoop) -> Gate {
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

/// Spins (yielding) until `cond` holds, failing after [`LIMIT`]. Used only to observe the loop's
/// own progress counters (e.g. "the loop is asleep"), never as a substitute for a channel.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for: {what}");
        thread::yield_now();
    }
}

/// Counts how many times values carrying it were dropped.
#[derive(Clone, Default)]
pub struct DropCount(Arc<AtomicUsize>);

impl DropCount {
    /// A value whose drop is counted.
    pub fn token(&self) -> Token {
        Token(self.0.clone())
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Increments its [`DropCount`] when dropped.
pub struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
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
}
