//! Readiness callbacks on file descriptors.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, ThreadId};

use loop_api::{EventLoop, OpError, RejectReason};

use super::{Check, gated};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Pipe, Tally, drain_fd};

/// Calls and bytes seen by one registered callback.
struct Seen {
    calls: Tally,
    bytes: AtomicU64,
    off_thread: AtomicU64,
}

impl Seen {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            calls: Tally::new(),
            bytes: AtomicU64::new(0),
            off_thread: AtomicU64::new(0),
        })
    }

    fn callback(
        self: &Arc<Self>,
        fd: RawFd,
        loop_thread: ThreadId,
    ) -> impl FnMut() + Send + 'static + use<> {
        let s = self.clone();
        move || {
            if thread::current().id() != loop_thread {
                s.off_thread.fetch_add(1, Ordering::SeqCst);
            }
            s.bytes.fetch_add(drain_fd(fd) as u64, Ordering::SeqCst);
            s.calls.add(1);
        }
    }
}

/// Gives the loop a few ticks with no other work, so a callback that should not fire would have:
/// three sequential task round trips, and (for loops declaring `wake_accounting`) a wait until
/// the loop has gone to sleep (it polled and found nothing).
fn settle<L: EventLoop>(c: &mut Check, lp: &Arc<L>) -> Result<(), Violation> {
    for _ in 0..3 {
        let t = Arc::new(Tally::new());
        let k = t.clone();
        lp.submit(move || {
            k.add(1);
        })
        .map_err(|r| c.fail(format!("submit rejected: {}", r.reason)))?;
        t.wait_for(1, &c.deadline()).map_err(|_| c.timeout("a round-trip task never ran"))?;
    }
    c.ensure_asleep(lp)?;
    Ok(())
}

/// **readiness** (only if `capabilities.readiness`): readiness callbacks on a non-blocking pipe.
///
/// 1. `register_readable(read end)`; 1 byte written → the callback runs on the loop thread and
///    reads exactly that byte; a second byte → a second call.
/// 2. Registering the same fd again → rejected with `AlreadyRegistered` and the callback handed
///    back; `unregister` of a never-registered fd → `NotRegistered`.
/// 3. `unregister` → `Ok`; a second `unregister` → `NotRegistered`; a byte written afterwards
///    never triggers the old callback (checked after the loop settled: three round trips and, if
///    observable, a sleep).
/// 4. Stale registration: the pipe is closed and a new one created, normally reusing the fd
///    number (reported if it did not); a new callback registered on it gets the new byte; the old
///    callback still never runs.
///
/// `stats().io_callbacks` must equal the callback runs observed. Ports the Go
/// `TestReadinessCapability`. Same in quick mode.
pub fn check_readiness<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    gated(ctx, "readiness", L::CAPABILITIES.readiness, "readiness", |c| {
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let loop_thread = lt.thread_id();
        let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?;
        let fd = pipe.read_fd;

        c.phase("part 1: a byte written triggers the callback");
        let old = Seen::new();
        lp.register_readable(fd, old.callback(fd, loop_thread))
            .map_err(|r| c.fail(format!("register_readable({fd}) rejected: {}", r.reason)))?;
        for n in 1..=2_u64 {
            pipe.write(1).map_err(|e| c.setup(format!("write failed: {e}")))?;
            spin_bytes(
                c,
                &old,
                n,
                "the readiness callback did not read the byte written to its pipe",
            )?;
        }

        c.phase("part 2: double registration and unknown fds");
        let spare = Seen::new();
        match lp.register_readable(fd, spare.callback(fd, loop_thread)) {
            Err(r) if r.reason == RejectReason::AlreadyRegistered(fd) => drop(r),
            Err(r) => {
                return Err(c.fail(format!(
                    "registering fd {fd} twice was rejected with `{}`; expected AlreadyRegistered",
                    r.reason
                )));
            }
            Ok(()) => return Err(c.fail(format!("registering fd {fd} twice was accepted"))),
        }
        let other = Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?;
        match lp.unregister(other.read_fd) {
            Err(OpError::NotRegistered(_)) => {}
            r => {
                return Err(c.fail(format!(
                    "unregister of a never-registered fd returned {r:?}; expected NotRegistered"
                )));
            }
        }
        drop(other);

        c.phase("part 3: unregister stops callbacks");
        lp.unregister(fd).map_err(|e| c.fail(format!("unregister({fd}) failed: {e}")))?;
        match lp.unregister(fd) {
            Err(OpError::NotRegistered(_)) => {}
            r => {
                return Err(c.fail(format!(
                    "a second unregister({fd}) returned {r:?}; expected NotRegistered"
                )));
            }
        }
        let calls_before = old.calls.get();
        pipe.write(1).map_err(|e| c.setup(format!("write failed: {e}")))?;
        settle(c, &lp)?;
        if old.calls.get() != calls_before {
            return Err(c.fail("a readiness callback ran after unregister() returned"));
        }

        c.phase("part 4: a stale registration never fires after the fd is reused");
        drop(pipe);
        let pipe2 = Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?;
        let reused = pipe2.read_fd == fd;
        let new = Seen::new();
        lp.register_readable(pipe2.read_fd, new.callback(pipe2.read_fd, loop_thread)).map_err(
            |r| {
                c.fail(format!(
                    "register_readable on a fresh pipe (fd {}) rejected: {}",
                    pipe2.read_fd, r.reason
                ))
            },
        )?;
        pipe2.write(1).map_err(|e| c.setup(format!("write failed: {e}")))?;
        spin_bytes(c, &new, 1, "the callback registered on the reused fd did not get its byte")?;
        settle(c, &lp)?;
        if old.calls.get() != calls_before {
            return Err(c.fail(format!(
                "the old callback of fd {fd} ran again after it was unregistered and the fd {} was \
                 registered anew",
                if reused { "number reused" } else { "closed" }
            )));
        }
        if new.calls.get() == 0 || new.bytes.load(Ordering::SeqCst) != 1 {
            return Err(c.fail("the new callback did not read exactly the one byte written"));
        }
        lp.unregister(pipe2.read_fd).map_err(|e| c.fail(format!("unregister failed: {e}")))?;
        c.stop(&mut lt)?;
        drop(pipe2);
        let off = old.off_thread.load(Ordering::SeqCst) + new.off_thread.load(Ordering::SeqCst);
        if off > 0 {
            return Err(c.fail(format!("{off} readiness callbacks ran off the loop thread")));
        }
        let observed = old.calls.get() + new.calls.get();
        let counted = lp.stats().io_callbacks;
        if counted != observed {
            return Err(c.fail(format!(
                "{observed} readiness callbacks ran but stats().io_callbacks = {counted}"
            )));
        }
        c.count("callbacks", observed);
        c.count("fd_reused", u64::from(reused));
        c.note(format!(
            "callbacks read their bytes on the loop thread; unregister stopped them; after closing \
             fd {fd} and registering {} the old callback never fired",
            if reused { "the reused fd number" } else { "a new fd (the number was not reused)" }
        ));
        Ok(())
    })
}

/// Waits until `seen` has read `n` bytes (bounded).
fn spin_bytes(c: &Check, seen: &Seen, n: u64, what: &str) -> Result<(), Violation> {
    let deadline = c.deadline();
    if crate::support::spin_until(&deadline, || seen.bytes.load(Ordering::SeqCst) >= n) {
        Ok(())
    } else {
        Err(c.timeout(format!("{what} ({} of {n} bytes read)", seen.bytes.load(Ordering::SeqCst))))
    }
}
