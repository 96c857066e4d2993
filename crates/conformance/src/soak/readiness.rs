//! The readiness part of a soak round (loops that declare [`loop_api::Capabilities::readiness`]).
//!
//! Each round registers the read end of a fresh pipe with a callback that drains it. The round's
//! producers write one byte to the pipe every [`POKE_EVERY`] tasks, from their own threads, while
//! the loop is busy with their tasks, so readability arrives in every state of the loop (running
//! tasks, spinning, parked in its poller). What is checked:
//!
//! * **no lost readiness** (drained rounds): once a quarter of the tasks are submitted, every byte written so far is
//!   read within the wait bound — a level-triggered callback must be called again while data
//!   remains, and a write into a parked loop must wake it;
//! * **unregister, then the same fd registered anew** (drained rounds): after `unregister`
//!   returns, the old callback never runs again; the new callback gets the next byte;
//! * every callback runs on the loop thread;
//! * every callback made is dropped exactly once once its loop is gone — by `unregister`, at
//!   the end of `run` (a shutdown round) or by `close` (a close round).
//!
//! The pipe is shared by the round, the producers' pokers and every callback (an `Arc`), so it
//! is closed only when the last of them is gone: no callback or producer can touch a closed or
//! reused fd, whichever way the round ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, ThreadId};

use loop_api::EventLoop;

use crate::support::{Deadline, Pipe, Tally};

/// Producer task `id` writes one byte to the round's pipe when `id % POKE_EVERY == 0`.
pub const POKE_EVERY: usize = 64;

/// What the readiness part of one round counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadinessCounts {
    /// Callback invocations.
    pub calls: u64,
    /// Bytes written before a drained round's readiness check that no callback read in time.
    pub unread_bytes: u64,
    /// Invocations of a callback after its `unregister` returned.
    pub calls_after_unregister: u64,
    /// Invocations on a thread other than the loop thread.
    pub off_loop_thread: u64,
    /// Callbacks not dropped exactly once after the loop was gone (leaked or dropped twice).
    pub bad_drops: u64,
}

/// Counters shared by the round, the producers and the callbacks.
struct Shared {
    loop_tid: ThreadId,
    /// Bytes written to the pipe.
    written: AtomicU64,
    /// Bytes read by the callbacks.
    read: Tally,
    calls: AtomicU64,
    calls_after_unregister: AtomicU64,
    off_loop_thread: AtomicU64,
    /// Callbacks made and callbacks dropped.
    made: AtomicU64,
    dropped: AtomicU64,
}

/// Counts the drop of the callback that owns it.
struct DropWitness(Arc<Shared>);

impl Drop for DropWitness {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// The readiness state of one round (the pipe it shares lives until its last holder is gone).
pub struct RoundReadiness {
    shared: Arc<Shared>,
    /// Set once the current callback's `unregister` returned.
    retired: Arc<AtomicBool>,
    pipe: Arc<Pipe>,
    /// Bytes the readiness check waited for in vain.
    unread: u64,
}

/// What a producer thread holds to write to the round's pipe.
#[derive(Clone)]
pub struct Poker {
    pipe: Arc<Pipe>,
    shared: Arc<Shared>,
}

impl Poker {
    /// Whether producer task `id` writes a byte ([`POKE_EVERY`]).
    pub fn pokes(id: usize) -> bool {
        id % POKE_EVERY == 0
    }

    /// Writes one byte to the pipe (a full pipe or a write error is simply not counted).
    pub fn poke(&self) {
        if self.pipe.write(1).is_ok() {
            self.shared.written.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl RoundReadiness {
    /// Registers a fresh pipe with loop `lp` (whose `run` is on thread `loop_tid`). `Ok(None)`
    /// when `L` does not declare readiness.
    ///
    /// # Errors
    /// The pipe could not be made or the loop refused the registration (the callback came back
    /// and was dropped).
    pub fn start<L: EventLoop>(lp: &L, loop_tid: ThreadId) -> Result<Option<Self>, String> {
        if !L::CAPABILITIES.readiness {
            return Ok(None);
        }
        let pipe = Arc::new(Pipe::new().map_err(|e| format!("cannot make a pipe: {e}"))?);
        let shared = Arc::new(Shared {
            loop_tid,
            written: AtomicU64::new(0),
            read: Tally::new(),
            calls: AtomicU64::new(0),
            calls_after_unregister: AtomicU64::new(0),
            off_loop_thread: AtomicU64::new(0),
            made: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let retired = Arc::new(AtomicBool::new(false));
        let this = RoundReadiness { shared, retired, pipe, unread: 0 };
        this.register(lp)?;
        Ok(Some(this))
    }

    /// A handle for a producer thread.
    pub fn poker(&self) -> Poker {
        Poker { pipe: Arc::clone(&self.pipe), shared: Arc::clone(&self.shared) }
    }

    /// Registers the pipe's read end with a new callback (which drains it); the current
    /// `retired` flag is the new callback's.
    fn register<L: EventLoop>(&self, lp: &L) -> Result<(), String> {
        let fd = self.pipe.read_fd;
        let cb = callback(&self.shared, Arc::clone(&self.pipe), Arc::clone(&self.retired));
        lp.register_readable(fd, cb).map_err(|rejected| {
            let reason = rejected.reason.to_string();
            drop(rejected.task);
            format!("register_readable refused the round's pipe: {reason}")
        })
    }

    /// For a drained round, while its producers still submit and poke: waits until every byte
    /// written so far was read; unregisters the pipe from this (foreign) thread, writes one byte,
    /// registers the same fd with a new callback and waits until that callback read the byte (and
    /// whatever the producers wrote meanwhile).
    /// Returns the findings in words (empty when all went as the contract says); each one fails
    /// the round.
    pub fn settle_and_reregister<L: EventLoop>(
        &mut self,
        lp: &L,
        deadline: &Deadline,
    ) -> Vec<String> {
        let mut findings = Vec::new();
        if let Err((unread, written)) = self.wait_all_read(deadline) {
            findings.push(format!(
                "readiness: {unread} of {written} bytes written were never read (a \
                 level-triggered callback must be called while data remains)"
            ));
            return findings;
        }
        if let Err(e) = lp.unregister(self.pipe.read_fd) {
            findings.push(format!("readiness: unregister of a registered fd failed: {e}"));
            return findings;
        }
        // Only now: once `unregister` returned, the old callback must never run again.
        self.retired.store(true, Ordering::SeqCst);
        self.retired = Arc::new(AtomicBool::new(false));
        // The byte goes in while nothing is registered: an old callback still called would be
        // counted, and the new registration must report an fd that is already readable.
        self.poker().poke();
        if let Err(e) = self.register(lp) {
            findings.push(format!("readiness: after unregister, {e}"));
            return findings;
        }
        if let Err((unread, _)) = self.wait_all_read(deadline) {
            findings.push(format!(
                "readiness: the fd registered anew after unregister: {unread} byte(s) never read \
                 by its new callback"
            ));
        }
        findings
    }

    /// Waits until the callbacks read every byte written so far. `Err((unread, written))` when
    /// the deadline passed first; the unread bytes are counted ([`ReadinessCounts::unread_bytes`]).
    fn wait_all_read(&mut self, deadline: &Deadline) -> Result<(), (u64, u64)> {
        let written = self.shared.written.load(Ordering::SeqCst);
        self.shared.read.wait_for(written, deadline).map_err(|seen| {
            let unread = written.saturating_sub(seen);
            self.unread += unread;
            (unread, written)
        })
    }

    /// What the round counted. Call once the loop is gone (every handle dropped), so that every
    /// callback should have been dropped.
    pub fn finish(self) -> ReadinessCounts {
        let s = &self.shared;
        let made = s.made.load(Ordering::SeqCst);
        let dropped = s.dropped.load(Ordering::SeqCst);
        ReadinessCounts {
            calls: s.calls.load(Ordering::SeqCst),
            unread_bytes: self.unread,
            calls_after_unregister: s.calls_after_unregister.load(Ordering::SeqCst),
            off_loop_thread: s.off_loop_thread.load(Ordering::SeqCst),
            bad_drops: made.abs_diff(dropped),
        }
    }
}

/// A callback that drains `pipe` and counts what it read. Once `retired` is set (its
/// `unregister` returned) an invocation is counted as a finding, and what it drains is not
/// counted as read.
fn callback(
    shared: &Arc<Shared>,
    pipe: Arc<Pipe>,
    retired: Arc<AtomicBool>,
) -> impl FnMut() + Send + 'static + use<> {
    shared.made.fetch_add(1, Ordering::SeqCst);
    let witness = DropWitness(Arc::clone(shared));
    move || {
        let s = &witness.0;
        s.calls.fetch_add(1, Ordering::SeqCst);
        if thread::current().id() != s.loop_tid {
            s.off_loop_thread.fetch_add(1, Ordering::SeqCst);
        }
        let n = pipe.drain();
        if retired.load(Ordering::SeqCst) {
            // Still drains, so a loop that kept it does not spin on a readable fd forever; what
            // it read is missing for the new callback (a finding of its own).
            s.calls_after_unregister.fetch_add(1, Ordering::SeqCst);
            return;
        }
        s.read.add(n as u64);
    }
}
