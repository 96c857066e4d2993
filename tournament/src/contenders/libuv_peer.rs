//! Peer `libuv`: the system libuv (Node.js's event loop; [`super::libuv_sys`]) through FFI, as a
//! libuv user hands work to the loop thread from other threads: a mutex-protected queue of
//! boxed closures plus one `uv_async_t`, whose `uv_async_send` wakes the loop (an eventfd write
//! on Linux, coalesced while a wake-up is pending) and whose callback drains the queue.
//!
//! `run` is `uv_run(loop, UV_RUN_DEFAULT)` on the calling thread; the async callback swaps the
//! whole queue out under the lock and runs it (one *tick* per callback), then checks the
//! lifecycle gate and calls `uv_stop` when the loop is drained or closed.
//!
//! ## Capabilities
//!
//! Only `submit` ([`Capabilities::SUBMIT_ONLY`]); the socket workloads run on its native libuv
//! TCP server ([`super::libuv_net`]). libuv has timers and fd polling of its own, but an adapter
//! of them to this trait would be a loop design of ours, not what a libuv user writes, so they
//! are declared gaps. `submit_internal` is `submit` (one lane). `LoopConfig` knobs are ignored;
//! `sleeps`, `polls` and the wake counters read 0 (libuv does not say when it blocks).
//!
//! ## Lifecycle
//!
//! The shared lifecycle gate (`peer_gate.rs`) counts each accepted task before it is queued and
//! lets the loop start it only after a successful claim, exactly as for the other channel peers:
//! `shutdown` runs every accepted task, `close` returns the exact number of accepted tasks that
//! will never start. Queued closures left by `close` are dropped on the loop thread before `run`
//! returns (each drop isolated, so a panicking destructor does not leak the rest), or at once by
//! `close` if the loop never ran. The libuv handles are closed and the loop is freed on drop.
//!
//! Needs `libuv.so.1` at run time: without it [`EventLoop::new`] fails with a message saying how
//! to install it (`make deps`).

use std::ffi::c_void;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, Rejected, RunError, ShutdownError,
    drop_all_isolated, drop_isolated,
};
use parking_lot::Mutex;

use super::libuv_sys::{self as sys, Uv, UvMem};
use super::peer_gate::{CLOSED, Gate, Outcome};

/// A boxed task, as a libuv user queues it.
type Task = Box<dyn FnOnce() + Send + 'static>;

const RUNNING: u8 = 0;
const DRAINED: u8 = 1;
const CLOSED_OUTCOME: u8 = 2;

/// Peer `libuv`: a libuv loop draining a mutex-protected queue on `uv_async_send`. See the
/// [module docs](self).
pub struct LibuvPeer {
    gate: Gate<()>,
    queue: Mutex<Vec<Task>>,
    uv: &'static Uv,
    /// The `uv_loop_t`.
    lp: UvMem,
    /// The `uv_async_t`; its `data` points at `self` while `run` runs, null otherwise.
    wake: UvMem,
    /// How the async callback ended the run ([`RUNNING`] while it goes on).
    outcome: AtomicU8,
}

impl LibuvPeer {
    /// Stable contender id.
    pub const ID: &'static str = "libuv";

    fn wake(&self) {
        // SAFETY: `wake` is an initialised `uv_async_t` until `drop`; `uv_async_send` is the one
        // libuv call that is safe from any thread.
        unsafe { (self.uv.async_send)(self.wake.ptr()) };
    }

    /// The async callback's body: runs the queued tasks, then stops the loop if the gate says
    /// it is drained or closed.
    fn on_wake(&self) {
        self.gate.counters().new_tick();
        let batch = std::mem::take(&mut *self.queue.lock());
        for task in batch {
            if self.gate.claim() {
                // `run_task` isolates and counts the task's panic, and drops its payload
                // isolated too (`loop_api::isolate`): nothing unwinds into libuv.
                self.gate.run_task(task);
            } else {
                // Closed: close() already counted it.
                drop_isolated(task);
            }
        }
        let word = self.gate.word();
        let outcome = if word & CLOSED != 0 {
            CLOSED_OUTCOME
        } else if Gate::<()>::is_drained(word) {
            if !self.gate.try_finish_drain() {
                // A task was accepted meanwhile; its submit sends another wake-up.
                return;
            }
            DRAINED
        } else {
            return;
        };
        self.outcome.store(outcome, Ordering::Relaxed);
        // SAFETY: called on the loop thread, inside `uv_run` of this loop.
        unsafe { (self.uv.stop)(self.lp.ptr()) };
    }
}

unsafe extern "C" fn on_async(handle: *mut c_void) {
    // SAFETY: `data` is set to the live `LibuvPeer` by `run` for exactly the duration of its
    // `uv_run`, the only time libuv calls this; null otherwise.
    let this = unsafe { sys::data(handle) }.cast::<LibuvPeer>();
    if this.is_null() {
        return;
    }
    // SAFETY: as above; `run` holds `&self` while `uv_run` runs.
    let this = unsafe { &*this };
    // A panic must not unwind into C; tasks are isolated by `run_task`, so this only guards
    // against a bug of the adapter itself.
    if catch_unwind(AssertUnwindSafe(|| this.on_wake())).is_err() {
        std::process::abort();
    }
}

impl std::fmt::Debug for LibuvPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibuvPeer").field("id", &Self::ID).finish_non_exhaustive()
    }
}

impl EventLoop for LibuvPeer {
    const CAPABILITIES: Capabilities = Capabilities::SUBMIT_ONLY;

    /// Loads libuv, initialises a `uv_loop_t` and its `uv_async_t`. Every `LoopConfig` knob is
    /// ignored.
    ///
    /// # Errors
    /// libuv is not installed (`NotFound`, saying how to install it), or `uv_loop_init` /
    /// `uv_async_init` failed.
    fn new(_config: &LoopConfig) -> io::Result<Self> {
        let uv = sys::uv().map_err(|why| io::Error::new(io::ErrorKind::NotFound, why))?;
        // SAFETY: size queries without preconditions.
        let (loop_size, async_size) =
            unsafe { ((uv.loop_size)(), (uv.handle_size)(sys::UV_ASYNC)) };
        let lp = UvMem::new(loop_size);
        // SAFETY: `lp` is zeroed memory of `uv_loop_size()` bytes, initialised once.
        let r = unsafe { (uv.loop_init)(lp.ptr()) };
        if r != 0 {
            return Err(io::Error::other(format!("uv_loop_init: {}", uv.error(r))));
        }
        let wake = UvMem::new(async_size);
        // SAFETY: `wake` is zeroed memory of the async handle's size; the loop is initialised.
        let r = unsafe { (uv.async_init)(lp.ptr(), wake.ptr(), on_async) };
        if r != 0 {
            // SAFETY: an initialised loop with no handles.
            unsafe { (uv.loop_close)(lp.ptr()) };
            return Err(io::Error::other(format!("uv_async_init: {}", uv.error(r))));
        }
        Ok(Self {
            gate: Gate::new((), Arc::default()),
            queue: Mutex::new(Vec::new()),
            uv,
            lp,
            wake,
            outcome: AtomicU8::new(RUNNING),
        })
    }

    fn run(&self) -> Result<(), RunError> {
        let (guard, ()) = self.gate.begin_run()?;
        // SAFETY: the async handle is initialised; `self` outlives the `uv_run` below, after
        // which `data` is cleared again.
        unsafe { sys::set_data(self.wake.ptr(), (self as *const Self).cast_mut().cast()) };
        // Tasks accepted before `run` (and a shutdown or close requested before it) need one
        // callback to be noticed.
        self.wake();
        while self.outcome.load(Ordering::Relaxed) == RUNNING {
            // SAFETY: the loop is initialised and runs on this thread only (the gate admits one
            // `run` at a time).
            unsafe { (self.uv.run)(self.lp.ptr(), sys::UV_RUN_DEFAULT) };
        }
        // SAFETY: as above.
        unsafe { sys::set_data(self.wake.ptr(), std::ptr::null_mut()) };
        let outcome = match self.outcome.load(Ordering::Relaxed) {
            DRAINED => Outcome::Drained,
            _ => Outcome::Closed,
        };
        // Closures still queued were counted by close(); destroy them on the loop thread.
        let rest = std::mem::take(&mut *self.queue.lock());
        drop_all_isolated(rest);
        guard.finish(outcome);
        Ok(())
    }

    fn submit<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        if !self.gate.try_accept() {
            return Err(Rejected::terminated(f));
        }
        self.queue.lock().push(Box::new(f));
        self.wake();
        Ok(())
    }

    /// Same as [`EventLoop::submit`]: one lane.
    fn submit_internal<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.submit(f)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        self.gate.shutdown(timeout, || self.wake())
    }

    fn close(&self) -> u64 {
        let Some(dropped) = self.gate.close_flags() else { return 0 };
        self.wake();
        if self.gate.take_if_idle().is_some() {
            // Never ran: destroy the queued closures now.
            let rest = std::mem::take(&mut *self.queue.lock());
            drop_all_isolated(rest);
        }
        dropped
    }

    fn stats(&self) -> LoopStats {
        self.gate.stats()
    }
}

impl Drop for LibuvPeer {
    /// Closes the loop (queued tasks are dropped and counted), then closes the async handle,
    /// lets libuv finish closing it, and frees the loop.
    fn drop(&mut self) {
        self.close();
        // SAFETY: `run` is not running (`&mut self`); the handle is initialised and not yet
        // closing; `UV_RUN_NOWAIT` runs its close callback (none) and returns; then the loop has
        // no handles left and `uv_loop_close` frees its resources. The memory is freed after.
        unsafe {
            sys::set_data(self.wake.ptr(), std::ptr::null_mut());
            (self.uv.close)(self.wake.ptr(), None);
            (self.uv.run)(self.lp.ptr(), sys::UV_RUN_NOWAIT);
            (self.uv.loop_close)(self.lp.ptr());
        }
        // Closures a late producer queued after the loop stopped.
        let rest = std::mem::take(&mut *self.queue.lock());
        drop_all_isolated(rest);
    }
}
