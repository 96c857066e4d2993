//! Loom model checks of the alternates' wake handshake (alt-one and alt-three share it): the real [`Handshake`] (its state and
//! wake-pending atomics are loom's under `--cfg loom`, see `src/sync.rs`), driven by a model of
//! the loop's sleep path and of the producers' publish-then-wake path:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p loop-alt-common --test loom_wake
//! ```
//!
//! mio cannot run under loom, so the ingress lane is modelled by a loom mutex around a `Vec`
//! (the real lane is also only touched under one mutex) and the eventfd by a counter plus a
//! condvar: a write makes the next (or current) poll return, a poll consumes the writes. The
//! loop model follows `driver.rs` step for step: `enter_sleep`, re-check the lane, block only if
//! it is empty, `leave_sleep`. A lost wake-up leaves the loop blocked forever, which loom reports
//! as a deadlock.
#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use loom::sync::atomic::AtomicUsize;
use loom::sync::{Condvar, Mutex};
use loom::thread;
use loop_alt_common::state::{Handshake, LoopState, TransitionError};

/// The eventfd: `write` from any thread, `poll` by the loop thread only.
struct EventFd {
    pending: Mutex<u64>,
    ready: Condvar,
}

impl EventFd {
    fn new() -> Self {
        Self { pending: Mutex::new(0), ready: Condvar::new() }
    }

    fn write(&self) {
        *self.pending.lock().unwrap() += 1;
        self.ready.notify_one();
    }

    /// Blocks until at least one write happened since the last poll (loom has no clock, so the
    /// 10 s timeout is modelled as "never": a model must not depend on it).
    fn poll(&self) {
        let mut n = self.pending.lock().unwrap();
        while *n == 0 {
            n = self.ready.wait(n).unwrap();
        }
        *n = 0;
    }
}

struct Model {
    handshake: Handshake,
    lane: Mutex<Vec<u32>>,
    eventfd: EventFd,
    writes: AtomicUsize,
    elided: AtomicUsize,
    /// Blocking polls.
    sleeps: AtomicUsize,
    /// `Running → Sleeping` transitions (a sleep period, whether or not it blocked).
    sleep_entries: AtomicUsize,
}

impl Model {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            handshake: Handshake::new(),
            lane: Mutex::new(Vec::new()),
            eventfd: EventFd::new(),
            writes: AtomicUsize::new(0),
            elided: AtomicUsize::new(0),
            sleeps: AtomicUsize::new(0),
            sleep_entries: AtomicUsize::new(0),
        })
    }

    /// `AltOneLoop::push` / `AltThreeLoop::submit` + `wake_after_publish`.
    fn submit(&self, v: u32) {
        self.lane.lock().unwrap().push(v);
        if self.handshake.claim_wake() {
            self.eventfd.write();
            self.writes.fetch_add(1, Relaxed);
        } else {
            self.elided.fetch_add(1, Relaxed);
        }
    }

    /// `AltOneLoop::begin_termination` / `AltThreeLoop::begin_termination` as `shutdown`/`close` call it.
    fn terminate(&self) {
        if self.handshake.begin_termination() == Ok(LoopState::Sleeping)
            && self.handshake.claim_flag()
        {
            self.eventfd.write();
            self.writes.fetch_add(1, Relaxed);
        }
    }

    /// The drive loop: take everything, then sleep as `poll_io` does. Returns how many tasks it
    /// took before it had `want` of them or saw `Terminating`.
    fn run(&self, want: usize) -> usize {
        match self.handshake.transition(LoopState::Awake, LoopState::Running) {
            Ok(()) => {}
            // Terminated before it started: `run` goes straight to the drain.
            Err(TransitionError::Lost { actual: LoopState::Terminating, .. }) => {
                return self.lane.lock().unwrap().drain(..).count();
            }
            Err(e) => panic!("{e}"),
        }
        let mut got = 0;
        loop {
            got += self.lane.lock().unwrap().drain(..).count();
            if got >= want {
                return got;
            }
            match self.handshake.enter_sleep() {
                Ok(()) => {
                    self.sleep_entries.fetch_add(1, Relaxed);
                }
                Err(TransitionError::Lost { actual: LoopState::Terminating, .. }) => return got,
                Err(e) => panic!("{e}"),
            }
            if !self.lane.lock().unwrap().is_empty() {
                assert!(self.handshake.leave_sleep().is_ok());
                continue;
            }
            self.sleeps.fetch_add(1, Relaxed);
            self.eventfd.poll();
            if !self.handshake.leave_sleep().unwrap() {
                return got + self.lane.lock().unwrap().drain(..).count();
            }
        }
    }
}

/// A task published to a loop that is (or is about to be) asleep always reaches it.
#[test]
fn a_task_published_to_a_sleeping_loop_is_always_seen() {
    static WOKE_A_SLEEPER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static ELIDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    loom::model(|| {
        let m = Model::new();
        let lp = {
            let m = m.clone();
            thread::spawn(move || m.run(1))
        };
        m.submit(7);
        assert_eq!(lp.join().unwrap(), 1);
        if m.writes.load(Relaxed) == 1 {
            WOKE_A_SLEEPER.fetch_add(1, Relaxed);
        } else {
            ELIDED.fetch_add(1, Relaxed);
        }
    });
    assert!(WOKE_A_SLEEPER.load(Relaxed) > 0, "never explored a sleeping loop");
    assert!(ELIDED.load(Relaxed) > 0, "never explored an awake loop");
}

/// Two producers racing the loop's sleeps: both tasks are seen, and the wake-pending flag bounds
/// the eventfd writes: a write needs the flag `false → true`, and only the loop's clear (once per
/// sleeping period, in `leave_sleep`) makes it `false` again, so writes ≤ periods + 1. (Both
/// producers can write in one period: the second one when it still sees `Sleeping` just after
/// the loop cleared the flag; that write wakes a later poll spuriously, harmlessly.)
#[test]
fn two_producers_at_most_one_write_per_sleep() {
    // Three threads: unbounded, the exploration takes ~90 s; bounding preemptions at 4 keeps it
    // under a second and still covers the races that matter (each needs at most 2 preemptions).
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(4);
    builder.check(|| {
        let m = Model::new();
        let lp = {
            let m = m.clone();
            thread::spawn(move || m.run(2))
        };
        let p = {
            let m = m.clone();
            thread::spawn(move || m.submit(1))
        };
        m.submit(2);
        p.join().unwrap();
        assert_eq!(lp.join().unwrap(), 2);
        let (writes, periods) = (m.writes.load(Relaxed), m.sleep_entries.load(Relaxed));
        assert!(writes <= periods + 1, "{writes} eventfd writes for {periods} sleeping periods");
        assert_eq!(writes + m.elided.load(Relaxed), 2);
    });
}

/// A termination racing the loop's sleep always gets the loop out of its poll; the state is
/// never overwritten back to `Running` (bug #5).
#[test]
fn termination_racing_a_sleep_is_never_lost() {
    loom::model(|| {
        let m = Model::new();
        let lp = {
            let m = m.clone();
            thread::spawn(move || m.run(usize::MAX))
        };
        m.terminate();
        assert_eq!(lp.join().unwrap(), 0);
        assert_eq!(m.handshake.state(), LoopState::Terminating);
    });
}

/// Negative control: a producer that looks at the state *before* publishing. Loom must find the
/// lost wake-up, which shows the models above would catch one.
#[test]
#[should_panic]
fn negative_control_checking_before_publishing_loses_a_wake() {
    loom::model(|| {
        let m = Model::new();
        let lp = {
            let m = m.clone();
            thread::spawn(move || m.run(1))
        };
        let claimed = m.handshake.claim_wake(); // BUG: before the push
        m.lane.lock().unwrap().push(7);
        if claimed {
            m.eventfd.write();
        }
        lp.join().unwrap();
    });
}
