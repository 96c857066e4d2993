//! `alloc-pressure`: the honest Rust analogue of the Go GC-pressure benchmark (`docs/HISTORY.md`,
//! "The historical benchmarks"). Rust has no collector to force, so the workload reports what a loop makes the
//! allocator do, and how it copes when the allocator is busy:
//!
//! * `plain`: one producer submits N tasks back to back, drain timed (ping-pong).
//! * `churn`: the same, plus a fixed allocator-churn step on the producer every 1,000 submits:
//!   allocate [`CHURN_BOXES`] boxes of [`CHURN_BYTES`] bytes, then free them.
//!
//! Both report **allocations per task and bytes per task** (metrics `allocs_per_task`,
//! `bytes_per_task`), counted process-wide by the counting global allocator
//! ([`crate::alloc_count`]) in a **separate, untimed pass** of the same work on the same loop
//! after the timed pass, so counting never touches the timed numbers. The churn step's own
//! allocations are excluded from the per-task figures (they are the same for every contender):
//! they count the loop's cost only. Where the counting allocator is not installed (library tests,
//! the criterion bench) the metrics are omitted, never reported as zero.

use loop_api::{EventLoop, LoopConfig};

use super::{Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, sample_with_loop};
use crate::alloc_count;
use crate::harness::{Completion, SAMPLE_TIMEOUT, SampleError, TimedScope, submit_or_fail};

/// Submits between two churn steps.
pub const CHURN_EVERY: u64 = 1_000;
/// Boxes allocated (and freed) per churn step.
pub const CHURN_BOXES: usize = 64;
/// Size of each churn box, bytes.
pub const CHURN_BYTES: usize = 256;

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "alloc-pressure",
    description: "one producer submits N tasks (plain), or N tasks with a churn step every 1,000 \
                  submits (allocate and free 64 boxes of 256 B); reports allocations and bytes \
                  per task from a separate untimed counting pass",
    timed_scope: "first submit → the last task observed complete (churn steps included); \
                  allocation counts come from an untimed second pass",
    unit: "ns/task",
    requires: &[],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(2_000, 20_000, 80_000);
    vec![
        Param::new(format!("plain-n={n}"), n).with_variant("plain"),
        Param::new(format!("churn-n={n}"), n).with_batch(CHURN_EVERY).with_variant("churn"),
    ]
}

/// One churn step: allocate and free a fixed set of boxes.
#[inline(never)]
fn churn_step() {
    let boxes: Vec<Box<[u8; CHURN_BYTES]>> =
        (0..CHURN_BOXES).map(|_| Box::new([std::hint::black_box(1_u8); CHURN_BYTES])).collect();
    drop(std::hint::black_box(boxes));
}

/// Submits `n` tasks reporting to `c`, with a churn step every [`CHURN_EVERY`] if `churn`.
fn submit_all<L: EventLoop>(
    lp: &L,
    c: &'static Completion,
    n: u64,
    churn: bool,
) -> Result<(), SampleError> {
    for i in 0..n {
        if churn && i % CHURN_EVERY == 0 {
            churn_step();
        }
        submit_or_fail(lp, move || c.task_done())?;
    }
    Ok(())
}

/// Runs one sample.
///
/// # Errors
/// A rejected submit, a lost or extra task, or a timeout (in either pass).
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    let churn = param.variant == "churn";
    sample_with_loop::<L>(config, n, |lp, c| {
        c.expect(n);
        let scope = TimedScope::start();
        submit_all(&**lp, c, n, churn)?;
        c.wait_for(n, SAMPLE_TIMEOUT)?;
        let body = TimedBody::new(scope.stop());
        if !alloc_count::is_installed() {
            return Ok(body);
        }
        // Untimed counting pass: the same work (without the churn, whose own allocations are
        // fixed) on a fresh completion, so the sample's exact count stays N.
        let counted = Completion::leak();
        counted.expect(n);
        let (r, count) = alloc_count::count(|| {
            submit_all(&**lp, counted, n, false)?;
            counted.wait_for(n, SAMPLE_TIMEOUT)
        });
        r.map_err(|e| SampleError(format!("counting pass: {e}")))?;
        counted.check_exact(n).map_err(|e| SampleError(format!("counting pass: {e}")))?;
        let per = |x: u64| x as f64 / n.max(1) as f64;
        Ok(body
            .with_allocs(count.allocs, count.bytes)
            .with_metric("allocs_per_task", "allocations/task", per(count.allocs))
            .with_metric("bytes_per_task", "bytes/task", per(count.bytes)))
    })
}
