//! Basic contract checks for the peer adapters (`tokio-ct`, `tokio-ct-noio`, `std-mpsc`).
//!
//! Every wait is a bounded `recv_timeout` (or a bounded shutdown) that fails loudly; nothing
//! sleeps to synchronise. The generic conformance suite (`loop-conformance`) covers
//! the full contract; these tests pin down the behaviour each adapter adds on top of its peer:
//! the lifecycle gate, the exact drop count of `close`, and (tokio) the timer table.

use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex, Once};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use loop_api::{
    EventLoop, LoopConfig, RejectReason, RunError, ShutdownError, TERMINATED_MESSAGE, TimerId,
};
use tournament::contenders::std_mpsc::StdMpsc;
use tournament::contenders::tokio_ct::{TokioCt, TokioCtNoIo};

/// Upper bound of every wait: generous for a loaded CI machine, short enough to fail loudly.
const WAIT: Duration = Duration::from_secs(20);
const BURST: usize = 10_000;
const PANIC_TEXT: &str = "intentional peer-test panic";

/// Keeps the intentional panics of these tests out of the output; other panics still print.
fn quiet_intentional_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&PANIC_TEXT) {
                previous(info);
            }
        }));
    });
}

fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(WAIT) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => panic!("timed out after {WAIT:?} waiting for {what}"),
        Err(RecvTimeoutError::Disconnected) => panic!("sender gone while waiting for {what}"),
    }
}

/// A loop running on its own thread.
struct Running<L> {
    lp: Arc<L>,
    loop_thread: ThreadId,
    done: Receiver<Result<(), RunError>>,
}

impl<L: EventLoop> Running<L> {
    /// Starts `run` on a new thread and waits for one round trip, so the loop is running.
    fn start() -> Self {
        let r = Self::spawn(Arc::new(L::new(&LoopConfig::default()).expect("new")));
        r.round_trip();
        r
    }

    /// Starts `run` on a new thread without waiting.
    fn spawn(lp: Arc<L>) -> Self {
        let (done_tx, done) = mpsc::channel();
        let l = Arc::clone(&lp);
        let handle = thread::Builder::new()
            .name("peer-loop".into())
            .spawn(move || {
                let _ = done_tx.send(l.run());
            })
            .expect("spawn loop thread");
        Running { lp, loop_thread: handle.thread().id(), done }
    }

    fn round_trip(&self) {
        let (tx, rx) = mpsc::channel();
        self.lp.submit(move || tx.send(()).unwrap()).expect("round-trip submit");
        recv(&rx, "a round-trip task");
    }

    /// Waits for `run` to return.
    fn join(&self) -> Result<(), RunError> {
        recv(&self.done, "run to return")
    }
}

/// Submits a task that signals `entered` and then blocks until `release` fires; returns the
/// release sender once the loop is inside it.
fn hold_loop<L: EventLoop>(lp: &L) -> mpsc::Sender<()> {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    lp.submit(move || {
        entered_tx.send(()).unwrap();
        release_rx.recv_timeout(WAIT).expect("blocker was never released");
    })
    .expect("submit blocker");
    recv(&entered, "the blocker to start");
    release
}

/// Records whether the closure owning it ran or was dropped unrun.
struct Probe {
    ran: bool,
    ran_count: Arc<AtomicUsize>,
    dropped_unrun: Arc<AtomicUsize>,
}

#[derive(Default, Clone)]
struct ProbeCounts {
    ran: Arc<AtomicUsize>,
    dropped_unrun: Arc<AtomicUsize>,
}

impl ProbeCounts {
    fn probe(&self) -> Probe {
        Probe {
            ran: false,
            ran_count: Arc::clone(&self.ran),
            dropped_unrun: Arc::clone(&self.dropped_unrun),
        }
    }
    /// A task that marks its probe as run.
    fn task(&self) -> impl FnOnce() + Send + 'static {
        let p = self.probe();
        // `let` moves the whole probe into the closure (a bare `p.ran = true` would capture
        // only the field and drop the probe here).
        move || {
            let mut p = p;
            p.ran = true;
        }
    }
    fn ran(&self) -> usize {
        self.ran.load(Ordering::SeqCst)
    }
    fn dropped_unrun(&self) -> usize {
        self.dropped_unrun.load(Ordering::SeqCst)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let c = if self.ran { &self.ran_count } else { &self.dropped_unrun };
        c.fetch_add(1, Ordering::SeqCst);
    }
}

fn assert_terminated_rejection<F>(r: Result<(), loop_api::Rejected<F>>) -> F {
    let rej = r.expect_err("submission must be rejected");
    assert_eq!(rej.reason, RejectReason::Terminated);
    assert!(rej.to_string().contains(TERMINATED_MESSAGE), "{rej}");
    rej.into_task()
}

// ---------------------------------------------------------------------------------------------
// Generic checks, instantiated per peer below.

fn burst_runs_exactly_once_on_loop_thread<L: EventLoop>() {
    const PRODUCERS: usize = 4;
    let r = Running::<L>::start();
    let hits: Arc<Vec<AtomicU8>> = Arc::new((0..BURST).map(|_| AtomicU8::new(0)).collect());
    let wrong_thread = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (all_tx, all_rx) = mpsc::channel();
    let barrier = Arc::new(Barrier::new(PRODUCERS));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (lp, hits, wrong, done, all_tx, barrier) = (
                Arc::clone(&r.lp),
                Arc::clone(&hits),
                Arc::clone(&wrong_thread),
                Arc::clone(&done),
                all_tx.clone(),
                Arc::clone(&barrier),
            );
            let loop_thread = r.loop_thread;
            thread::spawn(move || {
                barrier.wait();
                for i in (p..BURST).step_by(PRODUCERS) {
                    let (hits, wrong, done, all_tx) =
                        (Arc::clone(&hits), Arc::clone(&wrong), Arc::clone(&done), all_tx.clone());
                    lp.submit(move || {
                        if thread::current().id() != loop_thread {
                            wrong.fetch_add(1, Ordering::SeqCst);
                        }
                        hits[i].fetch_add(1, Ordering::SeqCst);
                        if done.fetch_add(1, Ordering::SeqCst) + 1 == BURST {
                            all_tx.send(()).unwrap();
                        }
                    })
                    .unwrap_or_else(|e| panic!("submit {i}: {e}"));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    recv(&all_rx, "the whole burst");
    r.lp.shutdown(WAIT).expect("shutdown");
    r.join().expect("run returns Ok");
    let mut bad = hits.iter().enumerate().filter(|(_, h)| h.load(Ordering::SeqCst) != 1);
    assert!(bad.next().is_none(), "a task did not run exactly once");
    assert_eq!(wrong_thread.load(Ordering::SeqCst), 0, "tasks ran off the loop thread");
    let s = r.lp.stats();
    assert_eq!(s.tasks_run_external, BURST as u64 + 1, "burst + round trip");
    assert_eq!((s.tasks_run_internal, s.panics, s.tasks_dropped), (0, 0, 0));
}

fn shutdown_drains_accepted_then_rejects<L: EventLoop>() {
    let r = Running::<L>::start();
    let release = hold_loop(&*r.lp);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..BURST {
        let ran = Arc::clone(&ran);
        r.lp.submit(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .expect("submit before shutdown");
    }

    // A task that requests the stop from the loop thread (must not wait for itself) and then
    // submits a child during the drain (must be accepted), reporting both.
    let (stop_tx, stop_rx) = mpsc::channel();
    let child_ran = Arc::new(AtomicUsize::new(0));
    {
        let (lp, child_ran) = (Arc::clone(&r.lp), Arc::clone(&child_ran));
        r.lp.submit(move || {
            let inner = lp.shutdown(Duration::ZERO);
            let child = lp
                .submit(move || {
                    child_ran.fetch_add(1, Ordering::SeqCst);
                })
                .map_err(|e| e.to_string());
            stop_tx.send((inner, child)).unwrap();
        })
        .expect("submit stopper");
    }

    // A foreign shutdown caller that waits for the whole drain.
    let (sd_tx, sd_rx) = mpsc::channel();
    let lp = Arc::clone(&r.lp);
    let waiter = thread::spawn(move || sd_tx.send(lp.shutdown(WAIT)).unwrap());
    release.send(()).unwrap();

    let (inner, child) = recv(&stop_rx, "the stopper task");
    assert_eq!(inner, Ok(()), "shutdown from inside a task returns Ok without waiting");
    assert_eq!(child, Ok(()), "a submission from the loop thread during the drain is accepted");

    // Shutdown has begun: a foreign submission comes back, closure intact.
    let (late_tx, late_rx) = mpsc::channel();
    let late = assert_terminated_rejection(r.lp.submit(move || late_tx.send(42).unwrap()));
    late();
    assert_eq!(late_rx.try_recv(), Ok(42), "the rejected closure was handed back intact");
    assert!(r.lp.submit_internal(|| ()).is_err(), "submit_internal is rejected as well");

    assert_eq!(recv(&sd_rx, "the waiting shutdown caller"), Ok(()));
    waiter.join().unwrap();
    r.join().expect("run returns Ok after shutdown");
    assert_eq!(ran.load(Ordering::SeqCst), BURST, "every accepted task ran");
    assert_eq!(child_ran.load(Ordering::SeqCst), 1, "the drain-time child ran");
    let s = r.lp.stats();
    // round trip + blocker + burst + stopper + child
    assert_eq!(s.tasks_run_external, BURST as u64 + 4);
    assert_eq!(s.tasks_dropped, 0);

    // After termination.
    assert_eq!(r.lp.shutdown(WAIT), Ok(()), "later shutdown calls see the same outcome");
    assert!(matches!(r.lp.run(), Err(RunError::Terminated)));
    assert!(r.lp.run().unwrap_err().to_string().contains(TERMINATED_MESSAGE));
    assert_eq!(r.lp.close(), 0, "nothing left to drop");
    let _ = assert_terminated_rejection(r.lp.submit(|| ()));
}

fn close_drops_queued_exactly_once<L: EventLoop>() {
    let r = Running::<L>::start();
    let release = hold_loop(&*r.lp);
    let probes = ProbeCounts::default();
    for _ in 0..BURST {
        r.lp.submit(probes.task()).expect("submit before close");
    }
    assert_eq!(r.lp.close(), BURST as u64, "close counts every queued task, not the running one");
    assert_eq!(r.lp.stats().tasks_dropped, BURST as u64);
    assert_eq!(r.lp.close(), 0, "close is idempotent");
    let late = ProbeCounts::default();
    drop(assert_terminated_rejection(r.lp.submit(late.task())));
    assert_eq!((late.ran(), late.dropped_unrun()), (0, 1), "rejected closure came back");

    release.send(()).unwrap();
    r.join().expect("run returns Ok after close");
    assert_eq!(probes.ran(), 0, "no queued task ran after close");
    assert_eq!(probes.dropped_unrun(), BURST, "each queued closure destroyed exactly once");
    let s = r.lp.stats();
    assert_eq!((s.tasks_run_external, s.tasks_dropped), (2, BURST as u64));
    assert_eq!(r.lp.shutdown(WAIT), Err(ShutdownError::Closed));
    assert!(matches!(r.lp.run(), Err(RunError::Terminated)));
}

fn close_before_run_drops_at_once<L: EventLoop>() {
    let lp = L::new(&LoopConfig::default()).unwrap();
    let probes = ProbeCounts::default();
    for _ in 0..100 {
        lp.submit(probes.task()).unwrap();
    }
    assert_eq!(lp.close(), 100);
    assert_eq!(probes.dropped_unrun(), 100, "an unrun loop destroys the closures in close");
    assert!(matches!(lp.run(), Err(RunError::Terminated)));
    assert_eq!(lp.shutdown(Duration::ZERO), Err(ShutdownError::Closed));
    assert_eq!(probes.ran(), 0);
}

fn shutdown_before_run_is_recorded<L: EventLoop>() {
    let lp = Arc::new(L::new(&LoopConfig::default()).unwrap());
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let ran = Arc::clone(&ran);
        lp.submit(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    assert_eq!(lp.shutdown(Duration::ZERO), Err(ShutdownError::Timeout), "nobody runs it yet");
    let _ = assert_terminated_rejection(lp.submit(|| ()));
    let r = Running::spawn(Arc::clone(&lp));
    assert_eq!(lp.shutdown(WAIT), Ok(()), "the next run drains and the waiter gets Ok");
    r.join().expect("run returns Ok");
    assert_eq!(ran.load(Ordering::SeqCst), 100);
}

fn run_twice_is_an_error<L: EventLoop>() {
    let r = Running::<L>::start();
    assert!(matches!(r.lp.run(), Err(RunError::AlreadyRunning)), "concurrent run");
    r.round_trip();
    r.lp.shutdown(WAIT).unwrap();
    r.join().unwrap();
    assert!(matches!(r.lp.run(), Err(RunError::Terminated)), "run after termination");
}

fn panics_are_counted_and_isolated<L: EventLoop>() {
    quiet_intentional_panics();
    let r = Running::<L>::start();
    let normal = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        r.lp.submit(|| std::panic::panic_any(PANIC_TEXT)).unwrap();
        for _ in 0..10 {
            let normal = Arc::clone(&normal);
            r.lp.submit(move || {
                normal.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
    }
    r.round_trip();
    assert_eq!(normal.load(Ordering::SeqCst), 100, "tasks after a panic still run");
    let s = r.lp.stats();
    assert_eq!(s.panics, 10);
    assert_eq!(s.tasks_run_external, 112, "panicking tasks count as run");
    r.lp.shutdown(WAIT).unwrap();
    r.join().unwrap();
}

fn submit_internal_is_submit<L: EventLoop>() {
    let r = Running::<L>::start();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    for i in 0..10 {
        let order = Arc::clone(&order);
        let task: Box<dyn FnOnce() + Send> = Box::new(move || order.lock().unwrap().push(i));
        let res = if i % 2 == 0 { r.lp.submit(task) } else { r.lp.submit_internal(task) };
        res.expect("submit");
    }
    r.lp.submit_internal(move || tx.send(()).unwrap()).unwrap();
    recv(&rx, "the last internal task");
    assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>(), "one FIFO lane");
    let s = r.lp.stats();
    assert_eq!((s.tasks_run_external, s.tasks_run_internal), (12, 0), "counted as external");
    r.lp.shutdown(WAIT).unwrap();
    r.join().unwrap();
}

/// `tick_limit`: the most tasks one tick holds (1 for a channel worker, tokio's
/// `event_interval` for tokio).
fn ticks_sleeps_and_batches_are_counted<L: EventLoop>(tick_limit: u64) {
    let r = Running::<L>::start();
    let after_start = r.lp.stats();
    assert!(after_start.ticks >= 1, "{after_start:?}");
    let release = hold_loop(&*r.lp);
    let ran = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for i in 0..2_000 {
        let (ran, tx) = (Arc::clone(&ran), tx.clone());
        r.lp.submit(move || {
            if ran.fetch_add(1, Ordering::SeqCst) + 1 == 2_000 {
                tx.send(i).unwrap();
            }
        })
        .unwrap();
    }
    release.send(()).unwrap();
    recv(&rx, "2,000 tasks behind the blocker");
    r.round_trip();
    let s = r.lp.stats();
    assert_eq!(s.max_batch, tick_limit, "2,000 queued tasks fill whole ticks: {s:?}");
    assert!(s.ticks >= after_start.ticks + 2_000 / tick_limit, "{s:?}");
    // The idle loop goes to sleep soon; wait for that (bounded spin: no sleeps in tests).
    let started = Instant::now();
    while r.lp.stats().sleeps == 0 {
        assert!(started.elapsed() < WAIT, "the idle loop never went to sleep: {s:?}");
        thread::yield_now();
    }
    assert_eq!((s.wake_syscalls, s.wakes_elided, s.polls), (0, 0, 0), "not measured");
    r.lp.shutdown(WAIT).unwrap();
    r.join().unwrap();
    let end = r.lp.stats();
    assert!(end.ticks >= s.ticks && end.sleeps >= s.sleeps && end.max_batch == s.max_batch);
}

fn drop_unrun_loop_drops_queued<L: EventLoop>() {
    let lp = L::new(&LoopConfig::default()).unwrap();
    let probes = ProbeCounts::default();
    for _ in 0..100 {
        lp.submit(probes.task()).unwrap();
    }
    drop(lp);
    assert_eq!((probes.ran(), probes.dropped_unrun()), (0, 100));
}

fn concurrent_shutdown_callers_all_get_ok<L: EventLoop>() {
    const CALLERS: usize = 8;
    let r = Running::<L>::start();
    let barrier = Arc::new(Barrier::new(CALLERS));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (lp, barrier) = (Arc::clone(&r.lp), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                lp.shutdown(WAIT)
            })
        })
        .collect();
    for c in callers {
        assert_eq!(c.join().unwrap(), Ok(()));
    }
    r.join().unwrap();
}

/// Producers race a stop; returns (accepted, rejected) summed over producers. Rejected closures
/// are dropped by the producer (handed back).
fn race_producers<L: EventLoop>(
    lp: &Arc<L>,
    per_producer: usize,
    producers: usize,
    make: impl Fn() -> Box<dyn FnOnce() + Send> + Send + Sync + Clone + 'static,
    stop: impl FnOnce(&L) + Send,
) -> (usize, usize) {
    let barrier = Arc::new(Barrier::new(producers + 1));
    let handles: Vec<_> = (0..producers)
        .map(|_| {
            let (lp, barrier, make) = (Arc::clone(lp), Arc::clone(&barrier), make.clone());
            thread::spawn(move || {
                barrier.wait();
                let (mut ok, mut rejected) = (0, 0);
                for _ in 0..per_producer {
                    match lp.submit(make()) {
                        Ok(()) => ok += 1,
                        Err(rej) => {
                            assert_eq!(rej.reason, RejectReason::Terminated);
                            rejected += 1;
                        }
                    }
                }
                (ok, rejected)
            })
        })
        .collect();
    barrier.wait();
    // Let the producers get going: one round trip through the loop, then stop mid-stream.
    let (tx, rx) = mpsc::channel();
    lp.submit(Box::new(move || tx.send(()).unwrap()) as Box<dyn FnOnce() + Send>)
        .expect("mid-stream round trip");
    recv(&rx, "the mid-stream round trip");
    stop(lp);
    handles.into_iter().map(|h| h.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

fn submits_racing_shutdown_are_conserved<L: EventLoop>() {
    let r = Running::<L>::start();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let make = move || -> Box<dyn FnOnce() + Send> {
        let c = Arc::clone(&counter);
        Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
    };
    let (ok, rejected) = race_producers(&r.lp, 2_000, 4, make, |lp| {
        assert_eq!(lp.shutdown(WAIT), Ok(()));
    });
    r.join().unwrap();
    assert_eq!(ok + rejected, 8_000);
    eprintln!("shutdown race: accepted {ok}, rejected {rejected}");
    assert_eq!(ran.load(Ordering::SeqCst), ok, "every accepted task ran exactly once");
    assert_eq!(r.lp.stats().tasks_run_external, ok as u64 + 2, "+ round trips");
}

fn submits_racing_close_are_counted_exactly<L: EventLoop>() {
    let r = Running::<L>::start();
    let probes = ProbeCounts::default();
    let p = probes.clone();
    let make = move || -> Box<dyn FnOnce() + Send> { Box::new(p.task()) };
    let closed = Arc::new(AtomicU64::new(u64::MAX));
    let closed2 = Arc::clone(&closed);
    let (ok, rejected) = race_producers(&r.lp, 2_000, 4, make, move |lp| {
        closed2.store(lp.close(), Ordering::SeqCst);
    });
    r.join().unwrap();
    let dropped = closed.load(Ordering::SeqCst) as usize;
    assert_eq!(ok + rejected, 8_000);
    eprintln!("close race: accepted {ok}, rejected {rejected}, dropped by close {dropped}");
    assert_eq!(probes.ran() + probes.dropped_unrun(), ok + rejected, "every closure accounted");
    assert_eq!(probes.dropped_unrun(), dropped + rejected, "close counted exactly the unrun ones");
    let s = r.lp.stats();
    assert_eq!(s.tasks_dropped, dropped as u64);
    assert_eq!(s.tasks_run_external, probes.ran() as u64 + 2, "+ round trips");
}

macro_rules! peer_tests {
    ($module:ident, $ty:ty, tick_limit = $tick_limit:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn burst_10k_runs_exactly_once_on_the_loop_thread() {
                burst_runs_exactly_once_on_loop_thread::<$ty>();
            }
            #[test]
            fn shutdown_drains_accepted_tasks_then_rejects() {
                shutdown_drains_accepted_then_rejects::<$ty>();
            }
            #[test]
            fn close_drops_queued_tasks_exactly_once() {
                close_drops_queued_exactly_once::<$ty>();
            }
            #[test]
            fn close_before_run_drops_at_once() {
                super::close_before_run_drops_at_once::<$ty>();
            }
            #[test]
            fn shutdown_before_run_is_recorded() {
                super::shutdown_before_run_is_recorded::<$ty>();
            }
            #[test]
            fn run_twice_is_an_error() {
                super::run_twice_is_an_error::<$ty>();
            }
            #[test]
            fn panics_are_counted_and_isolated() {
                super::panics_are_counted_and_isolated::<$ty>();
            }
            #[test]
            fn ticks_sleeps_and_batches_are_counted() {
                super::ticks_sleeps_and_batches_are_counted::<$ty>($tick_limit);
            }
            #[test]
            fn submit_internal_is_submit() {
                super::submit_internal_is_submit::<$ty>();
            }
            #[test]
            fn dropping_an_unrun_loop_drops_its_tasks() {
                drop_unrun_loop_drops_queued::<$ty>();
            }
            #[test]
            fn concurrent_shutdown_callers_all_get_ok() {
                super::concurrent_shutdown_callers_all_get_ok::<$ty>();
            }
            #[test]
            fn submits_racing_shutdown_are_conserved() {
                super::submits_racing_shutdown_are_conserved::<$ty>();
            }
            #[test]
            fn submits_racing_close_are_counted_exactly() {
                super::submits_racing_close_are_counted_exactly::<$ty>();
            }
        }
    };
}

peer_tests!(tokio_ct, TokioCt, tick_limit = 61);
peer_tests!(tokio_ct_noio, TokioCtNoIo, tick_limit = 61);
peer_tests!(std_mpsc, StdMpsc, tick_limit = 1);

#[test]
fn ids_and_capabilities() {
    assert_eq!(TokioCt::ID, "tokio-ct");
    assert_eq!(TokioCtNoIo::ID, "tokio-ct-noio");
    assert_eq!(StdMpsc::ID, "std-mpsc");
    for caps in [TokioCt::CAPABILITIES, TokioCtNoIo::CAPABILITIES] {
        assert!(caps.timers);
        assert!(!caps.microtasks && !caps.readiness && !caps.internal_priority);
        assert!(!caps.batch_budget && !caps.spin_before_sleep && !caps.inline_tasks);
        assert!(!caps.wake_accounting);
    }
    assert_eq!(StdMpsc::CAPABILITIES, loop_api::Capabilities::SUBMIT_ONLY);
    let m = StdMpsc::new(&LoopConfig::default()).unwrap();
    assert!(m.schedule_timer(Duration::ZERO, || ()).is_err());
    assert!(m.schedule_microtask(|| ()).is_err());
    let t = TokioCt::new(&LoopConfig::default()).unwrap();
    assert!(t.schedule_microtask(|| ()).is_err());
    assert!(t.register_readable(0, || ()).is_err());
}

// ---------------------------------------------------------------------------------------------
// Timers (tokio peers only).

fn timers_never_fire_early_and_fire_in_deadline_order<L: EventLoop>() {
    let r = Running::<L>::start();
    // (delay ms); equal delays must fire in scheduling order.
    let delays: [u64; 12] = [40, 10, 30, 0, 20, 5, 5, 5, 0, 15, 25, 1];
    let fired = Arc::new(Mutex::new(Vec::new()));
    let (all_tx, all_rx) = mpsc::channel();
    // The deadline lies between `before + delay` and `after + delay` of its call (the test
    // thread may be preempted between calls, so delays alone do not fix the order).
    let mut bounds = Vec::new();
    for (i, &d) in delays.iter().enumerate() {
        let (fired, all_tx) = (Arc::clone(&fired), all_tx.clone());
        let n = delays.len();
        let delay = Duration::from_millis(d);
        let before = Instant::now();
        r.lp.schedule_timer(delay, move || {
            let mut f = fired.lock().unwrap();
            f.push((i, Instant::now(), thread::current().id()));
            if f.len() == n {
                all_tx.send(()).unwrap();
            }
        })
        .expect("schedule");
        bounds.push((before + delay, Instant::now() + delay));
    }
    recv(&all_rx, "every timer");
    let fired = fired.lock().unwrap().clone();
    for &(i, at, thread) in &fired {
        assert!(at >= bounds[i].0, "timer {i} ({} ms) fired early", delays[i]);
        assert_eq!(thread, r.loop_thread, "timer {i} ran off the loop thread");
    }
    let order: Vec<usize> = fired.iter().map(|f| f.0).collect();
    for (p, &i) in order.iter().enumerate() {
        for &j in &order[p + 1..] {
            // i fired before j: wrong if j's deadline was surely earlier, or if they share a
            // delay (a tie) and j was scheduled first.
            assert!(bounds[j].1 >= bounds[i].0, "timer {i} fired before {j}: {order:?}");
            assert!(
                delays[i] != delays[j] || i < j,
                "equal delays out of scheduling order: {order:?}"
            );
        }
    }
    assert_eq!(r.lp.stats().timers_fired, delays.len() as u64);
    r.lp.shutdown(WAIT).unwrap();
    r.join().unwrap();
}

fn cancel_timer_reports_whether_it_prevented_firing<L: EventLoop>() {
    let r = Running::<L>::start();
    let far = ProbeCounts::default();
    let far_id = r.lp.schedule_timer(Duration::from_secs(3600), far.task()).unwrap();
    assert_eq!(r.lp.cancel_timer(far_id), Ok(true));
    assert_eq!(far.dropped_unrun(), 1, "a cancelled timer's callback is dropped");
    assert_eq!(r.lp.cancel_timer(far_id), Ok(false), "already cancelled");
    assert_eq!(r.lp.cancel_timer(TimerId(u64::MAX)), Ok(false), "unknown id");

    // Cancelled B (30 ms) must not fire before, or after, C (60 ms) fires.
    let b = ProbeCounts::default();
    let b_id = r.lp.schedule_timer(Duration::from_millis(30), b.task()).unwrap();
    let (c_tx, c_rx) = mpsc::channel();
    r.lp.schedule_timer(Duration::from_millis(60), move || c_tx.send(()).unwrap()).unwrap();
    assert_eq!(r.lp.cancel_timer(b_id), Ok(true));
    recv(&c_rx, "timer C");
    assert_eq!((b.ran(), b.dropped_unrun()), (0, 1), "cancelled timer never fired");

    // A fired timer cannot be cancelled.
    let (d_tx, d_rx) = mpsc::channel();
    let d_id = r.lp.schedule_timer(Duration::ZERO, move || d_tx.send(()).unwrap()).unwrap();
    recv(&d_rx, "timer D");
    assert_eq!(r.lp.cancel_timer(d_id), Ok(false), "already fired");
    assert_eq!(r.lp.stats().timers_fired, 2);
    r.lp.shutdown(WAIT).unwrap();
    r.join().unwrap();
}

fn cancel_racing_fire_is_exact<L: EventLoop>() {
    const TIMERS: usize = 2_000;
    let r = Running::<L>::start();
    let probes = ProbeCounts::default();
    let ids: Vec<TimerId> =
        (0..TIMERS).map(|_| r.lp.schedule_timer(Duration::ZERO, probes.task()).unwrap()).collect();
    let cancelled = ids.iter().filter(|&&id| r.lp.cancel_timer(id) == Ok(true)).count();
    r.round_trip();
    r.lp.shutdown(WAIT).unwrap();
    r.join().unwrap();
    assert_eq!(probes.ran() + cancelled, TIMERS, "each timer fired or was cancelled, not both");
    assert_eq!(probes.dropped_unrun(), cancelled);
    assert_eq!(r.lp.stats().timers_fired as usize, probes.ran());
}

fn timer_callbacks_may_schedule_and_cancel_timers<L: EventLoop>() {
    let r = Running::<L>::start();
    let far = ProbeCounts::default();
    let far_id = r.lp.schedule_timer(Duration::from_secs(3600), far.task()).unwrap();
    let (tx, rx) = mpsc::channel();
    let lp = Arc::clone(&r.lp);
    r.lp.schedule_timer(Duration::ZERO, move || {
        let cancelled = lp.cancel_timer(far_id);
        let tx2 = tx.clone();
        let inner = lp.schedule_timer(Duration::from_millis(1), move || tx2.send(None).unwrap());
        tx.send(Some((cancelled, inner.is_ok()))).unwrap();
    })
    .unwrap();
    assert_eq!(recv(&rx, "the outer timer"), Some((Ok(true), true)));
    assert_eq!(recv(&rx, "the inner timer"), None);
    assert_eq!((far.ran(), far.dropped_unrun()), (0, 1));
    r.lp.shutdown(WAIT).unwrap();
    r.join().unwrap();
}

fn timer_scheduled_before_run_fires<L: EventLoop>() {
    let lp = Arc::new(L::new(&LoopConfig::default()).unwrap());
    let fired = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&fired);
    lp.schedule_timer(Duration::ZERO, move || {
        f.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let r = Running::spawn(lp);
    r.round_trip();
    assert_eq!(fired.load(Ordering::SeqCst), 1, "a due timer fires before a later task");
    r.lp.shutdown(WAIT).unwrap();
    r.join().unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 1);
}

fn shutdown_discards_pending_timers<L: EventLoop>() {
    let r = Running::<L>::start();
    let far = ProbeCounts::default();
    r.lp.schedule_timer(Duration::from_secs(3600), far.task()).unwrap();
    // Hold the loop in a task that, once released, requests the stop from the loop thread.
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let (stop_tx, stop_rx) = mpsc::channel();
    let lp = Arc::clone(&r.lp);
    r.lp.submit(move || {
        entered_tx.send(()).unwrap();
        release_rx.recv_timeout(WAIT).expect("blocker was never released");
        stop_tx.send(lp.shutdown(Duration::ZERO)).unwrap();
    })
    .unwrap();
    recv(&entered, "the blocker to start");
    let due = ProbeCounts::default();
    r.lp.schedule_timer(Duration::ZERO, due.task()).unwrap();
    release.send(()).unwrap();
    assert_eq!(recv(&stop_rx, "the stop request"), Ok(()));
    let rej = r.lp.schedule_timer(Duration::ZERO, || ()).expect_err("timers refused once stopping");
    assert_eq!(rej.reason, RejectReason::Terminated);
    assert_eq!(r.lp.shutdown(WAIT), Ok(()), "shutdown does not wait for a far timer");
    r.join().unwrap();
    assert_eq!((due.ran(), due.dropped_unrun()), (1, 0), "a due timer fires during the drain");
    assert_eq!((far.ran(), far.dropped_unrun()), (0, 1), "a far timer is discarded");
    assert_eq!(r.lp.stats().tasks_dropped, 1);
    assert_eq!(r.lp.stats().timers_fired, 1);
}

fn close_drops_pending_timers<L: EventLoop>() {
    quiet_intentional_panics();
    let r = Running::<L>::start();
    let probes = ProbeCounts::default();
    for _ in 0..5 {
        r.lp.schedule_timer(Duration::from_secs(3600), probes.task()).unwrap();
    }
    // A panicking timer is counted and does not stop the loop.
    let (tx, rx) = mpsc::channel();
    r.lp.schedule_timer(Duration::ZERO, || std::panic::panic_any(PANIC_TEXT)).unwrap();
    r.lp.schedule_timer(Duration::from_millis(1), move || tx.send(()).unwrap()).unwrap();
    recv(&rx, "the timer after a panicking one");
    assert_eq!(r.lp.stats().panics, 1);
    assert_eq!(r.lp.close(), 5, "pending timers are dropped and counted");
    assert_eq!((probes.ran(), probes.dropped_unrun()), (0, 5));
    r.join().unwrap();
    let s = r.lp.stats();
    assert_eq!((s.timers_fired, s.tasks_dropped), (2, 5));
    assert!(r.lp.schedule_timer(Duration::ZERO, || ()).is_err(), "rejected after close");
}

macro_rules! timer_tests {
    ($module:ident, $ty:ty) => {
        mod $module {
            use super::*;

            #[test]
            fn timers_never_fire_early_and_fire_in_deadline_order() {
                super::timers_never_fire_early_and_fire_in_deadline_order::<$ty>();
            }
            #[test]
            fn cancel_timer_reports_whether_it_prevented_firing() {
                super::cancel_timer_reports_whether_it_prevented_firing::<$ty>();
            }
            #[test]
            fn cancel_racing_fire_is_exact() {
                super::cancel_racing_fire_is_exact::<$ty>();
            }
            #[test]
            fn timer_callbacks_may_schedule_and_cancel_timers() {
                super::timer_callbacks_may_schedule_and_cancel_timers::<$ty>();
            }
            #[test]
            fn timer_scheduled_before_run_fires() {
                super::timer_scheduled_before_run_fires::<$ty>();
            }
            #[test]
            fn shutdown_discards_pending_timers() {
                super::shutdown_discards_pending_timers::<$ty>();
            }
            #[test]
            fn close_drops_pending_timers() {
                super::close_drops_pending_timers::<$ty>();
            }
        }
    };
}

timer_tests!(tokio_ct_timers, TokioCt);
timer_tests!(tokio_ct_noio_timers, TokioCtNoIo);
