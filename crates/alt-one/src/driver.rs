//! The loop thread's side: ticks in AlternateOne's phase order, the poll, and the shutdown
//! drain in named phases.

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::Events;

use crate::counters::LoopCounter;
use crate::ingress::LaneId;
use crate::io::WAKER_TOKEN;
use crate::state::{LoopState, TransitionError};
use crate::{AltOneLoop, Task};

/// Longest single sleep (AlternateOne's 10 s poll cap); a loop with nothing to do re-checks
/// its queues this often.
const MAX_SLEEP: Duration = Duration::from_secs(10);

/// Microtasks run per microtask pass (AlternateOne's budget).
const MICROTASK_BUDGET: usize = 1024;

/// Events taken per poll (AlternateOne's 128-event buffer).
const EVENT_CAPACITY: usize = 128;

impl AltOneLoop {
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
            self.microtask_pass();
        }
    }

    /// Timers, internal lane, external lane (budgeted), microtasks.
    fn tick(&self) {
        self.counters.ticks.add(1);
        self.fire_due_timers();
        while let Some(task) = self.pop(LaneId::Internal) {
            self.run_task(task, &self.counters.internal_run);
        }
        let mut ran = 0;
        while ran < self.budget {
            let Some((lane, task)) = self.pop_next_external() else { break };
            if lane == LaneId::External {
                ran += 1;
                self.run_task(task, &self.counters.external_run);
            } else {
                self.run_task(task, &self.counters.internal_run);
            }
        }
        self.counters.max_batch.raise_to(ran as u64);
        self.microtask_pass();
    }

    /// One lock per pop (AlternateOne's granularity). A separate function so the guard is
    /// released before the task runs.
    fn pop(&self, lane: LaneId) -> Option<Task> {
        let mut ing = self.ingress.lock();
        let task = ing.pop(lane);
        if lane == LaneId::Microtask {
            self.micro_len.store(ing.len(LaneId::Microtask), Ordering::Relaxed);
        }
        task
    }

    /// The next task of the external phase: internal work first (submitted by the previous
    /// task, say), in the same critical section, so priority holds within a batch.
    fn pop_next_external(&self) -> Option<(LaneId, Task)> {
        let mut ing = self.ingress.lock();
        if let Some(t) = ing.pop(LaneId::Internal) {
            return Some((LaneId::Internal, t));
        }
        ing.pop(LaneId::External).map(|t| (LaneId::External, t))
    }

    /// Runs a task, counts it, then holds the microtask checkpoint.
    fn run_task(&self, task: Task, counter: &LoopCounter) {
        self.isolate(task);
        counter.add(1);
        self.checkpoint();
    }

    /// The microtask checkpoint after every task: free when no microtask is queued.
    fn checkpoint(&self) {
        if self.micro_len.load(Ordering::Relaxed) > 0 {
            self.microtask_pass();
        }
    }

    /// Runs at most [`MICROTASK_BUDGET`] microtasks, including those they schedule.
    fn microtask_pass(&self) {
        for _ in 0..MICROTASK_BUDGET {
            let Some(task) = self.pop(LaneId::Microtask) else { return };
            self.isolate(task);
            self.counters.microtasks_run.add(1);
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

    /// AlternateOne's poll: `Running → Sleeping`, look at the queues again, and block in
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
        let work = {
            let ing = self.ingress.lock();
            ing.total_len() > 0 || ing.closed || ing.stop_requested
        };
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
                self.checkpoint();
            }
        }
    }

    /// One step of the shutdown drain. Returns `true` once the loop has stopped.
    ///
    /// Phase *ingress*: a tick without the poll (due timers, every internal task, a budget of
    /// external tasks, microtasks), repeated until a pass finds every lane empty. Phase
    /// *timers*: due timers fire in that tick; pending ones are dropped and counted. The
    /// decision "nothing left: drained" is taken under the ingress lock, the lock every
    /// submission takes, so nothing accepted can be missed. Phase *fds* follows in
    /// `finish_run`.
    fn shutdown_step(&self) -> bool {
        if self.ingress.lock().closed {
            return true;
        }
        self.tick();
        let mut ing = self.ingress.lock();
        if ing.closed {
            return true;
        }
        if ing.total_len() > 0 {
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
            ing.drained = true;
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
