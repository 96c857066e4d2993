//! # loop-alt-three: "balanced" (the original design)
//!
//! [`AltThreeLoop`] rebuilds the Go tournament's **AlternateThree**
//! (`docs/HISTORY.md`, "AlternateThree"), the Main loop before its "Phase 18" rewrite:
//! mutex-based and simple, full error handling, check-then-sleep. It keeps that design's data
//! structures, locking, wake-up path, budgets and phase order, and fixes its bugs (HISTORY.md bugs
//! 5, 13).
//!
//! ## Design
//!
//! * **External ingress: 128-slot chunks from a chunk pool, under one mutex** (`chunk.rs`).
//!   `submit` takes the lock, checks acceptance, pushes, unlocks, then wakes. A pop clears its
//!   slot; a drained chunk returns to the pool (clearing only the slots still between its
//!   cursors, so a pooled chunk never holds a closure); the last chunk has its cursors reset.
//! * **External batch ≤ [`LoopConfig::batch_budget`]** (default 1024) popped under *one* lock
//!   acquisition into a reusable batch buffer, then run outside the lock.
//! * **Internal queue: a double buffer under its own mutex.** The loop swaps the producers'
//!   buffer with its (empty) consumer buffer under the lock and runs everything it took outside
//!   it; both allocations are reused.
//! * **Loop-private microtask list** (capacity 64, drained ≤ 1024 after the internal queue,
//!   after the external batch and after the poll; over budget it forces the next poll to be
//!   non-blocking; compacted after a spike). There is **no public microtask API**: the capability
//!   is declared unsupported and [`EventLoop::schedule_microtask`] hands the closure back.
//! * **Wake-up: an eventfd through mio** (`mio::Poll` + `mio::Waker`), written only when the
//!   loop sleeps and deduplicated by a wake-pending flag: the producer that moves the flag from
//!   `false` to `true` writes, the others elide ([`LoopStats::wakes_elided`]); a failed write
//!   gives the claim back. The loop clears the flag after each poll. The state machine
//!   ([`state::LoopState`], AlternateOne's and AlternateThree's five states) moves between
//!   `Running` and `Sleeping` by compare-and-swap only. Shared with alt-one in
//!   `loop-alt-common`, model-checked by its `tests/loom_wake.rs`.
//! * **Tick** (AlternateThree's order): fire due timers → internal queue + microtasks → external
//!   batch → microtasks → poll → microtasks.
//! * **Poll**: `Running → Sleeping`, look at both queues (each under its lock) and the timers,
//!   and block in `epoll_wait` only if nothing is due, for `min(10 s, next timer − now)` (0 when
//!   forced); then clear the wake flag and go back to `Running`.
//! * **Timers** in a binary min-heap by `(deadline, sequence)`, with O(1) cancel by [`TimerId`].
//! * **Readiness via mio**: each registration gets a fresh token (a generation number), so an
//!   event for an old registration never reaches a new callback after the fd number is reused;
//!   no lock is held across the poll or a callback; registrations are level-triggered epoll
//!   entries, so no `epoll_ctl` per call (`loop-alt-common`'s `io` module).
//! * Every task, timer callback, readiness callback and drain-time destructor runs under
//!   `catch_unwind(AssertUnwindSafe(..))`; a panic is counted in [`LoopStats::panics`].
//!
//! Capabilities: internal priority, timers, readiness, the batch budget, exact wake accounting;
//! **no microtasks** (declared), no spinning, no inline closures (every task is boxed).
//! [`LoopConfig::spin_before_sleep`], [`LoopConfig::inline_tasks`] and
//! [`LoopConfig::always_poll`] are ignored (the loop always sleeps in the poller).
//!
//! ## Deliberate differences from the Go AlternateThree
//!
//! * **Drained tasks never run under the ingress lock** (bug #13: Go's shutdown popped and ran
//!   every ingress task while holding `ingressMu`, and `Submit` locks before it checks the
//!   state, so a drained task calling `Submit` self-deadlocked). The drain runs ordinary ticks,
//!   tasks unlocked; conservation comes from deciding "nothing left, stop" under the locks that
//!   accept submissions.
//! * **Internal work is checked after every external task** (one atomic load), so a task
//!   calling `submit_internal` has that work run next, before the rest of the batch, as the
//!   contract's internal-before-external priority requires (Go ran it only at the next tick).
//! * **The batch in flight sits behind a small mutex**, popped one task at a time (uncontended),
//!   so that `close` can drop the tasks not started yet (Go's `Close` was a non-blocking
//!   *graceful* stop; here `close` drops and counts, as the workspace contract says).
//! * **Readiness callbacks are isolated** (Go ran them without panic recovery) and
//!   level-triggered; every event is routed by a per-registration token.
//! * **Shutdown semantics are the workspace's** (the baseline's, see `loop-baseline`):
//!   conserving on every path, including `submit_internal` and shutdown before `run`; pending
//!   timers are dropped and counted; `run` after termination returns [`RunError::Terminated`].
//! * **Timers** get ids and cancellation (Go had neither) and are not pushed through the
//!   internal queue; the chunk pool is per loop (Go used a global `sync.Pool`), bounded at 64
//!   chunks; the promise registry, its scavenger, `OnOverload` and the public `Wake()` have no
//!   equivalent; panics are counted, not logged.
//!
//! ## Lifecycle semantics (as the baseline)
//!
//! * **`run`**: a second `run` while one is active returns [`RunError::AlreadyRunning`]; `run`
//!   after the loop stopped or was closed returns [`RunError::Terminated`].
//! * **`shutdown(timeout)`** is conserving: from then on only the loop thread may add tasks (and
//!   register fds); other threads are rejected with their closure back. The loop drains until a
//!   pass finds nothing, then stops; every caller waits (at most `timeout`) and gets `Ok(())`.
//!   From inside a task it only requests the stop. Before `run`, it records the stop and the
//!   next `run` drains.
//! * **Pending timers at shutdown**: `schedule_timer` is rejected from every thread once a
//!   shutdown is requested; due timers fire during the drain; timers still pending when the
//!   drain finds no task left are dropped (on the loop thread, isolated) and counted in
//!   [`LoopStats::tasks_dropped`].
//! * **`close()`** takes every queued task, the unstarted rest of the batch in flight and every
//!   timer under the locks, drops them on the caller's thread outside the locks, counts them,
//!   wakes the loop and returns the count; later calls return 0 and `shutdown` returns
//!   [`ShutdownError::Closed`]. A task already executing finishes; no queued task starts after
//!   `close` returns.
//! * **Drop** of a loop that is not running drops every queued task and timer exactly once.
//!
//! ## Statistics
//!
//! Relaxed atomics. `wake_syscalls` counts eventfd writes, counted by the writing thread
//! (producer, `shutdown`, `close`); `wakes_elided` counts submissions that skipped the write;
//! `sleeps` counts blocking polls; `polls` counts every `epoll_wait` (blocking or not); `ticks`
//! counts main-cycle iterations; `max_batch` is the largest external batch of one tick (≤ the
//! budget); `microtasks_run` stays 0 (nothing public can queue one).
//!
//! ## Verification
//!
//! Unit tests next to the code, the conformance suite and regression tests in `tests/`, and a
//! loom model of the wake handshake in `loop-alt-common`: `RUSTFLAGS="--cfg loom" cargo test
//! --release -p loop-alt-common --test loom_wake`.

mod chunk;
mod driver;
mod ingress;
mod microtasks;

use std::fmt;
use std::io as stdio;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, OpError, RejectReason, Rejected, RunError,
    ShutdownError, TimerId,
};
use parking_lot::{Condvar, Mutex};

use crate::ingress::{Gate, InFlight, Ingress, Internal, Runner};
use crate::microtasks::Microtasks;
use loop_alt_common::counters::{self, Counters};
use loop_alt_common::io::{self, Readiness, RegisterError, WAKER_TOKEN};
pub use loop_alt_common::state;
use loop_alt_common::state::{Handshake, LoopState};
use loop_alt_common::timers::Timers;

/// A queued closure. Always boxed (AlternateThree stored `func()` values).
pub(crate) type Task = Box<dyn FnOnce() + Send + 'static>;

/// The "balanced" loop. See the [crate documentation](crate) for the design, its Go
/// source and the exact lifecycle semantics.
///
/// Create it with [`EventLoop::new`], share it as `Arc<AltThreeLoop>`, call [`EventLoop::run`] on
/// the thread that should execute the tasks.
pub struct AltThreeLoop {
    /// Lock order: `ingress`, `internal`, `inflight`, `timers`, `microtasks`.
    ingress: Mutex<Ingress>,
    internal: Mutex<Internal>,
    inflight: Mutex<InFlight>,
    /// Set (under the internal lock) whenever internal work is queued; cleared by the loop just
    /// before it swaps the buffers, so checking for internal work after a task is one load.
    internal_pending: AtomicBool,
    microtasks: Mutex<Microtasks>,
    /// The last microtask drain hit its budget: the next poll must not block. Loop thread only.
    force_nonblocking: AtomicBool,
    /// `shutdown` callers wait on this (with `ingress`) for the loop to stop.
    done: Condvar,
    handshake: Handshake,
    timers: Mutex<Timers>,
    readiness: Readiness,
    /// Used only by the loop thread, locked for the whole of `run`.
    poll: Mutex<mio::Poll>,
    waker: mio::Waker,
    budget: usize,
    counters: Counters,
}

impl fmt::Debug for AltThreeLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AltThreeLoop")
            .field("state", &self.state())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl AltThreeLoop {
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

    /// Applies `f` to both copies of the gate; the caller holds the ingress lock.
    fn update_gate(&self, ing: &mut Ingress, f: impl Fn(&mut Gate)) {
        f(&mut ing.gate);
        f(&mut self.internal.lock().gate);
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
        {
            let mut ing = self.ingress.lock();
            self.update_gate(&mut ing, |g| g.sealed = true);
        }
        for reg in regs {
            self.isolate(move || drop(reg));
        }
        {
            let mut ing = self.ingress.lock();
            self.update_gate(&mut ing, |g| g.runner = Runner::Stopped);
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
    lp: &'a AltThreeLoop,
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

impl Drop for AltThreeLoop {
    /// Drops every closure still held (queued tasks, timers, readiness callbacks), each
    /// isolated: a panicking destructor neither escapes nor keeps the closures behind it from
    /// being dropped.
    fn drop(&mut self) {
        let ing = self.ingress.get_mut();
        let Ingress { queue, pool, .. } = ing;
        let mut rest: Vec<Task> = queue.take_all(pool);
        rest.extend(std::mem::take(&mut self.internal.get_mut().queue));
        let inflight = self.inflight.get_mut();
        rest.extend(std::mem::take(&mut inflight.internal));
        rest.extend(std::mem::take(&mut inflight.external));
        rest.extend(self.microtasks.get_mut().take_all());
        rest.extend(self.timers.get_mut().take_all());
        loop_api::drop_all_isolated(rest);
        loop_api::drop_all_isolated(self.readiness.close());
    }
}

impl EventLoop for AltThreeLoop {
    /// Internal priority, timers, readiness and the budget; no public microtasks, no spinning,
    /// no inline closures; wake-ups are counted exactly.
    const CAPABILITIES: Capabilities = Capabilities {
        internal_priority: true,
        microtasks: false,
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
            internal: Mutex::new(Internal::new()),
            inflight: Mutex::new(InFlight::default()),
            internal_pending: AtomicBool::new(false),
            microtasks: Mutex::new(Microtasks::new()),
            force_nonblocking: AtomicBool::new(false),
            done: Condvar::new(),
            handshake: Handshake::new(),
            timers: Mutex::new(Timers::new()),
            readiness: Readiness::new(registry),
            poll: Mutex::new(poll),
            waker,
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
            match ing.gate.runner {
                Runner::Running(_) => return Err(RunError::AlreadyRunning),
                Runner::Stopped => return Err(RunError::Terminated),
                Runner::Idle if ing.gate.closed => return Err(RunError::Terminated),
                Runner::Idle => {}
            }
            let me = Runner::Running(std::thread::current().id());
            self.update_gate(&mut ing, |g| g.runner = me);
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

    /// Queues `f` on the external ingress; it runs on the loop thread after every task
    /// submitted before it. Takes the ingress lock, checks acceptance, pushes, unlocks, then
    /// wakes the loop if it sleeps.
    ///
    /// # Errors
    /// [`RejectReason::Terminated`], with `f` handed back, after `close`, after the loop stopped,
    /// or once a shutdown is requested unless called from the loop thread while it drains.
    fn submit<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        // Box before locking (shorter critical section); keep the concrete type so a rejected
        // closure can be unboxed and handed back.
        let task = Box::new(f);
        let mut ing = self.ingress.lock();
        if !ing.gate.accepts() {
            drop(ing);
            return Err(Rejected::terminated(*task));
        }
        let Ingress { queue, pool, .. } = &mut *ing;
        queue.push(pool, task);
        drop(ing);
        self.wake_after_publish();
        Ok(())
    }

    /// Queues `f` on the internal double buffer: it runs before any external task not yet
    /// started (the loop checks for internal work after every task), and is not counted against
    /// the batch budget.
    ///
    /// # Errors
    /// As [`EventLoop::submit`].
    fn submit_internal<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let task = Box::new(f);
        let mut internal = self.internal.lock();
        if !internal.gate.accepts() {
            drop(internal);
            return Err(Rejected::terminated(*task));
        }
        internal.queue.push_back(task);
        self.internal_pending.store(true, Ordering::SeqCst);
        drop(internal);
        self.wake_after_publish();
        Ok(())
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
        if !self.ingress.lock().gate.accepts() {
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
        let on_loop = self.ingress.lock().gate.on_loop_thread();
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
        if ing.gate.closed {
            return Err(ShutdownError::Closed);
        }
        if !ing.gate.stop_requested && !ing.gate.drained {
            self.update_gate(&mut ing, |g| g.stop_requested = true);
            self.timers.lock().accepting = false;
            self.begin_termination();
        }
        if ing.gate.on_loop_thread() {
            // Called by a task: the loop drains after this task returns.
            return Ok(());
        }
        loop {
            if ing.gate.drained && ing.gate.runner == Runner::Stopped {
                return Ok(());
            }
            if ing.gate.closed {
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

    /// Closes the loop: rejects all new work, drops every queued task (including the unstarted
    /// rest of the batch in flight) and every timer, outside the locks, on the calling thread,
    /// and makes `run` return `Ok(())`. Returns how many it dropped (also added to
    /// [`LoopStats::tasks_dropped`]); 0 on every later call. Never waits. A destructor that
    /// panics is caught and counted in [`LoopStats::panics`]; the rest are still dropped.
    fn close(&self) -> u64 {
        let (mut tasks, timers, idle) = {
            let mut ing = self.ingress.lock();
            if ing.gate.closed {
                return 0;
            }
            self.update_gate(&mut ing, |g| g.closed = true);
            let Ingress { queue, pool, .. } = &mut *ing;
            let mut tasks = queue.take_all(pool);
            tasks.extend(std::mem::take(&mut self.internal.lock().queue));
            {
                let mut inflight = self.inflight.lock();
                tasks.extend(std::mem::take(&mut inflight.internal));
                tasks.extend(std::mem::take(&mut inflight.external));
            }
            let timers = {
                let mut t = self.timers.lock();
                t.accepting = false;
                t.take_all()
            };
            tasks.extend(self.microtasks.lock().take_all());
            let idle = ing.gate.runner == Runner::Idle;
            self.begin_termination();
            if idle {
                // Never ran: it stops here (`run` will report `Terminated`).
                self.update_gate(&mut ing, |g| g.runner = Runner::Stopped);
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
        for task in tasks.drain(..).chain(timers) {
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
