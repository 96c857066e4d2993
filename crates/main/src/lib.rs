//! # loop-main: the flagship event loop of the tournament
//!
//! [`MainLoop`] is a single-threaded, callback-style event loop built to be as cheap as the
//! reference machine allows (`docs/REFERENCE-MACHINE.md`), while holding every property of
//! the `loop-api` contract (checked by `loop-conformance`, `tests/conformance.rs`).
//!
//! ## Design
//!
//! * **Lock-free MPSC ingress, no allocation per task.** External tasks, internal tasks and
//!   microtasks scheduled from other threads go into three `Queue`s (`queue.rs`): an
//!   unbounded segmented MPSC queue (SegQueue's index/segment scheme, single consumer) whose
//!   finished 128-slot segments are recycled through a pool instead of freed. Each slot holds a
//!   32-byte `Task` (`task.rs`): a closure whose captures fit in
//!   [`INLINE_CAPTURE_BYTES`] (24 bytes) is stored in it by value, a larger one is boxed. After
//!   warm-up a small closure costs no allocation at all (`tests/alloc.rs` counts them).
//!   The loop never writes to a slot (a slot is published by a stamp, its index plus one, not
//!   by a flag the consumer clears), and a producer prefetches for write the slot it will use
//!   eight pushes later, so the slot lines cross cores while both sides do other work rather
//!   than at their next locked instruction.
//! * **Batch drain with a budget.** Each tick runs: readiness callbacks, due timers, every
//!   internal task, then up to [`LoopConfig::batch_budget`] external tasks (checking the
//!   internal queue before each), then foreign microtasks. After *every* callback the microtask
//!   checkpoint runs loop-local microtasks (a `VecDeque` ring; it grows, never drops one) and
//!   foreign ones until both are empty.
//! * **Wake-ups only when needed.** A state word holds the loop's sleep mode; producers pay a
//!   futex wake or an eventfd write only if it says the loop sleeps, and only the first of them
//!   per sleep (a CAS-claimed wake-pending bit). Before sleeping the loop spins re-checking its
//!   queues without any write, for an adaptive budget of at most
//!   [`LoopConfig::spin_before_sleep`]: doubled by a spin that found work, halved by one that
//!   ran out, never below 1/32 of it (`spin.rs`), so a loop whose producer shares its CPU stops
//!   spinning against it. It sleeps with
//!   `std::thread::park` (a futex) when no fd is registered, and in `mio::Poll` (epoll, woken by
//!   `mio::Waker`'s eventfd) when one is, or when [`LoopConfig::always_poll`] is set.
//! * **Timers** in a binary min-heap keyed by `(deadline, sequence)` with lazy cancellation,
//!   behind a mutex (scheduling and cancelling from any thread is rare next to task traffic; the
//!   loop looks at the heap only when a relaxed "timers pending" hint says so).
//! * **Readiness** through mio's epoll instance, one fresh generation token per registration so
//!   a stale event never reaches a new registration of a reused fd number; registrations are
//!   level-triggered epoll entries (no `epoll_ctl` per callback, `io.rs`). A tick that ran only
//!   readiness callbacks goes straight to the sleep handshake without spinning: its blocking
//!   `epoll_wait` returns at once with whatever became ready meanwhile, so a socket-driven loop
//!   makes one `epoll_wait` per round, as libuv does, where a non-blocking poll first would
//!   cost a second one whenever it finds nothing, and a spin (which looks at the queues, not at
//!   the fds) would leave newly readable sockets waiting for its end. Counted on the `echo`
//!   workload's server (quick point, C = 100, median of 3 samples): `epoll_wait` per echoed
//!   message 0.033 → 0.027, all syscalls 2.08 → 2.06 per message (libuv: 2.07; one `recvfrom`
//!   and one `sendto` per message are the floor of a readiness-based echo).
//! * Every callback (task, microtask, timer, readiness, drop during the drain) runs under
//!   `catch_unwind`; a panic is counted in [`LoopStats::panics`] and the loop goes on.
//! * **The consumer token.** The pop ends of the queues are guarded by a spin token the loop
//!   holds except while user code runs (one uncontended swap per callback), so
//!   [`EventLoop::close`] can drop every queued closure from any thread before it returns.
//!
//! ## The wake-up protocol, step by step
//!
//! The state word (`state.rs`) is one `AtomicU64`: sleep mode (running / PARKED / POLLING,
//! written only by the loop thread), a WAKE_PENDING bit, the lifecycle flags STOP, CLOSED,
//! DONE, and the number of timer/registration submissions *in flight*. Each MPSC queue's tail
//! word holds its claim index and a MARK bit ("closed to producers", `queue.rs`).
//!
//! Producer of a task or microtask (`submit`, `submit_internal`, foreign `schedule_microtask`):
//!
//! 1. **Claim**: CAS the queue's tail index forward (acq-rel). A tail with MARK set refuses the
//!    claim (the closure comes back), unless the caller is the loop thread draining a shutdown.
//!    This one read-modify-write both accepts the task and orders it against the loop's sleep.
//! 2. **Publish**: write the task into the claimed slot, store the slot's stamp (its index plus
//!    one, release); ask for ownership of the slot 8 ahead (`queue.rs`, "Prefetching for write").
//! 3. **Look**: load the state word (acquire). If it shows a sleep mode and no WAKE_PENDING:
//!    CAS WAKE_PENDING in (only while a mode is set); the one producer whose CAS succeeds wakes
//!    the loop the way the mode says (`Thread::unpark` for PARKED, `mio::Waker::wake` for
//!    POLLING) and counts a wake syscall. Every other submission counts a wake elided.
//!
//! Timers and readiness registrations go through mutexes, not queues: they enter and leave the
//! state word's in-flight count (two RMWs), are refused once STOP/CLOSED is set, and wake the
//! loop by the same claim as above using the value their leave returned.
//!
//! Loop (`driver.rs`, `idle`):
//!
//! 1. Spin (for the adaptive budget, at most `spin_before_sleep`: `spin.rs`) re-checking the
//!    queues' head slots with plain loads (no write, no syscall). Work found → run it.
//! 2. Choose the sleep mode (POLLING if fds are registered or `always_poll`, else PARKED) and
//!    publish it with `fetch_or(mode)` (acq-rel) on the state word.
//! 3. Re-check: each queue's tail by a read-modify-write (`fetch_or(0)`, or `fetch_or(MARK)`
//!    once STOP is seen) against the consumer's head — a slot claimed but not yet written counts
//!    as work —, the loop-local microtasks, whether the choice of mode is still right (an fd
//!    registered since means PARKED would miss its events), the timer heap (under its mutex),
//!    and — from the value step 2 returned — CLOSED, or STOP with no registration in flight and
//!    every queue empty up to its mark (then the loop has drained and stops). Anything found:
//!    clear the mode and go back to work.
//! 4. Sleep (`park` / `park_timeout` to the next deadline, or `epoll_wait`); on waking, clear the
//!    mode and WAKE_PENDING together (`fetch_and`).
//!
//! Why no wake-up is lost: the loop's re-check of a tail (3) and a producer's claim (1) are
//! read-modify-writes of the same word, so one precedes the other in its modification order. If
//! the claim comes first, the re-check reads an index past the consumer's head and the loop
//! does not sleep. If the re-check comes first, the claim reads from it (a release RMW heads a
//! release sequence that later RMWs continue), so the loop's publish (2), sequenced before its
//! re-check, happens before the producer's look (3): the look sees the mode (or a later value
//! of the word: another producer's claimed wake, or the loop awake again, which then re-checks
//! the same way) and the producer wakes the loop. A plain load in (3) of the loop would allow
//! the store-buffering outcome in which both sides miss each other; `tests/loom_wake.rs` has
//! that negative control next to the real protocol's models. The wake cannot be lost in turn
//! because `unpark` before `park` makes `park` return, and an eventfd write before `epoll_wait`
//! leaves the fd readable. Timers and registrations are ordered by their mutexes and the
//! in-flight count's RMWs the same way. The loop thread alone writes the mode, and it chooses
//! the mode before publishing it and re-checks the reason for the choice afterwards, so a mode
//! switch cannot lose a wake-up either (the hazard `docs/HISTORY.md`, "Main", describes). At most
//! one wake per sleep: WAKE_PENDING is set by CAS only while a mode is published and cleared
//! only by the loop when it wakes. `tests/loom_wake.rs` model-checks this on the real code.
//!
//! Why it is cheap: a submission costs two locked instructions — its claim CAS and a bump of a
//! striped elided-wake counter (one cache-padded cell per thread stripe, so producers on
//! different cores do not share it) — and reads the state word, which the loop writes only when
//! it goes to sleep or wakes. The first version entered and left the state word around every
//! push (two more RMWs on a line every producer and the spinning loop touched) and bumped one
//! shared counter; see "Measurements" for what removing them bought.
//!
//! ## Lifecycle semantics (the same choices as `loop-baseline`)
//!
//! * **`run`** makes the calling thread the loop thread; a second concurrent `run` returns
//!   [`RunError::AlreadyRunning`], `run` after the loop stopped (or was closed, even before it
//!   ran) returns [`RunError::Terminated`].
//! * **`shutdown(timeout)`** is conserving. From then on only the loop thread may submit tasks
//!   and microtasks (so draining tasks and destructors can still submit, and those run too);
//!   other threads are rejected with their closure back (`shutdown` sets STOP, then marks every
//!   queue's tail). Every claim that succeeded before a mark is below it, and the loop drains
//!   each queue up to its mark (waiting for claimed slots to be written), so an accepted task
//!   always runs. The loop stops when no task, microtask or due timer is left and nothing is in flight;
//!   `run` returns `Ok(())`; every `shutdown` caller waits (at most `timeout`) for that and gets
//!   `Ok(())`, or [`ShutdownError::Timeout`] (the stop stays requested). From inside a task it
//!   only requests the stop. Before `run`, it records the stop; `run` drains and returns `Ok`.
//! * **Pending timers at shutdown:** `schedule_timer` (and `register_readable`) are rejected
//!   from every thread once a shutdown is requested; timers already due fire during the drain;
//!   timers still pending when the drain is otherwise complete are dropped (destructors run
//!   isolated on the loop thread) and counted in [`LoopStats::tasks_dropped`].
//! * **`close()`** marks the loop closed (CLOSED, then every queue's MARK: all new work is
//!   rejected, the loop thread's too), waits for timer/registration entrants in flight, takes
//!   the consumer token, pops every queue up to its mark (waiting for claimed slots to be
//!   written), takes the loop-local microtasks and every pending timer, drops them all on the
//!   caller's thread (isolated), counts them in
//!   [`LoopStats::tasks_dropped`], wakes the loop and returns how many. A task already running
//!   finishes; nothing else starts. `run` returns `Ok(())`; later `close` calls return 0,
//!   and a call concurrent with the first waits until the first has taken every queued task
//!   (so nothing starts after *any* `close` returned but the one task the loop had taken);
//!   `shutdown` returns [`ShutdownError::Closed`]. Readiness registrations are removed too (their
//!   callbacks dropped, not counted: they are not queued work).
//! * **Drop** of a loop that never ran drops every queued closure exactly once (the queues and the
//!   timer heap own them), without waiting for anything.
//! * **Destructors** of user closures that the loop drops (close, the drain, the end of `run`,
//!   drop, `cancel_timer`, `unregister`) run isolated like callbacks: a panicking one is caught
//!   and counted in [`LoopStats::panics`], and the others are still dropped exactly once.
//! * **Nested `run`**: `run` called inside a task of another loop restores that loop's
//!   loop-thread mark when it returns, so the outer loop still knows its own thread.
//! * **Spin and the rest of the loop**: a spin longer than 50 µs (any `spin_before_sleep`, up to
//!   `Duration::MAX`) also looks at the timer heap and polls the fds (non-blocking) every 50 µs,
//!   so timers and readiness stay live.
//!
//! ## Configuration honoured
//!
//! All [`LoopConfig`] knobs: `batch_budget` (external tasks per tick), `spin_before_sleep`
//! (`Duration::ZERO` sleeps at once), `inline_tasks` (`false` boxes every closure, the
//! `main/boxed` ablation), `always_poll` (sleep in epoll even without fds, the `main/always-epoll`
//! ablation).
//!
//! ## Statistics
//!
//! Loop-side counters are single-writer relaxed atomics (a load and a store, no locked
//! instruction). `wake_syscalls` and `wakes_elided` are counted by producers, exactly one of the
//! two per accepted submission (microtasks scheduled on the loop thread count as elided;
//! `wakes_elided` is striped per thread and summed by `stats()`);
//! `wake_syscalls` also counts wakes issued by `shutdown`, `close` and rejected entrants.
//! `sleeps` counts parks and blocking polls, `polls` every `epoll_wait`, `ticks` every
//! iteration of the main cycle, `max_batch` the most external tasks run in one tick.
//!
//! ## Verification
//!
//! Unit tests next to the code; `tests/conformance.rs` (the whole conformance suite, default
//! config and each ablation's config); `tests/alloc.rs` (a counting global allocator: zero
//! allocations per task after warm-up); `tests/loom_wake.rs`, run with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p loop-main --test
//! loom_wake`.
//!
//! ## Measurements that justified the choices
//!
//! Machine figures from `docs/REFERENCE-MACHINE.md` (2-vCPU KVM guest): a round trip
//! in which both sides block costs 30–65 µs while a cross-core spin round trip costs 110–140 ns;
//! boxing a 16-byte closure is most of the per-task cost of a queue (SegQueue with boxed
//! closures 143–176 ns/task, with `u64` 22–28 ns); a loop that wakes on every push runs a 10k
//! burst at ~700 ns/task against ~105 ns/task when it wakes only a sleeping loop. Hence: inline
//! storage, wake only on the sleeping transition, and a spin (default 20 µs, far below one
//! sleep/wake cycle) so back-to-back round trips never put the loop to sleep.
//!
//! **First version → claim-CAS version.** The first version entered and left the state word
//! around every push. In the reference quick run `20261121T012931Z-f5ed1c8` (quiet
//! machine, 10 samples per cell; in git history, `git log -- results/20261121T012931Z-f5ed1c8`) it
//! missed two bars: `ping-pong` 96.5 ns/task (std-mpsc 158.3, crossbeam-worker 162.8: 0.61×) and
//! `multi-producer` p=10 137.5 ns/task (crossbeam-worker 109.3: 1.26×), CPU 186 and 268 ns/task.
//! Folding admission into the tail CAS, re-checking the tails with an RMW before sleeping and
//! striping the elided-wake counter gave, side by side with the peers in one quiet run (`tournament
//! run --quick --samples 6 --contenders
//! main,main/no-spin,crossbeam-worker,std-mpsc,tokio-ct,baseline --workloads
//! ping-pong,ping-pong-latency,multi-producer,burst`; the two runs of the pure-spin build described
//! below, medians in ns/task):
//!
//! | cell | main | crossbeam-worker | std-mpsc | tokio-ct | baseline |
//! |---|---|---|---|---|---|
//! | ping-pong n=200000 | 70–74 | 164–170 | 171–176 | 676–687 | 261–282 |
//! | multi-producer p=10 | 43–53 | 120 | 138–148 | 658–666 | 186–190 |
//! | burst b=10000 | 69–71 | 173–178 | 180–184 | 679–682 | 253–260 |
//! | ping-pong-latency p50 (ns) | 320–417 | 552–554 | 17,247–17,647 | — | — |
//!
//! (main's CPU per task: 134–141 in ping-pong, 78–93 in multi-producer p=10.) The committed
//! reference run of the session that made the change has the same cells for every contender.
//!
//! **Stamps and prefetch-for-write.** After the claim-CAS version, `perf record -e cpu-clock`
//! of `ping-pong` put ~97% of the producer's `wake_if_asleep` samples on the instruction after
//! its locked increment and 27% of the loop's on the consumer token's swap: each side's locked
//! instruction waited for its last store to a slot line the other core held. Two changes (one
//! commit each) removed that wait: producers prefetch for write the slot 8 ahead, and slots are
//! published by stamps so the consumer never writes a slot. Three builds with the same thin-LTO
//! settings, each run next to the fastest peers (`tournament run --quick --no-gate --samples
//! 8`), medians in ns/task; the middle build prefetched 6 slots ahead, an earlier setting:
//!
//! | cell | claim-CAS version | + prefetch (6 ahead) | + stamps (8 ahead) | std-mpsc (3 runs) | crossbeam-worker |
//! |---|---|---|---|---|---|
//! | ping-pong n=200000 | 73.9 | 27.9 | 16.2 | 174.0–184.5 | 173.1 |
//! | burst b=10000 | 72.6 | 43.6 | 26.1 | 173.8–182.8 | 182.7 |
//! | multi-producer p=10 | 52.5 | 45.2 | 36.6 | 144.5–151.5 | 139.2 |
//!
//! In the two full quick runs of this code (`20261121T054244Z-f21e0af`
//! and `20261121T063636Z-96864c3`, both in git history, every contender interleaved) main's medians
//! were: ping-pong 17.9 / 19.0 ns/task (fastest peer std-mpsc 142.2 / 149.2), burst b=10000 28.7 /
//! 28.7 (tokio-ct 675.5 / 696.4), multi-producer p=10 61.1 / 51.1 (crossbeam-worker 109.5 /
//! 103.9: 0.558× and 0.492×, the one bar this design meets only some of the time; main's
//! samples there spread over 43.7–73.8 and 27.7–61.2 ns/task, crossbeam-worker's over
//! 78.4–128.1 and 76.8–124.1, as 11 threads share 2 vCPUs), ping-pong-latency p50 298 / 302 ns,
//! p99 577 / 615 ns.
//!
//! The prefetch distance was chosen by alternating 0, 4, 6, 8, 10 and 12 three times
//! (`queue.rs` has the table). ping-pong-latency did not move (p50 299–344 ns, p99 564–645).
//!
//! **Tried and dropped: an asymmetric consumer token.** The loop takes and releases the
//! consumer token around every callback with one locked `swap`. A version that made the token
//! an asymmetric Dekker pair (the loop: store, compiler fence, load; `close`: store,
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, load; proved with a loom model and its
//! negative control) removed that instruction, and made `main` two to three times slower. Two
//! thin-LTO builds alternated twice, `main` next to crossbeam-worker, 6 samples per cell
//! (`tournament run --quick --no-gate --contenders main,crossbeam-worker --workloads
//! ping-pong,burst,multi-producer`), medians in ns/task, swap token first: ping-pong 23.1 / 16.0
//! against 49.4 / 53.5; burst b=1000 38.4 / 36.9 against 118.0 / 119.2; b=10000 23.6 / 26.1
//! against 52.1 / 57.2; multi-producer p=10 48.0 / 45.3 against 68.6 / 86.3. Not analysed
//! further (the registration makes every context switch of the process's threads pay for
//! membarrier, and without the locked instruction the loop polls the slot the producer is
//! writing more often; neither was measured); the swap stays.
//!
//! **No yield while spinning.** A variant that called `sched_yield` between spin rounds after
//! the first 2 µs (so a spinning loop would hand its core to runnable producers on an
//! oversubscribed machine) was measured against pure spinning, both builds alternated twice on
//! the quiet machine: multi-producer p=10 40–44 vs 43–53 ns/task, p=100 49–67 vs 49–50,
//! ping-pong 72–74 vs 70–74, burst b=10000 72–73 vs 69–71 — no difference beyond the noise. On
//! the same machine while two other builds were compiling, the yielding variant's
//! ping-pong-latency median was 74,800 ns against baseline's 2,997 (a yielding thread queues
//! behind the compilers for a timeslice), so the loop spins without yielding.
//!
//! Allocation: `tests/alloc.rs` counts 0 allocations for a 10,000-task burst of 16-byte
//! closures after warm-up (and exactly one per task with `inline_tasks = false`, the control).
//! Idle cost: `cargo run --release -p loop-main --example idle_cpu` reports 0 ticks of CPU
//! (< 10 ms, i.e. < 1% of a core) for a loop left idle 1 s after a task, with one sleep, for
//! both the futex and the epoll sleep.

mod consumer;
mod counters;
mod driver;
mod io;
mod queue;
mod spin;
mod state;
mod sync;
mod task;
mod timers;

use std::fmt;
use std::io as stdio;
use std::os::fd::RawFd;
use std::sync::atomic::AtomicBool as HintBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, OpError, RejectReason, Rejected, RunError,
    ShutdownError, TimerId,
};

use crate::consumer::Consumer;
use crate::counters::Counters;
use crate::io::{Io, RegisterError};
use crate::queue::Queue;
use crate::state::{CLOSED, DONE, PARKED, POLLING, STOP, StateWord, in_flight};
use crate::sync::{Condvar, Mutex, Parker, current_loop, set_current_loop};
use crate::task::Task;
use crate::timers::Timers;

pub use crate::task::INLINE_CAPTURE_BYTES;

/// Where the loop is in its life. Moves only forward: `Idle` → `Running` → `Stopped`, or
/// `Idle` → `Stopped` (closed before it ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Running,
    Stopped,
}

/// What `shutdown` callers wait on.
struct Lifecycle {
    phase: Phase,
    /// The drain completed; `shutdown` callers return `Ok`.
    drained: bool,
    /// `close` was called; `shutdown` callers return `Err(Closed)`.
    closed: bool,
}

/// The flagship loop: lock-free inline-task ingress, wake-ups only on the sleeping transition,
/// bounded spin, futex or epoll sleep. See the [crate documentation](crate) for the design, the
/// wake-up protocol and the exact lifecycle semantics.
///
/// Create it with [`EventLoop::new`], share it as `Arc<MainLoop>`, call [`EventLoop::run`] on the
/// thread that should execute the callbacks.
pub struct MainLoop {
    state: StateWord,
    external: Queue<Task>,
    internal: Queue<Task>,
    foreign_micro: Queue<Task>,
    consumer: Consumer,
    timers: Mutex<Timers>,
    /// "The heap may hold timers": lets a tick skip the timer lock. Only a hint; the sleep
    /// decision reads the heap under its lock.
    timers_hint: HintBool,
    io: Io,
    /// The loop thread's park token (registered by `run` before the loop can first publish
    /// PARKED).
    parker: Parker,
    lifecycle: Mutex<Lifecycle>,
    lifecycle_changed: Condvar,
    budget: u64,
    spin: Duration,
    inline: bool,
    always_poll: bool,
    counters: Counters,
}

impl fmt::Debug for MainLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MainLoop").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

/// Lifecycle flags that stop a submission.
const STOPPED_MASK: u64 = STOP | CLOSED | DONE;

impl MainLoop {
    /// Whether the calling thread is this loop's thread, inside `run`.
    fn on_loop_thread(&self) -> bool {
        current_loop() == self as *const Self as usize
    }

    /// Entry of a timer or readiness registration (the rare submissions that go through a
    /// mutex rather than a queue): they count themselves in flight on the state word, so the
    /// drain and `close` can wait for them, and are refused once a shutdown is requested, from
    /// every thread. On `false` the caller rejects; the in-flight count is already restored.
    fn enter(&self) -> bool {
        // A plain load first, so a stopped loop rejects without touching the in-flight count
        // (which `close` waits to see at zero).
        if self.state.load() & STOPPED_MASK != 0 {
            return false;
        }
        if self.state.enter() & STOPPED_MASK == 0 {
            return true;
        }
        // Lost a race with shutdown/close. The loop may be waiting for us to leave.
        let s = self.state.leave();
        self.wake_if_asleep(s, false);
        false
    }

    /// The end of a timer or registration entry: leave, and wake the loop if it sleeps.
    fn leave(&self) {
        let s = self.state.leave();
        self.wake_if_asleep(s, true);
    }

    /// Wakes the loop if `s` shows it asleep and nobody claimed this sleep's wake-up yet. `s` is
    /// a state value read after the caller published its work: by its own read-modify-write of
    /// the state word, or (queue pushes) by an acquire load after its claim CAS on the queue's
    /// tail (why that suffices: the crate docs, "The wake-up protocol"). Counts the outcome;
    /// `elided` says whether a skipped wake counts in `wakes_elided` (submissions only).
    fn wake_if_asleep(&self, s: u64, elided: bool) {
        match self.state.claim_wake(s) {
            Some(PARKED) => {
                self.parker.unpark();
                self.counters.wake_syscalls.add(1);
            }
            Some(POLLING) => {
                self.io.wake();
                self.counters.wake_syscalls.add(1);
            }
            _ => {
                if elided {
                    self.counters.wakes_elided.add(1);
                }
            }
        }
    }

    /// The submit path shared by the three MPSC queues: one claim CAS on the queue's tail both
    /// accepts the task (or refuses it at the queue's mark) and orders the submission against
    /// the loop's sleep handshake; then one acquire load of the state word decides the wake-up
    /// (see the crate docs, "The wake-up protocol").
    fn push_to<F>(&self, queue: &Queue<Task>, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let task = Task::new(f, self.inline);
        if let Err(task) = queue.push(task, || self.may_pass_mark()) {
            // SAFETY: `task` was built just above from this `F` with `self.inline`.
            return Err(Rejected::terminated(unsafe { task.into_closure::<F>(self.inline) }));
        }
        self.wake_if_asleep(self.state.load(), true);
        Ok(())
    }

    /// Whether a submission may pass a queue's mark: only the loop thread, while a shutdown
    /// drains (not after `close`, not after `run` ended). A mark is set only after STOP or CLOSED
    /// is, so a producer that saw the mark sees the flag too.
    fn may_pass_mark(&self) -> bool {
        self.state.load() & (CLOSED | DONE) == 0 && self.on_loop_thread()
    }

    /// Closes the three MPSC queues to foreign producers; returns their tail indices at the
    /// mark (internal, external, foreign microtasks), which bound every claim that will ever
    /// succeed except the loop thread's own while it drains.
    fn mark_queues(&self) -> [usize; 3] {
        [self.internal.mark(), self.external.mark(), self.foreign_micro.mark()]
    }

    /// Marks the loop stopped when `run` ends, however it ends, and releases `shutdown` callers.
    /// The readiness callbacks still registered are dropped while this thread is still marked
    /// as the loop thread (a destructor calling `shutdown` only requests it instead of waiting
    /// for this very thread), and DONE, set first, refuses whatever they submit. Then the
    /// thread's loop marker is restored to `previous`: the loop this thread was running before
    /// (when this `run` was called from inside a task of another loop), or none.
    fn finish_run(&self, closed: bool, previous: usize) {
        self.state.set_flag(DONE);
        let callbacks = self.io.unregister_all();
        for cb in callbacks {
            self.isolate(move || drop(cb));
        }
        set_current_loop(previous);
        let mut lc = self.lifecycle.lock();
        lc.phase = Phase::Stopped;
        if !closed && !lc.closed {
            lc.drained = true;
        }
        self.lifecycle_changed.notify_all();
    }
}

/// Ends a `run`: on unwind (only possible through a bug in this crate, since callbacks are
/// isolated) closes the loop first, so queued work is dropped and counted and no `shutdown`
/// caller waits for a drain that will never come.
/// The second field is the thread's loop marker found when `run` began, restored at the end.
struct RunGuard<'a>(&'a MainLoop, usize);

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            self.0.close();
        }
        let closed = self.0.state.load() & CLOSED != 0;
        self.0.finish_run(panicking || closed, self.1);
    }
}

impl Drop for MainLoop {
    /// Drops every closure still queued (the loop never ran, or `run` ended without taking
    /// them), each isolated: a panicking destructor neither escapes nor keeps the closures
    /// behind it from being dropped.
    fn drop(&mut self) {
        let mut rest = Vec::new();
        {
            let mut tok = self.consumer.acquire();
            for q in [&self.internal, &self.external, &self.foreign_micro] {
                while let Some(t) = driver::pop(&tok, q) {
                    rest.push(t);
                }
            }
            rest.extend(tok.local_micro().drain(..));
        }
        rest.extend(self.timers.lock().take_all());
        driver::drop_isolated(self, rest);
        for cb in self.io.unregister_all() {
            self.isolate(move || drop(cb));
        }
    }
}

impl EventLoop for MainLoop {
    /// Everything: internal priority, microtasks, timers, readiness; every knob honoured; wake
    /// syscalls and elided wakes counted exactly.
    const CAPABILITIES: Capabilities = Capabilities::ALL;

    /// Creates an idle loop with its epoll instance and eventfd waker.
    ///
    /// # Errors
    /// The epoll instance or the eventfd could not be created.
    fn new(config: &LoopConfig) -> stdio::Result<Self> {
        Ok(Self {
            state: StateWord::new(),
            external: Queue::new(),
            internal: Queue::new(),
            foreign_micro: Queue::new(),
            consumer: Consumer::new(),
            timers: Mutex::new(Timers::new()),
            timers_hint: HintBool::new(false),
            io: Io::new()?,
            parker: Parker::new(),
            lifecycle: Mutex::new(Lifecycle { phase: Phase::Idle, drained: false, closed: false }),
            lifecycle_changed: Condvar::new(),
            budget: config.effective_batch_budget() as u64,
            spin: config.spin_before_sleep,
            inline: config.inline_tasks,
            always_poll: config.always_poll,
            counters: Counters::default(),
        })
    }

    /// Runs the loop on the calling thread until it is shut down (drained) or closed.
    ///
    /// # Errors
    /// [`RunError::AlreadyRunning`] if another `run` is active (including from inside a task);
    /// [`RunError::Terminated`] if the loop already stopped or was closed; [`RunError::Io`] if
    /// `epoll_wait` failed (the loop is then closed: queued work dropped and counted).
    fn run(&self) -> Result<(), RunError> {
        {
            let mut lc = self.lifecycle.lock();
            match lc.phase {
                Phase::Running => return Err(RunError::AlreadyRunning),
                Phase::Stopped => return Err(RunError::Terminated),
                Phase::Idle => {}
            }
            if self.state.load() & CLOSED != 0 {
                lc.phase = Phase::Stopped;
                return Err(RunError::Terminated);
            }
            lc.phase = Phase::Running;
        }
        self.parker.register_current();
        // Marks this thread as the loop thread; a `run` nested in a task of another loop finds
        // that loop's mark here, and `RunGuard` puts it back when this `run` ends.
        let previous = current_loop();
        set_current_loop(self as *const Self as usize);
        let _guard = RunGuard(self, previous);
        let result = self.drive();
        if result.is_err() {
            self.close();
        }
        result
    }

    /// Queues `f` on the external queue; it runs on the loop thread after every task this
    /// thread submitted before it (per-producer FIFO). Wakes the loop only if it sleeps.
    ///
    /// # Errors
    /// [`RejectReason::Terminated`], with `f` handed back, after `close`, after the loop stopped,
    /// or once a shutdown is requested unless called from the loop thread while it drains.
    fn submit<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.push_to(&self.external, f)
    }

    /// Queues `f` on the internal priority queue: it runs before any external task not yet
    /// started, outside the batch budget.
    ///
    /// # Errors
    /// As [`EventLoop::submit`].
    fn submit_internal<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.push_to(&self.internal, f)
    }

    /// Queues a microtask: from the loop thread, into the loop-local queue drained right after
    /// the current callback; from another thread, into the foreign microtask queue drained at
    /// the next checkpoint (waking the loop if it sleeps).
    ///
    /// # Errors
    /// As [`EventLoop::submit`].
    fn schedule_microtask<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        if !self.on_loop_thread() {
            return self.push_to(&self.foreign_micro, f);
        }
        let mut tok = self.consumer.acquire();
        // `close` sets CLOSED before it takes the token to drain, so holding the token and not
        // seeing CLOSED means the drain has not happened and will see this microtask.
        if self.state.load() & (CLOSED | DONE) != 0 {
            drop(tok);
            return Err(Rejected::terminated(f));
        }
        tok.local_micro().push_back(Task::new(f, self.inline));
        drop(tok);
        self.counters.elided_local.add(1);
        Ok(())
    }

    /// Runs `f` on the loop thread once `delay` has elapsed since this call (never earlier).
    /// Timers fire in deadline order, ties in scheduling order. A delay too large for
    /// [`Instant`] gives a timer that never fires (but can be cancelled).
    ///
    /// # Errors
    /// [`RejectReason::Terminated`], with `f` handed back, after `close`, after the loop
    /// stopped, or once a shutdown is requested (from any thread: the drain does not wait for
    /// future deadlines).
    fn schedule_timer<F>(&self, delay: Duration, f: F) -> Result<TimerId, Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let deadline = Instant::now().checked_add(delay);
        if !self.enter() {
            return Err(Rejected::terminated(f));
        }
        let id = {
            let mut t = self.timers.lock();
            let id = t.insert(deadline, Task::new(f, self.inline));
            self.timers_hint.store(true, Relaxed);
            id
        };
        self.leave();
        Ok(id)
    }

    /// Cancels a pending timer; its closure is dropped before this returns. `Ok(true)` if it was
    /// pending and will now never fire; `Ok(false)` if it already fired (or is firing), was
    /// cancelled, was dropped by shutdown or close, or is unknown.
    ///
    /// # Errors
    /// Never.
    fn cancel_timer(&self, id: TimerId) -> Result<bool, OpError> {
        let cancelled = self.timers.lock().cancel(id);
        let was_pending = cancelled.is_some();
        if let Some(timer) = cancelled {
            self.isolate(move || drop(timer));
        }
        Ok(was_pending)
    }

    /// Calls `callback` on the loop thread whenever `fd` is readable (re-armed after every call,
    /// so it is called again while data remains). Wakes a loop parked on its futex so that it
    /// sleeps in epoll from now on.
    ///
    /// # Errors
    /// [`RejectReason::AlreadyRegistered`]; [`RejectReason::Io`] if epoll refused the fd;
    /// [`RejectReason::Terminated`] once a shutdown is requested or the loop stopped. The
    /// callback comes back in every case.
    fn register_readable<F>(&self, fd: RawFd, callback: F) -> Result<(), Rejected<F>>
    where
        F: FnMut() + Send + 'static,
    {
        if !self.enter() {
            return Err(Rejected::terminated(callback));
        }
        let result = self.io.register(fd, callback);
        self.leave();
        result.map_err(|(e, callback)| Rejected {
            reason: match e {
                RegisterError::AlreadyRegistered => RejectReason::AlreadyRegistered(fd),
                RegisterError::Io(e) => RejectReason::Io(e),
            },
            task: callback,
        })
    }

    /// Stops readiness callbacks for `fd`. Once this returns the old callback never starts
    /// again (from another thread it waits for a call in progress to finish), even if the fd
    /// number is reused and registered anew.
    ///
    /// # Errors
    /// [`OpError::NotRegistered`] if `fd` is not registered (including after the loop stopped,
    /// which removes every registration).
    fn unregister(&self, fd: RawFd) -> Result<(), OpError> {
        match self.io.unregister(fd, self.on_loop_thread()) {
            Ok(callback) => {
                if let Some(cb) = callback {
                    self.isolate(move || drop(cb));
                }
                Ok(())
            }
            Err(()) => Err(OpError::NotRegistered(fd)),
        }
    }

    /// Stops accepting work from other threads, waits (at most `timeout`) until the loop has run
    /// every accepted task, and returns. See the crate docs for the full semantics.
    ///
    /// # Errors
    /// [`ShutdownError::Timeout`] if the loop had not drained within `timeout` (the stop stays
    /// requested); [`ShutdownError::Closed`] if [`EventLoop::close`] was called before or while
    /// waiting.
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        // `None`: a timeout too large for `Instant` means "wait as long as it takes".
        let deadline = Instant::now().checked_add(timeout);
        let before = self.state.set_flag(STOP);
        if before & CLOSED != 0 {
            return Err(ShutdownError::Closed);
        }
        if before & STOP == 0 {
            // From here on only the loop thread (draining) can claim queue slots.
            self.mark_queues();
            self.wake_if_asleep(before | STOP, false);
        }
        if self.on_loop_thread() {
            // Called by a callback: the loop drains after it returns.
            return Ok(());
        }
        let mut lc = self.lifecycle.lock();
        loop {
            if lc.drained {
                return Ok(());
            }
            if lc.closed {
                return Err(ShutdownError::Closed);
            }
            match deadline {
                None => self.lifecycle_changed.wait(&mut lc),
                Some(d) if Instant::now() >= d => return Err(ShutdownError::Timeout),
                Some(d) => {
                    self.lifecycle_changed.wait_until(&mut lc, d);
                }
            }
        }
    }

    /// Closes the loop: rejects all new work, drops every queued task, microtask and pending
    /// timer (on the calling thread, each isolated) and makes `run` return `Ok(())`. Returns how
    /// many it dropped (also added to [`LoopStats::tasks_dropped`]); 0 on every later call. A
    /// callback already running finishes; none starts after this returns. Waits only for
    /// submissions in the middle of publishing (a few instructions each), never for the loop.
    ///
    /// "Starts" is the moment the loop takes a task from its queue, under the consumer token
    /// that `close` takes to drain: a task taken before that is called, and if the loop thread
    /// is preempted between taking it and calling it, its body can begin after `close` returned
    /// (`tests/close_race.rs` counts it: 0–7 of 200 racing closes here). Any loop that decides
    /// and then calls has this gap; closing it would mean waiting for the call to return.
    fn close(&self) -> u64 {
        let before = self.state.set_flag(CLOSED);
        if before & CLOSED != 0 {
            // Another caller is closing: return only once its drain has taken every queued
            // task (`lc.closed`), so that nothing starts after *this* call returns either. The
            // first caller runs no user code until then, so this cannot wait for itself, even
            // from a destructor or a task.
            let mut lc = self.lifecycle.lock();
            while !lc.closed {
                self.lifecycle_changed.wait(&mut lc);
            }
            return 0;
        }
        // Every queue claim that succeeded is below these marks (the loop thread too is refused
        // past them now: CLOSED is set). Timer and registration entrants that entered before
        // CLOSED finish; later ones are rejected at the door without entering, so this ends.
        let ends = self.mark_queues();
        let mut waits = 0_u32;
        while in_flight(self.state.load_latest()) != 0 {
            sync::wait_step(&mut waits);
        }
        let mut dropped = Vec::new();
        {
            let mut tok = self.consumer.acquire();
            let queues = [&self.internal, &self.external, &self.foreign_micro];
            for (q, end) in queues.into_iter().zip(ends) {
                driver::drain_to(&tok, q, end, &mut dropped);
            }
            dropped.extend(tok.local_micro().drain(..));
        }
        dropped.extend({
            let mut t = self.timers.lock();
            self.timers_hint.store(false, Relaxed);
            t.take_all()
        });
        let callbacks = self.io.unregister_all();
        self.wake_if_asleep(self.state.load(), false);
        {
            let mut lc = self.lifecycle.lock();
            lc.closed = true;
            if lc.phase == Phase::Idle {
                lc.phase = Phase::Stopped;
            }
            self.lifecycle_changed.notify_all();
        }
        let count = dropped.len() as u64;
        self.counters.tasks_dropped.add(count);
        driver::drop_isolated(self, dropped);
        for cb in callbacks {
            self.isolate(move || drop(cb));
        }
        count
    }

    /// A snapshot of the counters (relaxed loads; each counter is monotonic, the snapshot is not
    /// atomic across counters).
    fn stats(&self) -> LoopStats {
        self.counters.snapshot()
    }
}
