//! The harness: exact producer split, completion barrier, timed scopes, loop lifecycle.
//!
//! Timing discipline (`docs/MEASUREMENT.md`):
//! * every workload submits exactly N tasks, split over P producers with [`producer_split`];
//! * the timed scope ([`TimedScope`]) ends only when the [`Completion`] barrier saw every task run;
//!   a task that runs twice (over-completion) or a submit error fails the sample;
//! * the waiting side always waits the same way — a brief spin, then park — whatever the
//!   contender, so no contender is advantaged by how the harness waits ([`Completion::wait_for`]);
//! * nothing inside a timed scope sleeps, polls with sleeps, or writes to the terminal.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, LoopConfig, LoopStats};

/// How long the harness spins re-checking the completion counter before it parks: 50 µs, about
/// the cost of one sleep/wake round trip on the reference VM (`docs/REFERENCE-MACHINE.md`), so
/// short waits do not pay a futex round trip of their own while long waits do not burn a core.
pub const WAIT_SPIN: Duration = Duration::from_micros(50);

/// Upper bound on any single wait of the harness (a sample, a loop start or a shutdown): a
/// contender stuck longer fails the sample with a reason instead of hanging the run.
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Splits `n` tasks over `p` producers exactly: ⌊n/p⌋ each, plus one for the first `n mod p`
/// producers. The shares sum to `n`. `p == 0` yields an empty split.
pub fn producer_split(n: u64, p: usize) -> Vec<u64> {
    if p == 0 {
        return Vec::new();
    }
    let base = n / p as u64;
    let extra = (n % p as u64) as usize;
    (0..p).map(|i| base + u64::from(i < extra)).collect()
}

/// Why a sample failed; the text goes into the raw record's `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleError(pub String);

impl std::fmt::Display for SampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SampleError {}

impl SampleError {
    /// Builds an error from anything displayable.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// The completion barrier tasks report to.
///
/// Each task calls [`Completion::task_done`] once. The harness sets the count it waits for with
/// [`Completion::expect`] and waits with [`Completion::wait_for`]; the task whose increment reaches
/// the expected count unparks the waiter. Counting past the total is recorded and fails the sample
/// in [`Completion::check_exact`].
///
/// Tasks capture a `&'static Completion` (8 bytes, no reference count traffic on the hot path):
/// one is leaked per sample with [`Completion::leak`] (≈100 bytes), so a task that runs late,
/// after its sample failed, never touches freed memory.
pub struct Completion {
    done: AtomicU64,
    expected: AtomicU64,
    waiter: Thread,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Completion {
    /// A leaked completion whose waiter is the calling thread.
    pub fn leak() -> &'static Completion {
        Box::leak(Box::new(Completion {
            done: AtomicU64::new(0),
            expected: AtomicU64::new(u64::MAX),
            waiter: thread::current(),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
        }))
    }

    /// Called by every task exactly once, on the loop thread.
    #[inline]
    pub fn task_done(&self) {
        let now = self.done.fetch_add(1, Ordering::AcqRel) + 1;
        if now == self.expected.load(Ordering::Acquire) {
            self.waiter.unpark();
        }
    }

    /// Tasks that ran so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Acquire)
    }

    /// Sets the count the next [`Completion::wait_for`] waits for. Must be called before the task
    /// that reaches it can run (i.e. before submitting it).
    pub fn expect(&self, count: u64) {
        self.expected.store(count, Ordering::Release);
    }

    /// Records a failure (e.g. a producer's submit was rejected) and wakes the waiter.
    pub fn fail(&self, msg: impl Into<String>) {
        let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(msg.into());
        }
        self.failed.store(true, Ordering::Release);
        self.waiter.unpark();
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until at least `count` tasks ran: spins for [`WAIT_SPIN`], then parks. Must be called
    /// on the thread that created the completion.
    ///
    /// # Errors
    /// A recorded [`Completion::fail`], or `timeout` elapsed (the error says how many ran).
    pub fn wait_for(&self, count: u64, timeout: Duration) -> Result<(), SampleError> {
        debug_assert_eq!(thread::current().id(), self.waiter.id(), "waiter must be the creator");
        let start = Instant::now();
        loop {
            if self.done.load(Ordering::Acquire) >= count {
                return Ok(());
            }
            if self.failed.load(Ordering::Acquire) {
                return Err(SampleError(self.failure().unwrap_or_default()));
            }
            let waited = start.elapsed();
            if waited < WAIT_SPIN {
                std::hint::spin_loop();
                continue;
            }
            if waited >= timeout {
                return Err(SampleError(format!(
                    "timed out after {timeout:?}: {} of {count} tasks ran",
                    self.done()
                )));
            }
            thread::park_timeout(timeout - waited);
        }
    }

    /// Checks, after the loop stopped, that exactly `total` tasks ran.
    ///
    /// # Errors
    /// Over-completion (a task ran twice or a foreign task reported) or missing tasks.
    pub fn check_exact(&self, total: u64) -> Result<(), SampleError> {
        if let Some(msg) = self.failure() {
            return Err(SampleError(msg));
        }
        match self.done() {
            d if d == total => Ok(()),
            d if d > total => {
                Err(SampleError(format!("over-completion: {d} runs for {total} tasks")))
            }
            d => Err(SampleError(format!("lost tasks: {d} of {total} ran"))),
        }
    }
}

/// Process resource usage at one instant, from `getrusage(RUSAGE_SELF)` (all threads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// User + system CPU time, ns.
    pub cpu_ns: u64,
    /// Voluntary context switches (`ru_nvcsw`).
    pub voluntary_switches: u64,
}

impl Usage {
    /// Reads the process's usage now.
    pub fn now() -> Usage {
        // SAFETY: `getrusage` writes a `rusage` into the pointer we pass; a zeroed `rusage` is a
        // valid value of that plain-data struct, and the pointer is to a live local.
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut ru);
            ru
        };
        let tv_ns =
            |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000;
        Usage {
            cpu_ns: tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime),
            voluntary_switches: ru.ru_nvcsw as u64,
        }
    }
}

/// What a timed scope measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Wall-clock ns (monotonic).
    pub wall_ns: u64,
    /// Process CPU ns (user + sys).
    pub cpu_ns: u64,
    /// Voluntary context switches.
    pub voluntary_switches: u64,
}

/// A timed region: started right before the first timed submit, stopped right after the last
/// task was observed complete.
pub struct TimedScope {
    start: Instant,
    usage: Usage,
}

impl TimedScope {
    /// Starts the clocks (rusage first, so its syscall is outside the wall-clock window).
    #[inline]
    pub fn start() -> TimedScope {
        let usage = Usage::now();
        TimedScope { start: Instant::now(), usage }
    }

    /// Stops the clocks.
    #[inline]
    pub fn stop(self) -> Measured {
        let wall_ns = self.start.elapsed().as_nanos() as u64;
        let usage = Usage::now();
        Measured {
            wall_ns,
            cpu_ns: usage.cpu_ns.saturating_sub(self.usage.cpu_ns),
            voluntary_switches: usage
                .voluntary_switches
                .saturating_sub(self.usage.voluntary_switches),
        }
    }
}

/// A contender's loop running on its own thread for the duration of one sample.
pub struct RunningLoop<L: EventLoop> {
    /// The loop, shared with producers.
    pub lp: Arc<L>,
    done_rx: mpsc::Receiver<Result<(), String>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl<L: EventLoop> RunningLoop<L> {
    /// Creates the loop with `config` and starts `run()` on a new thread named `loop-<id>`.
    ///
    /// # Errors
    /// `new` failed, or the thread could not be spawned.
    pub fn start(config: &LoopConfig) -> Result<Self, SampleError> {
        let lp = Arc::new(L::new(config).map_err(|e| SampleError(format!("new failed: {e}")))?);
        Self::spawn(lp)
    }

    /// Starts `run()` of an already constructed loop on a new thread named `loop` (for callers
    /// that measure between `new` and `run`, such as the footprint workload).
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn spawn(lp: Arc<L>) -> Result<Self, SampleError> {
        let (tx, done_rx) = mpsc::channel();
        let runner = Arc::clone(&lp);
        let thread = thread::Builder::new()
            .name("loop".into())
            .spawn(move || {
                let r = runner.run().map_err(|e| format!("run failed: {e}"));
                let _ = tx.send(r);
            })
            .map_err(|e| SampleError(format!("spawn failed: {e}")))?;
        Ok(RunningLoop { lp, done_rx, thread: Some(thread) })
    }

    /// A snapshot of the loop's counters.
    pub fn stats(&self) -> LoopStats {
        self.lp.stats()
    }

    /// Shuts the loop down gracefully and joins its thread, each bounded by [`SAMPLE_TIMEOUT`].
    /// Returns the final stats.
    ///
    /// # Errors
    /// Shutdown failed or timed out, `run` returned an error, or the loop thread did not exit (it is
    /// then detached, never joined, so the run goes on).
    pub fn finish(mut self) -> Result<LoopStats, SampleError> {
        let shut = self.lp.shutdown(SAMPLE_TIMEOUT);
        let run = self.done_rx.recv_timeout(SAMPLE_TIMEOUT);
        let stats = self.lp.stats();
        match run {
            Ok(Ok(())) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
            Ok(Err(e)) => return Err(SampleError(e)),
            Err(_) => {
                self.thread.take(); // detach: joining could hang the whole run
                return Err(SampleError(format!(
                    "loop thread did not exit within {SAMPLE_TIMEOUT:?} of shutdown"
                )));
            }
        }
        shut.map_err(|e| SampleError(format!("shutdown failed: {e}")))?;
        Ok(stats)
    }
}

impl<L: EventLoop> Drop for RunningLoop<L> {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            // A sample that failed early: stop the loop without waiting on a stuck contender.
            self.lp.close();
            if self.done_rx.recv_timeout(SAMPLE_TIMEOUT).is_ok() {
                let _ = t.join();
            }
        }
    }
}

/// Submits `f` to `lp`, turning a rejection into a [`SampleError`] (the closure is dropped by the
/// caller's frame, never lost silently: the sample fails).
#[inline]
pub fn submit_or_fail<L: EventLoop, F: FnOnce() + Send + 'static>(
    lp: &L,
    f: F,
) -> Result<(), SampleError> {
    #[cfg(feature = "slow-test")]
    {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_nanos(500) {
            std::hint::spin_loop();
        }
    } // slowed build for `tournament compare` tests: fixed 500 ns busy-wait per submit, never a sleep
    lp.submit(f).map_err(|r| SampleError(format!("submit rejected: {}", r.reason)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sums_to_n_for_awkward_values() {
        for (n, p) in [(0, 1), (1, 3), (7, 3), (10, 10), (1_000_003, 7), (5, 100), (99, 10)] {
            let s = producer_split(n, p);
            assert_eq!(s.len(), p);
            assert_eq!(s.iter().sum::<u64>(), n, "n={n} p={p}");
            let max = *s.iter().max().unwrap();
            let min = *s.iter().min().unwrap();
            assert!(max - min <= 1, "n={n} p={p}: {s:?}");
            // The first n mod p producers carry the extra task.
            let extra = (n % p as u64) as usize;
            assert!(s[..extra].iter().all(|&x| x == n / p as u64 + 1));
            assert!(s[extra..].iter().all(|&x| x == n / p as u64));
        }
        assert_eq!(producer_split(7, 3), vec![3, 2, 2]);
        assert!(producer_split(5, 0).is_empty());
    }

    #[test]
    fn completion_fails_on_over_completion_and_on_missing_tasks() {
        let c = Completion::leak();
        c.expect(3);
        for _ in 0..3 {
            c.task_done();
        }
        c.wait_for(3, Duration::from_secs(1)).unwrap();
        assert!(c.check_exact(3).is_ok());
        c.task_done();
        let err = c.check_exact(3).unwrap_err();
        assert!(err.0.contains("over-completion: 4 runs for 3 tasks"), "{err}");
        let c2 = Completion::leak();
        c2.task_done();
        assert!(c2.check_exact(2).unwrap_err().0.contains("lost tasks: 1 of 2"));
    }

    #[test]
    fn completion_wakes_a_parked_waiter_from_another_thread() {
        let c = Completion::leak();
        c.expect(1000);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let t = thread::spawn(move || {
            go_rx.recv().unwrap();
            for _ in 0..1000 {
                c.task_done();
            }
        });
        go_tx.send(()).unwrap();
        c.wait_for(1000, Duration::from_secs(10)).unwrap();
        t.join().unwrap();
        assert_eq!(c.done(), 1000);
    }

    #[test]
    fn completion_reports_failure_and_timeout() {
        let c = Completion::leak();
        c.fail("submit rejected: loop has been terminated");
        let e = c.wait_for(1, Duration::from_secs(5)).unwrap_err();
        assert!(e.0.contains("loop has been terminated"));
        let c2 = Completion::leak();
        let e = c2.wait_for(1, Duration::from_millis(1)).unwrap_err();
        assert!(e.0.contains("timed out") && e.0.contains("0 of 1"), "{e}");
    }

    #[test]
    fn usage_is_monotonic() {
        let a = Usage::now();
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let b = Usage::now();
        assert!(b.cpu_ns >= a.cpu_ns && b.voluntary_switches >= a.voluntary_switches);
    }
}
