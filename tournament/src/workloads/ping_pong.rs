//! `ping-pong`: one producer submits N tasks back to back; timed until every task ran.

use loop_api::{EventLoop, LoopConfig};

use super::{Mode, Param, SampleOutcome, TimedBody, WorkloadSpec, sample_with_loop};
use crate::harness::{SAMPLE_TIMEOUT, SampleError, TimedScope, submit_or_fail};

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "ping-pong",
    description: "one producer thread submits N tiny tasks back to back to one loop",
    timed_scope: "first submit → the last task observed complete",
    unit: "ns/task",
    requires: &[],
    params,
};

fn params(mode: Mode) -> Vec<Param> {
    let n = mode.pick(1_000, 200_000, 800_000);
    vec![Param::new(format!("n={n}"), n)]
}

/// Runs one sample.
///
/// # Errors
/// A rejected submit, a lost or extra task, or a timeout.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let n = param.tasks;
    sample_with_loop::<L>(config, n, |lp, c| {
        c.expect(n);
        let scope = TimedScope::start();
        for _ in 0..n {
            submit_or_fail(&**lp, move || c.task_done())?;
        }
        c.wait_for(n, SAMPLE_TIMEOUT)?;
        Ok(TimedBody::new(scope.stop()))
    })
}
