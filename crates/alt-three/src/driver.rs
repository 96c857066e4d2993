//! The loop thread's side: ticks in AlternateThree's phase order, the poll, and the shutdown
//! drain.

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::Events;

use crate::counters::LoopCounter;
use crate::ingress::Ingress;
use crate::io::WAKER_TOKEN;
use crate::microtasks::MICROTASK_BUDGET;
use crate::state::{LoopState, TransitionError};
use crate::{AltThreeLoop, Task};

/// Longest single sleep (AlternateThree's 10 s poll cap); a loop with nothing to do re-checks
/// its queues this often.
const MAX_SLEEP: Duration = Duration::from_secs(10);

/// Events taken per poll (AlternateThree's 128-event buffer).
const EVENT_CAPACITY: usize = 128;

impl AltThreeLoop {
    /// The main cycle. Returns once the loop has stopped (drained or closed), or with the error
    /// of a failed `epoll_wait`.
    pub(crate) fn drive(&self) -> io::Result<()> {
        let mut poll = self.poll.lock();
        let mut events = Events::with_capacity(EVENT_CAPACITY);
        loop {
            if self.handshake.state() == LoopState::Terminating {
                if self.shutdown_step() {
                    return Ok(());
                }
                continue;
            }
            self.tick();
            self.poll_io(&mut poll, &mut events)?;
            self.dispatch(&events);
            events.clear();
            self.drain_microtasks();
        }
    }

    /// Timers, internal queue + microtasks, external batch (budgeted), microtasks.
    fn tick(&self) {
        self.counters.ticks.add(1);
        self.fire_due_timers();
        self.process_internal();
        self.process_ingress();
        self.drain_microtasks();
    }

    /// Swaps the internal double buffer under its lock and runs everything taken, outside it,
    /// then drains microtasks. Work submitted meanwhile waits for the next swap.
    fn process_internal(&self) {
        if !self.internal_pending.swap(false, Ordering::SeqCst) {
            return;
        }
        {
            let mut internal = self.internal.lock();
            let mut inflight = self.inflight.lock();
            debug_assert!(inflight.internal.is_empty(), "previous internal batch fully consumed");
            std::mem::swap(&mut internal.queue, &mut inflight.internal);
        }
        while let Some(task) = self.next_inflight(true) {
            self.run_task(task, &self.counters.internal_run);
        }
        self.drain_microtasks();
    }

    /// Pops at most `budget` external tasks under one ingress lock into the batch buffer, then
    /// runs them outside it. Internal work queued by a task runs right after that task.
    fn process_ingress(&self) {
        {
            let mut ing = self.ingress.lock();
            let Ingress { queue, pool, .. } = &mut *ing;
            let mut inflight = self.inflight.lock();
            queue.pop_into(pool, &mut inflight.external, self.budget);
        }
        let mut ran = 0_u64;
        while let Some(task) = self.next_inflight(false) {
            self.run_task(task, &self.counters.external_run);
            ran += 1;
            if self.internal_pending.load(Ordering::SeqCst) {
                self.process_internal();
            }
        }
        self.counters.max_batch.raise_to(ran);
    }

    /// The next not-yet-started task of the batch in flight (`None` once `close` took the
    /// rest). A separate function so the lock is released before the task runs.
    fn next_inflight(&self, internal: bool) -> Option<Task> {
        let mut inflight = self.inflight.lock();
        if internal { inflight.internal.pop_front() } else { inflight.external.pop_front() }
    }

    /// Runs a task (isolated) and counts it.
    fn run_task(&self, task: Task, counter: &LoopCounter) {
        self.isolate(task);
        counter.add(1);
    }

    /// Runs at most [`MICROTASK_BUDGET`] loop-private microtasks; if more remain, the next poll
    /// must not block (AlternateThree's `forceNonBlockingPoll`).
    fn drain_microtasks(&self) {
        for _ in 0..MICROTASK_BUDGET {
            let Some(task) = self.microtasks.lock().pop() else { return };
            self.isolate(task);
            self.counters.microtasks_run.add(1);
        }
        if !self.microtasks.lock().is_empty() {
            self.force_nonblocking.store(true, Ordering::Relaxed);
        }
    }

    /// Fires every timer due now, in (deadline, scheduling) order, one per lock acquisition so
    /// `close` can take the rest at any point. Timers scheduled by these callbacks wait for the
    /// next tick, even with a zero delay.
    fn fire_due_timers(&self) {
        // Taken once: a timer fires only if its deadline is <= this instant, which precedes the
        // moment it runs, so no timer ever fires early.
        let now = Instant::now();
        let mut seq_limit = None;
        loop {
            let timer = {
                let mut t = self.timers.lock();
                let limit = *seq_limit.get_or_insert_with(|| t.next_seq());
                t.pop_due(now, limit)
            };
            let Some(timer) = timer else { return };
            self.run_task(timer, &self.counters.timers_fired);
        }
    }

    /// AlternateThree's poll: `Running → Sleeping`, look at both queues again, and block in
    /// `epoll_wait` only if nothing is due. Leaves the collected events in `events`.
    fn poll_io(&self, poll: &mut mio::Poll, events: &mut Events) -> io::Result<()> {
        match self.handshake.enter_sleep() {
            Ok(()) => {}
            // A shutdown or close came first: no sleep, the drive loop sees `Terminating`.
            Err(TransitionError::Lost { actual: LoopState::Terminating, .. }) => return Ok(()),
            Err(e) => panic!("{e}"),
        }
        // The handshake's second half: a producer published before our `Sleeping` store is
        // visible here; one that publishes later sees `Sleeping` and writes the eventfd.
        let forced = self.force_nonblocking.swap(false, Ordering::Relaxed);
        let work = forced
            || {
                let ing = self.ingress.lock();
                ing.queue.len() > 0 || ing.gate.closed || ing.gate.stop_requested
            }
            || !self.internal.lock().queue.is_empty();
        let now = Instant::now();
        let next = self.timers.lock().next_deadline();
        if work || next.is_some_and(|d| d <= now) {
            self.leave_sleep();
            if !self.readiness.is_empty() {
                // Work is queued, but registered fds must not starve: look without blocking.
                self.poll_once(poll, events, Duration::ZERO)?;
            }
            return Ok(());
        }
        let timeout = next.map_or(MAX_SLEEP, |d| (d - now).min(MAX_SLEEP));
        self.counters.sleeps.add(1);
        let polled = self.poll_once(poll, events, timeout);
        self.leave_sleep();
        polled
    }

    fn leave_sleep(&self) {
        if let Err(e) = self.handshake.leave_sleep() {
            panic!("{e}");
        }
    }

    /// One `epoll_wait`; an interrupted wait counts as a wake-up with no events.
    fn poll_once(
        &self,
        poll: &mut mio::Poll,
        events: &mut Events,
        timeout: Duration,
    ) -> io::Result<()> {
        self.counters.polls.add(1);
        match poll.poll(events, Some(timeout)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                events.clear();
                Ok(())
            }
            r => r,
        }
    }

    /// Runs the readiness callbacks of the collected events (the wake-up eventfd needs no
    /// action: mio's eventfd is edge-triggered and resets itself when full).
    fn dispatch(&self, events: &Events) {
        for event in events.iter() {
            if event.token() == WAKER_TOKEN {
                continue;
            }
            // An unknown token is a stale registration: dropped, never misrouted.
            let Some(reg) = self.readiness.lookup(event.token()) else { continue };
            if self.readiness.dispatch(&reg, |cb| self.isolate(cb)) {
                self.counters.io_callbacks.add(1);
            }
        }
    }

    /// One step of the shutdown drain. Returns `true` once the loop has stopped.
    ///
    /// A tick without the poll (due timers, internal queue, a budget of external tasks,
    /// microtasks), repeated until a pass finds both queues empty; then pending timers are
    /// dropped and counted. Tasks run with no lock held (bug #13: Go ran them under `ingressMu`).
    /// The decision "nothing left: drained" is taken under the ingress and internal locks, the
    /// locks every submission takes, so nothing accepted can be missed.
    fn shutdown_step(&self) -> bool {
        if self.ingress.lock().gate.closed {
            return true;
        }
        self.tick();
        let mut ing = self.ingress.lock();
        if ing.gate.closed {
            return true;
        }
        if ing.queue.len() > 0
            || !self.internal.lock().queue.is_empty()
            || !self.microtasks.lock().is_empty()
        {
            return false;
        }
        let pending = {
            let mut timers = self.timers.lock();
            if timers.next_deadline().is_some_and(|d| d <= Instant::now()) {
                return false;
            }
            timers.take_all()
        };
        if pending.is_empty() {
            // `finish_run` marks the runner stopped (releasing `shutdown` callers) after the
            // fds phase. Nothing can be submitted meanwhile: foreign threads are refused since
            // the stop was requested, and the loop thread runs no more tasks.
            self.update_gate(&mut ing, |g| g.drained = true);
            return true;
        }
        drop(ing);
        // Dropped outside the lock: a destructor may submit from the loop thread (accepted, and
        // then run by the next step).
        self.counters.tasks_dropped.add(pending.len() as u64);
        for timer in pending {
            self.isolate(move || drop(timer));
        }
        false
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
