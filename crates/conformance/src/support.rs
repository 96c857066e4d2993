//! Bounded-wait helpers the checks are built from.
//!
//! Nothing here sleeps to synchronise: every wait is on a condition variable, a channel with
//! `recv_timeout`, or a bounded spin/yield loop, and every wait has a [`Deadline`]. A thread that
//! does not finish in time is *leaked* (detached), never joined unboundedly, so a hung loop costs
//! a check its bound, not the whole process.

use std::any::Any;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, RunError};

/// Locks `m`, ignoring poisoning (a panicking task must not make the checker panic too).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A point in time a wait must not pass, with the bound it was made from (for messages).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    end: Instant,
}

impl Deadline {
    /// `bound` from now.
    pub fn after(bound: Duration) -> Self {
        let start = Instant::now();
        // A bound too large to represent is, for any practical purpose, a year.
        let end = start
            .checked_add(bound)
            .unwrap_or_else(|| start + Duration::from_secs(365 * 24 * 3600));
        Self { start, end }
    }

    /// Time left (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.end
    }

    /// The bound this deadline was made from.
    pub fn bound(&self) -> Duration {
        self.end - self.start
    }

    /// Time since the deadline was made.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Spins (then yields the CPU) until `cond` holds or `deadline` passes; returns whether `cond`
/// held. For conditions nothing can signal, such as "the loop's `stats().sleeps` advanced".
pub fn spin_until(deadline: &Deadline, mut cond: impl FnMut() -> bool) -> bool {
    let mut spins = 0_u32;
    loop {
        if cond() {
            return true;
        }
        if deadline.expired() {
            return cond();
        }
        if spins < 64 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

/// Waits (bounded spin/yield) until `lp.stats().sleeps > since`, i.e. the loop went to sleep
/// after the moment `since` was read. Returns whether that was observed.
pub fn wait_for_sleep<L: EventLoop>(lp: &L, since: u64, deadline: &Deadline) -> bool {
    spin_until(deadline, || lp.stats().sleeps > since)
}

/// A monotonic counter a thread can wait on with a bound.
///
/// `add` is a relaxed-cost atomic increment; it takes the internal lock (and notifies) only
/// once the count reaches the target some waiter set, so counting 100,000 tasks costs 100,000
/// atomic adds, not 100,000 futex calls.
#[derive(Debug)]
pub struct Tally {
    count: AtomicU64,
    target: AtomicU64,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// A tally at zero.
    pub fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Adds `n`; returns the new count.
    pub fn add(&self, n: u64) -> u64 {
        let now = self.count.fetch_add(n, Ordering::SeqCst) + n;
        if now >= self.target.load(Ordering::SeqCst) {
            let _g = lock(&self.lock);
            self.cv.notify_all();
        }
        now
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until the count reaches `target`. `Err(count)` with the count seen when the
    /// deadline passed. One waiter at a time per tally.
    pub fn wait_for(&self, target: u64, deadline: &Deadline) -> Result<(), u64> {
        let mut g = lock(&self.lock);
        self.target.store(target, Ordering::SeqCst);
        let result = loop {
            let now = self.count.load(Ordering::SeqCst);
            if now >= target {
                break Ok(());
            }
            let left = deadline.remaining();
            if left.is_zero() {
                break Err(now);
            }
            g = self.cv.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        };
        self.target.store(u64::MAX, Ordering::SeqCst);
        drop(g);
        result
    }
}

/// A one-shot release signal many threads wait on (bounded), used to start producers together.
#[derive(Debug, Default)]
pub struct Latch {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Latch {
    /// A closed latch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the latch, releasing every waiter.
    pub fn open(&self) {
        *lock(&self.open) = true;
        self.cv.notify_all();
    }

    /// Waits until the latch is open; `false` if the deadline passed first.
    pub fn wait(&self, deadline: &Deadline) -> bool {
        let mut g = lock(&self.open);
        while !*g {
            let left = deadline.remaining();
            if left.is_zero() {
                return false;
            }
            g = self.cv.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }
}

/// A barrier task that holds the loop busy: it signals that it entered, then blocks until
/// [`Gate::release`] (or the gate is dropped, or its hold bound passes).
///
/// While the barrier task runs, nothing else can run on the single-threaded loop, so a check can
/// queue work behind it deterministically.
#[derive(Debug)]
pub struct Gate {
    entered: Arc<Tally>,
    release: Option<mpsc::Sender<()>>,
}

impl Gate {
    /// A gate and its barrier task. The task blocks at most `hold` (a safety net so a leaked loop
    /// thread does not block forever).
    pub fn new(hold: Duration) -> (Gate, impl FnOnce() + Send + 'static) {
        let entered = Arc::new(Tally::new());
        let (tx, rx) = mpsc::channel::<()>();
        let e = entered.clone();
        let task = move || {
            e.add(1);
            let _ = rx.recv_timeout(hold);
        };
        (Gate { entered, release: Some(tx) }, task)
    }

    /// Waits until the barrier task is running on the loop.
    pub fn wait_entered(&self, deadline: &Deadline) -> bool {
        self.entered.wait_for(1, deadline).is_ok()
    }

    /// Lets the barrier task return.
    pub fn release(&mut self) {
        self.release = None;
    }
}

/// Why a [`Pending`] result is not available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitError {
    /// The deadline passed; the thread is still running (it is leaked).
    TimedOut(Duration),
    /// The thread's closure panicked, with this message.
    Panicked(String),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::TimedOut(d) => write!(f, "did not return within {d:?}"),
            WaitError::Panicked(m) => write!(f, "panicked: {m}"),
        }
    }
}

/// The result of a closure running on its own (detached) thread, awaited with a bound.
#[derive(Debug)]
pub struct Pending<R> {
    rx: mpsc::Receiver<Result<R, String>>,
    slot: Option<Result<R, String>>,
    thread: ThreadId,
}

/// Runs `f` on a new thread named `name`; panics inside `f` are caught and reported by
/// [`Pending::wait`]. The thread is detached: if it never finishes it is simply leaked.
///
/// # Errors
/// The thread could not be spawned.
pub fn spawn_bounded<R, F>(name: &str, f: F) -> io::Result<Pending<R>>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new().name(name.to_owned()).spawn(move || {
        let r = panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p));
        let _ = tx.send(r);
    })?;
    let thread = handle.thread().id();
    drop(handle);
    Ok(Pending { rx, slot: None, thread })
}

impl<R> Pending<R> {
    /// The id of the thread running the closure.
    pub fn thread_id(&self) -> ThreadId {
        self.thread
    }

    /// Whether the closure has finished (without consuming the result).
    pub fn is_finished(&mut self) -> bool {
        if self.slot.is_none() {
            match self.rx.try_recv() {
                Ok(r) => self.slot = Some(r),
                Err(mpsc::TryRecvError::Empty) => return false,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.slot = Some(Err("thread exited without a result".to_owned()));
                }
            }
        }
        true
    }

    /// Waits for the result until `deadline`.
    ///
    /// # Errors
    /// [`WaitError::TimedOut`] (the result may still arrive; a later `wait` can pick it up) or
    /// [`WaitError::Panicked`].
    pub fn wait(&mut self, deadline: &Deadline) -> Result<R, WaitError> {
        let r = match self.slot.take() {
            Some(r) => r,
            None => match self.rx.recv_timeout(deadline.remaining()) {
                Ok(r) => r,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(WaitError::TimedOut(deadline.bound()));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    Err("thread exited without a result".to_owned())
                }
            },
        };
        r.map_err(WaitError::Panicked)
    }
}

/// A loop thread: `L::run` on its own thread, its result awaited with a bound.
///
/// Dropping a `LoopThread` whose `run` has not been joined closes the loop (on a helper thread,
/// bounded) and waits (bounded) for `run` to return; a loop that still does not stop is leaked.
/// So an early return from a check never leaves a loop running behind it.
pub struct LoopThread<L: EventLoop> {
    lp: Arc<L>,
    run: Pending<Result<(), RunError>>,
    joined: bool,
    cleanup_bound: Duration,
}

impl<L: EventLoop> fmt::Debug for LoopThread<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopThread").field("thread", &self.run.thread).finish_non_exhaustive()
    }
}

impl<L: EventLoop> LoopThread<L> {
    /// Spawns a thread named `name` that calls `lp.run()`. `cleanup_bound` bounds each wait of
    /// the drop-time cleanup.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn spawn(lp: &Arc<L>, name: &str, cleanup_bound: Duration) -> io::Result<Self> {
        let l = lp.clone();
        let run = spawn_bounded(name, move || l.run())?;
        Ok(Self { lp: lp.clone(), run, joined: false, cleanup_bound })
    }

    /// The loop thread's id: every task must observe it.
    pub fn thread_id(&self) -> ThreadId {
        self.run.thread_id()
    }

    /// The loop.
    pub fn event_loop(&self) -> &Arc<L> {
        &self.lp
    }

    /// Whether `run` has returned.
    pub fn has_returned(&mut self) -> bool {
        self.run.is_finished()
    }

    /// Waits for `run` to return.
    ///
    /// # Errors
    /// As [`Pending::wait`]; a panic that escaped `run` is [`WaitError::Panicked`].
    pub fn join(&mut self, deadline: &Deadline) -> Result<Result<(), RunError>, WaitError> {
        let r = self.run.wait(deadline);
        if !matches!(r, Err(WaitError::TimedOut(_))) {
            self.joined = true;
        }
        r
    }
}

impl<L: EventLoop> Drop for LoopThread<L> {
    fn drop(&mut self) {
        if self.joined || self.run.is_finished() {
            return;
        }
        let l = self.lp.clone();
        if let Ok(mut closer) = spawn_bounded("conformance-cleanup-close", move || l.close()) {
            let _ = closer.wait(&Deadline::after(self.cleanup_bound));
        }
        let _ = self.run.wait(&Deadline::after(self.cleanup_bound));
    }
}

/// Shared bookkeeping for [`Probe`]s: per-id run and drop counts, and the threads tasks ran on.
///
/// A probe is a closure payload that records, for its id, whether it ran (and on which thread)
/// and that it was dropped. Rust drops every value exactly once, so a drop count other than one
/// after the loop is gone means the loop leaked (0) or double-dropped (2+) a closure.
#[derive(Debug)]
pub struct ProbeSet {
    created: Box<[AtomicU32]>,
    runs: Box<[AtomicU32]>,
    drops: Box<[AtomicU32]>,
    ran: Tally,
    dropped_unrun: Tally,
    threads: Mutex<Vec<ThreadId>>,
}

/// A probe payload; see [`ProbeSet`].
#[derive(Debug)]
pub struct Probe {
    set: Arc<ProbeSet>,
    id: usize,
    ran: bool,
}

impl Probe {
    /// Records that the probe's task ran (on the current thread); consumes it.
    pub fn run(mut self) {
        self.ran = true;
        let set = &self.set;
        let tid = thread::current().id();
        {
            let mut threads = lock(&set.threads);
            if !threads.contains(&tid) {
                threads.push(tid);
            }
        }
        set.runs[self.id].fetch_add(1, Ordering::SeqCst);
        set.ran.add(1);
    }

    /// The probe's id.
    pub fn id(&self) -> usize {
        self.id
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.set.drops[self.id].fetch_add(1, Ordering::SeqCst);
        if !self.ran {
            self.set.dropped_unrun.add(1);
        }
    }
}

impl ProbeSet {
    /// Room for ids `0..capacity`.
    pub fn new(capacity: usize) -> Arc<Self> {
        let zeros = || (0..capacity).map(|_| AtomicU32::new(0)).collect::<Box<[_]>>();
        Arc::new(Self {
            created: zeros(),
            runs: zeros(),
            drops: zeros(),
            ran: Tally::new(),
            dropped_unrun: Tally::new(),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Number of ids.
    pub fn capacity(&self) -> usize {
        self.runs.len()
    }

    /// A probe for `id` (each id should be made once).
    pub fn probe(self: &Arc<Self>, id: usize) -> Probe {
        self.created[id].fetch_add(1, Ordering::SeqCst);
        Probe { set: self.clone(), id, ran: false }
    }

    /// A task that runs the probe for `id`.
    pub fn task(self: &Arc<Self>, id: usize) -> impl FnOnce() + Send + 'static + use<> {
        let p = self.probe(id);
        move || p.run()
    }

    /// How many probes ran (all ids).
    pub fn ran_count(&self) -> u64 {
        self.ran.get()
    }

    /// How many probes were dropped without running.
    pub fn dropped_unrun_count(&self) -> u64 {
        self.dropped_unrun.get()
    }

    /// Waits until `n` probes ran.
    ///
    /// # Errors
    /// The number that ran when the deadline passed.
    pub fn wait_ran(&self, n: u64, deadline: &Deadline) -> Result<(), u64> {
        self.ran.wait_for(n, deadline)
    }

    /// Waits until `n` probes were dropped without running.
    ///
    /// # Errors
    /// The number dropped when the deadline passed.
    pub fn wait_dropped_unrun(&self, n: u64, deadline: &Deadline) -> Result<(), u64> {
        self.dropped_unrun.wait_for(n, deadline)
    }

    /// Runs of `id`.
    pub fn runs_of(&self, id: usize) -> u32 {
        self.runs[id].load(Ordering::SeqCst)
    }

    /// Probes made for `id` (0 when none was, 1 normally).
    pub fn created_of(&self, id: usize) -> u32 {
        self.created[id].load(Ordering::SeqCst)
    }

    /// Drops of `id`.
    pub fn drops_of(&self, id: usize) -> u32 {
        self.drops[id].load(Ordering::SeqCst)
    }

    /// The distinct threads probes ran on.
    pub fn threads(&self) -> Vec<ThreadId> {
        lock(&self.threads).clone()
    }

    /// Checks that every probe in `ids` ran exactly once, and only on `loop_thread` (if given).
    ///
    /// # Errors
    /// A description of the missing, duplicated or misplaced runs.
    pub fn verify_ran_once(
        &self,
        ids: impl IntoIterator<Item = usize>,
        loop_thread: Option<ThreadId>,
    ) -> Result<(), String> {
        self.verify_runs(ids, 1, 1, "ran exactly once")?;
        if let Some(t) = loop_thread {
            self.verify_thread(t)?;
        }
        Ok(())
    }

    /// Checks that no probe in `ids` ran.
    ///
    /// # Errors
    /// A description of the ids that ran.
    pub fn verify_never_ran(&self, ids: impl IntoIterator<Item = usize>) -> Result<(), String> {
        self.verify_runs(ids, 0, 0, "never ran")
    }

    fn verify_runs(
        &self,
        ids: impl IntoIterator<Item = usize>,
        min: u32,
        max: u32,
        want: &str,
    ) -> Result<(), String> {
        let (mut total, mut below, mut above) = (0_u64, Vec::new(), Vec::new());
        for id in ids {
            total += 1;
            let r = self.runs_of(id);
            if r < min {
                below.push(id);
            } else if r > max {
                above.push((id, r));
            }
        }
        if below.is_empty() && above.is_empty() {
            return Ok(());
        }
        let mut msg = format!("expected each of {total} tasks to have {want}:");
        if !below.is_empty() {
            let first: Vec<_> = below.iter().take(8).collect();
            msg += &format!(" {} never ran (first ids {first:?})", below.len());
        }
        if !above.is_empty() {
            let first: Vec<_> = above.iter().take(8).collect();
            msg += &format!(" {} ran too often (first (id, runs) {first:?})", above.len());
        }
        Err(msg)
    }

    /// Checks that every probe ran on `loop_thread` only.
    ///
    /// # Errors
    /// The other threads seen.
    pub fn verify_thread(&self, loop_thread: ThreadId) -> Result<(), String> {
        let others: Vec<_> = self.threads().into_iter().filter(|t| *t != loop_thread).collect();
        if others.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "tasks ran on {} thread(s) other than the loop thread {loop_thread:?}: {others:?}",
                others.len()
            ))
        }
    }

    /// Checks that every probe ever created was dropped exactly once (call after the loop and
    /// every closure handed back are gone).
    ///
    /// # Errors
    /// The leaked (never dropped) and double-dropped ids.
    pub fn verify_dropped_once(&self) -> Result<(), String> {
        let (mut leaked, mut double) = (Vec::new(), Vec::new());
        for id in 0..self.capacity() {
            if self.created[id].load(Ordering::SeqCst) == 0 {
                continue;
            }
            match self.drops_of(id) {
                1 => {}
                0 => leaked.push(id),
                n => double.push((id, n)),
            }
        }
        if leaked.is_empty() && double.is_empty() {
            return Ok(());
        }
        let mut msg = String::from("closures not dropped exactly once:");
        if !leaked.is_empty() {
            let first: Vec<_> = leaked.iter().take(8).collect();
            msg += &format!(" {} leaked (never dropped; first ids {first:?})", leaked.len());
        }
        if !double.is_empty() {
            let first: Vec<_> = double.iter().take(8).collect();
            msg += &format!(" {} dropped more than once (first {first:?})", double.len());
        }
        Err(msg)
    }
}

/// Records the order in which labelled events happen (on whichever thread), for ordering checks.
#[derive(Debug, Default)]
pub struct Sequence {
    events: Mutex<Vec<String>>,
    count: Tally,
}

impl Sequence {
    /// An empty sequence.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Appends `label`.
    pub fn push(&self, label: impl Into<String>) {
        lock(&self.events).push(label.into());
        self.count.add(1);
    }

    /// The events so far.
    pub fn events(&self) -> Vec<String> {
        lock(&self.events).clone()
    }

    /// Waits until `n` events were recorded.
    ///
    /// # Errors
    /// The number recorded when the deadline passed.
    pub fn wait_len(&self, n: u64, deadline: &Deadline) -> Result<(), u64> {
        self.count.wait_for(n, deadline)
    }
}

/// A non-blocking, close-on-exec pipe (`pipe2(O_NONBLOCK | O_CLOEXEC)`), closed on drop.
#[derive(Debug)]
pub struct Pipe {
    /// The read end (what a loop watches for readability).
    pub read_fd: RawFd,
    /// The write end.
    pub write_fd: RawFd,
}

impl Pipe {
    /// Creates a pipe.
    ///
    /// # Errors
    /// `pipe2` failed.
    pub fn new() -> io::Result<Self> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid, writable array of two c_ints, as pipe2 requires.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { read_fd: fds[0], write_fd: fds[1] })
    }

    /// Writes `n` bytes (`n` ≤ 64) to the write end.
    ///
    /// # Errors
    /// `write` failed or wrote fewer bytes.
    pub fn write(&self, n: usize) -> io::Result<()> {
        write_fd(self.write_fd, n)
    }

    /// Reads everything available from the read end; returns the number of bytes read.
    pub fn drain(&self) -> usize {
        drain_fd(self.read_fd)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: both fds were returned by pipe2 and are owned by this value; closing them
        // once here is the only close.
        unsafe {
            libc::close(self.read_fd);
            libc::close(self.write_fd);
        }
    }
}

/// Writes `n` bytes (`n` ≤ 64) to `fd`.
///
/// # Errors
/// `write` failed or wrote fewer bytes.
pub fn write_fd(fd: RawFd, n: usize) -> io::Result<()> {
    let buf = [0x5a_u8; 64];
    let n = n.min(buf.len());
    // SAFETY: `buf` is valid for reads of `n` ≤ 64 bytes for the duration of the call.
    let rc = unsafe { libc::write(fd, buf.as_ptr().cast(), n) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if rc as usize != n {
        return Err(io::Error::other(format!("short write: {rc} of {n} bytes")));
    }
    Ok(())
}

/// Reads everything available from the non-blocking `fd`; returns the number of bytes read.
pub fn drain_fd(fd: RawFd) -> usize {
    let mut buf = [0_u8; 256];
    let mut total = 0;
    loop {
        // SAFETY: `buf` is valid for writes of its full length for the duration of the call.
        let rc = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if rc <= 0 {
            return total;
        }
        total += rc as usize;
    }
}
