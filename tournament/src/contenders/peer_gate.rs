//! The lifecycle gate shared by the peer adapters (`tokio-ct`, `tokio-ct-noio`, `std-mpsc`).
//!
//! A peer's own queue (tokio's inject queue, an mpsc channel) cannot refuse work once shutdown
//! has begun, cannot hand a closure back, and cannot say how many queued closures it discarded.
//! The contract of `loop_api::EventLoop` needs all three, so every peer puts this gate in front
//! of its queue. It is one atomic word plus a small mutex that is touched only at lifecycle
//! transitions, never per task.
//!
//! ## The word
//!
//! `word` packs three flags and a count:
//!
//! * `STOP`: shutdown (or close) was requested. Submissions from other threads are rejected; the
//!   loop thread may still submit (tasks that run during the drain may queue more work).
//! * `CLOSED`: [`Gate::close_flags`] ran. Every submission is rejected and no task may start.
//! * `DONE`: the loop finished a conserving drain. Every submission is rejected.
//! * the low bits: tasks *accepted but not yet started*.
//!
//! A submission is accepted by a compare-and-swap that increments the count while no rejecting
//! flag is set ([`Gate::try_accept`]), so acceptance is decided atomically against the flags: a
//! producer that passed the gate is counted *before* it touches the peer's queue, and the loop
//! cannot conclude "drained" while that producer is still between the gate and the queue. (A
//! compare-and-swap rather than `fetch_add` + undo: a rejected producer never changes the word,
//! so the count `close` reads holds no transient increments of producers about to be refused.)
//!
//! The loop starts a task only after [`Gate::claim`] decremented the count while `CLOSED` was
//! clear. `close` sets `CLOSED` with one `fetch_or`, whose result is the exact number of accepted
//! tasks that will now never start: every accepted task is either claimed before that `fetch_or`
//! (it runs) or after (its claim fails and the closure is only dropped). That is the whole
//! exact-count argument; where the dropped closure is physically destroyed (on the loop thread,
//! when the peer's runtime or receiver is dropped, or on a late producer's thread) does not
//! change the count.
//!
//! The loop has drained when `STOP` is set and the count is zero: no foreign producer can be
//! accepted any more, and every accepted task has started (and, on a single thread, finished).
//! It then moves the word from exactly `STOP` to `STOP | DONE` by CAS ([`Gate::try_finish_drain`])
//! so that nothing, not even the loop thread, is accepted afterwards.
//!
//! ## The phase
//!
//! `phase` (mutex + condvar) holds the peer's resource `R` (the tokio `Runtime`, the mpsc
//! `Receiver`) while the loop is idle, hands it to `run` ([`Gate::begin_run`]), and records the
//! outcome that `shutdown` callers wait for.
//!
//! ## Counters
//!
//! [`LoopCounters`] (tasks run, panics, timers fired, ticks, sleeps, largest batch) are written
//! only by the loop thread, on their own cache line; `tasks_dropped` is added to by whoever
//! closes. The loop thread is whichever thread is inside `run`, recorded in a thread-local so
//! that `submit` and `shutdown` can tell a call from inside a task.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loop_api::{LoopStats, RunError, ShutdownError, drop_isolated, isolate};
use parking_lot::{Condvar, Mutex};

/// Shutdown requested: foreign submissions are rejected.
pub(crate) const STOP: u64 = 1 << 63;
/// Closed: every submission is rejected and no task starts.
pub(crate) const CLOSED: u64 = 1 << 62;
/// Drain finished: every submission is rejected.
pub(crate) const DONE: u64 = 1 << 61;
/// The accepted-but-not-started count.
pub(crate) const COUNT: u64 = DONE - 1;

thread_local! {
    /// Address of the gate whose loop this thread is running (0 if none).
    static CURRENT_LOOP: Cell<usize> = const { Cell::new(0) };
}

/// How a run ended, as seen by `shutdown` callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every accepted task ran (conserving shutdown).
    Drained,
    /// `close` stopped the loop; unstarted tasks were dropped.
    Closed,
}

/// Where the loop is in its life.
enum Phase<R> {
    /// Not run yet; holds the resource `run` needs.
    Idle(R),
    /// `run` is executing on some thread.
    Running,
    /// Terminated, with its outcome.
    Done(Outcome),
}

/// Cache-line padding, so the producers' gate word does not share a line with other state.
#[repr(align(128))]
struct Padded<T>(T);

/// Counters that only the loop thread writes (single writer: plain load + store), kept on their
/// own cache line. Shared as an `Arc` so a peer can also feed them from hooks it installs before
/// the gate exists (tokio's park/unpark hooks).
///
/// What a *tick* is depends on the peer (each documents it): the peer calls
/// [`LoopCounters::new_tick`] where its main cycle begins an iteration, and a tick also ends
/// after `tick_limit` external tasks when the peer's scheduler bounds its batches (0: no
/// bound). `max_batch` is the most external tasks run in one tick.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct LoopCounters {
    tasks_run: AtomicU64,
    panics: AtomicU64,
    timers_fired: AtomicU64,
    ticks: AtomicU64,
    sleeps: AtomicU64,
    max_batch: AtomicU64,
    /// External tasks run in the current tick.
    batch: AtomicU64,
    /// Most external tasks per tick before a new tick begins by itself (0: unbounded).
    tick_limit: u64,
}

impl LoopCounters {
    /// Counters whose ticks end by themselves after `tick_limit` tasks (0: only at
    /// [`LoopCounters::new_tick`]).
    pub(crate) fn with_tick_limit(tick_limit: u64) -> Self {
        Self { tick_limit, ..Self::default() }
    }

    /// Loop thread: it is about to block (or try to).
    pub(crate) fn before_sleep(&self) {
        bump(&self.sleeps);
    }

    /// Loop thread: a new tick begins.
    pub(crate) fn new_tick(&self) {
        bump(&self.ticks);
        self.batch.store(0, Ordering::Relaxed);
    }

    fn task_started(&self) {
        bump(&self.tasks_run);
        let mut batch = self.batch.load(Ordering::Relaxed);
        if self.tick_limit != 0 && batch >= self.tick_limit {
            bump(&self.ticks);
            batch = 0;
        }
        batch += 1;
        self.batch.store(batch, Ordering::Relaxed);
        if batch > self.max_batch.load(Ordering::Relaxed) {
            self.max_batch.store(batch, Ordering::Relaxed);
        }
    }
}

/// The lifecycle gate; `R` is the resource `run` takes (see the module docs).
pub(crate) struct Gate<R> {
    word: Padded<AtomicU64>,
    counters: Arc<LoopCounters>,
    tasks_dropped: AtomicU64,
    phase: Mutex<Phase<R>>,
    phase_changed: Condvar,
}

/// Returned by [`Gate::begin_run`]; marks this thread as the loop thread until dropped.
/// If it is dropped without [`RunGuard::finish`] (a panic escaped `run`), the loop is closed.
pub(crate) struct RunGuard<'a, R> {
    gate: &'a Gate<R>,
    previous: usize,
    finished: bool,
}

/// Drops every message `next` yields (a channel's `try_recv`, until it is empty), each with
/// [`drop_isolated`], so a closure whose destructor panics neither escapes into the caller nor
/// leaks the closures queued behind it (a channel's own destructor stops at the first panic).
/// Returns how many messages were dropped. The peers call it wherever they discard a queue:
/// at the end of `run`, in `close` of a loop that never ran, and so in `Drop`.
pub(crate) fn drain_isolated<T>(mut next: impl FnMut() -> Option<T>) -> u64 {
    let mut n = 0;
    while let Some(msg) = next() {
        drop_isolated(msg);
        n += 1;
    }
    n
}

/// A user closure held inside a peer's own task (a tokio or async-executor future): when the
/// peer's runtime destroys the task without running it, the closure is dropped with
/// [`drop_isolated`], so its destructor's panic stays inside the adapter whatever the runtime
/// does with a panicking drop.
pub(crate) struct Contained<F>(Option<F>);

impl<F> Contained<F> {
    /// Holds `f`.
    pub(crate) fn new(f: F) -> Self {
        Self(Some(f))
    }

    /// Takes the closure out to run it (the wrapper then drops nothing).
    pub(crate) fn take(mut self) -> F {
        self.0.take().expect("a contained closure is taken once")
    }
}

impl<F> Drop for Contained<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            drop_isolated(f);
        }
    }
}

fn bump(counter: &AtomicU64) {
    // Single writer (the loop thread), so a load + store is exact and avoids a locked RMW.
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl<R> Gate<R> {
    /// A fresh gate holding the resource `run` will take, feeding `counters`.
    pub(crate) fn new(resource: R, counters: Arc<LoopCounters>) -> Self {
        Self {
            word: Padded(AtomicU64::new(0)),
            counters,
            tasks_dropped: AtomicU64::new(0),
            phase: Mutex::new(Phase::Idle(resource)),
            phase_changed: Condvar::new(),
        }
    }

    /// The loop-thread counters (ticks and sleeps are fed by the peer's loop).
    pub(crate) fn counters(&self) -> &LoopCounters {
        &self.counters
    }

    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Whether the calling thread is inside this loop's `run`.
    pub(crate) fn on_loop_thread(&self) -> bool {
        CURRENT_LOOP.with(|c| c.get() == self.id())
    }

    /// The current word (flags and count).
    pub(crate) fn word(&self) -> u64 {
        self.word.0.load(Ordering::Acquire)
    }

    /// Accepts one submission: increments the count unless the gate rejects. Rejects once
    /// `CLOSED` or `DONE` is set, and once `STOP` is set unless the caller is the loop thread.
    pub(crate) fn try_accept(&self) -> bool {
        let word = &self.word.0;
        let mut cur = word.load(Ordering::Relaxed);
        loop {
            if cur & (CLOSED | DONE) != 0 || (cur & STOP != 0 && !self.on_loop_thread()) {
                return false;
            }
            debug_assert!(cur & COUNT < COUNT, "accepted-task count overflow");
            match word.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Whether [`Gate::try_accept`] would accept now, without counting anything (for work the
    /// peer tracks itself, such as timers: check it under the lock that the closing side takes
    /// after setting the flags).
    pub(crate) fn admits(&self) -> bool {
        let cur = self.word();
        cur & (CLOSED | DONE) == 0 && (cur & STOP == 0 || self.on_loop_thread())
    }

    /// Claims one accepted task for execution (loop thread only). `false` once the loop is
    /// closed: the caller must then drop the task without running it (close counted it).
    pub(crate) fn claim(&self) -> bool {
        // Every claimed task was accepted (+1) and is claimed once (-1), so the count never
        // underflows into the flags, even when the claim fails after `CLOSED`.
        self.word.0.fetch_sub(1, Ordering::AcqRel) & CLOSED == 0
    }

    /// Whether the loop may finish: shutdown requested and nothing accepted left to start.
    pub(crate) fn is_drained(word: u64) -> bool {
        word & STOP != 0 && word & COUNT == 0
    }

    /// Loop thread, after seeing [`Gate::is_drained`]: closes the gate to everyone, including the
    /// loop thread. Fails (returns `false`) if a task was accepted or the loop closed meanwhile.
    pub(crate) fn try_finish_drain(&self) -> bool {
        self.word.0.compare_exchange(STOP, STOP | DONE, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Requests a stop; returns the previous word.
    pub(crate) fn request_stop(&self) -> u64 {
        self.word.0.fetch_or(STOP, Ordering::AcqRel)
    }

    /// Sets `CLOSED`. Returns the number of accepted tasks that will now never start, or `None`
    /// if the loop was already closed or had drained (then nothing is dropped). The count is
    /// added to `tasks_dropped`.
    pub(crate) fn close_flags(&self) -> Option<u64> {
        let prev = self.word.0.fetch_or(CLOSED | STOP, Ordering::AcqRel);
        if prev & (CLOSED | DONE) != 0 {
            return None;
        }
        let dropped = prev & COUNT;
        self.add_dropped(dropped);
        Some(dropped)
    }

    /// Adds to `tasks_dropped` (timers discarded by close or shutdown, ...).
    pub(crate) fn add_dropped(&self, n: u64) {
        if n != 0 {
            self.tasks_dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Runs one claimed task on the loop thread, isolating a panic with [`isolate`]: the panic
    /// is counted, and its payload is dropped inside a second catch, so a payload whose own
    /// `Drop` panics cannot escape `run` either.
    pub(crate) fn run_task(&self, f: impl FnOnce()) {
        self.counters.task_started();
        if isolate(f) {
            bump(&self.counters.panics);
        }
    }

    /// Runs one timer callback on the loop thread, isolating a panic as [`Gate::run_task`].
    pub(crate) fn run_timer(&self, f: impl FnOnce()) {
        bump(&self.counters.timers_fired);
        if isolate(f) {
            bump(&self.counters.panics);
        }
    }

    /// The counters this gate keeps; `wake_syscalls`, `wakes_elided`, `polls`,
    /// `tasks_run_internal`, `microtasks_run` and `io_callbacks` stay 0.
    pub(crate) fn stats(&self) -> LoopStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LoopStats {
            tasks_run_external: get(&c.tasks_run),
            panics: get(&c.panics),
            timers_fired: get(&c.timers_fired),
            tasks_dropped: get(&self.tasks_dropped),
            ticks: get(&c.ticks),
            sleeps: get(&c.sleeps),
            max_batch: get(&c.max_batch),
            ..LoopStats::default()
        }
    }

    /// Enters `run`: takes the resource and marks the calling thread as the loop thread.
    pub(crate) fn begin_run(&self) -> Result<(RunGuard<'_, R>, R), RunError> {
        let mut phase = self.phase.lock();
        match &*phase {
            Phase::Running => return Err(RunError::AlreadyRunning),
            Phase::Done(_) => return Err(RunError::Terminated),
            Phase::Idle(_) => {}
        }
        let Phase::Idle(resource) = std::mem::replace(&mut *phase, Phase::Running) else {
            unreachable!("checked above")
        };
        drop(phase);
        let previous = CURRENT_LOOP.with(|c| c.replace(self.id()));
        Ok((RunGuard { gate: self, previous, finished: false }, resource))
    }

    /// If the loop never ran, terminates it as closed and returns the resource, for the caller
    /// to drop *after* this returns (destructors of queued closures may call back into the
    /// loop). `None` if it is running or already terminated.
    pub(crate) fn take_if_idle(&self) -> Option<R> {
        let mut phase = self.phase.lock();
        if !matches!(&*phase, Phase::Idle(_)) {
            return None;
        }
        let Phase::Idle(resource) = std::mem::replace(&mut *phase, Phase::Done(Outcome::Closed))
        else {
            unreachable!("checked above")
        };
        drop(phase);
        self.phase_changed.notify_all();
        Some(resource)
    }

    /// The graceful-stop protocol shared by the peers. `wake` must make a blocked loop thread
    /// re-check the word.
    pub(crate) fn shutdown(
        &self,
        timeout: Duration,
        wake: impl FnOnce(),
    ) -> Result<(), ShutdownError> {
        let prev = self.request_stop();
        if prev & CLOSED != 0 {
            return Err(ShutdownError::Closed);
        }
        if prev & DONE == 0 {
            wake();
        }
        if self.on_loop_thread() {
            // Called from a task: the caller is the loop, so only request the stop.
            return Ok(());
        }
        self.wait_terminal(timeout)
    }

    /// Waits until the loop terminated, at most `timeout`.
    fn wait_terminal(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut phase = self.phase.lock();
        loop {
            if let Phase::Done(outcome) = &*phase {
                return match outcome {
                    Outcome::Drained => Ok(()),
                    Outcome::Closed => Err(ShutdownError::Closed),
                };
            }
            match deadline {
                Some(d) => {
                    if self.phase_changed.wait_until(&mut phase, d).timed_out()
                        && !matches!(&*phase, Phase::Done(_))
                    {
                        return Err(ShutdownError::Timeout);
                    }
                }
                None => self.phase_changed.wait(&mut phase),
            }
        }
    }
}

impl<R> RunGuard<'_, R> {
    /// Records how the run ended, wakes `shutdown` waiters and leaves the loop thread.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.set_done(outcome);
    }

    fn set_done(&self, outcome: Outcome) {
        CURRENT_LOOP.with(|c| c.set(self.previous));
        *self.gate.phase.lock() = Phase::Done(outcome);
        self.gate.phase_changed.notify_all();
    }
}

impl<R> Drop for RunGuard<'_, R> {
    fn drop(&mut self) {
        if !self.finished {
            // A panic escaped `run`: stop accepting and release every waiter.
            let _ = self.gate.close_flags();
            self.set_done(Outcome::Closed);
        }
    }
}
