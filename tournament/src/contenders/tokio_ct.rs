//! Peers `tokio-ct` and `tokio-ct-noio`: tokio's current-thread runtime as an event loop.
//!
//! This is what a Rust user would most likely pick instead of our loops: a current-thread
//! runtime built in [`EventLoop::new`], driven by `Runtime::block_on` on the thread that calls
//! [`EventLoop::run`] (the loop thread), with every submission a `Handle::spawn` of a future that
//! runs the closure. A current-thread runtime polls spawned tasks only inside `block_on`, so tasks
//! always run on the loop thread.
//!
//! Two variants differ only in the drivers the runtime is built with (a marker type, see
//! [`TokioDriver`]):
//!
//! * [`TokioCt`] (`tokio-ct`): `enable_all()`, the I/O and time drivers. A remote spawn wakes the
//!   parked loop through the I/O driver's `mio::Waker` (an eventfd write on every remote spawn,
//!   `docs/REFERENCE-MACHINE.md`, "The peers").
//! * [`TokioCtNoIo`] (`tokio-ct-noio`): `enable_time()` only. The loop parks on a condvar and a
//!   remote spawn unparks it (a syscall only if it was parked).
//!
//! ## Capabilities
//!
//! * **timers**: yes. `schedule_timer` records the callback in a per-loop table ordered by
//!   (deadline, id) and spawns a task that waits with `tokio::time::sleep_until`; when any timer
//!   task wakes it fires *every* due timer of the table in deadline order (ties in scheduling
//!   order). tokio's wheel has millisecond ticks and orders entries within a tick by
//!   registration, so firing through the table is what makes "deadline order" exact; tokio still
//!   provides the sleeping and the wake-up. `cancel_timer` removes the entry (so it can never
//!   fire) and aborts the sleeping task through its `AbortHandle`.
//! * **internal priority**: no. tokio has one scheduling class for spawned tasks;
//!   `submit_internal` is `submit`, and its tasks are counted as external.
//! * **microtasks**: no. There is no hook that runs after every task (tokio's `on_after_task_poll`
//!   hook is unstable).
//! * **readiness**: no. The callback-per-fd shape of the contract is not tokio's API (`AsyncFd`
//!   is future-based); left out rather than emulated.
//!   The socket workloads (`echo`, `http`) still get a `tokio-ct` row: the registry entry has a
//!   native server (`tokio_net.rs`, tokio's own `TcpListener` on this runtime's configuration).
//! * **batch budget, spin, inline storage**: no. tokio decides its own batch (`event_interval`),
//!   never spins before parking, and boxes every task. These `LoopConfig` knobs are ignored.
//! * **wake accounting**: no. tokio does not say whether a spawn cost a syscall, so
//!   `wake_syscalls` and `wakes_elided` read 0.
//!
//! ## Statistics
//!
//! `tasks_run_external`, `timers_fired`, `panics` and `tasks_dropped` are exact. `sleeps` counts
//! tokio's `on_thread_park` hook (the scheduler found no work and is about to park; the park
//! returns at once if a wake-up is already pending). A *tick* mirrors one pass of tokio's
//! scheduler loop, which runs at most `event_interval` (61, set explicitly) tasks before it polls
//! its driver: a tick starts when `run` starts, at every `on_thread_unpark`, and after 61 external
//! tasks. `max_batch` (at most 61) is the most external tasks run in one tick. The emulation
//! counts only our external tasks — timer wake-ups polled in between are not counted, so a real
//! pass can end a little earlier. `polls` reads 0 (tokio does not expose its driver polls without
//! `tokio_unstable`).
//!
//! ## Lifecycle (the contract on top of tokio)
//!
//! `Handle::spawn` cannot refuse work nor hand a closure back, so every submission first passes
//! the shared lifecycle gate (`peer_gate.rs`): one compare-and-swap that counts the task as
//! accepted unless shutdown or close has begun. Each spawned future *claims* its task before
//! running it; a claim fails once the loop is closed, and the future then only drops the closure.
//!
//! * `shutdown`: stops accepting from other threads (the loop thread may still submit while
//!   draining), lets the runtime run until every accepted task has run, fires the timers that are
//!   due by then, then stops. Timers whose deadline has not come are **discarded** (never fired
//!   early) and counted in [`LoopStats::tasks_dropped`]; the historical designs discard pending
//!   timers at shutdown too (`docs/HISTORY.md`). Like submissions, timers
//!   are rejected from other threads once shutdown has begun, and accepted from the loop thread
//!   while it drains (they fire if due by the end of the drain).
//! * `close`: the exact number of accepted-but-unstarted tasks comes from the gate in one atomic
//!   step, plus the pending timers, which are removed from the table. The closures are destroyed
//!   when `run` drops the runtime (before `run` returns), or at once if the loop never ran.
//! * `run` drops the runtime before it returns, so no closure outlives the run.
//! * Destructors: every closure the adapter drops unrun (discarded or cancelled timers, tasks
//!   whose claim fails after a close, futures tokio destroys unpolled) is dropped with
//!   `loop_api::drop_isolated`, so a destructor that panics neither escapes `run`, `close`,
//!   `cancel_timer` or `Drop` nor keeps the others from being dropped. A task's panic is
//!   counted in `panics` and its payload dropped isolated too (`peer_gate.rs`).
//! * Nesting: `run` called from inside a task of a tokio runtime (another `tokio-ct` loop, or a
//!   loop running inside one) returns [`RunError::Nested`]: tokio's `block_on` cannot nest. The
//!   loop is left unrun and untouched.

use std::cell::RefCell;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, OpError, Rejected, RunError, ShutdownError,
    TimerId, drop_all_isolated, drop_isolated,
};
use parking_lot::Mutex;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::peer_gate::{CLOSED, Contained, Gate, LoopCounters, Outcome};

/// Tasks tokio's current-thread scheduler runs before it polls its driver (its default, set
/// explicitly so the tick accounting below matches it).
const EVENT_INTERVAL: u32 = 61;

/// Stand-in deadline offset for delays too large for `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

mod sealed {
    pub trait Sealed {}
}

/// Which tokio drivers a [`TokioCurrentThread`] runtime is built with (sealed: [`WithIo`] or
/// [`TimeOnly`]).
pub trait TokioDriver: sealed::Sealed + Send + Sync + 'static {
    /// The contender's stable id.
    const ID: &'static str;

    /// Enables this variant's drivers on the builder.
    fn enable(builder: &mut Builder) -> &mut Builder;
}

/// Marker: I/O and time drivers (`Builder::enable_all`); the `tokio-ct` peer.
#[derive(Debug, Clone, Copy, Default)]
pub struct WithIo;

/// Marker: time driver only (`Builder::enable_time`); the `tokio-ct-noio` peer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeOnly;

impl sealed::Sealed for WithIo {}
impl sealed::Sealed for TimeOnly {}

impl TokioDriver for WithIo {
    const ID: &'static str = "tokio-ct";

    fn enable(builder: &mut Builder) -> &mut Builder {
        builder.enable_all()
    }
}

impl TokioDriver for TimeOnly {
    const ID: &'static str = "tokio-ct-noio";

    fn enable(builder: &mut Builder) -> &mut Builder {
        builder.enable_time()
    }
}

/// Peer `tokio-ct`: tokio current-thread runtime with the I/O and time drivers. See the
/// [module docs](self) for what it supports and how the contract is kept.
pub type TokioCt = TokioCurrentThread<WithIo>;

/// Peer `tokio-ct-noio`: tokio current-thread runtime with the time driver only (wake-ups by
/// park/unpark instead of an eventfd). See the [module docs](self).
pub type TokioCtNoIo = TokioCurrentThread<TimeOnly>;

/// A tokio current-thread runtime adapted to [`EventLoop`]; `D` picks the drivers. Use the
/// aliases [`TokioCt`] and [`TokioCtNoIo`].
pub struct TokioCurrentThread<D: TokioDriver> {
    shared: Arc<Shared>,
    handle: Handle,
    _driver: PhantomData<fn() -> D>,
}

impl<D: TokioDriver> TokioCurrentThread<D> {
    /// Stable contender id: `tokio-ct` ([`WithIo`]) or `tokio-ct-noio` ([`TimeOnly`]).
    pub const ID: &'static str = D::ID;
}

impl<D: TokioDriver> std::fmt::Debug for TokioCurrentThread<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioCurrentThread").field("id", &D::ID).finish_non_exhaustive()
    }
}

/// State shared by the loop, its handles and the spawned futures.
struct Shared {
    /// Lifecycle gate; holds the `Runtime` until `run` takes it.
    gate: Gate<Runtime>,
    /// Wakes `run`'s main future to re-check the gate (shutdown, close, last task drained).
    notify: Notify,
    timers: Mutex<Timers>,
}

/// Pending timers, ordered by (deadline, id); ids grow with scheduling order.
#[derive(Default)]
struct Timers {
    next_id: u64,
    by_deadline: std::collections::BTreeMap<(Instant, u64), TimerEntry>,
    deadline_of: std::collections::HashMap<u64, Instant>,
}

struct TimerEntry {
    callback: Box<dyn FnOnce() + Send>,
    sleeper: Option<AbortHandle>,
}

impl Timers {
    fn remove(&mut self, id: u64) -> Option<TimerEntry> {
        let deadline = self.deadline_of.remove(&id)?;
        self.by_deadline.remove(&(deadline, id))
    }

    /// Removes the earliest timer if it is due at `now`.
    fn pop_due(&mut self, now: Instant) -> Option<TimerEntry> {
        let entry = self.by_deadline.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let ((_, id), timer) = entry.remove_entry();
        self.deadline_of.remove(&id);
        Some(timer)
    }

    fn take_all(&mut self) -> Vec<TimerEntry> {
        self.deadline_of.clear();
        std::mem::take(&mut self.by_deadline).into_values().collect()
    }
}

impl Shared {
    /// The body of every spawned task future (runs on the loop thread).
    fn run_task(&self, f: impl FnOnce()) {
        if !self.gate.claim() {
            // Closed: close() already counted this task as dropped.
            drop_isolated(f);
            return;
        }
        self.gate.run_task(f);
        let word = self.gate.word();
        if Gate::<Runtime>::is_drained(word) {
            self.notify.notify_one();
        }
    }

    /// Fires every timer due now, in deadline order (loop thread only).
    fn fire_due(&self) {
        let now = Instant::now();
        loop {
            // The lock is released before the callback runs: callbacks may schedule or cancel.
            let Some(timer) = self.timers.lock().pop_due(now) else { break };
            self.gate.run_timer(timer.callback);
        }
    }

    /// Removes every pending timer and counts it as dropped; the closures are destroyed here,
    /// outside the table lock, each isolated: a destructor that panics neither escapes (into
    /// `run`, `close` or `Drop`) nor stops the others from being dropped.
    fn discard_timers(&self) -> u64 {
        let all = self.timers.lock().take_all();
        let n = all.len() as u64;
        self.gate.add_dropped(n);
        drop_all_isolated(all);
        n
    }

    /// `run`'s main future: waits until the loop is closed or drained.
    async fn wait_for_stop(&self) -> Outcome {
        loop {
            let word = self.gate.word();
            if word & CLOSED != 0 {
                return Outcome::Closed;
            }
            if Gate::<Runtime>::is_drained(word) {
                // Timers due by now fire before the loop stops; their callbacks may submit more.
                self.fire_due();
                if self.gate.try_finish_drain() {
                    return Outcome::Drained;
                }
                continue;
            }
            self.notify.notified().await;
        }
    }
}

thread_local! {
    /// The state of the tokio loop whose `run` this thread is in. Spawned futures are polled
    /// only inside that `run`'s `block_on` (a current-thread runtime polls nowhere else, and
    /// `block_on` cannot nest), so a task future finds its loop here.
    static RUNNING: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// Runs `f` with the state of the loop this thread is running.
fn with_running(f: impl FnOnce(&Shared)) {
    RUNNING.with_borrow(|running| {
        f(running.as_deref().expect("a tokio-ct task was polled outside its loop's run()"));
    });
}

/// Sets [`RUNNING`] for the duration of a `run`, and restores what it found when dropped.
/// (`run` refuses to nest inside a tokio runtime, so what it finds is `None` in practice; it is
/// restored all the same, as every loop-thread marker of the workspace is.)
struct RunningSlot(Option<Arc<Shared>>);

impl RunningSlot {
    fn enter(shared: &Arc<Shared>) -> Self {
        RunningSlot(RUNNING.with_borrow_mut(|r| r.replace(Arc::clone(shared))))
    }
}

impl Drop for RunningSlot {
    fn drop(&mut self) {
        let previous = self.0.take();
        RUNNING.with_borrow_mut(|r| *r = previous);
    }
}

/// The sleeping half of a timer: waits for its deadline, then fires everything due.
async fn timer_task(shared: Arc<Shared>, deadline: Instant) {
    while Instant::now() < deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
    }
    shared.fire_due();
}

impl<D: TokioDriver> EventLoop for TokioCurrentThread<D> {
    const CAPABILITIES: Capabilities = Capabilities {
        internal_priority: false,
        microtasks: false,
        timers: true,
        readiness: false,
        batch_budget: false,
        spin_before_sleep: false,
        inline_tasks: false,
        wake_accounting: false,
    };

    /// Builds the current-thread runtime with `D`'s drivers. Every `LoopConfig` knob is ignored
    /// (see the module docs).
    fn new(_config: &LoopConfig) -> io::Result<Self> {
        // The park/unpark hooks run on the loop thread (inside `block_on`): they count sleeps
        // and start ticks. A tick also ends after `EVENT_INTERVAL` tasks, as tokio's does.
        let counters = Arc::new(LoopCounters::with_tick_limit(u64::from(EVENT_INTERVAL)));
        let (park, unpark) = (Arc::clone(&counters), Arc::clone(&counters));
        let mut builder = Builder::new_current_thread();
        builder
            .event_interval(EVENT_INTERVAL)
            .on_thread_park(move || park.before_sleep())
            .on_thread_unpark(move || unpark.new_tick());
        let runtime = D::enable(&mut builder).build()?;
        let handle = runtime.handle().clone();
        let shared = Arc::new(Shared {
            gate: Gate::new(runtime, counters),
            notify: Notify::new(),
            timers: Mutex::new(Timers::default()),
        });
        Ok(Self { shared, handle, _driver: PhantomData })
    }

    /// # Errors
    /// As the trait says; also [`RunError::Nested`] when called from inside a task of a tokio
    /// runtime (this or another loop's): tokio's `block_on` cannot nest (it would panic). The
    /// loop is then left as it was, not run.
    fn run(&self) -> Result<(), RunError> {
        if Handle::try_current().is_ok() {
            return Err(RunError::Nested);
        }
        let (guard, runtime) = self.shared.gate.begin_run()?;
        self.shared.gate.counters().new_tick();
        let slot = RunningSlot::enter(&self.shared);
        let outcome = runtime.block_on(self.shared.wait_for_stop());
        drop(slot);
        if outcome == Outcome::Drained {
            // Not yet due: discarded, never fired early (module docs).
            self.shared.discard_timers();
        }
        // Destroys every future still in the runtime: closures of tasks dropped by close and
        // the sleeping halves of timers. Still marked as the loop thread, so a destructor that
        // calls back into the loop neither deadlocks nor is accepted.
        drop(runtime);
        guard.finish(outcome);
        Ok(())
    }

    fn submit<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        if !self.shared.gate.try_accept() {
            return Err(Rejected::terminated(f));
        }
        // If the loop was closed and its runtime dropped since the gate accepted, tokio drops
        // the future at once: close() already counted the task. The future reaches the loop's
        // state through the loop thread's `RUNNING` slot rather than an `Arc` clone, which would
        // cost a contended reference-count round trip per task.
        // The closure is `Contained`: if tokio destroys the future unrun (after a close), the
        // closure's destructor runs isolated.
        let f = Contained::new(f);
        drop(self.handle.spawn(async move { with_running(|shared| shared.run_task(f.take())) }));
        Ok(())
    }

    /// Same as [`EventLoop::submit`]: tokio has no priority class.
    fn submit_internal<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.submit(f)
    }

    fn schedule_timer<F>(&self, delay: Duration, f: F) -> Result<TimerId, Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let now = Instant::now();
        // A delay too large for `Instant` means "never": park it a century ahead.
        let deadline = now.checked_add(delay).unwrap_or_else(|| now + FAR_FUTURE);
        let id = {
            let mut timers = self.shared.timers.lock();
            // Same admission as `submit` (the loop thread may still schedule while draining),
            // checked under the table lock: close and the end of a drain set the flags before
            // they empty the table under it, so a timer is either seen by them or rejected.
            if !self.shared.gate.admits() {
                return Err(Rejected::terminated(f));
            }
            let id = timers.next_id;
            timers.next_id += 1;
            timers
                .by_deadline
                .insert((deadline, id), TimerEntry { callback: Box::new(f), sleeper: None });
            timers.deadline_of.insert(id, deadline);
            id
        };
        // Spawned after the entry exists, so the sleeper always finds it when it wakes.
        let sleeper =
            self.handle.spawn(timer_task(Arc::clone(&self.shared), deadline)).abort_handle();
        let mut timers = self.shared.timers.lock();
        let pending = timers.deadline_of.get(&id).copied();
        if let Some(entry) = pending.and_then(|d| timers.by_deadline.get_mut(&(d, id))) {
            entry.sleeper = Some(sleeper);
        } else {
            // Already fired, cancelled or discarded: the sleeper has nothing left to do.
            drop(timers);
            sleeper.abort();
        }
        Ok(TimerId(id))
    }

    /// `Ok(true)` if the timer was pending: it is removed under the table lock, so it can no
    /// longer fire, and its sleeping task is aborted. The callback is dropped on the calling
    /// thread, isolated (a panicking destructor does not escape).
    fn cancel_timer(&self, id: TimerId) -> Result<bool, OpError> {
        let entry = self.shared.timers.lock().remove(id.0);
        match entry {
            Some(entry) => {
                if let Some(sleeper) = &entry.sleeper {
                    sleeper.abort();
                }
                drop_isolated(entry);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        self.shared.gate.shutdown(timeout, || self.shared.notify.notify_one())
    }

    fn close(&self) -> u64 {
        let Some(tasks) = self.shared.gate.close_flags() else { return 0 };
        let timers = self.shared.discard_timers();
        self.shared.notify.notify_one();
        if let Some(runtime) = self.shared.gate.take_if_idle() {
            // Never ran: destroy the queued futures now. `shutdown_background` is allowed even
            // from inside another runtime's task, where a plain drop would panic.
            runtime.shutdown_background();
        }
        tasks + timers
    }

    fn stats(&self) -> LoopStats {
        self.shared.gate.stats()
    }
}

impl<D: TokioDriver> Drop for TokioCurrentThread<D> {
    /// Dropping a loop that was never stopped closes it: queued tasks and timers are dropped
    /// (counted), and an unrun runtime is destroyed. Never blocks on the loop thread.
    fn drop(&mut self) {
        self.close();
    }
}
