//! # loop-api: the contract every contender of the tournament implements
//!
//! A contender is a single-threaded, callback-style event loop: one thread (the *loop thread*,
//! whichever thread calls [`EventLoop::run`]) executes every task, while any number of other
//! threads submit work to it. The trait is deliberately **not object-safe**: submission is generic
//! over the closure type (`F: FnOnce() + Send + 'static`), so a loop that stores small closures
//! inline is not forced to box them, and the tournament's workloads are monomorphised per
//! contender (no dynamic dispatch inside a timed region).
//!
//! ## Queues
//!
//! * **external** ([`EventLoop::submit`]): the ordinary ingress, callable from any thread,
//!   drained at most [`LoopConfig::batch_budget`] tasks per tick by loops that honour a budget.
//! * **internal** ([`EventLoop::submit_internal`]): a priority queue; every task in it runs before
//!   any external task that was queued at the time, and it bypasses the external batch budget.
//! * **microtasks** ([`EventLoop::schedule_microtask`]): drained after *every* task.
//! * **timers** ([`EventLoop::schedule_timer`]) and **readiness** callbacks
//!   ([`EventLoop::register_readable`]).
//!
//! Optional queues are declared in [`Capabilities`]; a loop without one rejects with
//! [`RejectReason::Unsupported`] and hands the closure back.
//!
//! ## Rejections never lose work
//!
//! Every submission either is *accepted* — the loop then runs it exactly once, or drops it exactly
//! once on [`EventLoop::close`] — or is *rejected* with [`Rejected`], which carries the caller's
//! closure back. A rejection because the loop has stopped displays as "loop has been terminated".
//!
//! ## Lifecycle
//!
//! `new` → (submissions may already be accepted) → `run` on the loop thread → `shutdown` (graceful,
//! conserving) or `close` (immediate, dropping) → `run` returns. Running a loop twice, concurrently
//! or after it terminated, is an error ([`RunError`]), never a hang. See each method for the exact
//! semantics the conformance suite (`loop-conformance`) checks.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// The text every "the loop has stopped" error contains, kept identical to the historical Go
/// tournament's `ErrLoopTerminated` so logs and tests can match on it.
pub const TERMINATED_MESSAGE: &str = "loop has been terminated";

/// Default external batch budget (tasks per tick), the historical tournament's value
/// (`docs/HISTORY.md`, "The historical contract": 1024 external tasks per tick).
pub const DEFAULT_BATCH_BUDGET: usize = 1024;

/// Default bound on how long a loop spins looking for work before it sleeps: 20 µs, a few
/// cross-core round trips on the reference VM (~110–140 ns each) and well under the cost of one
/// sleep/wake cycle there (30–65 µs, `docs/REFERENCE-MACHINE.md`).
pub const DEFAULT_SPIN_BEFORE_SLEEP: Duration = Duration::from_micros(20);

/// Configuration handed to [`EventLoop::new`].
///
/// Every field has a documented default ([`LoopConfig::default`]). A contender honours the knobs
/// its [`Capabilities`] say it honours and ignores the others; the tournament reports which.
/// **Any** value of every field is valid and keeps the loop live: with `batch_budget = 0` or
/// `usize::MAX`, and with `spin_before_sleep = Duration::MAX`, tasks, microtasks, timers and
/// readiness callbacks are still served and `shutdown` still drains (a spin must keep looking at
/// timers and fds, not only at the task queues; conformance check `extreme_config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopConfig {
    /// Maximum number of *external* tasks run per tick, in tasks. Default
    /// [`DEFAULT_BATCH_BUDGET`] (1024). Must be ≥ 1; a loop treats 0 as 1. Internal tasks and
    /// microtasks are not counted against it.
    pub batch_budget: usize,
    /// How long the loop may spin (re-checking its queues without a syscall) before it sleeps.
    /// Default [`DEFAULT_SPIN_BEFORE_SLEEP`] (20 µs). `Duration::ZERO` means "sleep at once".
    /// Loops that never spin ignore it ([`Capabilities::spin_before_sleep`]).
    pub spin_before_sleep: Duration,
    /// Store small closures inline instead of boxing them, for loops that can
    /// ([`Capabilities::inline_tasks`]). Default `true`. Exists so an ablation can switch it off.
    pub inline_tasks: bool,
    /// Always sleep in the OS poller (epoll, woken through an eventfd) even when no fd is
    /// registered, for loops that otherwise choose a cheaper sleep. Default `false`. Exists so an
    /// ablation can measure the cost of the poller path.
    pub always_poll: bool,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            batch_budget: DEFAULT_BATCH_BUDGET,
            spin_before_sleep: DEFAULT_SPIN_BEFORE_SLEEP,
            inline_tasks: true,
            always_poll: false,
        }
    }
}

impl LoopConfig {
    /// The batch budget clamped to at least one task.
    pub fn effective_batch_budget(&self) -> usize {
        self.batch_budget.max(1)
    }
}

/// What a contender supports and which [`LoopConfig`] knobs it honours.
///
/// A `false` capability is a *declared gap*: the matching methods reject with
/// [`RejectReason::Unsupported`], and the tournament prints the gap instead of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// `submit_internal` is a real priority queue that runs before queued external work. When
    /// `false`, `submit_internal` is accepted but behaves exactly like `submit`.
    pub internal_priority: bool,
    /// `schedule_microtask` is supported.
    pub microtasks: bool,
    /// `schedule_timer` / `cancel_timer` are supported.
    pub timers: bool,
    /// `register_readable` / `unregister` are supported.
    pub readiness: bool,
    /// [`LoopConfig::batch_budget`] is honoured.
    pub batch_budget: bool,
    /// [`LoopConfig::spin_before_sleep`] is honoured.
    pub spin_before_sleep: bool,
    /// [`LoopConfig::inline_tasks`] is honoured (small closures are stored without boxing).
    pub inline_tasks: bool,
    /// [`LoopStats::wake_syscalls`] / [`LoopStats::wakes_elided`] are counted exactly. When
    /// `false` they read 0 and the tournament reports "not measured".
    pub wake_accounting: bool,
}

impl Capabilities {
    /// Everything supported, every knob honoured.
    pub const ALL: Capabilities = Capabilities {
        internal_priority: true,
        microtasks: true,
        timers: true,
        readiness: true,
        batch_budget: true,
        spin_before_sleep: true,
        inline_tasks: true,
        wake_accounting: true,
    };
    /// Only `submit` (and `submit_internal` behaving as `submit`).
    pub const SUBMIT_ONLY: Capabilities = Capabilities {
        internal_priority: false,
        microtasks: false,
        timers: false,
        readiness: false,
        batch_budget: false,
        spin_before_sleep: false,
        inline_tasks: false,
        wake_accounting: false,
    };

    /// Whether the optional operation `cap` is supported.
    pub fn supports(&self, cap: Capability) -> bool {
        match cap {
            Capability::InternalPriority => self.internal_priority,
            Capability::Microtasks => self.microtasks,
            Capability::Timers => self.timers,
            Capability::Readiness => self.readiness,
        }
    }
}

/// An optional operation of the contract, named in [`RejectReason::Unsupported`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// A distinct internal priority queue.
    InternalPriority,
    /// `schedule_microtask`.
    Microtasks,
    /// `schedule_timer` / `cancel_timer`.
    Timers,
    /// `register_readable` / `unregister`.
    Readiness,
}

impl Capability {
    /// Stable lowercase name used in reports ("microtasks", "timers", ...).
    pub fn name(self) -> &'static str {
        match self {
            Capability::InternalPriority => "internal-priority",
            Capability::Microtasks => "microtasks",
            Capability::Timers => "timers",
            Capability::Readiness => "readiness",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a submission (or registration) was rejected.
#[derive(Debug)]
#[non_exhaustive]
pub enum RejectReason {
    /// The loop is shutting down or has stopped. Displays as "loop has been terminated".
    Terminated,
    /// The contender does not support this operation (a declared capability gap).
    Unsupported(Capability),
    /// An OS error, e.g. registering an fd that epoll refuses.
    Io(io::Error),
    /// The fd is already registered with this loop.
    AlreadyRegistered(RawFd),
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Terminated => f.write_str(TERMINATED_MESSAGE),
            RejectReason::Unsupported(cap) => write!(f, "operation not supported: {cap}"),
            RejectReason::Io(e) => write!(f, "I/O error: {e}"),
            RejectReason::AlreadyRegistered(fd) => write!(f, "fd {fd} is already registered"),
        }
    }
}

impl PartialEq for RejectReason {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RejectReason::Terminated, RejectReason::Terminated) => true,
            (RejectReason::Unsupported(a), RejectReason::Unsupported(b)) => a == b,
            (RejectReason::Io(a), RejectReason::Io(b)) => a.kind() == b.kind(),
            (RejectReason::AlreadyRegistered(a), RejectReason::AlreadyRegistered(b)) => a == b,
            _ => false,
        }
    }
}

/// A rejected submission: the reason and the caller's closure, handed back untouched.
///
/// Nothing the caller gave is lost: `task` is the very value passed to the method, never run and
/// never dropped by the loop.
pub struct Rejected<F> {
    /// Why the loop refused it.
    pub reason: RejectReason,
    /// The closure (or callback) the caller passed, returned to the caller.
    pub task: F,
}

impl<F> Rejected<F> {
    /// A rejection because the loop has stopped.
    pub fn terminated(task: F) -> Self {
        Self { reason: RejectReason::Terminated, task }
    }

    /// A rejection because the contender lacks `cap`.
    pub fn unsupported(cap: Capability, task: F) -> Self {
        Self { reason: RejectReason::Unsupported(cap), task }
    }

    /// Takes the closure back, discarding the reason.
    pub fn into_task(self) -> F {
        self.task
    }
}

impl<F> fmt::Debug for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected").field("reason", &self.reason).finish_non_exhaustive()
    }
}

impl<F> fmt::Display for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "submission rejected: {}", self.reason)
    }
}

impl<F> std::error::Error for Rejected<F> {}

/// Identifies a timer returned by [`EventLoop::schedule_timer`]; unique per loop instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

/// Why [`EventLoop::run`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// Another thread is running this loop right now.
    AlreadyRunning,
    /// The loop already ran to completion, or was closed; displays "loop has been terminated".
    Terminated,
    /// The OS poller failed fatally.
    Io(io::Error),
    /// `run` was called inside a task of another loop running on this thread, and this
    /// contender cannot nest (tokio's `block_on`, for one, cannot). The loop is left as it was:
    /// not run, still accepting; it may be run later from another thread, or closed.
    Nested,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::AlreadyRunning => f.write_str("loop is already running"),
            RunError::Terminated => f.write_str(TERMINATED_MESSAGE),
            RunError::Io(e) => write!(f, "poller failed: {e}"),
            RunError::Nested => {
                f.write_str("this loop cannot run inside a task of another loop on the same thread")
            }
        }
    }
}

impl std::error::Error for RunError {}

/// Why [`EventLoop::shutdown`] did not return `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The timeout elapsed before the loop finished draining. The shutdown stays requested: the
    /// loop keeps draining and stops on its own; a later `shutdown` call can wait again.
    Timeout,
    /// The loop was stopped by [`EventLoop::close`] instead, so accepted tasks may have been
    /// dropped (counted in [`LoopStats::tasks_dropped`]). Displays "loop has been terminated".
    Closed,
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownError::Timeout => f.write_str("shutdown timed out before the loop drained"),
            ShutdownError::Closed => write!(f, "{TERMINATED_MESSAGE} (closed, not drained)"),
        }
    }
}

impl std::error::Error for ShutdownError {}

/// Why [`EventLoop::cancel_timer`] or [`EventLoop::unregister`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpError {
    /// The contender lacks the capability.
    Unsupported(Capability),
    /// The fd is not registered with this loop.
    NotRegistered(RawFd),
    /// The loop has stopped; displays "loop has been terminated".
    Terminated,
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Unsupported(cap) => write!(f, "operation not supported: {cap}"),
            OpError::NotRegistered(fd) => write!(f, "fd {fd} is not registered"),
            OpError::Terminated => f.write_str(TERMINATED_MESSAGE),
        }
    }
}

impl std::error::Error for OpError {}

/// Counters a loop keeps, cheap enough to leave on in benchmarks (relaxed atomics or loop-local
/// counters). All are monotonic over the loop's life; units are counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// External tasks ([`EventLoop::submit`]) that ran, panicking ones included.
    pub tasks_run_external: u64,
    /// Internal tasks ([`EventLoop::submit_internal`]) that ran. Loops without
    /// [`Capabilities::internal_priority`] count them as external.
    pub tasks_run_internal: u64,
    /// Microtasks that ran.
    pub microtasks_run: u64,
    /// Timer callbacks that ran.
    pub timers_fired: u64,
    /// Readiness callbacks that ran.
    pub io_callbacks: u64,
    /// Callbacks of any kind that panicked (the panic was caught and the loop went on).
    pub panics: u64,
    /// Accepted tasks, microtasks and timers dropped without running by [`EventLoop::close`] or by
    /// dropping an unstopped loop.
    pub tasks_dropped: u64,
    /// Wake-ups that cost the *producer* a syscall or futex call (eventfd write, futex wake,
    /// condvar notify of a waiting loop).
    pub wake_syscalls: u64,
    /// Submissions that found the loop awake (or a wake already pending) and so skipped the wake.
    pub wakes_elided: u64,
    /// Times the loop thread blocked (condvar wait, futex park, `epoll_wait` with a timeout).
    pub sleeps: u64,
    /// Calls into the OS poller (`epoll_wait`), blocking or not.
    pub polls: u64,
    /// Iterations of the loop's main cycle.
    pub ticks: u64,
    /// Largest number of external tasks run in one tick, in tasks.
    pub max_batch: u64,
}

impl LoopStats {
    /// Every task, microtask, timer and readiness callback that ran.
    pub fn callbacks_run(&self) -> u64 {
        self.tasks_run_external
            + self.tasks_run_internal
            + self.microtasks_run
            + self.timers_fired
            + self.io_callbacks
    }
}

/// A single-threaded, callback-style event loop shared between its loop thread and producer
/// threads as `Arc<Self>`.
///
/// Implementations must hold every property listed in this crate's documentation (checked by
/// `loop-conformance`): exactly-once execution of accepted tasks, per-producer FIFO,
/// internal-before-external priority, execution only on the loop thread, panic isolation, no lost
/// wake-up, reentrancy from inside tasks, conserving `shutdown`, dropping `close`, and timers that
/// never fire early and fire in deadline order.
///
/// # Panics in destructors
///
/// A loop drops user closures unrun on several paths: [`EventLoop::close`] (queued tasks,
/// microtasks, timers), the end of a drain (timers not yet due, readiness callbacks still
/// registered when `run` returns), [`EventLoop::cancel_timer`], [`EventLoop::unregister`], and
/// dropping the loop (whatever is still queued, also on a loop that never ran). On **every**
/// such path a destructor that panics is caught: the panic does not escape into the caller
/// (`close`, `cancel_timer`, `unregister`, `shutdown`, `run` and `drop` all return normally,
/// `run` with `Ok(())` and `shutdown` with its usual result), and every other closure on that path
/// is still dropped exactly once — one panicking destructor never leaks the closures queued
/// behind it. `close` still returns the exact number it dropped. Whether such a caught panic
/// adds to [`LoopStats::panics`] is unspecified (it is not a task panic). [`isolate`],
/// [`drop_isolated`] and [`drop_all_isolated`] are the helpers for this. (Conformance check
/// `destructor_panics`.)
///
/// A destructor may also call back into the loop (`stats`, `submit`, `submit_internal`,
/// `schedule_microtask`): no such call hangs, and whatever it submits is either rejected (the
/// closure handed back, and so dropped by the destructor's own scope) or accepted — and then run
/// or dropped exactly once by the time `run` has returned. (Check `destructor_reentry`.)
///
/// A panic *payload* may itself panic when dropped (`std::panic::panic_any` of a value whose
/// `Drop` panics). A task, microtask, timer or readiness callback that panics with one is isolated
/// like any other panic: counted once in [`LoopStats::panics`], the loop goes on, and nothing
/// escapes `run`. (Check `panic_payload_drop`.)
///
/// # Nesting
///
/// A task of one loop may create and run another loop to completion on the same thread. When the
/// inner `run` returns, the outer loop is exactly as before: the calling thread is still its loop
/// thread, so `shutdown` from that task only requests the stop (returns `Ok(())` at once) and the
/// outer loop's own-thread submissions made while it drains are accepted and run. Every place
/// that marks a thread as a loop thread restores what it found. A contender that cannot nest (the
/// peer library forbids it) returns [`RunError::Nested`] from the inner `run` instead, without
/// panicking, and leaves the inner loop unrun. (Check `nested_run`.)
pub trait EventLoop: Send + Sync + Sized + 'static {
    /// What this contender supports; also returned by [`EventLoop::capabilities`].
    const CAPABILITIES: Capabilities;

    /// Creates a stopped loop. Submissions are accepted from now on and run once [`EventLoop::run`]
    /// is called.
    ///
    /// # Errors
    /// OS resources (eventfd, epoll) could not be created.
    fn new(config: &LoopConfig) -> io::Result<Self>;

    /// Makes the calling thread the loop thread and runs tasks until the loop has fully stopped
    /// (after [`EventLoop::shutdown`] drained it, or [`EventLoop::close`]). May be called from
    /// inside a task of another loop (see "Nesting" above); when it returns, whatever loop the
    /// thread was running before is its loop again.
    ///
    /// # Errors
    /// [`RunError::AlreadyRunning`] if another thread is in `run`; [`RunError::Terminated`] if the
    /// loop already stopped; [`RunError::Io`] if the poller failed; [`RunError::Nested`] if called
    /// inside a task of another loop and this contender cannot nest. Returns `Ok(())` after a
    /// normal shutdown or close.
    fn run(&self) -> Result<(), RunError>;

    /// Queues `f` on the external queue. Callable from any thread, including the loop thread.
    ///
    /// # Errors
    /// [`RejectReason::Terminated`] once shutdown started or the loop stopped; `f` comes back.
    fn submit<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static;

    /// Queues `f` on the internal priority queue (runs before queued external work, not counted
    /// against the batch budget). Loops without [`Capabilities::internal_priority`] treat it as
    /// [`EventLoop::submit`].
    ///
    /// # Errors
    /// As [`EventLoop::submit`].
    fn submit_internal<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static;

    /// Queues a microtask, run after the current task (or, from a foreign thread, at the next
    /// microtask checkpoint, waking the loop if it sleeps).
    ///
    /// # Errors
    /// [`RejectReason::Unsupported`] without [`Capabilities::microtasks`]; otherwise as `submit`.
    fn schedule_microtask<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        Err(Rejected::unsupported(Capability::Microtasks, f))
    }

    /// Runs `f` on the loop thread no earlier than `delay` after this call. Timers fire in deadline
    /// order (ties in scheduling order).
    ///
    /// # Errors
    /// [`RejectReason::Unsupported`] without [`Capabilities::timers`]; otherwise as `submit`.
    fn schedule_timer<F>(&self, delay: Duration, f: F) -> Result<TimerId, Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let _ = delay;
        Err(Rejected::unsupported(Capability::Timers, f))
    }

    /// Cancels a pending timer. Returns `Ok(true)` if it was pending and will now never fire,
    /// `Ok(false)` if it already fired, was already cancelled, or is unknown.
    ///
    /// # Errors
    /// [`OpError::Unsupported`] without [`Capabilities::timers`].
    fn cancel_timer(&self, id: TimerId) -> Result<bool, OpError> {
        let _ = id;
        Err(OpError::Unsupported(Capability::Timers))
    }

    /// Calls `callback` on the loop thread whenever `fd` is readable (level-triggered semantics:
    /// it is called again on a later tick while data remains). The caller keeps ownership of `fd`
    /// and must [`EventLoop::unregister`] it before closing it.
    ///
    /// # Errors
    /// [`RejectReason::Unsupported`] without [`Capabilities::readiness`];
    /// [`RejectReason::AlreadyRegistered`]; [`RejectReason::Io`] if the poller refused the fd;
    /// [`RejectReason::Terminated`] once stopped. The callback comes back in every case.
    fn register_readable<F>(&self, fd: RawFd, callback: F) -> Result<(), Rejected<F>>
    where
        F: FnMut() + Send + 'static,
    {
        let _ = fd;
        Err(Rejected::unsupported(Capability::Readiness, callback))
    }

    /// Stops readiness callbacks for `fd`. Once this returns, the old callback never runs again,
    /// even if the fd number is reused and registered anew.
    ///
    /// From a thread other than the loop thread, while the fd's callback is running: `unregister`
    /// returns only after that invocation has returned. So once it returns the callback is neither
    /// running nor will run again, and the caller may close the fd and free whatever the callback
    /// uses. (Check `unregister_foreign_running`; every contender, alt-two included, waits.)
    /// From inside the callback itself (or any task on the loop thread) it does not wait — that
    /// would be waiting for itself — and the running invocation finishes normally.
    ///
    /// The callback is dropped (on the calling thread or the loop thread, before `run` returns);
    /// a panic of its destructor does not escape (see "Panics in destructors" above).
    ///
    /// # Errors
    /// [`OpError::Unsupported`] without [`Capabilities::readiness`]; [`OpError::NotRegistered`].
    fn unregister(&self, fd: RawFd) -> Result<(), OpError> {
        let _ = fd;
        Err(OpError::Unsupported(Capability::Readiness))
    }

    /// Graceful stop: stop accepting, run everything already accepted (including what those tasks
    /// submit while draining — such submissions from the loop thread are accepted), then stop.
    /// Waits at most `timeout` for the loop to finish.
    ///
    /// Callable from any thread and from inside a task (it then only requests the stop and returns
    /// `Ok(())` without waiting, since the caller *is* the loop). Every concurrent caller returns;
    /// all get `Ok(())` once the drain completed. On a loop that has not run yet, the stop is
    /// recorded and the tasks accepted before are run by the next `run`, which then returns `Ok`;
    /// the caller waits for that within `timeout`.
    ///
    /// # Errors
    /// [`ShutdownError::Timeout`] if the drain did not finish within `timeout` (the stop stays
    /// requested); [`ShutdownError::Closed`] if [`EventLoop::close`] stopped the loop.
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError>;

    /// Immediate stop: reject new work, drop (never run) every queued task, microtask and timer,
    /// and make `run` return. Returns how many were dropped (also added to
    /// [`LoopStats::tasks_dropped`]). Callable from any thread and from inside a task; idempotent.
    ///
    /// **What may still start.** A task already executing finishes. The loop thread may have
    /// *taken* one task from its queue and not yet started it when `close` is called; that one
    /// task may still start. Nothing else starts after any `close` call has returned: at most one
    /// task starts after the return, however many tasks are queued.
    ///
    /// **Concurrent callers.** When several threads call `close` at once, *every* caller returns
    /// only once no queued task can start any more (the promise above holds for each of them,
    /// not only for the first). Exactly one caller returns the number dropped; every other call
    /// (concurrent or later) returns 0, so the returns add up to the tasks that never started.
    /// `run` then returns `Ok(())`. (Check `close_concurrent`.)
    ///
    /// **The dropped closures** are each dropped exactly once — on the closing thread, or on the
    /// loop thread before `run` returns — each isolated: a destructor that panics neither escapes
    /// `close` or `run` nor keeps the others from being dropped, and the count stays exact (see
    /// "Panics in destructors" above; check `destructor_panics`).
    fn close(&self) -> u64;

    /// A snapshot of the loop's counters.
    fn stats(&self) -> LoopStats;

    /// What this contender supports ([`EventLoop::CAPABILITIES`]).
    fn capabilities(&self) -> Capabilities {
        Self::CAPABILITIES
    }
}

/// Runs `f`, catching a panic so it cannot unwind into the caller; returns whether `f` panicked.
///
/// (A loop runs a task with it as `if isolate(task) { panics += 1 }`.)
///
/// The panic payload is dropped inside a second `catch_unwind`: if the payload's own `Drop`
/// panics, the payload of *that* panic is dropped the same way, and so on; only after
/// [`PAYLOAD_DROP_ATTEMPTS`] payloads in a row each panic when dropped is the last one leaked
/// (`mem::forget`) rather than let escape. (An ordinary second payload — a `String` from
/// `panic!` — drops cleanly, so nothing is leaked in practice; memcheck sees no loss.) This is the
/// one way every loop of the workspace (and the peers' adapters) runs user code it must survive:
/// task bodies and, above all, *destructors* of user closures, which the contract's `close`,
/// drain and drop paths run (see "Panics in destructors" on [`EventLoop`]).
///
/// Only the call and the `catch_unwind` are generic and inlined into a loop's task path; the
/// payload drops live in one out-of-line, cold function. (Written inline, the eight unrolled
/// drop attempts made every instance big: the release build kept 54 out-of-line copies of
/// `isolate`, and `main`'s per-task path stopped being inlined into its run loop. `make bench-ab`
/// with 40 rounds against `8a0c16f`, before `main` called this function, flagged `burst` b=10000 at
/// +7.4% (`ping-pong` +5.1%); with the drops out of line the same comparison shows `ping-pong`
/// −4.8% and `burst` −8.2% / −8.6%, and nothing slower.)
#[inline]
pub fn isolate(f: impl FnOnce()) -> bool {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(payload) => {
            drop_payload(payload);
            true
        }
    }
}

/// Drops a panic payload as [`isolate`] describes: each payload whose `Drop` panics is replaced
/// by the payload of that panic, up to [`PAYLOAD_DROP_ATTEMPTS`] times; the last is leaked.
#[cold]
#[inline(never)]
fn drop_payload(mut payload: Box<dyn std::any::Any + Send>) {
    for _ in 0..PAYLOAD_DROP_ATTEMPTS {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(again) => payload = again,
        }
    }
    std::mem::forget(payload);
}

/// How many panic payloads in a row [`isolate`] drops, each of whose `Drop` panicked, before it
/// leaks the next one instead.
pub const PAYLOAD_DROP_ATTEMPTS: usize = 8;

/// Drops `value` with [`isolate`]: a panicking destructor is caught (its payload dropped
/// isolated too); returns whether it panicked. The fields the destructor did not get to are
/// still dropped by the unwind, inside the catch.
pub fn drop_isolated<T>(value: T) -> bool {
    isolate(move || drop(value))
}

/// Drops every value of `values`, each with [`drop_isolated`], so one panicking destructor
/// neither stops the others from being dropped nor escapes. Returns how many panicked.
pub fn drop_all_isolated<T>(values: impl IntoIterator<Item = T>) -> u64 {
    values.into_iter().map(|v| u64::from(drop_isolated(v))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic payload whose `Drop` panics with a payload `Bad(n - 1)`, down to `Bad(0)`.
    struct Bad(usize, &'static std::sync::atomic::AtomicUsize);

    impl Drop for Bad {
        fn drop(&mut self) {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.0 > 0 {
                std::panic::panic_any(Bad(self.0 - 1, self.1));
            }
        }
    }

    #[test]
    fn isolate_drops_a_chain_of_panicking_payloads_and_bounds_an_endless_one() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        assert!(!isolate(|| ()));
        assert!(isolate(|| std::panic::panic_any(Bad(3, &DROPS))));
        assert_eq!(DROPS.load(Ordering::SeqCst), 4, "every payload of the chain dropped once");
        static ENDLESS: AtomicUsize = AtomicUsize::new(0);
        assert!(isolate(|| std::panic::panic_any(Bad(usize::MAX, &ENDLESS))));
        assert_eq!(ENDLESS.load(Ordering::SeqCst), PAYLOAD_DROP_ATTEMPTS, "then one is leaked");
    }

    #[test]
    fn drop_all_isolated_drops_the_rest_after_a_panicking_destructor() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let values = vec![Bad(1, &DROPS), Bad(0, &DROPS), Bad(1, &DROPS), Bad(0, &DROPS)];
        assert_eq!(drop_all_isolated(values), 2, "two destructors panicked");
        // 4 values, plus the two Bad(0) payloads of the panics.
        assert_eq!(DROPS.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn terminated_reason_displays_the_historical_text() {
        assert_eq!(RejectReason::Terminated.to_string(), "loop has been terminated");
        assert!(RunError::Terminated.to_string().contains(TERMINATED_MESSAGE));
        assert!(ShutdownError::Closed.to_string().contains(TERMINATED_MESSAGE));
        assert!(OpError::Terminated.to_string().contains(TERMINATED_MESSAGE));
        let r = Rejected::terminated(42_u32);
        assert!(r.to_string().contains(TERMINATED_MESSAGE));
        assert_eq!(r.into_task(), 42);
    }

    #[test]
    fn default_config_matches_documented_defaults() {
        let c = LoopConfig::default();
        assert_eq!(c.batch_budget, 1024);
        assert_eq!(c.spin_before_sleep, Duration::from_micros(20));
        assert!(c.inline_tasks);
        assert!(!c.always_poll);
        let zero = LoopConfig { batch_budget: 0, ..LoopConfig::default() };
        assert_eq!(zero.effective_batch_budget(), 1);
    }

    #[test]
    fn capabilities_report_each_gap() {
        let c = Capabilities::SUBMIT_ONLY;
        for cap in [
            Capability::InternalPriority,
            Capability::Microtasks,
            Capability::Timers,
            Capability::Readiness,
        ] {
            assert!(!c.supports(cap), "{cap}");
            assert!(Capabilities::ALL.supports(cap), "{cap}");
        }
    }

    struct Minimal;
    impl EventLoop for Minimal {
        const CAPABILITIES: Capabilities = Capabilities::SUBMIT_ONLY;
        fn new(_: &LoopConfig) -> io::Result<Self> {
            Ok(Minimal)
        }
        fn run(&self) -> Result<(), RunError> {
            Err(RunError::Terminated)
        }
        fn submit<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), Rejected<F>> {
            Err(Rejected::terminated(f))
        }
        fn submit_internal<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), Rejected<F>> {
            self.submit(f)
        }
        fn shutdown(&self, _: Duration) -> Result<(), ShutdownError> {
            Ok(())
        }
        fn close(&self) -> u64 {
            0
        }
        fn stats(&self) -> LoopStats {
            LoopStats::default()
        }
    }

    #[test]
    fn default_optional_methods_reject_as_unsupported_and_return_the_closure() {
        let l = Minimal::new(&LoopConfig::default()).unwrap();
        let r = l.schedule_microtask(|| ()).unwrap_err();
        assert_eq!(r.reason, RejectReason::Unsupported(Capability::Microtasks));
        let marker = std::sync::Arc::new(());
        let m = marker.clone();
        let r = l.schedule_timer(Duration::from_millis(1), move || drop(m)).unwrap_err();
        assert_eq!(r.reason, RejectReason::Unsupported(Capability::Timers));
        assert_eq!(std::sync::Arc::strong_count(&marker), 2, "closure handed back alive");
        drop(r);
        assert_eq!(std::sync::Arc::strong_count(&marker), 1);
        assert_eq!(l.cancel_timer(TimerId(1)), Err(OpError::Unsupported(Capability::Timers)));
        let r = l.register_readable(0, || ()).unwrap_err();
        assert_eq!(r.reason, RejectReason::Unsupported(Capability::Readiness));
        assert_eq!(l.unregister(0), Err(OpError::Unsupported(Capability::Readiness)));
        assert_eq!(l.capabilities(), Capabilities::SUBMIT_ONLY);
    }
}
