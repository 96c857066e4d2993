//! Every workload runs exactly the requested number of tasks, and a failing submit fails the
//! sample instead of being skipped.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use loop_api::{Capabilities, EventLoop, LoopConfig, LoopStats, Rejected, RunError, ShutdownError};
use loop_baseline::BaselineLoop;
use tournament::workloads::{Mode, WORKLOADS, run_sample};

#[test]
fn every_workload_runs_exactly_its_tasks_on_baseline() {
    for w in WORKLOADS {
        if w.requires.iter().any(|cap| !BaselineLoop::CAPABILITIES.supports(*cap)) {
            continue; // a declared gap of baseline: covered against other loops elsewhere
        }
        for p in (w.params)(Mode::Smoke) {
            let out = run_sample::<BaselineLoop>(w.id, &p, &LoopConfig::default())
                .unwrap_or_else(|e| panic!("{} {}: {e}", w.id, p.id));
            assert_eq!(out.tasks, p.tasks, "{} {}", w.id, p.id);
            assert!(out.measured.wall_ns > 0, "{} {}: empty timed scope", w.id, p.id);
            // Baseline counts its wake syscalls, so the sample carries them.
            assert!(out.wake_syscalls.is_some(), "{} {}", w.id, p.id);
            if w.id == "ping-pong-latency" {
                let h = out.latency.expect("latency workload records a histogram");
                assert_eq!(h.len(), p.tasks, "one latency per round trip");
            } else if matches!(w.id, "ping-pong" | "burst" | "multi-producer") {
                assert!(out.latency.is_none());
            }
            // Per-op units carry their op count; per-task units (and the memory workload,
            // whose unit is bytes) do not.
            let per_op = w.unit.starts_with("ns/") && !w.unit.starts_with("ns/task");
            assert_eq!(out.ops.is_some(), per_op, "{} {}", w.id, w.unit);
        }
    }
}

#[test]
fn smoke_params_are_exact_multiples_and_ids_are_unique() {
    for mode in [Mode::Smoke, Mode::Quick, Mode::Full] {
        for w in WORKLOADS {
            let params = (w.params)(mode);
            // `http` runs for a fixed duration per sample, so quick runs leave it out.
            let optional = w.id == "http" && mode == Mode::Quick;
            assert!(!params.is_empty() || optional, "{}", w.id);
            for p in &params {
                assert_eq!(p.tasks % p.batch.max(1), 0, "{} {}: partial round", w.id, p.id);
            }
            let mut ids: Vec<_> = params.iter().map(|p| p.id.clone()).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), params.len(), "{}: duplicate param ids", w.id);
        }
    }
}

#[test]
fn unknown_workload_is_an_error() {
    let p = (WORKLOADS[0].params)(Mode::Smoke).remove(0);
    let e = run_sample::<BaselineLoop>("no-such-workload", &p, &LoopConfig::default()).unwrap_err();
    assert!(e.0.contains("unknown workload"), "{e}");
}

/// Baseline that rejects every submission after the first `LIMIT` (warm-up included).
struct RejectsAfter(BaselineLoop, AtomicU64);

/// Warm-up uses 100 submits in smoke runs, so the timed part hits the limit after 10 more.
const LIMIT: u64 = 110;

impl EventLoop for RejectsAfter {
    const CAPABILITIES: Capabilities = BaselineLoop::CAPABILITIES;
    fn new(config: &LoopConfig) -> io::Result<Self> {
        Ok(RejectsAfter(BaselineLoop::new(config)?, AtomicU64::new(0)))
    }
    fn run(&self) -> Result<(), RunError> {
        self.0.run()
    }
    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), Rejected<F>> {
        if self.1.fetch_add(1, Ordering::Relaxed) >= LIMIT {
            return Err(Rejected::terminated(f));
        }
        self.0.submit(f)
    }
    fn submit_internal<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), Rejected<F>> {
        self.submit(f)
    }
    fn schedule_timer<F: FnOnce() + Send + 'static>(
        &self,
        delay: Duration,
        f: F,
    ) -> Result<loop_api::TimerId, Rejected<F>> {
        if self.1.fetch_add(1, Ordering::Relaxed) >= LIMIT {
            return Err(Rejected::terminated(f));
        }
        self.0.schedule_timer(delay, f)
    }
    fn cancel_timer(&self, id: loop_api::TimerId) -> Result<bool, loop_api::OpError> {
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
fn a_rejected_submit_fails_the_sample_in_every_workload() {
    for w in WORKLOADS {
        if w.requires.iter().any(|cap| !RejectsAfter::CAPABILITIES.supports(*cap)) {
            continue;
        }
        for p in (w.params)(Mode::Smoke) {
            let e =
                run_sample::<RejectsAfter>(w.id, &p, &LoopConfig::default()).err().unwrap_or_else(
                    || panic!("{} {}: sample succeeded despite rejections", w.id, p.id),
                );
            assert!(e.0.contains("rejected: loop has been terminated"), "{} {}: {e}", w.id, p.id);
        }
    }
}
