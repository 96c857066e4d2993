//! Test support: a small, correct reference loop (`RefLoop<Correct>`), and deliberately broken
//! variants of the same code (`RefLoop<F>` for a flavor `F` whose `FAULT` switches one defect
//! on), used to prove that each conformance check can fail.
//!
//! Design of the reference: one `parking_lot::Mutex` over all queues and the lifecycle state;
//! the loop pops one callback at a time under the lock and runs it outside the lock (so
//! reentrant calls cannot deadlock and `close` can take everything still queued). It sleeps on a
//! condvar, or in `poll(2)` over the registered fds plus an eventfd when any fd is registered.
//! Producers push and test the sleep state under the same lock, so a wake-up cannot be lost.
//! Internal tasks run before each external task; microtasks are drained after every callback;
//! timers live in a `BTreeMap` keyed by (deadline, id).

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use loop_api::{
    Capabilities, Capability, EventLoop, LoopConfig, LoopStats, OpError, RejectReason, Rejected,
    RunError, ShutdownError, TimerId, drop_all_isolated, drop_isolated, isolate,
};
use parking_lot::{Condvar, Mutex, MutexGuard, ReentrantMutex};

/// One deliberate defect (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The correct reference.
    None,
    /// `submit` accepts but silently drops every 1000th submission.
    DropEvery1000th,
    /// External tasks are taken newest first (LIFO) within the queue.
    LifoExternal,
    /// `submit_internal` runs the task directly on the caller's thread (Go Main bug #1).
    InternalOnCallerThread,
    /// The external queue is drained before the internal one.
    InternalAfterExternal,
    /// A foreign `shutdown` discards queued tasks (no conservation).
    NoShutdownConservation,
    /// A foreign `shutdown` runs queued external tasks on the caller's thread (Go Main bug #7).
    DrainOnShutdownCaller,
    /// `shutdown` before `run` marks the loop terminated and drops the tasks (Go T28).
    ShutdownBeforeRunLoses,
    /// When the loop stops only one waiting `shutdown` caller is woken.
    ShutdownWakesOneCaller,
    /// A second concurrent `run` waits for the first and returns `Ok`; `run` after termination
    /// returns `Ok`.
    RunTwiceAccepted,
    /// `close` runs the queued tasks on the caller's thread instead of dropping them (Go Baseline
    /// bug).
    CloseRunsTasks,
    /// Dropping the loop leaks (forgets) queued tasks.
    DropLeaks,
    /// Tasks run without `catch_unwind`: a panic kills the loop thread.
    NoPanicCatch,
    /// Panics are caught but not counted in `stats().panics`.
    PanicsNotCounted,
    /// `schedule_microtask` never wakes a sleeping loop (Go AlternateOne bug #11).
    MicrotaskNoWake,
    /// Microtasks are drained once per tick instead of after every task.
    MicrotasksPerTick,
    /// Every 100th submission does not wake a sleeping loop.
    LostWakeupEvery100th,
    /// External tasks run while holding the state lock (Go AlternateOne/Three bugs #12/#13):
    /// a task calling `submit` self-deadlocks.
    RunsTasksUnderLock,
    /// Timers fire at half their delay.
    TimersFireEarly,
    /// Timers fire in scheduling order (a later, shorter timer waits behind an earlier one).
    TimersInSchedulingOrder,
    /// `cancel_timer` reports `Ok(true)` but the timer still fires.
    CancelIgnored,
    /// `unregister` reports `Ok` but the callback keeps firing.
    UnregisterIgnored,
    /// `unregister` keeps the old callback keyed by fd; it fires again once the fd number is
    /// registered anew.
    StaleCallbackOnReuse,
    /// The poller keys a batch of ready fds by fd **number** and looks the callback up when it
    /// dispatches: an event collected for a registration that a callback earlier in the batch
    /// replaced (fd closed, number reused, registered anew) reaches the new callback.
    PhantomEventOnReuse,
    /// When two or more fds are ready in one poll, each ready callback is dispatched twice (a
    /// poller re-queuing a task it already queued).
    DoubleDispatch,
    /// `stats().max_batch` is the last batch size, not the maximum (it goes backwards).
    MaxBatchIsLastBatch,
    /// Declares microtasks but rejects them as unsupported.
    MicrotasksDeclaredButRejected,
    /// The 10th submission panics inside `submit` (on the caller's thread).
    SubmitPanicsAt10,
    /// The 10th submission blocks forever inside `submit` (on the caller's thread).
    SubmitHangsAt10,
    /// `run` never returns after the loop stopped (shutdown callers do get `Ok`).
    RunNeverReturns,
    /// `close` counts the queued closures as dropped but returns them to a slot pool without
    /// clearing the slots (the historical audit finding IMP-002): what they captured stays
    /// alive until the loop itself is dropped.
    CloseKeepsSlots,
    /// `cancel_timer` returns `Ok(true)` and the timer never fires, but its closure stays in a
    /// cancelled list until the loop is dropped (lazy cancellation that never frees).
    CancelledTimersKept,
}

/// Selects the fault and the declared capabilities of a [`RefLoop`].
pub trait Flavor: Send + Sync + 'static {
    /// The defect switched on.
    const FAULT: Fault;
    /// The declared capabilities.
    const CAPS: Capabilities = REF_CAPS;
}

/// Everything the reference supports.
pub const REF_CAPS: Capabilities = Capabilities {
    internal_priority: true,
    microtasks: true,
    timers: true,
    readiness: true,
    batch_budget: true,
    spin_before_sleep: false,
    inline_tasks: false,
    wake_accounting: true,
};

macro_rules! flavors {
    ($($name:ident => $fault:ident),* $(,)?) => {
        $(
            #[doc = concat!("Flavor with `Fault::", stringify!($fault), "`.")]
            pub struct $name;
            impl Flavor for $name {
                const FAULT: Fault = Fault::$fault;
            }
        )*
    };
}

flavors! {
    Correct => None,
    DropEvery1000th => DropEvery1000th,
    LifoExternal => LifoExternal,
    InternalOnCallerThread => InternalOnCallerThread,
    InternalAfterExternal => InternalAfterExternal,
    NoShutdownConservation => NoShutdownConservation,
    DrainOnShutdownCaller => DrainOnShutdownCaller,
    ShutdownBeforeRunLoses => ShutdownBeforeRunLoses,
    ShutdownWakesOneCaller => ShutdownWakesOneCaller,
    RunTwiceAccepted => RunTwiceAccepted,
    CloseRunsTasks => CloseRunsTasks,
    DropLeaks => DropLeaks,
    NoPanicCatch => NoPanicCatch,
    PanicsNotCounted => PanicsNotCounted,
    MicrotaskNoWake => MicrotaskNoWake,
    MicrotasksPerTick => MicrotasksPerTick,
    LostWakeupEvery100th => LostWakeupEvery100th,
    RunsTasksUnderLock => RunsTasksUnderLock,
    TimersFireEarly => TimersFireEarly,
    TimersInSchedulingOrder => TimersInSchedulingOrder,
    CancelIgnored => CancelIgnored,
    UnregisterIgnored => UnregisterIgnored,
    StaleCallbackOnReuse => StaleCallbackOnReuse,
    PhantomEventOnReuse => PhantomEventOnReuse,
    DoubleDispatch => DoubleDispatch,
    MaxBatchIsLastBatch => MaxBatchIsLastBatch,
    MicrotasksDeclaredButRejected => MicrotasksDeclaredButRejected,
    SubmitPanicsAt10 => SubmitPanicsAt10,
    SubmitHangsAt10 => SubmitHangsAt10,
    RunNeverReturns => RunNeverReturns,
    CloseKeepsSlots => CloseKeepsSlots,
    CancelledTimersKept => CancelledTimersKept,
}

/// The correct reference with only `submit` (every optional capability declared missing).
pub struct SubmitOnly;
impl Flavor for SubmitOnly {
    const FAULT: Fault = Fault::None;
    const CAPS: Capabilities = Capabilities::SUBMIT_ONLY;
}

type Task = Box<dyn FnOnce() + Send>;

/// A readiness registration. The reentrant lock is held while the callback runs; `unregister`
/// takes it to clear `alive`, so once `unregister` returns the callback never runs again (and a
/// callback may unregister itself).
struct Reg {
    alive: Cell<bool>,
    cb: RefCell<Box<dyn FnMut() + Send>>,
}
type RegRef = Arc<ReentrantMutex<Reg>>;

impl Drop for Reg {
    /// Whichever thread drops the last reference (the loop after a poll, `unregister`, the end
    /// of `run`) drops the callback isolated: its destructor's panic never escapes.
    fn drop(&mut self) {
        let cb = std::mem::replace(self.cb.get_mut(), Box::new(|| {}));
        drop_isolated(cb);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Running,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sleep {
    Awake,
    Condvar,
    Poll,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Queue {
    External,
    Internal,
    Micro,
}

struct State {
    external: VecDeque<Task>,
    internal: VecDeque<Task>,
    micro: VecDeque<Task>,
    /// Keyed by (ordering instant, id): the ordering instant is the deadline (or a constant, for
    /// `TimersInSchedulingOrder`); the value holds the real deadline.
    timers: BTreeMap<(Instant, u64), (Instant, Task)>,
    timer_keys: HashMap<u64, Instant>,
    next_timer: u64,
    fds: HashMap<RawFd, RegRef>,
    zombies: Vec<(RawFd, RegRef)>,
    phase: Phase,
    stopping: bool,
    closed: bool,
    running: bool,
    loop_thread: Option<ThreadId>,
    sleep: Sleep,
    submissions: u64,
    /// Closures the broken flavors `CloseKeepsSlots` / `CancelledTimersKept` retain until the
    /// loop is dropped; always empty for the other flavors.
    stale_slots: Vec<Task>,
}

#[derive(Default)]
struct Counters {
    ext: AtomicU64,
    int: AtomicU64,
    micro: AtomicU64,
    timers: AtomicU64,
    io: AtomicU64,
    panics: AtomicU64,
    dropped: AtomicU64,
    wake_syscalls: AtomicU64,
    wakes_elided: AtomicU64,
    sleeps: AtomicU64,
    polls: AtomicU64,
    ticks: AtomicU64,
    max_batch: AtomicU64,
}

/// The reference loop, with the defect of flavor `F` (none for [`Correct`]).
pub struct RefLoop<F: Flavor = Correct> {
    state: Mutex<State>,
    wake: Condvar,
    done: Condvar,
    eventfd: RawFd,
    budget: usize,
    epoch: Instant,
    c: Counters,
    _flavor: PhantomData<F>,
}

/// Blocks the calling thread for good (deliberate hangs of the broken flavors).
fn park_forever() -> ! {
    let (m, cv) = (Mutex::new(()), Condvar::new());
    let mut g = m.lock();
    loop {
        cv.wait(&mut g);
    }
}

fn inc(a: &AtomicU64) {
    a.fetch_add(1, Relaxed);
}

impl<F: Flavor> RefLoop<F> {
    fn is(f: Fault) -> bool {
        F::FAULT == f
    }

    fn on_loop_thread(s: &State) -> bool {
        s.running && s.loop_thread == Some(thread::current().id())
    }

    fn accepting(s: &State) -> bool {
        !s.closed && s.phase != Phase::Stopped && (!s.stopping || Self::on_loop_thread(s))
    }

    /// Wakes a sleeping loop on behalf of a submission, with wake accounting.
    fn wake_for_submission(&self, s: &mut State, skip: bool) {
        if s.sleep == Sleep::Awake {
            inc(&self.c.wakes_elided);
            return;
        }
        if skip {
            return;
        }
        inc(&self.c.wake_syscalls);
        self.kick(s);
    }

    /// Wakes a sleeping loop (no accounting).
    fn kick(&self, s: &mut State) {
        match s.sleep {
            Sleep::Awake => {}
            Sleep::Condvar => {
                self.wake.notify_one();
            }
            Sleep::Poll => {
                let one: u64 = 1;
                // SAFETY: writes 8 bytes from a valid u64 to our own eventfd.
                unsafe { libc::write(self.eventfd, (&raw const one).cast(), 8) };
            }
        }
        s.sleep = Sleep::Awake;
    }

    fn push<T: FnOnce() + Send + 'static>(&self, q: Queue, f: T) -> Result<(), Rejected<T>> {
        let mut s = self.state.lock();
        if !Self::accepting(&s) {
            return Err(Rejected::terminated(f));
        }
        s.submissions += 1;
        let n = s.submissions;
        if Self::is(Fault::SubmitPanicsAt10) && n == 10 {
            drop(s);
            panic!("deliberate panic inside submit");
        }
        if Self::is(Fault::SubmitHangsAt10) && n == 10 {
            drop(s);
            park_forever();
        }
        if Self::is(Fault::DropEvery1000th) && q == Queue::External && n % 1000 == 0 {
            drop(s);
            drop(f);
            return Ok(());
        }
        match q {
            Queue::External => s.external.push_back(Box::new(f)),
            Queue::Internal => s.internal.push_back(Box::new(f)),
            Queue::Micro => s.micro.push_back(Box::new(f)),
        }
        let skip = (Self::is(Fault::LostWakeupEvery100th) && n % 100 == 0)
            || (Self::is(Fault::MicrotaskNoWake) && q == Queue::Micro);
        self.wake_for_submission(&mut s, skip);
        Ok(())
    }

    /// Runs one callback with panic isolation.
    fn call(&self, f: impl FnOnce()) {
        if Self::is(Fault::NoPanicCatch) {
            f();
        } else if isolate(f) && !Self::is(Fault::PanicsNotCounted) {
            inc(&self.c.panics);
        }
    }

    /// Runs every queued microtask (including ones they schedule). Returns whether any ran, or
    /// `None` if the loop was closed.
    fn drain_micro(&self) -> Option<bool> {
        let mut any = false;
        loop {
            let t = {
                let mut s = self.state.lock();
                if s.closed {
                    return None;
                }
                match s.micro.pop_front() {
                    Some(t) => t,
                    None => return Some(any),
                }
            };
            self.call(t);
            inc(&self.c.micro);
            any = true;
        }
    }

    /// The checkpoint after a callback.
    fn checkpoint(&self) -> Option<()> {
        if Self::is(Fault::MicrotasksPerTick) {
            let closed = self.state.lock().closed;
            return if closed { None } else { Some(()) };
        }
        self.drain_micro().map(|_| ())
    }

    fn run_internal(&self) -> Option<bool> {
        let mut any = false;
        loop {
            let t = {
                let mut s = self.state.lock();
                if s.closed {
                    return None;
                }
                match s.internal.pop_front() {
                    Some(t) => t,
                    None => return Some(any),
                }
            };
            self.call(t);
            inc(&self.c.int);
            any = true;
            self.checkpoint()?;
        }
    }

    fn run_external(&self) -> Option<bool> {
        let mut n = 0_u64;
        while (n as usize) < self.budget {
            if !Self::is(Fault::InternalAfterExternal) {
                self.run_internal()?;
            }
            let mut s = self.state.lock();
            if s.closed {
                return None;
            }
            let t = if Self::is(Fault::LifoExternal) {
                s.external.pop_back()
            } else {
                s.external.pop_front()
            };
            let Some(t) = t else { break };
            if Self::is(Fault::RunsTasksUnderLock) {
                self.call(t);
                drop(s);
            } else {
                drop(s);
                self.call(t);
            }
            inc(&self.c.ext);
            n += 1;
            self.checkpoint()?;
        }
        if Self::is(Fault::MaxBatchIsLastBatch) {
            if n > 0 {
                self.c.max_batch.store(n, Relaxed);
            }
        } else {
            self.c.max_batch.fetch_max(n, Relaxed);
        }
        Some(n > 0)
    }

    fn run_timers(&self) -> Option<bool> {
        let mut any = false;
        loop {
            let t = {
                let mut s = self.state.lock();
                if s.closed {
                    return None;
                }
                let Some((&key, &(deadline, _))) = s.timers.iter().next() else { return Some(any) };
                if deadline > Instant::now() {
                    return Some(any);
                }
                s.timer_keys.remove(&key.1);
                s.timers.remove(&key).map(|(_, t)| t)
            };
            if let Some(t) = t {
                self.call(t);
                inc(&self.c.timers);
                any = true;
                self.checkpoint()?;
            }
        }
    }

    fn next_deadline(s: &State) -> Option<Instant> {
        s.timers.values().map(|(d, _)| *d).min()
    }

    fn has_work(s: &State) -> bool {
        !s.internal.is_empty()
            || !s.external.is_empty()
            || !s.micro.is_empty()
            || Self::next_deadline(s).is_some_and(|d| d <= Instant::now())
    }

    /// Polls the registered fds (and the eventfd when `sleeping`) and runs ready callbacks.
    fn poll_fds(
        &self,
        regs: Vec<(RawFd, RegRef)>,
        timeout_ms: i32,
        sleeping: bool,
    ) -> Option<bool> {
        let mut pfds: Vec<libc::pollfd> = regs
            .iter()
            .map(|(fd, _)| libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 })
            .collect();
        if sleeping {
            pfds.push(libc::pollfd { fd: self.eventfd, events: libc::POLLIN, revents: 0 });
        }
        inc(&self.c.polls);
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs for the call's duration.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
        if sleeping {
            let mut s = self.state.lock();
            s.sleep = Sleep::Awake;
            let mut buf = 0_u64;
            // SAFETY: reads at most 8 bytes into a valid u64 from our non-blocking eventfd.
            unsafe { libc::read(self.eventfd, (&raw mut buf).cast(), 8) };
        }
        if rc <= 0 {
            return Some(false);
        }
        let mut any = false;
        let ready = pfds[..regs.len()].iter().filter(|p| p.revents != 0).count();
        for (i, (fd, reg)) in regs.iter().enumerate() {
            if pfds[i].revents == 0 {
                continue;
            }
            let mut targets = vec![reg.clone()];
            if Self::is(Fault::PhantomEventOnReuse) {
                // Whatever is registered under this number *now*.
                match self.state.lock().fds.get(fd) {
                    Some(current) => targets = vec![current.clone()],
                    None => continue,
                }
            }
            if Self::is(Fault::DoubleDispatch) && ready >= 2 {
                targets.push(reg.clone());
            }
            if Self::is(Fault::StaleCallbackOnReuse) {
                let s = self.state.lock();
                targets.extend(
                    s.zombies
                        .iter()
                        .filter(|(z, r)| z == fd && !Arc::ptr_eq(r, reg))
                        .map(|(_, r)| r.clone()),
                );
            }
            for (k, r) in targets.into_iter().enumerate() {
                if self.state.lock().closed {
                    return None;
                }
                let g = r.lock();
                // Zombies (k > 0, StaleCallbackOnReuse) ignore their `alive` flag.
                if g.alive.get() || k > 0 {
                    self.call(|| (g.cb.borrow_mut())());
                    inc(&self.c.io);
                    any = true;
                }
                drop(g);
                self.checkpoint()?;
            }
        }
        Some(any)
    }

    fn snapshot_fds(s: &State) -> Vec<(RawFd, RegRef)> {
        s.fds.iter().map(|(fd, r)| (*fd, r.clone())).collect()
    }

    /// The loop body; returns when closed or when a graceful stop found nothing left.
    fn main_loop(&self) {
        loop {
            inc(&self.c.ticks);
            let mut did = false;
            let step = (|| {
                if Self::is(Fault::InternalAfterExternal) {
                    did |= self.run_external()?;
                    did |= self.run_internal()?;
                } else {
                    did |= self.run_internal()?;
                    did |= self.run_external()?;
                }
                did |= self.run_timers()?;
                let regs = Self::snapshot_fds(&self.state.lock());
                if !regs.is_empty() {
                    did |= self.poll_fds(regs, 0, false)?;
                }
                did |= self.drain_micro()?;
                Some(())
            })();
            if step.is_none() {
                return;
            }
            if did {
                continue;
            }
            let mut s = self.state.lock();
            if s.closed {
                return;
            }
            if Self::has_work(&s) {
                continue;
            }
            if s.stopping {
                return;
            }
            let deadline = Self::next_deadline(&s);
            if s.fds.is_empty() {
                s.sleep = Sleep::Condvar;
                inc(&self.c.sleeps);
                match deadline {
                    Some(d) => {
                        self.wake.wait_until(&mut s, d);
                    }
                    None => self.wake.wait(&mut s),
                }
                s.sleep = Sleep::Awake;
            } else {
                s.sleep = Sleep::Poll;
                inc(&self.c.sleeps);
                let regs = Self::snapshot_fds(&s);
                drop(s);
                let ms = deadline.map_or(-1, |d| {
                    let left = d.saturating_duration_since(Instant::now());
                    left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
                });
                if self.poll_fds(regs, ms, true).is_none() {
                    return;
                }
            }
        }
    }

    fn take_all(s: &mut State) -> Vec<Task> {
        let mut items: Vec<Task> = Vec::new();
        items.extend(s.external.drain(..));
        items.extend(s.internal.drain(..));
        items.extend(s.micro.drain(..));
        items.extend(std::mem::take(&mut s.timers).into_values().map(|(_, t)| t));
        s.timer_keys.clear();
        items
    }

    fn finish(&self) {
        let (leftovers, regs) = {
            let mut s = self.state.lock();
            s.phase = Phase::Stopped;
            s.running = false;
            s.stopping = true;
            let items = Self::take_all(&mut s);
            let mut regs: Vec<RegRef> = s.fds.drain().map(|(_, r)| r).collect();
            regs.extend(s.zombies.drain(..).map(|(_, r)| r));
            if Self::is(Fault::ShutdownWakesOneCaller) {
                self.done.notify_one();
            } else {
                self.done.notify_all();
            }
            (items, regs)
        };
        self.c.dropped.fetch_add(leftovers.len() as u64, Relaxed);
        // Outside the lock (destructors may call back into the loop, which now rejects), each
        // isolated, before `run` returns: queued closures, then the readiness callbacks.
        drop_all_isolated(leftovers);
        drop_all_isolated(regs);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }
}

impl<F: Flavor> EventLoop for RefLoop<F> {
    const CAPABILITIES: Capabilities = F::CAPS;

    fn new(config: &LoopConfig) -> std::io::Result<Self> {
        // SAFETY: plain syscall with constant flags; the result is checked.
        let eventfd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if eventfd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            state: Mutex::new(State {
                external: VecDeque::new(),
                internal: VecDeque::new(),
                micro: VecDeque::new(),
                timers: BTreeMap::new(),
                timer_keys: HashMap::new(),
                next_timer: 1,
                fds: HashMap::new(),
                zombies: Vec::new(),
                phase: Phase::New,
                stopping: false,
                closed: false,
                running: false,
                loop_thread: None,
                sleep: Sleep::Awake,
                submissions: 0,
                stale_slots: Vec::new(),
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            eventfd,
            budget: config.effective_batch_budget(),
            epoch: Instant::now(),
            c: Counters::default(),
            _flavor: PhantomData,
        })
    }

    fn run(&self) -> Result<(), RunError> {
        {
            let mut s = self.lock();
            if s.running {
                if Self::is(Fault::RunTwiceAccepted) {
                    while s.phase != Phase::Stopped {
                        self.done.wait(&mut s);
                    }
                    return Ok(());
                }
                return Err(RunError::AlreadyRunning);
            }
            if s.phase == Phase::Stopped {
                if Self::is(Fault::RunTwiceAccepted) {
                    return Ok(());
                }
                return Err(RunError::Terminated);
            }
            s.running = true;
            s.phase = Phase::Running;
            s.loop_thread = Some(thread::current().id());
        }
        self.main_loop();
        self.finish();
        if Self::is(Fault::RunNeverReturns) {
            park_forever();
        }
        Ok(())
    }

    fn submit<T: FnOnce() + Send + 'static>(&self, f: T) -> Result<(), Rejected<T>> {
        self.push(Queue::External, f)
    }

    fn submit_internal<T: FnOnce() + Send + 'static>(&self, f: T) -> Result<(), Rejected<T>> {
        if Self::is(Fault::InternalOnCallerThread) {
            if !Self::accepting(&self.lock()) {
                return Err(Rejected::terminated(f));
            }
            self.call(f);
            inc(&self.c.int);
            return Ok(());
        }
        let q = if F::CAPS.internal_priority { Queue::Internal } else { Queue::External };
        self.push(q, f)
    }

    fn schedule_microtask<T: FnOnce() + Send + 'static>(&self, f: T) -> Result<(), Rejected<T>> {
        if !F::CAPS.microtasks || Self::is(Fault::MicrotasksDeclaredButRejected) {
            return Err(Rejected::unsupported(Capability::Microtasks, f));
        }
        self.push(Queue::Micro, f)
    }

    fn schedule_timer<T: FnOnce() + Send + 'static>(
        &self,
        delay: Duration,
        f: T,
    ) -> Result<TimerId, Rejected<T>> {
        if !F::CAPS.timers {
            return Err(Rejected::unsupported(Capability::Timers, f));
        }
        let mut s = self.lock();
        if !Self::accepting(&s) {
            return Err(Rejected::terminated(f));
        }
        let delay = if Self::is(Fault::TimersFireEarly) { delay / 2 } else { delay };
        let deadline = Instant::now() + delay;
        let id = s.next_timer;
        s.next_timer += 1;
        let key = if Self::is(Fault::TimersInSchedulingOrder) { self.epoch } else { deadline };
        s.timers.insert((key, id), (deadline, Box::new(f)));
        s.timer_keys.insert(id, key);
        s.submissions += 1;
        self.wake_for_submission(&mut s, false);
        Ok(TimerId(id))
    }

    fn cancel_timer(&self, id: TimerId) -> Result<bool, OpError> {
        if !F::CAPS.timers {
            return Err(OpError::Unsupported(Capability::Timers));
        }
        let task = {
            let mut s = self.lock();
            let Some(key) = s.timer_keys.remove(&id.0) else { return Ok(false) };
            if Self::is(Fault::CancelIgnored) {
                return Ok(true);
            }
            let t = s.timers.remove(&(key, id.0));
            if Self::is(Fault::CancelledTimersKept) {
                s.stale_slots.extend(t.map(|(_, t)| t));
                return Ok(true);
            }
            t
        };
        drop_isolated(task);
        Ok(true)
    }

    fn register_readable<T: FnMut() + Send + 'static>(
        &self,
        fd: RawFd,
        callback: T,
    ) -> Result<(), Rejected<T>> {
        if !F::CAPS.readiness {
            return Err(Rejected::unsupported(Capability::Readiness, callback));
        }
        let mut s = self.lock();
        if !Self::accepting(&s) {
            return Err(Rejected::terminated(callback));
        }
        if s.fds.contains_key(&fd) {
            return Err(Rejected { reason: RejectReason::AlreadyRegistered(fd), task: callback });
        }
        let reg = Reg { alive: Cell::new(true), cb: RefCell::new(Box::new(callback)) };
        s.fds.insert(fd, Arc::new(ReentrantMutex::new(reg)));
        self.kick(&mut s);
        Ok(())
    }

    fn unregister(&self, fd: RawFd) -> Result<(), OpError> {
        if !F::CAPS.readiness {
            return Err(OpError::Unsupported(Capability::Readiness));
        }
        let reg = {
            let mut s = self.lock();
            if Self::is(Fault::UnregisterIgnored) {
                return if s.fds.contains_key(&fd) {
                    Ok(())
                } else {
                    Err(OpError::NotRegistered(fd))
                };
            }
            let Some(reg) = s.fds.remove(&fd) else { return Err(OpError::NotRegistered(fd)) };
            if Self::is(Fault::StaleCallbackOnReuse) {
                s.zombies.push((fd, reg.clone()));
            }
            reg
        };
        reg.lock().alive.set(false);
        // The callback is destroyed here if the loop holds no other reference (not running it).
        drop_isolated(reg);
        Ok(())
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        if Self::on_loop_thread(&s) {
            s.stopping = true;
            return Ok(());
        }
        if s.closed {
            return Err(ShutdownError::Closed);
        }
        if s.phase == Phase::Stopped {
            return Ok(());
        }
        if Self::is(Fault::ShutdownBeforeRunLoses) && s.phase == Phase::New {
            s.phase = Phase::Stopped;
            s.stopping = true;
            let lost = Self::take_all(&mut s);
            drop(s);
            drop(lost);
            return Ok(());
        }
        if Self::is(Fault::NoShutdownConservation) {
            let st = &mut *s;
            let lost: Vec<Task> = st.external.drain(..).chain(st.internal.drain(..)).collect();
            s.stopping = true;
            MutexGuard::unlocked(&mut s, || drop(lost));
        }
        if Self::is(Fault::DrainOnShutdownCaller) {
            s.stopping = true;
            while let Some(t) = s.external.pop_front() {
                MutexGuard::unlocked(&mut s, || {
                    self.call(t);
                    inc(&self.c.ext);
                });
            }
        }
        s.stopping = true;
        self.kick(&mut s);
        while s.phase != Phase::Stopped {
            if self.done.wait_until(&mut s, deadline).timed_out() {
                return Err(ShutdownError::Timeout);
            }
        }
        if s.closed { Err(ShutdownError::Closed) } else { Ok(()) }
    }

    fn close(&self) -> u64 {
        let items = {
            let mut s = self.lock();
            if s.closed || (s.phase == Phase::Stopped && !s.running) {
                return 0;
            }
            s.closed = true;
            s.stopping = true;
            let items = Self::take_all(&mut s);
            if s.phase == Phase::New {
                s.phase = Phase::Stopped;
                self.done.notify_all();
            }
            self.kick(&mut s);
            items
        };
        let n = items.len() as u64;
        self.c.dropped.fetch_add(n, Relaxed);
        if Self::is(Fault::CloseRunsTasks) {
            for t in items {
                t();
            }
        } else if Self::is(Fault::CloseKeepsSlots) {
            self.lock().stale_slots.extend(items);
        } else {
            drop_all_isolated(items);
        }
        n
    }

    fn stats(&self) -> LoopStats {
        let c = &self.c;
        LoopStats {
            tasks_run_external: c.ext.load(Relaxed),
            tasks_run_internal: c.int.load(Relaxed),
            microtasks_run: c.micro.load(Relaxed),
            timers_fired: c.timers.load(Relaxed),
            io_callbacks: c.io.load(Relaxed),
            panics: c.panics.load(Relaxed),
            tasks_dropped: c.dropped.load(Relaxed),
            wake_syscalls: c.wake_syscalls.load(Relaxed),
            wakes_elided: c.wakes_elided.load(Relaxed),
            sleeps: c.sleeps.load(Relaxed),
            polls: c.polls.load(Relaxed),
            ticks: c.ticks.load(Relaxed),
            max_batch: c.max_batch.load(Relaxed),
        }
    }
}

impl<F: Flavor> Drop for RefLoop<F> {
    fn drop(&mut self) {
        if Self::is(Fault::DropLeaks) {
            let s = self.state.get_mut();
            std::mem::forget(std::mem::take(&mut s.external));
        }
        // Whatever is still queued or registered (a loop dropped unstopped or never run): each
        // closure dropped isolated, so one panicking destructor does not leak the rest.
        let s = self.state.get_mut();
        drop_all_isolated(Self::take_all(s));
        drop_all_isolated(std::mem::take(&mut s.stale_slots));
        drop_all_isolated(s.fds.drain().map(|(_, r)| r).collect::<Vec<_>>());
        drop_all_isolated(std::mem::take(&mut s.zombies));
        // SAFETY: the eventfd was created in `new`, is owned by this loop and closed only here.
        unsafe { libc::close(self.eventfd) };
    }
}
