//! Peer `async-executor`: smol's `async_executor::Executor`, run by
//! `futures_lite::future::block_on` on the loop thread.
//!
//! Every submission is `Executor::spawn` of a future that runs the closure, detached. The loop
//! thread calls [`EventLoop::run`], which runs `block_on(executor.run(stop))`: the executor polls
//! spawned tasks on this thread until the `stop` future completes. async-executor's global queue
//! is a `ConcurrentQueue`; a spawn wakes the runner through one CAS-guarded notification, so
//! wake-ups are coalesced (`docs/REFERENCE-MACHINE.md`, "The peers"), and `block_on` parks the
//! thread when nothing is runnable.
//!
//! ## Capabilities
//!
//! Only `submit` ([`Capabilities::SUBMIT_ONLY`]):
//! * **internal priority, microtasks**: no; the executor has one scheduling class and no hook
//!   after each task. `submit_internal` is `submit`.
//! * **timers, readiness**: no; async-executor has neither (they live in `async-io`, a separate
//!   reactor). Declared gaps.
//! * **batch budget, spin, inline storage**: no; the executor runs up to 200 tasks before it
//!   yields, never spins before parking, and boxes every task. The knobs are ignored.
//! * **wake accounting**: no. Neither the executor nor `block_on` says whether a spawn unparked
//!   the loop; the counters read 0 and the tournament prints "not measured".
//!
//! ## Statistics
//!
//! `tasks_run_external`, `panics` and `tasks_dropped` are exact. A *tick* mirrors the executor's
//! batch: it ends after 200 tasks (async-executor's `run` yields every 200) and when the stop
//! future is polled; `max_batch` is at most 200. `sleeps` reads 0: `block_on` parks without a
//! hook, so sleeps are not observable. `polls` reads 0.
//!
//! ## Lifecycle
//!
//! The shared lifecycle gate (`peer_gate.rs`) in front of `spawn`: one compare-and-swap per
//! submission, and each task future *claims* its task before running it (a claim fails once the
//! loop is closed; the future then only drops the closure). The stop future completes when the
//! gate is closed, or drained after a shutdown request. When the loop was closed, `run` polls
//! the remaining task futures once more (each drops its closure) before it returns; `close` on a
//! loop that never ran does the same on the closing thread. A producer that passed the gate just
//! before `close` and spawns after that sweep leaves its task in the executor, destroyed with the
//! loop (its count is exact either way).

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_executor::Executor;
use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, Rejected, RunError, ShutdownError,
    drop_isolated,
};
use parking_lot::Mutex;

use super::peer_gate::{CLOSED, Contained, Gate, LoopCounters, Outcome};

/// Tasks async-executor's `run` polls before it yields to the outer future.
const EXECUTOR_BATCH: u64 = 200;

/// Peer `async-executor`: see the [module docs](self).
pub struct AsyncExecutorPeer {
    shared: Arc<Shared>,
}

impl AsyncExecutorPeer {
    /// Stable contender id.
    pub const ID: &'static str = "async-executor";
}

impl std::fmt::Debug for AsyncExecutorPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncExecutorPeer").field("id", &Self::ID).finish_non_exhaustive()
    }
}

/// State shared by the loop, its handle and the task futures.
struct Shared {
    /// Lifecycle gate; `run` needs no resource beyond the executor, which `spawn` also needs.
    gate: Gate<()>,
    executor: Executor<'static>,
    /// The waker of `run`'s stop future while it is pending.
    stop_waker: Mutex<Option<Waker>>,
}

impl Shared {
    /// The body of every task future (loop thread, or a closing thread sweeping the executor).
    fn run_task(&self, f: impl FnOnce()) {
        if !self.gate.claim() {
            drop_isolated(f); // closed: close() already counted it
            return;
        }
        self.gate.run_task(f);
        if Gate::<()>::is_drained(self.gate.word()) {
            self.wake_stop();
        }
    }

    fn wake_stop(&self) {
        if let Some(w) = self.stop_waker.lock().take() {
            w.wake();
        }
    }

    /// Polls every task future that is runnable now, on the calling thread (after a close, each
    /// one only drops its closure).
    fn sweep(&self) {
        while self.executor.try_tick() {}
    }
}

thread_local! {
    /// The loop whose `run` (or close sweep) this thread is in: task futures find their loop here
    /// instead of carrying an `Arc` (a contended reference count per task). A raw pointer in a
    /// `Cell` rather than a `RefCell`, so a task may itself run or close another loop.
    static CURRENT: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
}

/// Points [`CURRENT`] at a loop while alive; restores the previous value on drop.
struct CurrentSlot(*const Shared);

impl CurrentSlot {
    fn enter(shared: &Shared) -> Self {
        CurrentSlot(CURRENT.with(|c| c.replace(std::ptr::from_ref(shared))))
    }
}

impl Drop for CurrentSlot {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs a task future's closure against the loop this thread is running.
fn run_current(f: impl FnOnce()) {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        // Polled outside a run or sweep: cannot happen (the executor is ticked only there);
        // dropping is the conserving choice.
        drop_isolated(f);
        return;
    }
    // SAFETY: `CURRENT` is non-null only while a `CurrentSlot` made from a live `&Shared` exists
    // on this thread (inside `run` or `close`, which hold that borrow), and task futures are
    // polled only inside those calls, so the pointee is alive here.
    unsafe { &*current }.run_task(f);
}

/// `run`'s stop future: ready once the loop is closed, or drained after a shutdown request.
struct Stop<'a>(&'a Shared);

impl Future for Stop<'_> {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let shared = self.0;
        shared.gate.counters().new_tick();
        loop {
            let word = shared.gate.word();
            if word & CLOSED != 0 {
                return Poll::Ready(Outcome::Closed);
            }
            if Gate::<()>::is_drained(word) {
                if shared.gate.try_finish_drain() {
                    return Poll::Ready(Outcome::Drained);
                }
                continue;
            }
            *shared.stop_waker.lock() = Some(cx.waker().clone());
            // Re-check after publishing the waker: a stop that raced with it is not lost.
            let again = shared.gate.word();
            if again & CLOSED != 0 || Gate::<()>::is_drained(again) {
                continue;
            }
            return Poll::Pending;
        }
    }
}

impl EventLoop for AsyncExecutorPeer {
    const CAPABILITIES: Capabilities = Capabilities::SUBMIT_ONLY;

    /// Creates the executor. Every `LoopConfig` knob is ignored (see the module docs).
    fn new(_config: &LoopConfig) -> io::Result<Self> {
        let counters = Arc::new(LoopCounters::with_tick_limit(EXECUTOR_BATCH));
        let shared = Arc::new(Shared {
            gate: Gate::new((), counters),
            executor: Executor::new(),
            stop_waker: Mutex::new(None),
        });
        Ok(Self { shared })
    }

    fn run(&self) -> Result<(), RunError> {
        let (guard, ()) = self.shared.gate.begin_run()?;
        let slot = CurrentSlot::enter(&self.shared);
        let outcome = futures_lite::future::block_on(self.shared.executor.run(Stop(&self.shared)));
        if outcome == Outcome::Closed {
            // Drop (never run) the closures of tasks still queued, before `run` returns.
            self.shared.sweep();
        }
        drop(slot);
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
        // `Contained`: if the executor is destroyed with this future unrun (a late producer's
        // task after the close sweep), the closure's destructor runs isolated.
        let f = Contained::new(f);
        let task = async move { run_current(f.take()) };
        self.shared.executor.spawn(task).detach();
        Ok(())
    }

    /// Same as [`EventLoop::submit`]: the executor has one scheduling class.
    fn submit_internal<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.submit(f)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        self.shared.gate.shutdown(timeout, || self.shared.wake_stop())
    }

    fn close(&self) -> u64 {
        let Some(dropped) = self.shared.gate.close_flags() else { return 0 };
        self.shared.wake_stop();
        if self.shared.gate.take_if_idle().is_some() {
            // Never ran: drop the queued closures now, on this thread.
            let _slot = CurrentSlot::enter(&self.shared);
            self.shared.sweep();
        }
        dropped
    }

    fn stats(&self) -> LoopStats {
        self.shared.gate.stats()
    }
}

impl Drop for AsyncExecutorPeer {
    /// Dropping a loop that was never stopped closes it: queued tasks are dropped and counted.
    fn drop(&mut self) {
        self.close();
    }
}
