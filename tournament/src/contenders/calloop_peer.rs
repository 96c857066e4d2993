//! Peer `calloop`: calloop's event loop with its channel source, the callback-style loop of the
//! Smithay ecosystem and the closest peer to our loops' shape.
//!
//! `new` creates a `calloop::channel::channel()` of messages; [`EventLoop::run`] builds a
//! `calloop::EventLoop` on the loop thread (it is `!Send`), inserts the channel as a source, and
//! calls `dispatch(None)` until the loop stops. Every submission is a `Sender::send` of a boxed
//! closure: calloop's channel is a std mpsc channel plus a *ping* source, so every send also
//! writes an eventfd, and the loop sleeps in `epoll_wait` (`docs/REFERENCE-MACHINE.md`, "The
//! peers").
//!
//! ## Capabilities
//!
//! Only `submit` ([`Capabilities::SUBMIT_ONLY`]):
//! * **internal priority, microtasks**: no; the channel source has one lane and no hook after
//!   each message. `submit_internal` is `submit`.
//! * **timers, readiness**: not adapted. calloop has both (`Timer`, `Generic` sources), but they
//!   are inserted through a `LoopHandle` that lives on the loop thread; offering them from other
//!   threads would need our own cross-thread command protocol, i.e. a loop design of ours rather
//!   than the peer. Declared gaps. The socket workloads (`echo`, `http`) still get a `calloop`
//!   row from a native server (`calloop_net.rs`) that inserts `Generic` sources on its own loop
//!   thread, as a calloop user would.
//! * **batch budget, spin, inline storage**: no; every task is boxed, the loop never spins. The
//!   `LoopConfig` knobs are ignored.
//! * **wake accounting**: no. Each send pings (one eventfd write) whatever the loop's state, so
//!   wake syscalls per task are 1 by construction, but calloop does not report it; the counter
//!   reads 0 and the tournament prints "not measured".
//!
//! ## Statistics
//!
//! `tasks_run_external`, `panics`, `tasks_dropped` are exact. A *tick* is one `dispatch` call,
//! `max_batch` the most tasks run in one; `sleeps` counts `dispatch(None)` calls, an upper bound
//! on real sleeps (epoll returns at once when a ping is pending). `polls` reads 0.
//!
//! ## Lifecycle
//!
//! The shared lifecycle gate (`peer_gate.rs`) in front of the channel, as `std-mpsc`: one
//! compare-and-swap per submission, a claim per task, a `Msg::Wake` to wake the loop on
//! shutdown and close. Tasks dropped by `close` are destroyed at the end of `run` (before it
//! returns), at once if the loop never ran, or on a late producer's thread: `run` keeps the
//! channel's `Dispatcher`, takes the remaining messages out one by one (`try_recv`) and drops
//! each isolated, so a panicking destructor neither escapes nor leaks the closures behind it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use calloop::Dispatcher;
use calloop::channel::{Channel, Event, Sender};
use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, Rejected, RunError, ShutdownError,
    drop_isolated,
};

use super::peer_gate::{CLOSED, Gate, Outcome, drain_isolated};

/// A boxed task, as a calloop user would send it.
type Task = Box<dyn FnOnce() + Send + 'static>;

/// What travels through the channel.
enum Msg {
    /// A task to run (or, once closed, to drop).
    Task(Task),
    /// No work: makes a blocked `dispatch` return so the loop re-checks its lifecycle state.
    Wake,
}

/// Peer `calloop`: calloop's event loop draining its channel source. See the [module docs](self).
pub struct CalloopPeer {
    gate: Gate<Channel<Msg>>,
    tx: Sender<Msg>,
}

impl CalloopPeer {
    /// Stable contender id.
    pub const ID: &'static str = "calloop";

    fn wake(&self) {
        // Fails only once the channel is gone, and then nobody waits.
        let _ = self.tx.send(Msg::Wake);
    }
}

impl std::fmt::Debug for CalloopPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalloopPeer").field("id", &Self::ID).finish_non_exhaustive()
    }
}

impl EventLoop for CalloopPeer {
    const CAPABILITIES: Capabilities = Capabilities::SUBMIT_ONLY;

    /// Creates the channel (its ping eventfd). Every `LoopConfig` knob is ignored.
    fn new(_config: &LoopConfig) -> io::Result<Self> {
        let (tx, rx) = calloop::channel::channel();
        Ok(Self { gate: Gate::new(rx, Arc::default()), tx })
    }

    fn run(&self) -> Result<(), RunError> {
        let (guard, channel) = self.gate.begin_run()?;
        let gate = &self.gate;
        // Inserted through a `Dispatcher` (rather than `insert_source`) so that `run` keeps a
        // handle on the channel and can empty it itself at the end (see below).
        let dispatcher = Dispatcher::new(channel, move |event, _, _: &mut ()| {
            if let Event::Msg(Msg::Task(task)) = event {
                if gate.claim() {
                    gate.run_task(task);
                } else {
                    drop_isolated(task); // closed: close() already counted it
                }
            }
        });
        let built = calloop::EventLoop::<()>::try_new().and_then(|ev| {
            ev.handle().register_dispatcher(dispatcher.clone())?;
            Ok(ev)
        });
        let mut ev = match built {
            Ok(ev) => ev,
            Err(e) => {
                // `guard` closes the gate when dropped without `finish`.
                drop(guard);
                return Err(RunError::Io(io::Error::other(e)));
            }
        };
        let mut failure = None;
        let outcome = loop {
            let word = self.gate.word();
            if word & CLOSED != 0 {
                break Outcome::Closed;
            }
            if Gate::<Channel<Msg>>::is_drained(word) {
                if self.gate.try_finish_drain() {
                    break Outcome::Drained;
                }
                continue;
            }
            self.gate.counters().new_tick();
            self.gate.counters().before_sleep();
            if let Err(e) = ev.dispatch(None, &mut ()) {
                let _ = self.gate.close_flags();
                failure = Some(e);
                break Outcome::Closed;
            }
        };
        // Destroys the closures still in the channel (dropped by close), still as the loop
        // thread: one by one, each isolated, so a destructor that panics neither escapes `run`
        // nor leaks the closures behind it (the channel's own destructor would). Not inside
        // `dispatch`, so the dispatcher's source is not borrowed elsewhere.
        drain_isolated(|| {
            let msg = dispatcher.as_source_ref().try_recv();
            msg.ok()
        });
        drop_isolated(ev);
        drop_isolated(dispatcher);
        guard.finish(outcome);
        match failure {
            Some(e) => Err(RunError::Io(io::Error::other(e))),
            None => Ok(()),
        }
    }

    fn submit<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        if !self.gate.try_accept() {
            return Err(Rejected::terminated(f));
        }
        // An error means the channel is gone after a close that already counted this task; the
        // closure is destroyed here, isolated.
        if let Err(std::sync::mpsc::SendError(msg)) = self.tx.send(Msg::Task(Box::new(f))) {
            drop_isolated(msg);
        }
        Ok(())
    }

    /// Same as [`EventLoop::submit`]: the channel has one lane.
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
        if let Some(channel) = self.gate.take_if_idle() {
            // Never ran: destroy the queued closures now, each isolated (as at the end of `run`).
            drain_isolated(|| channel.try_recv().ok());
            drop_isolated(channel);
        }
        dropped
    }

    fn stats(&self) -> LoopStats {
        self.gate.stats()
    }
}

impl Drop for CalloopPeer {
    /// Dropping a loop that was never stopped closes it: queued tasks are dropped and counted.
    fn drop(&mut self) {
        self.close();
    }
}
