//! `readiness-roundtrip`: serialized round trips through the loop's readiness path. A pipe's read
//! end is registered with `register_readable` (untimed); per op the harness writes one byte to
//! the write end and waits until the callback, which drains the pipe, has seen it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use loop_api::{Capability, EventLoop, LoopConfig};

use super::{
    Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, latency_histogram, sample_with_loop,
};
use crate::harness::{Completion, SAMPLE_TIMEOUT, SampleError, TimedScope};

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "readiness-roundtrip",
    description: "N serialized round trips: write one byte to a pipe whose read end is registered \
                  with register_readable; the callback drains the pipe and reports each byte",
    timed_scope: "first write → the last byte observed by the callback; histogram: each round \
                  trip, just before write → its byte observed",
    unit: "ns/task (round trip)",
    requires: &[Capability::Readiness],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(20, 200, 800);
    vec![Param::new(format!("n={n}"), n).with_batch(1)]
}

/// A non-blocking pipe registered with a loop; unregisters before closing (so the callback can
/// never read a closed or reused fd), also on early return.
struct Registered<'a, L: EventLoop> {
    lp: &'a L,
    read: OwnedFd,
    write: OwnedFd,
}

impl<'a, L: EventLoop> Registered<'a, L> {
    fn new(lp: &'a L, c: &'static Completion) -> Result<Self, SampleError> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid two-element array for `pipe2` to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(SampleError(format!("pipe2: {}", std::io::Error::last_os_error())));
        }
        // SAFETY: `pipe2` succeeded, so both fds are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let rfd = read.as_raw_fd();
        let callback = move || {
            let mut buf = [0_u8; 64];
            loop {
                // SAFETY: `buf` is a valid writable buffer of the given length; `rfd` stays open
                // while registered (see `Drop`).
                let got = unsafe { libc::read(rfd, buf.as_mut_ptr().cast(), buf.len()) };
                if got <= 0 {
                    break; // EAGAIN: drained (a spurious wake-up reads nothing)
                }
                for _ in 0..got {
                    c.task_done();
                }
            }
        };
        lp.register_readable(rfd, callback)
            .map_err(|r| SampleError(format!("register_readable rejected: {}", r.reason)))?;
        Ok(Registered { lp, read, write })
    }

    fn poke(&self) -> Result<(), SampleError> {
        // SAFETY: writes one byte from a valid buffer to an open fd.
        let n = unsafe { libc::write(self.write.as_raw_fd(), [1_u8].as_ptr().cast(), 1) };
        if n == 1 {
            Ok(())
        } else {
            Err(SampleError(format!("pipe write: {}", std::io::Error::last_os_error())))
        }
    }
}

impl<L: EventLoop> Drop for Registered<'_, L> {
    fn drop(&mut self) {
        // Once `unregister` returns the callback never runs again; only then may the fds close.
        if self.lp.unregister(self.read.as_raw_fd()).is_err() {
            // Not registered any more (loop stopped): nothing can call the callback.
        }
    }
}

/// Runs one sample.
///
/// # Errors
/// Pipe creation or registration failed, a write failed, a lost or extra byte, or a timeout.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    let mut hist = latency_histogram();
    sample_with_loop::<L>(config, n, |lp: &Arc<L>, c| {
        let pipe = Registered::new(&**lp, c)?;
        let scope = TimedScope::start();
        for i in 1..=n {
            c.expect(i);
            let t0 = Instant::now();
            pipe.poke()?;
            c.wait_for(i, SAMPLE_TIMEOUT)?;
            hist.saturating_record((t0.elapsed().as_nanos() as u64).max(1));
        }
        let measured = scope.stop();
        drop(pipe);
        Ok(TimedBody::new(measured).with_latency(hist))
    })
}
