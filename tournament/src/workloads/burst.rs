//! `burst`: rounds of B submits, each round drained before the next starts.

use loop_api::{EventLoop, LoopConfig};

use super::{Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, sample_with_loop};
use crate::harness::{SAMPLE_TIMEOUT, SampleError, TimedScope, submit_or_fail};

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "burst",
    description: "rounds of B submits from one producer; each round fully drained before the next",
    timed_scope: "first submit of the first round → last task of the last round observed complete",
    unit: "ns/task",
    requires: &[],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    [1_000u64, 10_000]
        .into_iter()
        .map(|b| {
            // Whole rounds only, so every round is exactly B tasks.
            let total = mode.pick(b.max(2_000), 200_000, 800_000);
            let rounds = (total / b).max(1);
            Param::new(format!("b={b}"), rounds * b).with_batch(b)
        })
        .collect()
}

/// Runs one sample.
///
/// # Errors
/// A rejected submit, a lost or extra task, or a timeout.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let (n, b) = (param.tasks, param.batch.max(1));
    if n % b != 0 {
        return Err(SampleError(format!("burst: tasks {n} is not a multiple of B={b}")));
    }
    sample_with_loop::<L>(config, n, |lp, c| {
        let scope = TimedScope::start();
        let mut target = 0;
        while target < n {
            target += b;
            c.expect(target);
            for _ in 0..b {
                submit_or_fail(&**lp, move || c.task_done())?;
            }
            c.wait_for(target, SAMPLE_TIMEOUT)?;
        }
        Ok(TimedBody::new(scope.stop()))
    })
}
