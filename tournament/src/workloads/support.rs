//! Support the workloads share beyond the harness: producer groups behind a start gate, a
//! task that keeps the loop provably busy, and a contender-independent check that the loop thread
//! is asleep (its scheduler state in `/proc`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use loop_api::EventLoop;

use crate::harness::{SAMPLE_TIMEOUT, SampleError, place_producer_thread, submit_or_fail};

/// P producer threads held at a start gate, released together (the multi-producer workloads).
///
/// Each thread announces itself, then blocks on a read lock the harness holds the write side of;
/// [`Producers::release`] drops the write guard, releasing them all at once. Unlike a `Barrier`
/// the gate also opens when spawning fails part-way, so no producer is left stuck. Spawning and
/// joining are outside any timed scope: time from just before `release`.
pub struct Producers {
    gate: Option<std::sync::RwLockWriteGuard<'static, ()>>,
    handles: Vec<thread::JoinHandle<()>>,
}

impl Producers {
    /// Spawns one thread per entry of `shares`, each calling `body(index, share)` once the gate
    /// opens, and waits (bounded by [`SAMPLE_TIMEOUT`], untimed) until every one is parked at
    /// the gate.
    ///
    /// # Errors
    /// A thread could not be spawned (the ones spawned are released and joined first), or the
    /// producers did not reach the gate in time.
    pub fn spawn<B>(shares: &[u64], body: B) -> Result<Producers, SampleError>
    where
        B: Fn(usize, u64) + Send + Sync + 'static,
    {
        // One leaked lock per sample (a few bytes): the guard can then be `'static`.
        let lock: &'static std::sync::RwLock<()> = Box::leak(Box::new(std::sync::RwLock::new(())));
        let ready: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        let gate = lock.write().map_err(|_| SampleError::new("start gate poisoned"))?;
        let body = Arc::new(body);
        let mut group = Producers { gate: Some(gate), handles: Vec::with_capacity(shares.len()) };
        for (i, share) in shares.iter().copied().enumerate() {
            let body = Arc::clone(&body);
            let spawned = thread::Builder::new().name("producer".into()).spawn(move || {
                ready.fetch_add(1, Ordering::AcqRel);
                drop(lock.read());
                body(i, share);
            });
            match spawned {
                Ok(h) => {
                    // Pinned or unpinned by the harness's placement rule (`harness::Placement`).
                    let placed = place_producer_thread(&h, i, shares.len());
                    group.handles.push(h);
                    if let Err(e) = placed {
                        group.release();
                        group.join()?;
                        return Err(e);
                    }
                }
                Err(e) => {
                    group.release();
                    group.join()?;
                    return Err(SampleError(format!("spawning producer threads failed: {e}")));
                }
            }
        }
        let deadline = Instant::now() + SAMPLE_TIMEOUT;
        while ready.load(Ordering::Acquire) < shares.len() as u64 {
            if Instant::now() >= deadline {
                group.release();
                return Err(SampleError::new("producers did not reach the start gate"));
            }
            thread::yield_now();
        }
        Ok(group)
    }

    /// Opens the gate: every producer starts now.
    #[inline]
    pub fn release(&mut self) {
        self.gate.take();
    }

    /// Opens the gate if still closed and joins every producer.
    ///
    /// # Errors
    /// A producer thread panicked.
    pub fn join(mut self) -> Result<(), SampleError> {
        self.release();
        let mut panicked = false;
        for h in self.handles.drain(..) {
            panicked |= h.join().is_err();
        }
        if panicked { Err(SampleError::new("a producer thread panicked")) } else { Ok(()) }
    }
}

impl Drop for Producers {
    fn drop(&mut self) {
        // Never leave a producer blocked at the gate (the threads are detached, not joined).
        self.gate.take();
    }
}

/// [`submit_or_fail`] for the internal queue.
///
/// # Errors
/// The submission was rejected.
#[inline]
pub fn submit_internal_or_fail<L: EventLoop, F: FnOnce() + Send + 'static>(
    lp: &L,
    f: F,
) -> Result<(), SampleError> {
    lp.submit_internal(f)
        .map_err(|r| SampleError(format!("submit_internal rejected: {}", r.reason)))
}

/// The Linux thread id of `lp`'s loop thread, learnt by running one task (untimed; the task is
/// not counted by any [`crate::harness::Completion`]).
///
/// # Errors
/// The submission was rejected or the task did not run within [`SAMPLE_TIMEOUT`].
pub fn loop_thread_tid<L: EventLoop>(lp: &L) -> Result<libc::pid_t, SampleError> {
    let (tx, rx) = mpsc::sync_channel(1);
    submit_or_fail(lp, move || {
        // SAFETY: `gettid` has no preconditions.
        let tid = unsafe { libc::gettid() };
        let _ = tx.send(tid);
    })?;
    rx.recv_timeout(SAMPLE_TIMEOUT).map_err(|_| SampleError::new("loop thread id task did not run"))
}

/// The scheduler state letter of thread `tid` of this process (`R` running, `S` sleeping in the
/// kernel, …), from `/proc/self/task/<tid>/stat`; `None` if it cannot be read.
pub fn thread_state(tid: libc::pid_t) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The state follows the parenthesised command name, which may itself contain ") ".
    stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next())
}

/// Waits (untimed, yielding, bounded by `timeout`) until thread `tid` is blocked in the kernel
/// (state `S`): a contender-independent proof that the loop thread is asleep, for peers whose
/// own counters cannot say so.
///
/// # Errors
/// The thread did not block within `timeout`, or its state is unreadable.
pub fn wait_until_asleep(tid: libc::pid_t, timeout: Duration) -> Result<(), SampleError> {
    let start = Instant::now();
    loop {
        match thread_state(tid) {
            Some('S') => return Ok(()),
            None => return Err(SampleError(format!("cannot read the state of thread {tid}"))),
            Some(_) if start.elapsed() >= timeout => {
                return Err(SampleError(format!(
                    "loop thread never went to sleep within {timeout:?}"
                )));
            }
            Some(_) => thread::yield_now(),
        }
    }
}

/// A task that keeps the loop thread provably busy: it runs on the loop, reports that it
/// entered, and blocks until released. Not counted by any [`crate::harness::Completion`].
pub struct Blocker {
    release: mpsc::SyncSender<()>,
}

impl Blocker {
    /// Submits the blocking task and waits (untimed, bounded) until it runs.
    ///
    /// # Errors
    /// The submission was rejected or the task did not start within [`SAMPLE_TIMEOUT`].
    pub fn park_loop<L: EventLoop>(lp: &L) -> Result<Blocker, SampleError> {
        let (entered_tx, entered_rx) = mpsc::sync_channel(1);
        let (release, release_rx) = mpsc::sync_channel::<()>(1);
        submit_or_fail(lp, move || {
            let _ = entered_tx.send(());
            // Also returns when the harness drops the sender (a failed sample).
            let _ = release_rx.recv();
        })?;
        entered_rx
            .recv_timeout(SAMPLE_TIMEOUT)
            .map_err(|_| SampleError::new("blocking task did not start"))?;
        Ok(Blocker { release })
    }

    /// Lets the loop go on.
    #[inline]
    pub fn release(self) {
        let _ = self.release.send(());
    }
}
