//! The loop thread's side: ticks (I/O callbacks, due timers, internal tasks, a budgeted batch of
//! external tasks, microtask checkpoints), then a bounded spin, then the sleep handshake.

use std::mem;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use loop_api::RunError;

use crate::MainLoop;
use crate::consumer::Token;
use crate::queue::Queue;
use crate::spin::SpinBudget;
use crate::state::{CLOSED, PARKED, POLLING, STOP, in_flight};
use crate::sync::{self, spin_hint};
use crate::task::Task;

/// Queue checks between two clock reads while spinning (a clock read costs ~25 ns, a check a
/// few; 64 keeps the clock under 10% of the spin).
const SPIN_CHECKS_PER_CLOCK: u32 = 64;

/// While spinning, how often the loop also looks at the timer heap and the poller (a lock and a
/// non-blocking `epoll_wait`): 50 µs, above the default spin (20 µs), so a default spin never
/// pays for it, while any longer one (up to `Duration::MAX`) keeps timers and readiness live,
/// late by at most about this much.
const SPIN_LOOK_EVERY: Duration = Duration::from_micros(50);

/// How `idle` ended.
enum Idle<'a> {
    /// Work (or a reason to look again) arrived; the token is held again.
    Continue(Token<'a>),
    /// The loop has stopped: closed, or drained after a shutdown.
    Exit,
}

impl MainLoop {
    /// The main cycle: runs ticks until the loop is closed or drained after a shutdown.
    ///
    /// The consumer token is held throughout except while user code runs (see `consumer.rs`)
    /// and while the loop sleeps.
    pub(crate) fn drive(&self) -> Result<(), RunError> {
        let mut tok = self.consumer.acquire();
        let mut ready_io: Vec<u64> = Vec::new();
        let mut spin = SpinBudget::new(self.spin);
        loop {
            self.counters.ticks.add(1);
            let mut progressed = false;
            let io_ran = !ready_io.is_empty();
            if io_ran {
                tok = self.dispatch_io(tok, &mut ready_io);
            }
            if self.timers_hint.load(Relaxed) {
                let fired;
                (tok, fired) = self.fire_due_timers(tok);
                progressed |= fired;
            }
            let ran;
            (tok, ran) = self.run_internal(tok);
            progressed |= ran > 0;
            let ran;
            (tok, ran) = self.run_external(tok);
            progressed |= ran > 0;
            // Foreign microtasks scheduled while the loop was idle.
            let ran;
            (tok, ran) = self.checkpoint(tok);
            progressed |= ran > 0;
            if progressed {
                if self.io.has_registrations() {
                    // Keep I/O fair under a steady task load: one non-blocking poll per busy tick.
                    self.counters.polls.add(1);
                    self.io.poll(Some(Duration::ZERO), &mut ready_io).map_err(RunError::Io)?;
                }
                continue;
            }
            // A tick that ran only readiness callbacks goes straight to the sleep handshake, whose
            // `epoll_wait` returns at once with whatever became ready meanwhile (libuv's cycle):
            // no non-blocking poll first (one `epoll_wait` per round instead of two whenever it
            // finds nothing), and no spin, which would look at the queues only and leave sockets
            // that become readable meanwhile waiting for its end (crate docs, "Readiness").
            match self.idle(tok, &mut ready_io, (!io_ran).then_some(&mut spin))? {
                Idle::Continue(t) => tok = t,
                Idle::Exit => return Ok(()),
            }
        }
    }

    /// Releases the token, runs `f` isolated, takes the token back.
    fn run_callback<'a>(&'a self, tok: Token<'a>, f: impl FnOnce()) -> Token<'a> {
        drop(tok);
        self.isolate(f);
        self.consumer.acquire()
    }

    /// Runs `f`, catching a panic so that it cannot stop the loop; counts caught panics.
    /// (`loop_api::isolate`: the payload is dropped inside a catch too — a payload whose own
    /// destructor panics neither unwinds out of `run` nor, in practice, leaks.)
    pub(crate) fn isolate(&self, f: impl FnOnce()) {
        if loop_api::isolate(f) {
            self.counters.panics.add(1);
        }
    }

    /// The microtask checkpoint: runs loop-local microtasks, then foreign ones, until both
    /// queues are empty (microtasks scheduled by microtasks included). Returns how many ran.
    fn checkpoint<'a>(&'a self, mut tok: Token<'a>) -> (Token<'a>, u64) {
        let mut ran = 0;
        loop {
            let next = match tok.local_micro().pop_front() {
                Some(m) => m,
                None => match pop(&tok, &self.foreign_micro) {
                    Some(m) => m,
                    None => return (tok, ran),
                },
            };
            tok = self.run_callback(tok, || next.run());
            self.counters.microtasks.add(1);
            ran += 1;
        }
    }

    /// Runs one queued task, then the microtask checkpoint.
    fn run_task<'a>(&'a self, tok: Token<'a>, task: Task) -> Token<'a> {
        let tok = self.run_callback(tok, || task.run());
        self.checkpoint(tok).0
    }

    /// Runs internal tasks until the internal queue is empty (no budget: internal work is
    /// prioritised, including internal tasks submitted by internal tasks).
    fn run_internal<'a>(&'a self, mut tok: Token<'a>) -> (Token<'a>, u64) {
        let mut ran = 0;
        while let Some(task) = pop(&tok, &self.internal) {
            tok = self.run_task(tok, task);
            self.counters.internal.add(1);
            ran += 1;
        }
        (tok, ran)
    }

    /// Runs up to the batch budget of external tasks, letting internal tasks that arrive in
    /// between run first (so an internal task never waits behind external work queued before
    /// it was submitted). Returns how many external tasks ran.
    fn run_external<'a>(&'a self, mut tok: Token<'a>) -> (Token<'a>, u64) {
        let mut ran = 0_u64;
        while ran < self.budget {
            if !is_empty(&tok, &self.internal) {
                (tok, _) = self.run_internal(tok);
            }
            let Some(task) = pop(&tok, &self.external) else { break };
            tok = self.run_task(tok, task);
            self.counters.external.add(1);
            ran += 1;
        }
        self.counters.max_batch.raise_to(ran);
        (tok, ran)
    }

    /// Fires every timer due now, in (deadline, scheduling) order, one per lock acquisition.
    /// Timers scheduled by these callbacks wait for the next tick (even with a zero delay), so
    /// timers cannot starve the task queues. Returns whether any fired.
    fn fire_due_timers<'a>(&'a self, mut tok: Token<'a>) -> (Token<'a>, bool) {
        // A timer fires only if its deadline is <= this instant, taken before it runs: never early.
        let now = Instant::now();
        let limit = self.timers.lock().next_seq();
        let mut fired = false;
        loop {
            let timer = {
                let mut t = self.timers.lock();
                let due = t.pop_due(now, limit);
                self.timers_hint.store(!t.is_empty(), Relaxed);
                due
            };
            let Some(timer) = timer else { return (tok, fired) };
            tok = self.run_task(tok, timer);
            self.counters.timers_fired.add(1);
            fired = true;
        }
    }

    /// Runs the readiness callbacks of the generations in `ready` (collected by the last poll).
    fn dispatch_io<'a>(&'a self, mut tok: Token<'a>, ready: &mut Vec<u64>) -> Token<'a> {
        let generations = mem::take(ready);
        for &generation in &generations {
            // A stale event (unregistered, maybe the fd number reused) finds nothing.
            let Some(mut callback) = self.io.begin_dispatch(generation) else { continue };
            tok = self.run_callback(tok, &mut callback);
            self.counters.io_callbacks.add(1);
            if let Some(gone) = self.io.end_dispatch(generation, callback) {
                // Unregistered while it ran: drop it outside the token (its destructor may
                // call back into the loop).
                tok = self.run_callback(tok, move || drop(gone));
            }
            tok = self.checkpoint(tok).0;
        }
        // Keep the allocation for the next poll.
        *ready = generations;
        ready.clear();
        tok
    }

    /// Whether any queue holds work. Needs the token (it reads the queues' pop ends).
    fn has_work(&self, tok: &mut Token<'_>) -> bool {
        !tok.local_micro().is_empty()
            || !is_empty(tok, &self.internal)
            || !is_empty(tok, &self.external)
            || !is_empty(tok, &self.foreign_micro)
    }

    /// Nothing to do: spin for at most the adaptive budget `spin` (`spin.rs`; `None`: the tick
    /// ran readiness callbacks only, no spin), then run the sleep handshake (see the crate docs,
    /// "The wake-up protocol") and sleep, or stop.
    fn idle<'a>(
        &'a self,
        mut tok: Token<'a>,
        ready_io: &mut Vec<u64>,
        spin: Option<&mut SpinBudget>,
    ) -> Result<Idle<'a>, RunError> {
        if let Some(spin) = spin.filter(|s| !s.is_off()) {
            let budget = spin.next();
            let start = Instant::now();
            let mut next_look = start + SPIN_LOOK_EVERY;
            loop {
                for _ in 0..SPIN_CHECKS_PER_CLOCK {
                    if self.has_work(&mut tok) {
                        spin.found_work();
                        return Ok(Idle::Continue(tok));
                    }
                    spin_hint();
                }
                // No `sched_yield` between rounds: measured, it bought nothing on a quiet
                // machine and cost the latency cells tens of µs under outside load (crate docs,
                // "Measurements").
                let now = Instant::now();
                if self.state.load() & (STOP | CLOSED) != 0 {
                    break;
                }
                if now.duration_since(start) >= budget {
                    spin.ran_out();
                    break;
                }
                // A long spin (any `spin_before_sleep` above SPIN_LOOK_EVERY) must not starve
                // timers and readiness, which the queue checks above do not see.
                if now >= next_look {
                    next_look = now + SPIN_LOOK_EVERY;
                    if self.timer_due_or_fd_ready(now, ready_io)? {
                        spin.found_work();
                        return Ok(Idle::Continue(tok));
                    }
                }
            }
        }

        // 1. Publish where we are going to sleep (the loop thread alone chooses).
        let mode = if self.always_poll || self.io.has_registrations() { POLLING } else { PARKED };
        let s = self.state.publish_sleep(mode);

        // 2. Re-check everything a producer could have published before step 1. The queues'
        //    tails are read with read-modify-writes (`latest_tail`; `mark` once a shutdown is
        //    requested, which also closes them to foreign producers): a claim this misses reads
        //    our publish through the tail and wakes us.
        if s & CLOSED != 0 {
            self.abort_sleep(mode, ready_io)?;
            return Ok(Idle::Exit);
        }
        let claimed = self.claimed_work(&tok, s & STOP != 0);
        if claimed
            || !tok.local_micro().is_empty()
            || (mode == PARKED && self.io.has_registrations())
        {
            self.abort_sleep(mode, ready_io)?;
            if claimed && !self.has_work(&mut tok) {
                // Claimed but not yet written: its producer is between its CAS and its store,
                // perhaps preempted. Give it this core rather than spin against it.
                drop(tok);
                sync::yield_now();
                tok = self.consumer.acquire();
            }
            return Ok(Idle::Continue(tok));
        }
        let next_deadline = self.timers.lock().next_deadline();
        let now = Instant::now();
        if next_deadline.is_some_and(|d| d <= now) {
            self.abort_sleep(mode, ready_io)?;
            return Ok(Idle::Continue(tok));
        }
        if s & STOP != 0 && in_flight(s) == 0 {
            // Drained: nothing claimed in any queue up to its mark (checked after reading `s`),
            // no timer or registration in flight, and none can start (the marks and STOP refuse
            // everyone but the loop thread, which is here).
            self.abort_sleep(mode, ready_io)?;
            let pending = {
                let mut t = self.timers.lock();
                self.timers_hint.store(false, Relaxed);
                t.take_all()
            };
            if pending.is_empty() {
                return Ok(Idle::Exit);
            }
            // Timers not yet due are dropped, not waited for; their destructors may submit
            // tasks (accepted from the loop thread), so look again afterwards.
            drop(tok);
            self.counters.tasks_dropped.add(pending.len() as u64);
            for timer in pending {
                self.isolate(move || drop(timer));
            }
            return Ok(Idle::Continue(self.consumer.acquire()));
        }

        // 3. Sleep. A producer that published after step 1 sees our mode and wakes us (once).
        drop(tok);
        let timeout = next_deadline.map(|d| d.saturating_duration_since(now));
        let slept = self.block(mode, timeout, ready_io);
        let tok = self.consumer.acquire();
        self.state.end_sleep();
        slept?;
        Ok(Idle::Continue(tok))
    }

    /// While spinning: whether a timer is due at `now`, or (one non-blocking `epoll_wait`)
    /// a registered fd is ready (its generation is then in `ready_io` for the next tick).
    fn timer_due_or_fd_ready(
        &self,
        now: Instant,
        ready_io: &mut Vec<u64>,
    ) -> Result<bool, RunError> {
        if self.timers_hint.load(Relaxed)
            && self.timers.lock().next_deadline().is_some_and(|d| d <= now)
        {
            return Ok(true);
        }
        if self.io.has_registrations() {
            self.counters.polls.add(1);
            self.io.poll(Some(Duration::ZERO), ready_io).map_err(RunError::Io)?;
            return Ok(!ready_io.is_empty());
        }
        Ok(false)
    }

    /// Whether any MPSC queue has a slot claimed beyond the consumer's head (written or not),
    /// read with a read-modify-write of each tail; with `stopping`, that RMW sets the queue's
    /// mark, so no foreign producer can claim a slot afterwards.
    fn claimed_work(&self, _tok: &Token<'_>, stopping: bool) -> bool {
        [&self.internal, &self.external, &self.foreign_micro].into_iter().any(|q| {
            let tail = if stopping { q.mark() } else { q.latest_tail() };
            // SAFETY: the token is held (proved by `_tok`), so this thread is the consumer.
            tail > unsafe { q.head_index() }
        })
    }

    /// Blocks in `mode` for at most `timeout` (`None`: until woken), counting the sleep.
    fn block(
        &self,
        mode: u64,
        timeout: Option<Duration>,
        ready_io: &mut Vec<u64>,
    ) -> Result<(), RunError> {
        self.counters.sleeps.add(1);
        if mode == PARKED {
            match timeout {
                Some(t) => self.parker.park_timeout(t),
                None => self.parker.park(),
            }
            Ok(())
        } else {
            self.counters.polls.add(1);
            self.io.poll(timeout, ready_io).map_err(RunError::Io)
        }
    }

    /// Takes back a published sleep without sleeping. If a producer already claimed its wake-up,
    /// the `unpark` / eventfd write is committed and will arrive: block once to consume it, so
    /// that every wake a producer pays for ends exactly one counted sleep (and no stale token
    /// makes a later sleep return at once).
    fn abort_sleep(&self, mode: u64, ready_io: &mut Vec<u64>) -> Result<(), RunError> {
        if self.state.abort_sleep() { self.block(mode, None, ready_io) } else { Ok(()) }
    }
}

/// Pops `queue`'s oldest task; holding the consumer token is what makes the caller its single
/// consumer.
pub(crate) fn pop(_token: &Token<'_>, queue: &Queue<Task>) -> Option<Task> {
    // SAFETY: the token is held (proved by `_token`), and every consumer-side access to the
    // loop's queues happens under it, so this thread is the queue's only consumer right now.
    unsafe { queue.pop() }
}

/// Whether `queue` has nothing to pop; as [`pop`].
fn is_empty(_token: &Token<'_>, queue: &Queue<Task>) -> bool {
    // SAFETY: as in `pop`.
    unsafe { queue.is_empty() }
}

/// Pops every task of `queue` below tail index `end` into `out`, waiting (spin, then yield) for
/// slots claimed but not yet written: their producers are between their claim and their store.
pub(crate) fn drain_to(tok: &Token<'_>, queue: &Queue<Task>, end: usize, out: &mut Vec<Task>) {
    let mut waits = 0_u32;
    // SAFETY: as in `pop` (the token is held).
    while unsafe { queue.head_index() } < end {
        match pop(tok, queue) {
            Some(t) => out.push(t),
            None => {
                sync::wait_step(&mut waits);
            }
        }
    }
}

/// Drops `tasks` one by one, each isolated, on the calling thread.
pub(crate) fn drop_isolated(lp: &MainLoop, tasks: Vec<Task>) {
    for task in tasks {
        lp.isolate(move || drop(task));
    }
}
