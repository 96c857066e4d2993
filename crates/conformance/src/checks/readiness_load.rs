//! Readiness under load: the two poller bugs a runtime report found only with real sockets —
//! stale events delivered after an fd was closed and its number reused ("phantom events"), and
//! a poller dispatching the same readiness twice.
//!
//! Both checks make many fds readable **at once** (the loop is held busy by a barrier task while
//! one byte is written to every pipe, then released), so a loop that collects a batch of events
//! and dispatches them one after the other has all of them in one batch — the situation in
//! which a callback early in the batch can change what a later event refers to.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use loop_api::EventLoop;

use super::{Check, gated};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Gate, Pipe, Tally, drain_fd, lock, write_fd};

/// Pipes made readable at once per round of [`check_stale_events`].
const STALE_FDS: usize = 8;

/// Holds the loop busy while the check writes, then lets it see every fd readable in one poll.
fn all_readable_at_once<L: EventLoop>(
    c: &Check,
    lp: &Arc<L>,
    write_fds: &[RawFd],
) -> Result<(), Violation> {
    let (mut gate, task) = Gate::new(Duration::from_secs(30));
    lp.submit(task)
        .map_err(|r| c.fail(format!("submit of a barrier task rejected: {}", r.reason)))?;
    if !gate.wait_entered(&c.deadline()) {
        return Err(c.timeout("the barrier task never started"));
    }
    for &w in write_fds {
        write_fd(w, 1).map_err(|e| c.setup(format!("write failed: {e}")))?;
    }
    gate.release();
    Ok(())
}

/// A few idle round trips and (where observable) a sleep, so a stale or duplicate dispatch that
/// is going to happen has happened.
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

/// One round of [`check_stale_events`]: `STALE_FDS` pipes, their fd numbers, and what the
/// callbacks observed.
struct StaleRound {
    /// Read fd numbers (stable: a replaced pipe keeps the number).
    read: Vec<RawFd>,
    /// Current write ends (replaced together with the read end).
    write: Mutex<Vec<RawFd>>,
    /// `unregistered[k]`: the original registration of `read[k]` was unregistered.
    unregistered: Vec<AtomicBool>,
    /// `written[k]`: a byte was written to the replacement pipe of `read[k]`.
    written: Vec<AtomicBool>,
    /// The callback that ran first and replaced every other pipe (`usize::MAX`: none yet).
    killer: AtomicUsize,
    /// Set (to 1) once the killer finished replacing and re-registering.
    replaced: Tally,
    /// Bytes read by replacement callbacks.
    fresh_bytes: Tally,
    /// Calls of an original callback after its fd was unregistered.
    stale: AtomicU64,
    /// Calls of a replacement callback before anything was written to its pipe.
    phantom: AtomicU64,
    /// Calls of every callback.
    calls: AtomicU64,
    /// Errors inside callbacks (unregister or register refused, pipe creation failed).
    errors: Mutex<Vec<String>>,
}

impl StaleRound {
    fn error(&self, e: String) {
        lock(&self.errors).push(e);
    }

    /// The original callback of pipe `j`.
    fn original<L: EventLoop>(
        self: &Arc<Self>,
        j: usize,
        lp: Weak<L>,
    ) -> impl FnMut() + Send + 'static + use<L> {
        let r = self.clone();
        move || {
            r.calls.fetch_add(1, Ordering::SeqCst);
            if r.unregistered[j].load(Ordering::SeqCst) {
                r.stale.fetch_add(1, Ordering::SeqCst);
                return;
            }
            drain_fd(r.read[j]);
            if r.killer.compare_exchange(usize::MAX, j, Ordering::SeqCst, Ordering::SeqCst).is_ok()
            {
                if let Some(lp) = lp.upgrade() {
                    r.replace_others(j, &lp);
                }
                r.replaced.add(1);
            }
        }
    }

    /// The replacement callback of pipe `k`.
    fn replacement(self: &Arc<Self>, k: usize) -> impl FnMut() + Send + 'static + use<> {
        let r = self.clone();
        move || {
            r.calls.fetch_add(1, Ordering::SeqCst);
            if !r.written[k].load(Ordering::SeqCst) {
                r.phantom.fetch_add(1, Ordering::SeqCst);
            }
            r.fresh_bytes.add(drain_fd(r.read[k]) as u64);
        }
    }

    /// On the loop thread, inside the first callback: for every other pipe `k`, unregister its
    /// read fd, make that fd **number** refer to a fresh, empty pipe (`dup3` over it closes the
    /// old read end; the old write end is closed too), and register a replacement callback on
    /// it. The old pipe's readiness may still sit in the loop's batch of events.
    fn replace_others<L: EventLoop>(self: &Arc<Self>, j: usize, lp: &Arc<L>) {
        for k in (0..self.read.len()).filter(|&k| k != j) {
            let fd = self.read[k];
            self.unregistered[k].store(true, Ordering::SeqCst);
            if let Err(e) = lp.unregister(fd) {
                self.error(format!("unregister({fd}) inside a callback failed: {e}"));
                continue;
            }
            let fresh = match Pipe::new() {
                Ok(p) => p,
                Err(e) => return self.error(format!("pipe2 failed: {e}")),
            };
            // SAFETY: both fds are open; dup3 atomically closes `fd` (the old read end, owned by
            // this round) and makes the number refer to the fresh pipe's read end.
            if unsafe { libc::dup3(fresh.read_fd, fd, libc::O_CLOEXEC) } < 0 {
                return self.error(format!("dup3: {}", std::io::Error::last_os_error()));
            }
            {
                let mut w = lock(&self.write);
                // SAFETY: the old write end is owned by this round and closed exactly once here.
                unsafe { libc::close(w[k]) };
                // SAFETY: `dup` of an open fd; the copy is owned by this round from now on.
                w[k] = unsafe { libc::dup(fresh.write_fd) };
            }
            drop(fresh); // closes the fresh pipe's own two fds; `fd` and the dup stay open
            if let Err(r) = lp.register_readable(fd, self.replacement(k)) {
                self.error(format!("register_readable({fd}) on the reused number: {}", r.reason));
            }
        }
    }
}

impl Drop for StaleRound {
    fn drop(&mut self) {
        for &fd in self.read.iter().chain(lock(&self.write).iter()) {
            // SAFETY: every fd in `read` and `write` is owned by this round and closed only here.
            unsafe { libc::close(fd) };
        }
    }
}

/// Fails on any callback error, stale call or phantom call recorded so far in round `r`.
fn verdict(c: &Check, r: &StaleRound) -> Result<(), Violation> {
    if let Some(e) = lock(&r.errors).first() {
        return Err(c.fail(format!("inside a readiness callback: {e}")));
    }
    let stale = r.stale.load(Ordering::SeqCst);
    if stale > 0 {
        return Err(c.fail(format!(
            "an unregistered fd's old callback ran {stale} time(s) after unregister() returned \
             (its fd number had been closed and reused): a stale event was delivered"
        )));
    }
    let phantom = r.phantom.load(Ordering::SeqCst);
    if phantom > 0 {
        return Err(c.fail(format!(
            "phantom event: a callback registered on a reused fd number ran {phantom} time(s) \
             before anything was written to its new pipe — an event collected for the fd's \
             previous registration was delivered to the new one"
        )));
    }
    Ok(())
}

/// **stale_events** (only if `capabilities.readiness`): no phantom events after fd reuse.
///
/// Per round, 8 pipes are registered and made readable at once (barrier task). The first
/// callback that runs — inside the loop's dispatch of that batch — unregisters the other 7 fds,
/// closes their pipes, makes each of those fd **numbers** refer to a fresh empty pipe
/// (`dup3`, so the reuse is certain, not left to the allocator) and registers a new callback on
/// each. The 7 old readiness events may still be in the loop's batch. Then:
///
/// * an old callback must never run again (it was unregistered), and
/// * a new callback must not run before a byte is written to its pipe: an event collected for
///   the old registration must not be delivered to the new one (the "phantom event" of a poller
///   that keys events by fd number);
/// * after a byte is written to each new pipe, each new callback reads it (the re-registration
///   of a reused number works).
///
/// 20 rounds (5 in quick mode); `stats().io_callbacks` must count every callback run.
pub fn check_stale_events<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    gated(ctx, "stale_events", L::CAPABILITIES.readiness, "readiness", |c| {
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let rounds = c.n(20, 5);
        let io_before = lp.stats().io_callbacks;
        let mut calls = 0;
        for round in 0..rounds {
            c.phase(format!(
                "round {round}: {STALE_FDS} fds readable at once, 7 reused in the batch"
            ));
            let mut pipes = Vec::new();
            for _ in 0..STALE_FDS {
                pipes.push(Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?);
            }
            let (read, write): (Vec<RawFd>, Vec<RawFd>) =
                pipes.iter().map(|p| (p.read_fd, p.write_fd)).unzip();
            // The round owns the fds from now on (closing them in its Drop).
            pipes.into_iter().for_each(std::mem::forget);
            let r = Arc::new(StaleRound {
                unregistered: (0..STALE_FDS).map(|_| AtomicBool::new(false)).collect(),
                written: (0..STALE_FDS).map(|_| AtomicBool::new(false)).collect(),
                read,
                write: Mutex::new(write.clone()),
                killer: AtomicUsize::new(usize::MAX),
                replaced: Tally::new(),
                fresh_bytes: Tally::new(),
                stale: AtomicU64::new(0),
                phantom: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                errors: Mutex::new(Vec::new()),
            });
            for j in 0..STALE_FDS {
                let fd = r.read[j];
                lp.register_readable(fd, r.original(j, Arc::downgrade(&lp))).map_err(|e| {
                    c.fail(format!("register_readable({fd}) rejected: {}", e.reason))
                })?;
            }
            all_readable_at_once(c, &lp, &write)?;
            r.replaced
                .wait_for(1, &c.deadline())
                .map_err(|_| c.timeout("no readiness callback ran for 8 readable pipes"))?;
            settle(c, &lp)?;
            if let Some(e) = lock(&r.errors).first() {
                return Err(c.fail(format!("inside a readiness callback: {e}")));
            }
            verdict(c, &r)?;
            c.phase(format!("round {round}: the new registrations of the reused numbers work"));
            let killer = r.killer.load(Ordering::SeqCst);
            let others: Vec<usize> = (0..STALE_FDS).filter(|&k| k != killer).collect();
            for &k in &others {
                r.written[k].store(true, Ordering::SeqCst);
                let w = lock(&r.write)[k];
                write_fd(w, 1).map_err(|e| c.setup(format!("write failed: {e}")))?;
            }
            r.fresh_bytes.wait_for(others.len() as u64, &c.deadline()).map_err(|got| {
                c.timeout(format!(
                    "callbacks registered on reused fd numbers read {got} of {} bytes",
                    others.len()
                ))
            })?;
            // A stale registration may also fire when its reused number becomes readable again.
            settle(c, &lp)?;
            verdict(c, &r)?;
            for &fd in &r.read {
                lp.unregister(fd).map_err(|e| c.fail(format!("unregister({fd}) failed: {e}")))?;
            }
            calls += r.calls.load(Ordering::SeqCst);
        }
        c.stop(&mut lt)?;
        let counted = lp.stats().io_callbacks - io_before;
        if counted != calls {
            return Err(c.fail(format!(
                "{calls} readiness callbacks ran but stats().io_callbacks grew by {counted}"
            )));
        }
        c.count("rounds", rounds as u64);
        c.count("reused_fds", (rounds * (STALE_FDS - 1)) as u64);
        c.count("callbacks", calls);
        c.note(format!(
            "{rounds} rounds: {STALE_FDS} fds readable at once; the first callback reused 7 fd \
             numbers mid-batch; no old callback and no phantom event fired; the new \
             registrations got their bytes"
        ));
        Ok(())
    })
}

/// What the callbacks of [`check_no_double_dispatch`] observed.
struct Dispatches {
    fds: Vec<RawFd>,
    in_flight: Vec<AtomicBool>,
    calls: AtomicU64,
    empty: AtomicU64,
    overlaps: AtomicU64,
    bytes: Tally,
}

/// **no_double_dispatch** (only if `capabilities.readiness`): one readiness, one dispatch.
///
/// 64 pipes (32 in quick mode) are registered; per round one byte is written to every pipe
/// while the loop is held busy, so all become readable at once; each callback drains its pipe.
/// Every callback invocation must find its byte: a byte makes its fd readable once, the
/// callback consumes it, and nothing else reads the pipe, so a call that reads nothing means the
/// loop dispatched the same readiness twice (a poller re-queuing a task it had already queued,
/// or a batch processed twice). Also, no invocation may start while another of the same fd is
/// running (re-entrant dispatch). Exactly one call per fd per round, and `stats().io_callbacks`
/// counting them, after 50 rounds (10 quick) and a settle.
pub fn check_no_double_dispatch<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    gated(ctx, "no_double_dispatch", L::CAPABILITIES.readiness, "readiness", |c| {
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let n = c.n(64, 32);
        let rounds = c.n(50, 10);
        let mut pipes = Vec::new();
        for _ in 0..n {
            pipes.push(Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?);
        }
        let d = Arc::new(Dispatches {
            fds: pipes.iter().map(|p| p.read_fd).collect(),
            in_flight: (0..n).map(|_| AtomicBool::new(false)).collect(),
            calls: AtomicU64::new(0),
            empty: AtomicU64::new(0),
            overlaps: AtomicU64::new(0),
            bytes: Tally::new(),
        });
        let io_before = lp.stats().io_callbacks;
        for j in 0..n {
            let s = d.clone();
            let cb = move || {
                if s.in_flight[j].swap(true, Ordering::SeqCst) {
                    s.overlaps.fetch_add(1, Ordering::SeqCst);
                }
                s.calls.fetch_add(1, Ordering::SeqCst);
                let got = drain_fd(s.fds[j]) as u64;
                if got == 0 {
                    s.empty.fetch_add(1, Ordering::SeqCst);
                }
                s.in_flight[j].store(false, Ordering::SeqCst);
                s.bytes.add(got);
            };
            let fd = d.fds[j];
            lp.register_readable(fd, cb)
                .map_err(|r| c.fail(format!("register_readable({fd}) rejected: {}", r.reason)))?;
        }
        let writes: Vec<RawFd> = pipes.iter().map(|p| p.write_fd).collect();
        for round in 0..rounds {
            c.phase(format!("round {round}: {n} fds readable at once"));
            all_readable_at_once(c, &lp, &writes)?;
            let want = (n * (round + 1)) as u64;
            d.bytes.wait_for(want, &c.deadline()).map_err(|got| {
                c.timeout(format!("callbacks read {got} of {want} bytes written to {n} pipes"))
            })?;
        }
        c.phase("after the last round");
        settle(c, &lp)?;
        let (calls, empty, overlaps) = (
            d.calls.load(Ordering::SeqCst),
            d.empty.load(Ordering::SeqCst),
            d.overlaps.load(Ordering::SeqCst),
        );
        for fd in &d.fds {
            lp.unregister(*fd).map_err(|e| c.fail(format!("unregister({fd}) failed: {e}")))?;
        }
        c.stop(&mut lt)?;
        drop(pipes);
        if overlaps > 0 {
            return Err(c.fail(format!(
                "{overlaps} readiness callback(s) started while the same fd's callback was running"
            )));
        }
        if empty > 0 {
            return Err(c.fail(format!(
                "{empty} readiness callback(s) were dispatched with nothing to read: the same \
                 readiness was dispatched twice ({calls} calls for {} readable events)",
                n * rounds
            )));
        }
        if calls != (n * rounds) as u64 {
            return Err(c.fail(format!(
                "{calls} readiness callbacks for {} readable events (one per fd per round)",
                n * rounds
            )));
        }
        let counted = lp.stats().io_callbacks - io_before;
        if counted != calls {
            return Err(c.fail(format!(
                "{calls} readiness callbacks ran but stats().io_callbacks grew by {counted}"
            )));
        }
        c.count("fds", n as u64);
        c.count("rounds", rounds as u64);
        c.count("callbacks", calls);
        c.note(format!(
            "{rounds} rounds of {n} fds readable at once: one call per readiness, each found its \
             byte, none overlapped"
        ));
        Ok(())
    })
}
