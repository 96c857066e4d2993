//! The loop thread's side: the tick (internal → microtasks → external ≤ budget → I/O or sleep),
//! the sleep path of the wake handshake, readiness dispatch, and the end of the shutdown drain.

use std::sync::atomic::Ordering::Acquire;
use std::time::Duration;

use loop_api::RunError;

use crate::AltTwoLoop;
use crate::ring::Pop;
use crate::sync::yield_now;

impl AltTwoLoop {
    /// The main cycle. Returns once the loop was closed or has drained after a shutdown.
    pub(crate) fn drive(&self) -> Result<(), RunError> {
        let mut ready = Vec::new();
        loop {
            if self.is_closed() {
                return Ok(());
            }
            self.counters.ticks.add(1);
            let mut progressed = self.run_internal();
            progressed |= self.run_microtasks();
            progressed |= self.run_external() > 0;
            if self.is_closed() {
                return Ok(());
            }
            if self.has_work() {
                // Busy: look at I/O without blocking (only if an fd is registered: otherwise
                // the syscall could only return the waker's edge).
                if self.regs.any() {
                    self.poll_io(Some(Duration::ZERO), &mut ready)?;
                } else if !progressed {
                    // The only work left is a slot claimed by a producer that has not written
                    // it yet: give that producer the CPU instead of spinning on it.
                    yield_now();
                }
                continue;
            }
            if self.stopping.load(Acquire) {
                if self.try_finish() {
                    return Ok(());
                }
                continue;
            }
            self.sleep(&mut ready)?;
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Acquire)
    }

    /// Whether any queue may hold work (claimed-but-unpublished ring slots included).
    fn has_work(&self) -> bool {
        self.internal.may_have_work() || self.micro.may_have_work() || self.external.may_have_work()
    }

    /// Runs every internal task (each followed by its microtasks). Returns whether any ran.
    fn run_internal(&self) -> bool {
        let mut ran = false;
        while let Some(task) = self.internal.pop() {
            self.isolate(task);
            self.counters.tasks_internal.add(1);
            ran = true;
            self.run_microtasks();
            if self.is_closed() {
                break;
            }
        }
        ran
    }

    /// Runs microtasks until none is ready (including those they schedule). Returns whether any
    /// ran. A slot still being written by a foreign producer ends the checkpoint; it runs at the
    /// next one (the loop does not sleep while a claim is outstanding).
    fn run_microtasks(&self) -> bool {
        let mut ran = false;
        while let Pop::Item(task) = self.micro.pop() {
            self.isolate(task);
            self.counters.microtasks.add(1);
            ran = true;
            if self.is_closed() {
                break;
            }
        }
        ran
    }

    /// Runs at most `budget` external tasks, each followed by its microtasks and by any internal
    /// work it (or they) added. Returns how many external tasks ran.
    fn run_external(&self) -> usize {
        let mut ran = 0;
        while ran < self.budget {
            let Pop::Item(task) = self.external.pop() else { break };
            self.isolate(task);
            self.counters.tasks_external.add(1);
            ran += 1;
            self.run_microtasks();
            if self.internal.may_have_work() {
                self.run_internal();
            }
            if self.is_closed() {
                break;
            }
        }
        self.counters.max_batch.raise_to(ran as u64);
        ran
    }

    /// The loop side of the wake handshake (see `wake.rs`): announce the sleep, look at every
    /// queue once more with read-modify-writes, then block in `epoll_wait` unless work arrived.
    fn sleep(&self, ready: &mut Vec<usize>) -> Result<(), RunError> {
        self.wake.prepare_sleep();
        // Short-circuiting is fine: one RMW that finds work keeps the loop awake, and it
        // re-checks every queue on the next tick.
        if self.internal.may_have_work_latest()
            || self.micro.may_have_work_latest()
            || self.external.may_have_work_latest()
        {
            self.wake.cancel_sleep();
            return Ok(());
        }
        self.counters.sleeps.add(1);
        self.counters.polls.add(1);
        let result = self.poller.poll(None, ready);
        self.wake.woke();
        result.map_err(RunError::Io)?;
        self.dispatch(ready);
        Ok(())
    }

    /// A non-blocking (or bounded) poll followed by dispatch.
    fn poll_io(&self, timeout: Option<Duration>, ready: &mut Vec<usize>) -> Result<(), RunError> {
        self.counters.polls.add(1);
        self.poller.poll(timeout, ready).map_err(RunError::Io)?;
        self.dispatch(ready);
        Ok(())
    }

    /// Runs the callbacks of the ready registrations (stale tokens find nothing), each followed
    /// by its microtasks.
    fn dispatch(&self, ready: &mut Vec<usize>) {
        for token in ready.drain(..) {
            if self.is_closed() {
                break;
            }
            let Some(mut callback) = self.regs.take(token) else { continue };
            self.isolate(&mut callback);
            self.counters.io_callbacks.add(1);
            if let Some(unregistered) = self.regs.put_back(token, callback) {
                self.isolate(move || drop(unregistered));
            }
            self.run_microtasks();
        }
        ready.clear();
    }

    /// The end of a shutdown drain. Called when a tick found no work with the stop requested:
    /// every foreign door was closed before `stopping` was set (so the tails read now are
    /// final), and only this thread could still add work — and it is here. Marks the drain
    /// complete and releases the `shutdown` callers.
    fn try_finish(&self) -> bool {
        if self.has_work() {
            return false;
        }
        let mut life = self.life.lock();
        life.drained = true;
        self.done.notify_all();
        true
    }

    /// Runs `f`, catching a panic so that it cannot stop the loop; counts caught panics.
    /// (`loop_api::isolate`: the payload is dropped inside a catch too — a payload whose own
    /// destructor panics neither unwinds out of `run` nor, in practice, leaks.)
    pub(crate) fn isolate(&self, f: impl FnOnce()) {
        if loop_api::isolate(f) {
            self.counters.panics.add(1);
        }
    }
}
