//! The correctness gate: a quick subset of the conformance suite run on each contender before it
//! is timed. A contender that fails is reported `disqualified` with the violation, never ranked
//! (`docs/MEASUREMENT.md` rule 1).

use loop_api::{EventLoop, LoopConfig};

/// Runs `loop_conformance::quick_gate` for `L`; `Ok` summarises the checks that ran, `Err` is the
/// first violation, as text.
pub fn run_gate<L: EventLoop>(id: &str, config: &LoopConfig) -> Result<String, String> {
    match loop_conformance::quick_gate::<L>(id, config) {
        Ok(reports) => Ok(format!("{} checks passed", reports.len())),
        Err(v) => Err(v.to_string()),
    }
}
