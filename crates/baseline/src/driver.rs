//! The loop thread's side: wait for work, swap the ingress batch, run it, fire due timers.

use std::collections::VecDeque;
use std::mem;
use std::time::Instant;

use crate::state::Phase;
use crate::{BaselineLoop, Task};

impl BaselineLoop {
    /// The main cycle. Returns once the loop has stopped (`Phase::Stopped` is already set).
    pub(crate) fn drive(&self) {
        loop {
            let mut st = self.state.lock();
            // Wait until there is work or a reason to stop. Every check and the decision to
            // sleep happen under the state mutex, and producers publish under the same mutex
            // before looking at `waiting`: either a producer's push is visible here, or the
            // producer sees `waiting == true` and notifies. No wake-up can be lost.
            loop {
                if st.closed {
                    // `close` already took every queued task and timer.
                    st.phase = Phase::Stopped;
                    return;
                }
                if !st.queue.is_empty() {
                    break;
                }
                let next = st.timers.next_deadline();
                if next.is_some_and(|d| d <= Instant::now()) {
                    break;
                }
                if st.stop_requested {
                    if st.timers.is_empty() {
                        // Drained: no task queued, none can be added by anyone else (only the
                        // loop thread may submit while stopping, and it is here), no timer.
                        // Stopping in this same critical section closes the door for good.
                        st.drained = true;
                        st.phase = Phase::Stopped;
                        return;
                    }
                    // Timers not yet due are dropped, not waited for. Drop them outside the
                    // lock (destructors may call back into the loop), then look again: a
                    // destructor may have submitted a task, which is accepted and must run.
                    let pending = st.timers.take_all();
                    drop(st);
                    self.counters.tasks_dropped.add(pending.len() as u64);
                    for timer in pending {
                        self.isolate(move || drop(timer));
                    }
                    st = self.state.lock();
                    continue;
                }
                st.waiting = true;
                st.sleep_until = next;
                self.counters.sleeps.add(1);
                match next {
                    Some(deadline) => {
                        self.wake.wait_until(&mut st, deadline);
                    }
                    None => self.wake.wait(&mut st),
                }
                st.waiting = false;
                st.sleep_until = None;
            }

            self.counters.ticks.add(1);
            let timers_pending = !st.timers.is_empty();
            if !st.queue.is_empty() {
                // The swap: the whole ingress queue becomes this tick's batch, and the previous
                // (empty) batch buffer becomes the ingress queue, so both allocations are
                // reused. The batch lives behind its own mutex so that `close` can take the
                // tasks that have not started yet. Lock order: state, then batch.
                let mut batch = self.batch.lock();
                debug_assert!(batch.is_empty(), "previous batch fully consumed");
                let spare = Vec::from(mem::take(&mut *batch));
                *batch = VecDeque::from(mem::replace(&mut st.queue, spare));
            }
            drop(st);

            let ran = self.run_batch();
            self.counters.max_batch.raise_to(ran);
            if timers_pending {
                self.fire_due_timers();
            }
        }
    }

    /// Runs the current batch to the end (no budget), one task at a time.
    fn run_batch(&self) -> u64 {
        let mut ran = 0;
        while let Some(task) = self.next_batch_task() {
            self.isolate(task);
            self.counters.tasks_run.add(1);
            ran += 1;
        }
        ran
    }

    /// Takes the next task of the batch. A separate function so the batch lock is released
    /// before the task runs (a `while let` scrutinee would keep the guard alive across the body,
    /// and a task calling `close` would deadlock). Returns `None` once `close` took the rest.
    fn next_batch_task(&self) -> Option<Task> {
        self.batch.lock().pop_front()
    }

    /// Fires every timer due now, in (deadline, scheduling) order, one per lock acquisition so
    /// `close` can drop the rest at any point. Timers scheduled by these callbacks wait for the
    /// next tick, even with a zero delay, so timers cannot starve the task queue.
    fn fire_due_timers(&self) {
        // Taken once: a timer is fired only if its deadline is <= this instant, which is
        // earlier than the moment it runs, so no timer ever fires early.
        let now = Instant::now();
        let mut seq_limit = None;
        loop {
            let timer = {
                let mut st = self.state.lock();
                if st.closed {
                    return;
                }
                let limit = *seq_limit.get_or_insert_with(|| st.timers.next_seq());
                st.timers.pop_due(now, limit)
            };
            let Some(timer) = timer else { return };
            self.isolate(timer);
            self.counters.timers_fired.add(1);
        }
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
