//! # example-loop: the worked example of "benchmark your own loop"
//!
//! [`MyLoop`] is a deliberately small event loop that honours the whole `loop-api` contract:
//! one `std::sync::Mutex` guards a `VecDeque` of boxed closures and the lifecycle flags, and the
//! loop thread sleeps on a `Condvar` when the queue is empty. It supports only `submit`
//! (`submit_internal` behaves as `submit`); microtasks, timers and fd readiness are *declared
//! gaps* ([`Capabilities::SUBMIT_ONLY`]), so the tournament reports the workloads needing them as
//! `unsupported` instead of measuring them.
//!
//! The crate shows the three steps of `docs/BRING-YOUR-OWN-LOOP.md`:
//!
//! 1. implement `loop_api::EventLoop` (this file);
//! 2. run the conformance suite with one macro (`tests/conformance.rs`);
//! 3. run the tournament with the loop added (`src/main.rs`, and `tests/tournament.rs`, which
//!    checks a `--smoke` run through the library API lists `my-loop` in `summary.csv`).
//!
//! ## Semantics, in brief
//!
//! * One task per lock acquisition: the loop pops the front task and runs it outside the lock,
//!   so [`EventLoop::close`] can take every task that has not started and none starts after it
//!   returns. A *tick* is one task here (`LoopStats::max_batch` is 1).
//! * A producer pushes and, if the loop has announced it is waiting, clears that flag and
//!   notifies the condvar — in one critical section with the loop's "queue empty, I wait"
//!   decision, so no wake-up is lost.
//! * `shutdown` is conserving: other threads are rejected from then on, the loop thread may
//!   still submit (tasks submitted while draining run too), and the loop stops when it finds the
//!   queue empty. `close` drops the queue on the caller's thread, each destructor isolated.
//! * Every task and every destructor runs under [`loop_api::isolate`]; caught panics are counted.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use loop_api::{Capabilities, EventLoop, LoopConfig, LoopStats, Rejected, RunError, ShutdownError};

/// A queued closure.
type Task = Box<dyn FnOnce() + Send + 'static>;

/// Where the loop is in its life: `Idle` → `Running` → `Stopped`, or `Idle` → `Stopped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Running,
    Stopped,
}

/// Everything the state mutex guards.
struct State {
    queue: VecDeque<Task>,
    phase: Phase,
    /// `shutdown` was called: only the loop thread may still submit; drain, then stop.
    stop_requested: bool,
    /// `close` was called: accept nothing, start nothing.
    closed: bool,
    /// The drain finished; `shutdown` callers return `Ok`.
    drained: bool,
    /// The loop waits (or is about to) on `wake`; the first producer to see it notifies.
    waiting: bool,
    /// The thread inside `run`.
    loop_thread: Option<ThreadId>,
}

impl State {
    fn on_loop_thread(&self) -> bool {
        self.phase == Phase::Running && self.loop_thread == Some(thread::current().id())
    }

    fn accepts(&self) -> bool {
        !self.closed
            && self.phase != Phase::Stopped
            && (!self.stop_requested || self.on_loop_thread())
    }
}

/// Relaxed counters behind [`EventLoop::stats`].
#[derive(Default)]
struct Counters {
    tasks_run: AtomicU64,
    panics: AtomicU64,
    tasks_dropped: AtomicU64,
    sleeps: AtomicU64,
}

/// A `Mutex<VecDeque>` + `Condvar` event loop; see the [crate docs](crate).
///
/// Share it as `Arc<MyLoop>`; call [`EventLoop::run`] on the thread that should run the tasks.
pub struct MyLoop {
    state: Mutex<State>,
    /// The loop sleeps on it (with `state`).
    wake: Condvar,
    /// `shutdown` callers wait on it (with `state`) for the loop to stop.
    done: Condvar,
    counters: Counters,
}

impl MyLoop {
    /// Locks the state. Tasks and destructors never run under the lock, so a poisoned mutex
    /// can only come from a bug here; the state is still consistent, so carry on.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` isolated, counting a caught panic.
    fn isolate(&self, f: impl FnOnce()) {
        if loop_api::isolate(f) {
            self.counters.panics.fetch_add(1, Relaxed);
        }
    }

    /// The loop thread's cycle: take one task, run it, until stopped.
    fn drive(&self) {
        loop {
            let task = {
                let mut st = self.lock();
                loop {
                    if st.closed {
                        return;
                    }
                    if let Some(task) = st.queue.pop_front() {
                        break task;
                    }
                    if st.stop_requested {
                        // Only this thread may submit now, and it is here: drained for good.
                        st.drained = true;
                        st.phase = Phase::Stopped;
                        return;
                    }
                    st.waiting = true;
                    self.counters.sleeps.fetch_add(1, Relaxed);
                    st = self.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
                    st.waiting = false;
                }
            };
            self.isolate(task);
            self.counters.tasks_run.fetch_add(1, Relaxed);
        }
    }

    /// Notifies the loop if it waits. Call with the state lock held.
    fn wake_if_waiting(&self, st: &mut State) {
        if std::mem::replace(&mut st.waiting, false) {
            self.wake.notify_one();
        }
    }
}

/// Ends a `run` however it ends: marks the loop stopped and releases `shutdown` callers. On an
/// unwind (a bug here, since tasks are isolated) it closes the loop first, so queued work is
/// dropped and counted.
struct RunGuard<'a>(&'a MyLoop);

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.close();
        }
        let mut st = self.0.lock();
        st.phase = Phase::Stopped;
        st.loop_thread = None;
        st.waiting = false;
        self.0.done.notify_all();
    }
}

impl Drop for MyLoop {
    /// Drops every closure still queued, each isolated.
    fn drop(&mut self) {
        let rest = std::mem::take(&mut self.lock().queue);
        loop_api::drop_all_isolated(rest);
    }
}

impl EventLoop for MyLoop {
    /// Submit only: no internal priority, microtasks, timers or readiness; no config knob
    /// honoured; wake-ups not counted.
    const CAPABILITIES: Capabilities = Capabilities::SUBMIT_ONLY;

    /// Creates an idle loop; `config` is ignored (no knob is honoured).
    ///
    /// # Errors
    /// Never: the loop needs no OS resources.
    fn new(_config: &LoopConfig) -> io::Result<Self> {
        Ok(Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                phase: Phase::Idle,
                stop_requested: false,
                closed: false,
                drained: false,
                waiting: false,
                loop_thread: None,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            counters: Counters::default(),
        })
    }

    /// Runs tasks on the calling thread until the loop is drained by `shutdown` or closed.
    ///
    /// # Errors
    /// [`RunError::AlreadyRunning`] while another `run` is active (also from inside a task);
    /// [`RunError::Terminated`] once the loop stopped or was closed.
    fn run(&self) -> Result<(), RunError> {
        {
            let mut st = self.lock();
            match st.phase {
                Phase::Running => return Err(RunError::AlreadyRunning),
                Phase::Stopped => return Err(RunError::Terminated),
                Phase::Idle => {}
            }
            st.phase = Phase::Running;
            st.loop_thread = Some(thread::current().id());
        }
        let _guard = RunGuard(self);
        self.drive();
        Ok(())
    }

    /// Queues `f` (one FIFO for every producer) and wakes the loop if it sleeps.
    ///
    /// # Errors
    /// `Terminated`, with `f` handed back, after `close`, after the loop stopped, or once a
    /// shutdown is requested (except from the loop thread while it drains).
    fn submit<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let mut st = self.lock();
        if !st.accepts() {
            return Err(Rejected::terminated(f));
        }
        st.queue.push_back(Box::new(f));
        self.wake_if_waiting(&mut st);
        Ok(())
    }

    /// Exactly [`EventLoop::submit`] (no internal priority queue).
    ///
    /// # Errors
    /// As [`EventLoop::submit`].
    fn submit_internal<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.submit(f)
    }

    /// Requests a conserving stop and waits at most `timeout` for the drain (from inside a task:
    /// only requests it). Before `run`, the next `run` drains and stops.
    ///
    /// # Errors
    /// [`ShutdownError::Timeout`] if not drained in time (the stop stays requested);
    /// [`ShutdownError::Closed`] if `close` stopped the loop.
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.lock();
        if st.closed {
            return Err(ShutdownError::Closed);
        }
        st.stop_requested = true;
        self.wake_if_waiting(&mut st);
        if st.on_loop_thread() {
            return Ok(());
        }
        loop {
            if st.drained {
                return Ok(());
            }
            if st.closed {
                return Err(ShutdownError::Closed);
            }
            st = match deadline {
                None => self.done.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ShutdownError::Timeout);
                    }
                    self.done.wait_timeout(st, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }

    /// Rejects all new work, drops every queued task on the calling thread (each destructor
    /// isolated, panics counted) and makes `run` return. Returns how many it dropped; 0 after
    /// the first call. Never waits for the loop.
    fn close(&self) -> u64 {
        let queue = {
            let mut st = self.lock();
            if st.closed {
                return 0;
            }
            st.closed = true;
            if st.phase == Phase::Idle {
                st.phase = Phase::Stopped;
            }
            self.wake_if_waiting(&mut st);
            self.done.notify_all();
            std::mem::take(&mut st.queue)
        };
        let dropped = queue.len() as u64;
        self.counters.tasks_dropped.fetch_add(dropped, Relaxed);
        for task in queue {
            self.isolate(move || drop(task));
        }
        dropped
    }

    /// A snapshot of the counters: tasks run (all external), panics, drops, condvar waits;
    /// `ticks` counts tasks run (one task per tick) and `max_batch` is 1 once a task ran.
    fn stats(&self) -> LoopStats {
        let ran = self.counters.tasks_run.load(Relaxed);
        LoopStats {
            tasks_run_external: ran,
            panics: self.counters.panics.load(Relaxed),
            tasks_dropped: self.counters.tasks_dropped.load(Relaxed),
            sleeps: self.counters.sleeps.load(Relaxed),
            ticks: ran,
            max_batch: ran.min(1),
            ..LoopStats::default()
        }
    }
}

/// The registry entry the tournament runs this loop under: id `my-loop`.
pub fn contender() -> tournament::Contender {
    tournament::contender::<MyLoop>(
        "my-loop",
        "example: Mutex<VecDeque> of boxed closures, one task per lock, condvar sleep, submit only",
    )
}
