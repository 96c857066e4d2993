//! # loop-baseline: the simplest correct event loop, and the tournament's reference
//!
//! [`BaselineLoop`] is the contender every other design is checked against: it trades speed for
//! a design small enough to be obviously right. Where another loop and the baseline disagree on
//! *what* happened (which tasks ran, in which order, what was dropped), the baseline is presumed
//! correct; where they disagree on *how fast*, that is the point of the tournament.
//!
//! ## Design
//!
//! * **One state mutex** (`parking_lot::Mutex`) guards the ingress queue (a `Vec` of boxed
//!   closures), the timers, the lifecycle flags and the `waiting` flag. Producers check that the
//!   loop accepts, push, and look at `waiting` in one critical section.
//! * **Batch swap, no budget.** Each tick the loop swaps the ingress `Vec` with its spare (the
//!   two allocations alternate) and runs the *whole* batch outside the state lock, so producers
//!   contend with the loop once per tick, not once per task. [`LoopConfig::batch_budget`] is not
//!   honoured.
//! * **Condvar sleep with an explicit `waiting` flag.** The loop decides to sleep (no task, no
//!   due timer, no stop) and sets `waiting` in the same critical section, then waits on a
//!   `parking_lot::Condvar`. A producer notifies only if it finds `waiting` set, and clears it,
//!   so the futex wake is paid at most once per sleep (counted in
//!   [`LoopStats::wake_syscalls`]; every other submission counts in
//!   [`LoopStats::wakes_elided`]). Because publish and check share the mutex, no wake-up can be
//!   lost; `tests/loom_wake.rs` model-checks exactly this handshake on the real code.
//! * **Timers** live in a binary min-heap ordered by `(deadline, sequence)` (ties fire in
//!   scheduling order), with a map from [`TimerId`] to callback so [`EventLoop::cancel_timer`]
//!   is O(1) (cancelled heap entries are discarded lazily). The loop sleeps with
//!   `Condvar::wait_until` the earliest deadline, and fires a timer only if its deadline is at or
//!   before an `Instant::now()` taken after waking, so a timer never fires early. A timer
//!   scheduled from another thread wakes the sleeping loop only if it is due before the deadline
//!   the loop sleeps until.
//! * **The batch in flight sits behind its own small mutex**, popped one task at a time, so
//!   [`EventLoop::close`] can take (and drop) the tasks of the current batch that have not
//!   started. This costs one uncontended lock per task on the loop thread; it is what lets
//!   `close` promise "none starts after I return" *without* waiting for the running task.
//! * Every task, timer callback and drain-time destructor runs under
//!   `catch_unwind(AssertUnwindSafe(..))`: a panic is counted in [`LoopStats::panics`] and the
//!   loop goes on.
//!
//! Not supported (declared in [`BaselineLoop::CAPABILITIES`], rejected as
//! [`RejectReason::Unsupported`](loop_api::RejectReason::Unsupported) with the closure handed
//! back): a distinct internal priority queue ([`EventLoop::submit_internal`] is accepted and
//! behaves exactly like [`EventLoop::submit`], same queue, same counter), microtasks, and fd
//! readiness. No [`LoopConfig`] knob is honoured: no budget, no spinning, every closure is boxed,
//! there is no poller.
//!
//! ## Lifecycle semantics
//!
//! * **`run`** makes the calling thread the loop thread. A second `run` while one is active
//!   returns [`RunError::AlreadyRunning`] (also from inside a task); `run` after the loop stopped
//!   (drained, or closed, even before it ever ran) returns [`RunError::Terminated`].
//! * **`shutdown(timeout)`** is conserving. From then on only the loop thread may submit tasks
//!   (so tasks, and destructors, run by the drain can still submit, and those tasks run too);
//!   other threads get [`RejectReason::Terminated`](loop_api::RejectReason::Terminated) with
//!   their closure back. The loop keeps running ticks (due timers still fire) until a tick finds
//!   no task and no due timer, then stops and `run` returns `Ok(())`. Every `shutdown` caller
//!   waits (at most `timeout`) for that and gets `Ok(())`; on timeout it gets
//!   [`ShutdownError::Timeout`] and the stop stays requested. Called from inside a task it only
//!   requests the stop and returns `Ok(())` at once. Called before `run`, it records the stop;
//!   the next `run` drains what was accepted before and returns `Ok(())`, releasing the waiting
//!   callers.
//! * **Pending timers at shutdown:** `schedule_timer` is rejected (closure handed back) from
//!   every thread, the loop thread included, once a shutdown is requested, because the drain
//!   does not wait for future deadlines. Timers already due fire during the drain; timers still
//!   pending when the drain finds no task left are **dropped** (destructors run, on the loop
//!   thread, isolated like callbacks) and counted in [`LoopStats::tasks_dropped`].
//! * **`close()`** is immediate: under the state lock it marks the loop closed (rejecting all new
//!   work) and takes every queued task, every pending timer and the not-yet-started rest of the
//!   batch in flight; it drops them *outside* the lock, on the caller's thread (their destructors
//!   may call back into the loop: they are rejected, never deadlocked), counts them in
//!   [`LoopStats::tasks_dropped`], wakes the loop and returns how many it dropped. A task already
//!   executing finishes; no other task or timer starts after `close` returns, because there is
//!   nothing left for the loop to start. `close` never waits for the loop, so it is safe from
//!   inside a task and while the loop is blocked in one. `run` then returns `Ok(())`; later
//!   `close` calls return 0; `shutdown` returns [`ShutdownError::Closed`] (callers already
//!   waiting for a drain are released with it too).
//! * **Drop** of a loop that never ran, or whose shutdown timed out before `run` came, drops
//!   every queued task and timer exactly once, without waiting for anything.
//!
//! ## What the historical Go baseline got wrong, and how this one avoids it
//!
//! The Go tournament wrapped `goja_nodejs`' loop (`docs/HISTORY.md`, "Baseline"). Its
//! bugs are the baseline's regression tests here:
//!
//! * *Accepted tasks lost at shutdown* (a submit passed the `stopped` check, appended after the
//!   final drain, and still returned success): here acceptance and the final "nothing left, stop"
//!   decision are made under the same mutex.
//! * *`Close` ran leftover tasks on the caller's thread*: here `close` only drops; tasks only
//!   ever run on the loop thread.
//! * *Unbounded `Stop`/`Terminate`*: `shutdown` is bounded by its timeout and `close` never
//!   waits.
//! * *Unisolated timer panics* (a timer panic escaped `Run`): every callback is isolated.
//!
//! ## Statistics
//!
//! [`LoopStats`] counters are relaxed atomics. `tasks_run_external` counts `submit` and
//! `submit_internal` tasks alike (`tasks_run_internal` stays 0); `ticks` counts iterations of
//! the main cycle that found work; `sleeps` counts condvar waits; `max_batch` is the largest
//! batch run in one tick; `wake_syscalls` counts notifications of a waiting loop (by
//! submissions, `shutdown` and `close`); `microtasks_run`, `io_callbacks` and `polls` stay 0.
//!
//! ## Verification
//!
//! Unit tests next to the code, integration tests in `tests/`, and a loom model of the sleep/wake
//! handshake run with `RUSTFLAGS="--cfg loom" cargo test -p loop-baseline --release --test
//! loom_wake` (under `--cfg loom` the mutexes and condvars are loom's, see `sync.rs`).

mod counters;
mod driver;
mod state;
mod sync;
mod timers;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, OpError, Rejected, RunError, ShutdownError,
    TimerId,
};

use crate::counters::Counters;
use crate::state::{Phase, State};
use crate::sync::{Condvar, Mutex, current_thread};

/// A queued closure. Always boxed: the baseline does not store closures inline.
pub(crate) type Task = Box<dyn FnOnce() + Send + 'static>;

/// The baseline event loop: a `Mutex<Vec>` ingress swapped whole each tick, a condvar to sleep
/// on, a binary heap of timers. See the [crate documentation](crate) for the design and the exact
/// shutdown, close and timer semantics.
///
/// Create it with [`EventLoop::new`], share it as `Arc<BaselineLoop>`, call [`EventLoop::run`]
/// on the thread that should execute the tasks.
pub struct BaselineLoop {
    state: Mutex<State>,
    /// The batch the loop is running (tasks not started yet). Locked after `state` when both are
    /// held; the loop holds it only to pop one task, never while a task runs.
    batch: Mutex<VecDeque<Task>>,
    /// The loop sleeps on this condvar (with `state`).
    wake: Condvar,
    /// `shutdown` callers wait on this condvar (with `state`) for the loop to stop.
    done: Condvar,
    counters: Counters,
}

impl fmt::Debug for BaselineLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaselineLoop").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl BaselineLoop {
    /// Counts a submission's wake decision and notifies the loop if it was waiting.
    /// Must be called with the state lock held (`must_wake` comes from `State::claim_wake*`).
    fn wake_if(&self, must_wake: bool) {
        if must_wake {
            self.wake.notify_one();
            self.counters.wake_syscalls.add(1);
        } else {
            self.counters.wakes_elided.add(1);
        }
    }

    /// Marks the loop stopped when `run` ends, however it ends, and releases `shutdown` callers.
    fn finish_run(&self) {
        let mut st = self.state.lock();
        st.phase = Phase::Stopped;
        st.loop_thread = None;
        st.waiting = false;
        self.done.notify_all();
    }
}

/// Ends a `run`: on unwind (only possible through a bug in this crate, since callbacks are
/// isolated) it closes the loop first, so queued work is dropped and counted and no `shutdown`
/// caller waits for a drain that will never come.
struct RunGuard<'a>(&'a BaselineLoop);

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.close();
        }
        self.0.finish_run();
    }
}

impl Drop for BaselineLoop {
    /// Drops every closure still queued, each isolated: a panicking destructor neither escapes
    /// nor keeps the closures behind it from being dropped.
    fn drop(&mut self) {
        let mut rest: Vec<Task> = std::mem::take(&mut *self.batch.lock()).into_iter().collect();
        {
            let mut st = self.state.lock();
            rest.append(&mut st.queue);
            rest.extend(st.timers.take_all());
        }
        loop_api::drop_all_isolated(rest);
    }
}

impl EventLoop for BaselineLoop {
    /// `submit_internal` is plain `submit`; timers are supported; no microtasks, no readiness,
    /// no config knob honoured; wake-ups are counted exactly.
    const CAPABILITIES: Capabilities = Capabilities {
        internal_priority: false,
        microtasks: false,
        timers: true,
        readiness: false,
        batch_budget: false,
        spin_before_sleep: false,
        inline_tasks: false,
        wake_accounting: true,
    };

    /// Creates an idle loop. Every [`LoopConfig`] field is ignored (see
    /// [`BaselineLoop::CAPABILITIES`]).
    ///
    /// # Errors
    /// Never: the baseline needs no OS resources.
    fn new(_config: &LoopConfig) -> io::Result<Self> {
        Ok(Self {
            state: Mutex::new(State::new()),
            batch: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
            done: Condvar::new(),
            counters: Counters::default(),
        })
    }

    /// Runs the loop on the calling thread until it is shut down (drained) or closed.
    ///
    /// # Errors
    /// [`RunError::AlreadyRunning`] if another `run` is active (including a `run` from inside a
    /// task); [`RunError::Terminated`] if the loop already stopped or was closed. Never
    /// [`RunError::Io`].
    fn run(&self) -> Result<(), RunError> {
        {
            let mut st = self.state.lock();
            match st.phase {
                Phase::Running => return Err(RunError::AlreadyRunning),
                Phase::Stopped => return Err(RunError::Terminated),
                Phase::Idle => {}
            }
            st.phase = Phase::Running;
            st.loop_thread = Some(current_thread());
        }
        let _guard = RunGuard(self);
        self.drive();
        Ok(())
    }

    /// Queues `f`; it runs on the loop thread after every task submitted before it (one FIFO
    /// queue for all producers). Wakes the loop if it sleeps.
    ///
    /// # Errors
    /// [`RejectReason::Terminated`](loop_api::RejectReason::Terminated), with `f` handed back,
    /// after `close`, after the loop stopped, or once a shutdown is requested unless called from
    /// the loop thread while it drains.
    fn submit<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        // Box before locking (shorter critical section); keep the concrete type so a rejected
        // closure can be unboxed and handed back.
        let task = Box::new(f);
        let mut st = self.state.lock();
        if !st.accepts_task() {
            drop(st);
            return Err(Rejected::terminated(*task));
        }
        st.queue.push(task);
        let must_wake = st.claim_wake();
        self.wake_if(must_wake);
        Ok(())
    }

    /// Exactly [`EventLoop::submit`]: the baseline has no separate internal queue
    /// (`CAPABILITIES.internal_priority == false`); the task is counted in
    /// [`LoopStats::tasks_run_external`].
    ///
    /// # Errors
    /// As [`EventLoop::submit`].
    fn submit_internal<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.submit(f)
    }

    /// Runs `f` on the loop thread once `delay` has elapsed since this call (never earlier;
    /// later by at most the loop's wake-up latency plus whatever task is running then). Timers
    /// fire in deadline order, ties in scheduling order. A delay too large for [`Instant`] gives
    /// a timer that never fires (but can be cancelled). Wakes the loop if it sleeps past the new
    /// deadline.
    ///
    /// # Errors
    /// [`RejectReason::Terminated`](loop_api::RejectReason::Terminated), with `f` handed back,
    /// after `close`, after the loop stopped, or once a shutdown is requested (from any thread:
    /// the drain does not wait for future deadlines).
    fn schedule_timer<F>(&self, delay: Duration, f: F) -> Result<TimerId, Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let task = Box::new(f);
        let deadline = Instant::now().checked_add(delay);
        let mut st = self.state.lock();
        if !st.accepts_timer() {
            drop(st);
            return Err(Rejected::terminated(*task));
        }
        let id = st.timers.insert(deadline, task);
        let must_wake = st.claim_wake_for_deadline(deadline);
        self.wake_if(must_wake);
        Ok(id)
    }

    /// Cancels a pending timer; its closure is dropped before this returns (outside the lock).
    /// Returns `Ok(true)` if the timer was pending and now will never fire; `Ok(false)` if it
    /// already fired (or is firing), was cancelled, was dropped by shutdown or close, or is
    /// unknown.
    ///
    /// # Errors
    /// Never.
    fn cancel_timer(&self, id: TimerId) -> Result<bool, OpError> {
        let cancelled = self.state.lock().timers.cancel(id);
        let was_pending = cancelled.is_some();
        if let Some(timer) = cancelled {
            self.isolate(move || drop(timer));
        }
        Ok(was_pending)
    }

    /// Stops accepting work from other threads, waits (at most `timeout`) until the loop has run
    /// every accepted task, and returns. See the crate docs for the full semantics, including
    /// calls from inside a task, before `run`, and what happens to pending timers.
    ///
    /// # Errors
    /// [`ShutdownError::Timeout`] if the loop had not drained within `timeout` (the stop stays
    /// requested; the loop stops on its own once drained); [`ShutdownError::Closed`] if
    /// [`EventLoop::close`] was called before or while waiting.
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        // `None`: a timeout too large for `Instant` means "wait as long as it takes".
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.state.lock();
        if st.closed {
            return Err(ShutdownError::Closed);
        }
        if !st.stop_requested {
            st.stop_requested = true;
            if st.claim_wake() {
                self.wake.notify_one();
                self.counters.wake_syscalls.add(1);
            }
        }
        if st.on_loop_thread() {
            // Called by a task: the loop drains after this task returns. Waiting here would be
            // waiting for ourselves.
            return Ok(());
        }
        loop {
            if st.drained {
                return Ok(());
            }
            if st.closed {
                return Err(ShutdownError::Closed);
            }
            match deadline {
                None => self.done.wait(&mut st),
                Some(d) if Instant::now() >= d => return Err(ShutdownError::Timeout),
                Some(d) => {
                    self.done.wait_until(&mut st, d);
                }
            }
        }
    }

    /// Closes the loop: rejects all new work, drops every queued task, every pending timer and
    /// the unstarted rest of the batch in flight (outside the lock, on the calling thread), and
    /// makes `run` return `Ok(())`. Returns how many it dropped (also added to
    /// [`LoopStats::tasks_dropped`]); 0 on every call after the first. Never waits: a task
    /// already running finishes, no other starts after this returns.
    ///
    /// A destructor that panics is caught and counted in [`LoopStats::panics`]; the rest are
    /// still dropped.
    fn close(&self) -> u64 {
        let (queue, timers, batch) = {
            let mut st = self.state.lock();
            if st.closed {
                return 0;
            }
            st.closed = true;
            if st.phase == Phase::Idle {
                st.phase = Phase::Stopped;
            }
            let queue = std::mem::take(&mut st.queue);
            let timers = st.timers.take_all();
            let batch = std::mem::take(&mut *self.batch.lock());
            if st.claim_wake() {
                self.wake.notify_one();
                self.counters.wake_syscalls.add(1);
            }
            // Waiting `shutdown` callers learn that no drain will come.
            self.done.notify_all();
            (queue, timers, batch)
        };
        let dropped = (queue.len() + timers.len() + batch.len()) as u64;
        self.counters.tasks_dropped.add(dropped);
        // Each isolated: a panicking destructor neither escapes nor keeps the rest alive.
        for task in batch.into_iter().chain(queue).chain(timers) {
            self.isolate(move || drop(task));
        }
        dropped
    }

    /// A snapshot of the counters (relaxed loads; each counter is monotonic, the snapshot is
    /// not atomic across counters).
    fn stats(&self) -> LoopStats {
        self.counters.snapshot()
    }
}
