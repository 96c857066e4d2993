//! Peer `crossbeam-worker`: one worker thread draining a `crossbeam_channel::unbounded` channel
//! of boxed closures.
//!
//! What a Rust user writes when they reach for crossbeam instead of std: producers `send`
//! `Box<dyn FnOnce() + Send>`, and one thread runs `while let Ok(task) = rx.recv() { task() }`
//! — here whichever thread calls [`EventLoop::run`]. crossbeam's unbounded channel is a segmented
//! list of 31-slot blocks; `recv` spins with `Backoff`, then parks, and a sender unparks a parked
//! receiver (`docs/REFERENCE-MACHINE.md`, "The peers"). std's mpsc has carried the same design
//! since Rust 1.67; this peer measures the crate a user would actually depend on.
//!
//! ## Capabilities
//!
//! Only `submit` ([`Capabilities::SUBMIT_ONLY`]): a channel has one lane (so `submit_internal`
//! is `submit`), no hook after each task (no microtasks), no timers and no readiness (a
//! `select!` over `after`/`tick` channels would be a loop design of its own, not the peer). The
//! batch budget, spin, inline-storage knobs are ignored; wake syscalls are **not measured**
//! (crossbeam does not say whether a send unparked the receiver), so `wake_syscalls` and
//! `wakes_elided` read 0 and the tournament prints a declared gap.
//!
//! ## Statistics
//!
//! As `std-mpsc`: `tasks_run_external`, `panics` and `tasks_dropped` are exact; a *tick* is one
//! received message and `max_batch` is 1; `sleeps` counts the times the loop found the channel
//! empty and entered the blocking `recv` (an upper bound on real parks).
//!
//! ## Lifecycle
//!
//! The shared lifecycle gate (`peer_gate.rs`) in front of the channel, exactly as `std-mpsc`:
//! one compare-and-swap per submission, a claim per task, `Msg::Wake` control messages to wake a
//! receiver blocked in `recv` on shutdown and close. The closures of tasks dropped by `close`
//! are destroyed at the end of `run`, at once if the loop never ran, or on a late producer's
//! thread if it sends after the receiver is gone; taken out of the channel one by one and each
//! dropped isolated, so a panicking destructor neither escapes nor leaks the rest.

use crossbeam_channel::{Receiver, RecvError, Sender, TryRecvError};
use std::io;
use std::sync::Arc;
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

/// Peer `crossbeam-worker`: a worker thread draining a crossbeam-channel of boxed closures.
/// Supports `submit` only; see the [module docs](self).
pub struct CrossbeamWorker {
    /// Lifecycle gate; holds the receiver until `run` takes it.
    gate: Gate<Receiver<Msg>>,
    tx: Sender<Msg>,
}

impl CrossbeamWorker {
    /// Stable contender id.
    pub const ID: &'static str = "crossbeam-worker";

    fn wake(&self) {
        // Cannot fail while `self` lives unless the receiver is gone, and then nobody waits.
        let _ = self.tx.send(Msg::Wake);
    }
}

impl std::fmt::Debug for CrossbeamWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossbeamWorker").field("id", &Self::ID).finish_non_exhaustive()
    }
}

impl EventLoop for CrossbeamWorker {
    const CAPABILITIES: Capabilities = Capabilities::SUBMIT_ONLY;

    /// Creates the channel. Every `LoopConfig` knob is ignored (see the module docs).
    fn new(_config: &LoopConfig) -> io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
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
                        Err(RecvError) => {
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
        if let Err(crossbeam_channel::SendError(msg)) = self.tx.send(Msg::Task(Box::new(f))) {
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

impl Drop for CrossbeamWorker {
    /// Dropping a loop that was never stopped closes it: queued tasks are dropped and counted.
    fn drop(&mut self) {
        self.close();
    }
}
