//! # loop-alt-one: "maximum safety"
//!
//! [`AltOneLoop`] rebuilds the Go tournament's **AlternateOne** (`docs/HISTORY.md`,
//! "AlternateOne"): one coarse lock, invariants checked at run time, a validated state machine, an eventfd
//! wake-up, shutdown in named phases. It keeps that design's data structures, locking, wake-up
//! path, budgets and phase order, and fixes its bugs (HISTORY.md bugs 11, 12, 15), each with a
//! regression test.
//!
//! ## Design
//!
//! * **Ingress: one mutex over three lanes.** External, internal and microtask lanes are FIFO
//!   lists of 128-slot chunks drawn from a chunk pool (`chunk.rs`). One `parking_lot::Mutex`
//!   covers the lanes, the pool, the task-id counter and the lifecycle flags (`ingress.rs`).
//!   Every task gets an id (`u64`, from the counter, under the lock).
//! * **Invariants validated around every push and pop, in release builds too**: the lane length
//!   agrees with the chunk cursors, cursors are ordered and in range, middle chunks are full, and
//!   popped ids are strictly increasing (FIFO). The checks are O(1). A violation is a bug in this
//!   crate and panics with the lane and the broken invariant (AlternateOne panicked too); the
//!   loop thread then closes the loop (see "Panics" on [`EventLoop::run`]).
//! * **Validated state machine** ([`state::LoopState`]: `Awake`, `Running`, `Sleeping`,
//!   `Terminating`, `Terminated`, with AlternateOne's table of allowed transitions). Every
//!   transition goes through [`state::Handshake::transition`], which returns a
//!   [`state::TransitionError`] for a transition outside the table or a lost race; the state is
//!   never overwritten blindly (§9 #5). [`AltOneLoop::state`] exposes the current state.
//! * **Wake-up: an eventfd through mio** (`mio::Poll` + `mio::Waker`), written only when the
//!   loop sleeps, and deduplicated by a wake-pending flag: the producer that moves the flag from
//!   `false` to `true` writes the eventfd, every other producer elides its wake
//!   ([`LoopStats::wakes_elided`]). The loop clears the flag after each poll. The protocol is in
//!   `loop-alt-common`'s `state` module and model-checked by its `tests/loom_wake.rs`.
//! * **Tick** (AlternateOne's order): fire due timers → run the internal lane (unbounded) → run
//!   at most [`LoopConfig::batch_budget`] external tasks (default 1024) → microtask pass →
//!   poll → microtask pass. Lanes are popped **one lock per pop**; tasks run with **no lock
//!   held**. A microtask pass runs at most 1024 microtasks.
//! * **Poll**: `Running → Sleeping`, re-check all lanes and timers under their locks, and if
//!   nothing is due block in `epoll_wait` for `min(10 s, next timer − now)`; then clear the wake
//!   flag and go back to `Running`.
//! * **Timers**: a min-heap by `(deadline, sequence)` under its own mutex (AlternateOne's
//!   `timersMu`), with O(1) cancel by [`TimerId`] (lazy deletion).
//! * **Readiness** via mio: each registration gets a fresh token (a generation number), so an
//!   event for an old registration never reaches a new callback after the fd number is reused;
//!   callbacks run with no poller lock held; registrations are level-triggered epoll entries, so
//!   no `epoll_ctl` per call (`loop-alt-common`'s `io` module).
//! * **Shutdown in named phases** (run by the loop thread once the state is `Terminating`):
//!   *ingress* (run every lane to empty, including what those tasks submit), *timers* (fire due
//!   ones, drop pending ones), *fds* (deregister every fd, drop the callbacks), then
//!   `Terminated`.
//! * Every task, microtask, timer callback, readiness callback and drain-time destructor runs
//!   under `catch_unwind(AssertUnwindSafe(..))`; a panic is counted in [`LoopStats::panics`].
//!
//! Capabilities: all of them (internal priority, microtasks, timers, readiness, the batch
//! budget, exact wake accounting); no spinning and no inline closures (every task is boxed), as
//! in the Go design. [`LoopConfig::spin_before_sleep`], [`LoopConfig::inline_tasks`] and
//! [`LoopConfig::always_poll`] are ignored (the loop always sleeps in the poller).
//!
//! ## Deliberate differences from the Go AlternateOne
//!
//! * **Tasks never run under the ingress lock** (bug #12: the Go shutdown drain executed tasks
//!   while holding it, so a drained task calling `SubmitInternal`, `ScheduleMicrotask` or
//!   `ScheduleTimer` self-deadlocked). The drain pops one task per lock and runs it unlocked;
//!   conservation comes instead from deciding "nothing left, stop" under the same lock that
//!   accepts submissions.
//! * **Microtasks from a foreign thread wake the loop** (bug #11: Go's `ScheduleMicrotask` never
//!   woke it, so latency reached the 10 s poll cap).
//! * **I/O registration never blocks behind the poll** (bug #15: Go held the poller mutex across
//!   `epoll_wait` and the callbacks, so `RegisterFD` blocked up to 10 s and deadlocked from a
//!   callback). Registration uses a cloned `mio::Registry`; no lock is held across the poll or a
//!   callback.
//! * **A microtask checkpoint after every task and callback**, in addition to AlternateOne's two
//!   passes per tick: the contract says microtasks drain after every task (the Go loop drained
//!   them only twice per tick). Each checkpoint reads a mirror of the microtask lane's length
//!   (an atomic) and takes the lock only when it is non-zero; each pass is bounded by 1024.
//! * **Internal work is checked before each external pop** (in the same critical section), so a
//!   task calling `submit_internal` has that work run next, before the rest of the external
//!   batch, as the contract's internal-before-external priority requires.
//! * **Invalid transitions are errors, not immediate panics**: [`state::Handshake`] returns
//!   [`state::TransitionError`]; the loop handles the expected race (`Terminating` arriving under
//!   it) and panics only on a transition it cannot explain.
//! * **Poll with pending work**: Go skipped the poll entirely when work was queued (readiness
//!   could starve under constant load); here, with fds registered, the loop polls with a zero
//!   timeout instead (counted in [`LoopStats::polls`], not in `sleeps`).
//! * **Shutdown semantics are the workspace's** (the baseline's, see `loop-baseline`): shutdown
//!   conserves on every path (Go's ctx cancellation skipped the drain), shutdown before `run`
//!   records the stop and the next `run` drains, pending timers are dropped and counted,
//!   `close` drops and counts queued work and never runs it. `run` after termination returns
//!   [`RunError::Terminated`] instead of Go's reentrancy error by goroutine id.
//! * **Timers** get ids and cancellation (Go had neither) and are not pushed through the
//!   internal queue; the chunk pool is per loop (Go used a global `sync.Pool`), bounded at 64
//!   chunks; panics are counted instead of logged with a `PanicError`; the optional
//!   `StateObserver` hook and `runtime.LockOSThread` have no equivalent.
//!
//! ## Lifecycle semantics (as the baseline)
//!
//! * **`run`**: a second `run` while one is active returns [`RunError::AlreadyRunning`]; `run`
//!   after the loop stopped or was closed returns [`RunError::Terminated`].
//! * **`shutdown(timeout)`** is conserving: from then on only the loop thread may add tasks and
//!   microtasks (and register fds); other threads are rejected with their closure back. The loop
//!   drains until a pass finds nothing, then stops; every caller waits (at most `timeout`) and
//!   gets `Ok(())`. From inside a task it only requests the stop. Before `run`, it records the
//!   stop and the next `run` drains.
//! * **Pending timers at shutdown**: `schedule_timer` is rejected from every thread once a
//!   shutdown is requested; due timers fire during the drain; timers still pending when the
//!   drain finds no task left are dropped (on the loop thread, isolated) and counted in
//!   [`LoopStats::tasks_dropped`].
//! * **`close()`** takes every queued task, microtask and timer under the locks, drops them on the
//!   caller's thread outside the locks, counts them, wakes the loop and returns the count; later
//!   calls return 0 and `shutdown` returns [`ShutdownError::Closed`]. A task already executing
//!   finishes; no queued task starts after `close` returns.
//! * **Drop** of a loop that is not running drops every queued task and timer exactly once.
//!
//! ## Statistics
//!
//! Relaxed atomics. `wake_syscalls` counts eventfd writes, counted by the writing thread
//! (producer, `shutdown`, `close`); `wakes_elided` counts submissions that skipped the write;
//! `sleeps` counts blocking polls; `polls` counts every `epoll_wait` (blocking or not); `ticks`
//! counts main-cycle iterations; `max_batch` is the largest number of external tasks run in one
//! tick (≤ the budget).
//!
//! ## Verification
//!
//! Unit tests next to the code, the conformance suite and regression tests in `tests/`, and a
//! loom model of the wake handshake in `loop-alt-common`: `RUSTFLAGS="--cfg loom" cargo test
//! --release -p loop-alt-common --test loom_wake`.

mod chunk;
mod driver;
mod ingress;

use std::fmt;
use std::io as stdio;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, OpError, RejectReason, Rejected, RunError,
    ShutdownError, TimerId,
};
use parking_lot::{Condvar, Mutex};

use crate::ingress::{Ingress, LaneId, Runner};
use loop_alt_common::counters::{self, Counters};
use loop_alt_common::io::{self, Readiness, RegisterError, WAKER_TOKEN};
pub use loop_alt_common::state;
use loop_alt_common::state::{Handshake, LoopState};
use loop_alt_common::timers::Timers;

/// A queued closure. Always boxed (AlternateOne stored `func()` values).
pub(crate) type Task = Box<dyn FnOnce() + Send + 'static>;

/// The "maximum safety" loop. See the [crate documentation](crate) for the design, its Go
/// source and the exact lifecycle semantics.
///
/// Create it with [`EventLoop::new`], share it as `Arc<AltOneLoop>`, call [`EventLoop::run`] on
/// the thread that should execute the tasks.
pub struct AltOneLoop {
    ingress: Mutex<Ingress>,
    /// `shutdown` callers wait on this (with `ingress`) for the loop to stop.
    done: Condvar,
    handshake: Handshake,
    timers: Mutex<Timers>,
    readiness: Readiness,
    /// Used only by the loop thread, locked for the whole of `run`.
    poll: Mutex<mio::Poll>,
    waker: mio::Waker,
    /// Mirror of the microtask lane's length, written under the ingress lock, read by the loop
    /// thread after every task so the per-task checkpoint costs no lock when there is nothing.
    micro_len: AtomicUsize,
    budget: usize,
    counters: Counters,
}

impl fmt::Debug for AltOneLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AltOneLoop")
            .field("state", &self.state())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl AltOneLoop {
    /// The current lifecycle state (see [`state::LoopState`]).
    pub fn state(&self) -> LoopState {
        self.handshake.state()
    }

    /// After publishing work: writes the eventfd if the loop sleeps and no other producer's
    /// write is pending; counts the wake or its elision.
    fn wake_after_publish(&self) {
        if self.handshake.claim_wake() {
            self.write_wake();
        } else {
            self.counters.wakes_elided.add(1);
        }
    }

    /// Writes the eventfd for a claimed wake; on failure gives the claim back so a later
    /// producer retries (AlternateThree's fix, applied here too).
    fn write_wake(&self) {
        match self.waker.wake() {
            Ok(()) => self.counters.wake_syscalls.add(1),
            Err(_) => self.handshake.release_claim(),
        }
    }

    /// Moves a live loop to `Terminating` and wakes it if it was asleep. Called with the
    /// ingress lock held (by `shutdown` and `close`).
    fn begin_termination(&self) {
        // From any other state there is nothing to wake (awake, or already stopped).
        if self.handshake.begin_termination() == Ok(LoopState::Sleeping)
            && self.handshake.claim_flag()
        {
            self.write_wake();
        }
    }

    /// Queues `f` on `lane` if the caller may add work now.
    fn push<F>(&self, lane: LaneId, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        // Box before locking (shorter critical section); keep the concrete type so a rejected
        // closure can be unboxed and handed back.
        let task = Box::new(f);
        let mut ing = self.ingress.lock();
        if !ing.accepts() {
            drop(ing);
            return Err(Rejected::terminated(*task));
        }
        ing.push(lane, task);
        if lane == LaneId::Microtask {
            self.micro_len.store(ing.len(LaneId::Microtask), Ordering::Relaxed);
        }
        drop(ing);
        self.wake_after_publish();
        Ok(())
    }

    /// Marks the loop stopped when `run` ends, however it ends, releases `shutdown` callers and
    /// runs the *fds* shutdown phase (deregister everything, drop the callbacks).
    fn finish_run(&self) {
        // Phase *fds* first, so a `shutdown` caller released below finds every fd deregistered
        // and every callback dropped.
        let regs = self.readiness.close();
        // Sealed before the callbacks are dropped: their destructors may call back into the
        // loop, and what they submit now could never run (the drain is over), so it is refused
        // with the closure handed back. Each is dropped isolated: one panicking destructor
        // neither escapes nor keeps the others alive.
        self.ingress.lock().sealed = true;
        for reg in regs {
            self.isolate(move || drop(reg));
        }
        {
            let mut ing = self.ingress.lock();
            ing.runner = Runner::Stopped;
            if self.handshake.state() != LoopState::Terminated {
                let _ = self.handshake.begin_termination();
                if let Err(e) =
                    self.handshake.transition(LoopState::Terminating, LoopState::Terminated)
                {
                    // Unreachable: only the loop thread ends termination, and it is here. Not a
                    // panic: this runs in a drop guard, possibly during an unwind.
                    debug_assert!(false, "{e}");
                }
            }
            self.done.notify_all();
        }
    }
}

/// Ends a `run`: on unwind (only possible through a bug in this crate, e.g. a broken lane
/// invariant, since callbacks are isolated) or a fatal poller error it closes the loop first, so
/// queued work is dropped and counted and no `shutdown` caller waits for a drain that will never
/// come.
struct RunGuard<'a> {
    lp: &'a AltOneLoop,
    clean: bool,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if !self.clean {
            self.lp.close();
        }
        self.lp.finish_run();
    }
}

impl Drop for AltOneLoop {
    /// Drops every closure still held (queued tasks, timers, readiness callbacks), each
    /// isolated: a panicking destructor neither escapes nor keeps the closures behind it from
    /// being dropped.
    fn drop(&mut self) {
        let mut rest: Vec<Task> = self.ingress.get_mut().take_all();
        rest.extend(self.timers.get_mut().take_all());
        loop_api::drop_all_isolated(rest);
        loop_api::drop_all_isolated(self.readiness.close());
    }
}

impl EventLoop for AltOneLoop {
    /// Everything but spinning and inline closures; wake-ups are counted exactly.
    const CAPABILITIES: Capabilities = Capabilities {
        internal_priority: true,
        microtasks: true,
        timers: true,
        readiness: true,
        batch_budget: true,
        spin_before_sleep: false,
        inline_tasks: false,
        wake_accounting: true,
    };

    /// Creates an idle loop with its epoll instance and wake-up eventfd. Honours
    /// [`LoopConfig::batch_budget`] (0 is treated as 1); ignores the other knobs.
    ///
    /// # Errors
    /// The epoll instance or the eventfd could not be created.
    fn new(config: &LoopConfig) -> stdio::Result<Self> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        let registry = poll.registry().try_clone()?;
        Ok(Self {
            ingress: Mutex::new(Ingress::new()),
            done: Condvar::new(),
            handshake: Handshake::new(),
            timers: Mutex::new(Timers::new()),
            readiness: Readiness::new(registry),
            poll: Mutex::new(poll),
            waker,
            micro_len: AtomicUsize::new(0),
            budget: config.effective_batch_budget(),
            counters: Counters::default(),
        })
    }

    /// Runs the loop on the calling thread until it is shut down (drained) or closed.
    ///
    /// # Errors
    /// [`RunError::AlreadyRunning`] if another `run` is active (including from inside a task);
    /// [`RunError::Terminated`] if the loop already stopped or was closed; [`RunError::Io`] if
    /// `epoll_wait` failed (the loop is then closed: queued work is dropped and counted).
    ///
    /// # Panics
    /// If a lane invariant or the state machine is found broken (a bug in this crate); the loop
    /// is closed before the panic leaves `run`.
    fn run(&self) -> Result<(), RunError> {
        {
            let mut ing = self.ingress.lock();
            match ing.runner {
                Runner::Running(_) => return Err(RunError::AlreadyRunning),
                Runner::Stopped => return Err(RunError::Terminated),
                Runner::Idle if ing.closed => return Err(RunError::Terminated),
                Runner::Idle => {}
            }
            ing.runner = Runner::Running(std::thread::current().id());
            match self.handshake.transition(LoopState::Awake, LoopState::Running) {
                // A shutdown before `run` left `Terminating`: the loop drains and stops.
                Ok(())
                | Err(state::TransitionError::Lost { actual: LoopState::Terminating, .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let mut guard = RunGuard { lp: self, clean: false };
        let result = self.drive();
        guard.clean = result.is_ok();
        drop(guard);
        result.map_err(RunError::Io)
    }

    /// Queues `f` on the external lane; it runs on the loop thread after every external task
    /// submitted before it. Wakes the loop if it sleeps.
    ///
    /// # Errors
    /// [`RejectReason::Terminated`], with `f` handed back, after `close`, after the loop stopped,
    /// or once a shutdown is requested unless called from the loop thread while it drains.
    fn submit<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.push(LaneId::External, f)
    }

    /// Queues `f` on the internal lane: it runs before any external task not yet started, and is
    /// not counted against the batch budget.
    ///
    /// # Errors
    /// As [`EventLoop::submit`].
    fn submit_internal<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.push(LaneId::Internal, f)
    }

    /// Queues a microtask: from a task it runs right after that task (FIFO with the other
    /// microtasks, at most 1024 per checkpoint); from a foreign thread it runs at the next
    /// checkpoint, and wakes the loop if it sleeps.
    ///
    /// # Errors
    /// As [`EventLoop::submit`].
    fn schedule_microtask<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.push(LaneId::Microtask, f)
    }

    /// Runs `f` on the loop thread once `delay` has elapsed since this call (never earlier).
    /// Timers fire in deadline order, ties in scheduling order. A delay too large for
    /// [`Instant`] gives a timer that never fires (but can be cancelled). Wakes a sleeping loop
    /// so it recomputes its poll timeout.
    ///
    /// # Errors
    /// [`RejectReason::Terminated`], with `f` handed back, once a shutdown or close began (from
    /// any thread: the drain does not wait for future deadlines).
    fn schedule_timer<F>(&self, delay: Duration, f: F) -> Result<TimerId, Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let task = Box::new(f);
        let deadline = Instant::now().checked_add(delay);
        let mut timers = self.timers.lock();
        if !timers.accepting {
            drop(timers);
            return Err(Rejected::terminated(*task));
        }
        let id = timers.insert(deadline, task);
        drop(timers);
        self.wake_after_publish();
        Ok(id)
    }

    /// Cancels a pending timer (its closure is dropped before this returns, outside the lock).
    /// `Ok(true)` if it was pending and will now never fire; `Ok(false)` if it already fired (or
    /// is firing), was cancelled, was dropped by shutdown or close, or is unknown.
    ///
    /// # Errors
    /// Never.
    fn cancel_timer(&self, id: TimerId) -> Result<bool, OpError> {
        let cancelled = self.timers.lock().cancel(id);
        let was_pending = cancelled.is_some();
        if let Some(timer) = cancelled {
            self.isolate(move || drop(timer));
        }
        Ok(was_pending)
    }

    /// Calls `callback` on the loop thread whenever `fd` is readable (level-triggered: it is
    /// called again while data remains). Never blocks behind a sleeping poll.
    ///
    /// # Errors
    /// [`RejectReason::AlreadyRegistered`]; [`RejectReason::Io`] if epoll refused the fd;
    /// [`RejectReason::Terminated`] after `close`, after the loop stopped, or once a shutdown is
    /// requested unless called from the loop thread. The callback comes back in every case.
    fn register_readable<F>(&self, fd: RawFd, callback: F) -> Result<(), Rejected<F>>
    where
        F: FnMut() + Send + 'static,
    {
        if !self.ingress.lock().accepts() {
            return Err(Rejected::terminated(callback));
        }
        self.readiness.register(fd, callback).map_err(|(e, task)| {
            let reason = match e {
                RegisterError::Closed => RejectReason::Terminated,
                RegisterError::AlreadyRegistered => RejectReason::AlreadyRegistered(fd),
                RegisterError::Io(e) => RejectReason::Io(e),
            };
            Rejected { reason, task }
        })
    }

    /// Stops readiness callbacks for `fd`. Once this returns the old callback never starts
    /// again (from a foreign thread this waits for a call in progress to finish).
    ///
    /// # Errors
    /// [`OpError::NotRegistered`] if `fd` is not registered (also after the loop stopped, which
    /// removes every registration).
    fn unregister(&self, fd: RawFd) -> Result<(), OpError> {
        let on_loop = self.ingress.lock().on_loop_thread();
        if self.readiness.unregister(fd, on_loop) {
            Ok(())
        } else {
            Err(OpError::NotRegistered(fd))
        }
    }

    /// Stops accepting work from other threads, waits (at most `timeout`) until the loop has run
    /// every accepted task, and returns. See the crate docs for calls from inside a task, before
    /// `run`, and what happens to pending timers.
    ///
    /// # Errors
    /// [`ShutdownError::Timeout`] if the loop had not drained within `timeout` (the stop stays
    /// requested); [`ShutdownError::Closed`] if [`EventLoop::close`] was called before or while
    /// waiting.
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut ing = self.ingress.lock();
        if ing.closed {
            return Err(ShutdownError::Closed);
        }
        if !ing.stop_requested && !ing.drained {
            ing.stop_requested = true;
            self.timers.lock().accepting = false;
            self.begin_termination();
        }
        if ing.on_loop_thread() {
            // Called by a task: the loop drains after this task returns.
            return Ok(());
        }
        loop {
            if ing.drained && ing.runner == Runner::Stopped {
                return Ok(());
            }
            if ing.closed {
                return Err(ShutdownError::Closed);
            }
            match deadline {
                None => self.done.wait(&mut ing),
                Some(d) if Instant::now() >= d => return Err(ShutdownError::Timeout),
                Some(d) => {
                    self.done.wait_until(&mut ing, d);
                }
            }
        }
    }

    /// Closes the loop: rejects all new work, drops every queued task, microtask and timer
    /// (outside the locks, on the calling thread) and makes `run` return `Ok(())`. Returns how
    /// many it dropped (also added to [`LoopStats::tasks_dropped`]); 0 on every later call. Never
    /// waits. A destructor that panics is caught and counted in [`LoopStats::panics`]; the rest
    /// are still dropped.
    fn close(&self) -> u64 {
        let (tasks, timers, idle) = {
            let mut ing = self.ingress.lock();
            if ing.closed {
                return 0;
            }
            ing.closed = true;
            let tasks = ing.take_all();
            self.micro_len.store(0, Ordering::Relaxed);
            let timers = {
                let mut t = self.timers.lock();
                t.accepting = false;
                t.take_all()
            };
            let idle = ing.runner == Runner::Idle;
            self.begin_termination();
            if idle {
                // Never ran: it stops here (`run` will report `Terminated`).
                ing.runner = Runner::Stopped;
                let _ = self.handshake.transition(LoopState::Terminating, LoopState::Terminated);
            }
            // Waiting `shutdown` callers learn that no drain will come.
            self.done.notify_all();
            (tasks, timers, idle)
        };
        if idle {
            for reg in self.readiness.close() {
                self.isolate(move || drop(reg));
            }
        }
        let dropped = (tasks.len() + timers.len()) as u64;
        self.counters.tasks_dropped.add(dropped);
        // Each isolated: a panicking destructor neither escapes nor keeps the rest alive.
        for task in tasks.into_iter().chain(timers) {
            self.isolate(move || drop(task));
        }
        dropped
    }

    /// A snapshot of the counters (relaxed loads; each counter is monotonic, the snapshot is not
    /// atomic across counters).
    fn stats(&self) -> LoopStats {
        self.counters.snapshot()
    }
}
