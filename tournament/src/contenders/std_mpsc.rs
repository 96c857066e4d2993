//! Peer `std-mpsc`: one worker thread draining a `std::sync::mpsc` channel of boxed closures.
//!
//! The simplest thing a Rust user writes instead of an event loop: an unbounded
//! `std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>()`, producers `send`, and one thread runs
//! `while let Ok(task) = rx.recv() { task() }`. Here that thread is whichever thread calls
//! [`EventLoop::run`]. Since Rust 1.67 std's mpsc is crossbeam-channel's design (a segmented
//! list with 31-slot blocks; the receiver spins briefly with backoff, then parks, and a sender
//! unparks it), so this peer also stands in for a crossbeam-channel worker
//! (`docs/REFERENCE-MACHINE.md`, "The peers").
//!
//! ## Capabilities
//!
//! Only `submit` ([`Capabilities::SUBMIT_ONLY`]):
//! * **internal priority**: no; a channel has one lane. `submit_internal` is `submit` and its
//!   tasks are counted as external.
//! * **microtasks, timers, readiness**: no; a channel worker has no notion of them (`recv` has
//!   no hook after each task, and a timed `recv_timeout` would be a loop design of its own, not
//!   the peer).
//! * **batch budget, spin, inline storage, wake accounting**: no; the channel decides how long
//!   it spins, every task is boxed, and it does not report whether a send unparked the receiver.
//!   Those `LoopConfig` knobs are ignored and the wake counters read 0.
//!
//! ## Statistics
//!
//! `tasks_run_external`, `panics` and `tasks_dropped` are exact. A channel worker has no batches:
//! its main cycle takes one message, so a *tick* is one received message (task or wake-up) and
//! `max_batch` is 1 once a task ran. `sleeps` counts the times the loop found the channel empty
//! (`try_recv`) and entered the blocking `recv` — an upper bound on real sleeps, since `recv`
//! spins briefly before it parks and may return without blocking. `polls`, `wake_syscalls` and
//! `wakes_elided` read 0.
//!
//! ## Lifecycle (the contract on top of a channel)
//!
//! A channel cannot refuse a send while its receiver lives, nor say how many messages it
//! discarded, so every submission first passes the shared lifecycle gate (`peer_gate.rs`):
//! one compare-and-swap that counts the task as accepted unless shutdown or close has begun. The
//! loop *claims* each task before running it; a claim fails once the loop is closed, and the
//! task is then only dropped. Shutdown and close wake a receiver blocked in `recv` with a
//! `Msg::Wake` control message.
//!
//! * `shutdown`: stops accepting from other threads (the loop thread may still submit while
//!   draining), runs every accepted task, then stops.
//! * `close`: returns the exact number of accepted-but-unstarted tasks (one atomic step in the
//!   gate). Their closures are destroyed at the end of `run` (before it returns), at once if
//!   the loop never ran, or — for a producer that passed the gate just before close and sends
//!   after the receiver is gone — on that producer's thread. The loop takes them out of the
//!   channel one by one (`try_recv`) and drops each isolated (`loop_api::drop_isolated`): a
//!   destructor that panics neither escapes nor leaks the closures queued behind it, which the
//!   channel's own destructor would.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::Duration;

use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, Rejected, RunError, ShutdownError,
    drop_isolated,
};

use super::peer_gate::{CLOSED, Gate, Outcome, drain_isolated};

/// A boxed task, as a channel worker would carry it.
type Task = Box<dyn FnOnce() + Send + 'static>;

/// What travels through the channel.
enum Msg {
    /// A task to run (or, once the loop is closed, to drop).
    Task(Task),
    /// No work: makes a receiver blocked in `recv` re-check the lifecycle state (sent by
    /// `shutdown` and `close`).
    Wake,
}

/// Peer `std-mpsc`: a worker thread draining a `std::sync::mpsc` channel of boxed closures.
/// Supports `submit` only; see the [module docs](self).
pub struct StdMpsc {
    /// Lifecycle gate; holds the receiver until `run` takes it.
    gate: Gate<Receiver<Msg>>,
    tx: Sender<Msg>,
}

impl StdMpsc {
    /// Stable contender id.
    pub const ID: &'static str = "std-mpsc";

    fn wake(&self) {
        // Cannot fail while `self` lives unless the receiver is gone, and then nobody waits.
        let _ = self.tx.send(Msg::Wake);
    }
}

impl std::fmt::Debug for StdMpsc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdMpsc").field("id", &Self::ID).finish_non_exhaustive()
    }
}

impl EventLoop for StdMpsc {
    const CAPABILITIES: Capabilities = Capabilities::SUBMIT_ONLY;

    /// Creates the channel. Every `LoopConfig` knob is ignored (see the module docs).
    fn new(_config: &LoopConfig) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        Ok(Self { gate: Gate::new(rx, Arc::default()), tx })
    }

    fn run(&self) -> Result<(), RunError> {
        let (guard, rx) = self.gate.begin_run()?;
        let outcome = loop {
            let word = self.gate.word();
            if word & CLOSED != 0 {
                break Outcome::Closed;
            }
            if Gate::<Receiver<Msg>>::is_drained(word) {
                if self.gate.try_finish_drain() {
                    break Outcome::Drained;
                }
                continue;
            }
            // `try_recv` first only to count sleeps: an empty channel means the loop is about to
            // block in `recv` (which spins briefly, then parks).
            let msg = match rx.try_recv() {
                Ok(msg) => msg,
                Err(TryRecvError::Empty) => {
                    self.gate.counters().before_sleep();
                    match rx.recv() {
                        Ok(msg) => msg,
                        // Unreachable while `self.tx` lives; if it ever happened, stop accepting.
                        Err(mpsc::RecvError) => {
                            let _ = self.gate.close_flags();
                            break Outcome::Closed;
                        }
                    }
                }
                Err(TryRecvError::Disconnected) => {
                    let _ = self.gate.close_flags();
                    break Outcome::Closed;
                }
            };
            self.gate.counters().new_tick();
            match msg {
                Msg::Task(task) => {
                    if self.gate.claim() {
                        self.gate.run_task(task);
                    } else {
                        // Closed: close() already counted it. Dropped isolated (its destructor
                        // may panic).
                        drop_isolated(task);
                    }
                }
                Msg::Wake => {}
            }
        };
        // Destroys the closures still queued (dropped by close) before `run` returns, still
        // marked as the loop thread so a destructor calling back into the loop cannot deadlock.
        // One by one, each isolated: the channel's own destructor would stop at the first
        // destructor that panics, leaking the rest, and let the panic escape `run`.
        drain_isolated(|| rx.try_recv().ok());
        drop_isolated(rx);
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
        // An error means the receiver was dropped after a close that already counted this task;
        // the message (and the closure) is destroyed here, isolated.
        if let Err(mpsc::SendError(msg)) = self.tx.send(Msg::Task(Box::new(f))) {
            drop_isolated(msg);
        }
        Ok(())
    }

    /// Same as [`EventLoop::submit`]: a channel has one lane.
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
        if let Some(rx) = self.gate.take_if_idle() {
            // Never ran: destroy the queued closures now, each isolated (as at the end of `run`).
            drain_isolated(|| rx.try_recv().ok());
            drop_isolated(rx);
        }
        dropped
    }

    fn stats(&self) -> LoopStats {
        self.gate.stats()
    }
}

impl Drop for StdMpsc {
    /// Dropping a loop that was never stopped closes it: queued tasks are dropped and counted.
    fn drop(&mut self) {
        self.close();
    }
}
