//! The issue-6 workload suite: every workload runs exactly its tasks against baseline and the
//! peers (skipping declared gaps), carries the op count and latencies its unit and timed scope
//! promise, and the state it claims to measure (loop busy, loop asleep, priority, early timers)
//! is checked from the loops' own counters — never from durations.

use std::io;
use std::time::Duration;

use loop_api::{
    Capabilities, EventLoop, LoopConfig, LoopStats, OpError, Rejected, RunError, ShutdownError,
    TimerId,
};
use loop_baseline::BaselineLoop;
use tournament::contenders::async_executor_peer::AsyncExecutorPeer;
use tournament::contenders::calloop_peer::CalloopPeer;
use tournament::contenders::crossbeam_worker::CrossbeamWorker;
use tournament::contenders::std_mpsc::StdMpsc;
use tournament::contenders::tokio_ct::TokioCtNoIo;
use tournament::workloads::{Mode, Param, SampleOutcome, WORKLOADS, WorkloadSpec, run_sample};

/// Operations a sample of `w` at `p` must report, or `None` for per-task units.
fn expected_ops(w: &WorkloadSpec, p: &Param) -> Option<u64> {
    match w.id {
        "batch-budget-throughput" | "batch-budget-latency" | "batch-budget-mixed" => {
            Some(p.tasks / p.batch)
        }
        "chain-handoff" => Some(p.tasks / 33 * 32),
        "priority-latency" => Some(p.tasks / 65),
        "microtask-roundtrip" => Some(p.tasks / 2),
        _ => None,
    }
}

/// Latencies a sample must have recorded, or `None` when the workload records none.
fn expected_latencies(w: &WorkloadSpec, p: &Param) -> Option<u64> {
    match w.id {
        "ping-pong-latency" | "cas-contention-latency" | "wakeup-sleeping" => Some(p.tasks),
        "readiness-roundtrip" | "timer-lateness" => Some(p.tasks),
        "batch-budget-latency" | "priority-latency" | "microtask-roundtrip" => expected_ops(w, p),
        "chain-handoff" => Some(p.tasks / 33),
        _ => None,
    }
}

fn supported<L: EventLoop>(w: &WorkloadSpec) -> bool {
    w.requires.iter().all(|cap| L::CAPABILITIES.supports(*cap))
}

fn run<L: EventLoop>(id: &str, p: &Param) -> SampleOutcome {
    run_sample::<L>(id, p, &LoopConfig::default()).unwrap_or_else(|e| panic!("{id} {}: {e}", p.id))
}

/// Runs every supported workload's smoke points against `L` and checks exactness and shape.
fn exact_suite<L: EventLoop>() {
    let mut ran = 0;
    for w in WORKLOADS.iter().filter(|w| supported::<L>(w)) {
        for p in (w.params)(Mode::Smoke) {
            let out = run::<L>(w.id, &p);
            assert_eq!(out.tasks, p.tasks, "{} {}: task count", w.id, p.id);
            assert_eq!(out.ops, expected_ops(w, &p), "{} {}: op count", w.id, p.id);
            assert_eq!(
                out.latency.as_ref().map(|h| h.len()),
                expected_latencies(w, &p),
                "{} {}: recorded latencies",
                w.id,
                p.id
            );
            assert!(out.measured.wall_ns > 0, "{} {}: empty timed scope", w.id, p.id);
            assert_eq!(
                out.wake_syscalls.is_some(),
                L::CAPABILITIES.wake_accounting,
                "{} {}: wake syscalls reported iff counted",
                w.id,
                p.id
            );
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} cells ran");
}

#[test]
fn suite_is_exact_on_baseline() {
    exact_suite::<BaselineLoop>();
}

#[test]
fn suite_is_exact_on_std_mpsc() {
    exact_suite::<StdMpsc>();
}

#[test]
fn suite_is_exact_on_crossbeam_worker() {
    exact_suite::<CrossbeamWorker>();
}

#[test]
fn suite_is_exact_on_calloop() {
    exact_suite::<CalloopPeer>();
}

#[test]
fn suite_is_exact_on_async_executor() {
    exact_suite::<AsyncExecutorPeer>();
}

#[test]
fn suite_is_exact_on_tokio_ct_noio() {
    exact_suite::<TokioCtNoIo>();
}

fn smoke(id: &str) -> Param {
    let w = tournament::workloads::find(id).expect("registered");
    (w.params)(Mode::Smoke).remove(0)
}

#[test]
fn wakeup_running_submits_while_the_loop_is_busy_cost_no_wake() {
    // Baseline's loop blocked in a task is not waiting on its condvar: no submit may notify.
    let out = run::<BaselineLoop>("wakeup-running", &smoke("wakeup-running"));
    assert_eq!(out.wake_syscalls, Some(0));
}

#[test]
fn wakeup_sleeping_wakes_a_sleeping_loop_every_round_trip() {
    // The loop thread was verified blocked before each submit, so each one had to wake it.
    let p = smoke("wakeup-sleeping");
    let out = run::<BaselineLoop>("wakeup-sleeping", &p);
    let wakes = out.wake_syscalls.expect("baseline counts wakes");
    assert!(wakes >= p.tasks, "{wakes} wake syscalls for {} sleeping round trips", p.tasks);
    let sleeps = out.metrics.iter().find(|m| m.name == "sleeps_per_task").expect("metric");
    assert!(sleeps.value >= 1.0, "loop stats show {} sleeps per round trip", sleeps.value);
}

#[test]
fn wakeup_rapid_starts_from_a_sleeping_loop() {
    let out = run::<BaselineLoop>("wakeup-rapid", &smoke("wakeup-rapid"));
    assert!(out.wake_syscalls.expect("baseline counts wakes") >= 1);
}

#[test]
fn priority_latency_reports_externals_run_before_the_internal() {
    // Baseline has no priority queue: all 64 queued externals run first, every op.
    let out = run::<BaselineLoop>("priority-latency", &smoke("priority-latency"));
    let m = out.metrics.iter().find(|m| m.name == "externals_before_internal").expect("metric");
    assert_eq!(m.value, 64.0);
}

#[test]
fn batch_budget_points_pass_their_budget_to_the_loop() {
    let w = tournament::workloads::find("batch-budget-throughput").unwrap();
    let budgets: Vec<_> = (w.params)(Mode::Full).iter().map(|p| p.budget).collect();
    let want: Vec<_> = [64, 128, 256, 512, 1024, 2048, 4096].into_iter().map(Some).collect();
    assert_eq!(budgets, want);
    let p = &(w.params)(Mode::Smoke)[0];
    assert_eq!(p.config(&LoopConfig::default()).batch_budget, p.budget.unwrap());
    assert_eq!(p.tasks % p.batch, 0);
}

#[test]
fn alloc_pressure_without_the_counting_allocator_reports_no_counts() {
    // This test binary keeps the system allocator: a zero must not pass for a measurement.
    assert!(!tournament::alloc_count::is_installed());
    let out = run::<BaselineLoop>("alloc-pressure", &smoke("alloc-pressure"));
    assert_eq!((out.allocs, out.alloc_bytes), (None, None));
    assert!(out.metrics.is_empty());
}

/// Baseline whose timers fire at half their delay: a contract violation the workload must catch.
struct EarlyTimers(BaselineLoop);

impl EventLoop for EarlyTimers {
    const CAPABILITIES: Capabilities = BaselineLoop::CAPABILITIES;
    fn new(config: &LoopConfig) -> io::Result<Self> {
        Ok(EarlyTimers(BaselineLoop::new(config)?))
    }
    fn run(&self) -> Result<(), RunError> {
        self.0.run()
    }
    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), Rejected<F>> {
        self.0.submit(f)
    }
    fn submit_internal<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), Rejected<F>> {
        self.0.submit_internal(f)
    }
    fn schedule_timer<F: FnOnce() + Send + 'static>(
        &self,
        delay: Duration,
        f: F,
    ) -> Result<TimerId, Rejected<F>> {
        self.0.schedule_timer(delay / 2, f)
    }
    fn cancel_timer(&self, id: TimerId) -> Result<bool, OpError> {
        self.0.cancel_timer(id)
    }
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        self.0.shutdown(timeout)
    }
    fn close(&self) -> u64 {
        self.0.close()
    }
    fn stats(&self) -> LoopStats {
        self.0.stats()
    }
}

#[test]
fn a_timer_firing_early_fails_the_sample() {
    let e = run_sample::<EarlyTimers>(
        "timer-lateness",
        &smoke("timer-lateness"),
        &LoopConfig::default(),
    )
    .expect_err("early timers must fail the sample");
    assert!(e.0.contains("before its deadline"), "{e}");
}

#[test]
fn every_declared_requirement_is_a_gap_for_submit_only_peers() {
    for w in WORKLOADS {
        let needs_more = !w.requires.is_empty();
        assert_eq!(supported::<StdMpsc>(w), !needs_more, "{}", w.id);
    }
    let ids: Vec<_> = WORKLOADS.iter().filter(|w| !w.requires.is_empty()).map(|w| w.id).collect();
    assert_eq!(
        ids,
        [
            "microtask-roundtrip",
            "readiness-roundtrip",
            "timer-lateness",
            "echo",
            "echo-open",
            "http"
        ]
    );
}
