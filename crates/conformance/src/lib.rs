//! # loop-conformance: the `loop-api` contract as generic checks
//!
//! Every property of the contract in `loop-api`'s crate docs (and the regression tests for the
//! historical bugs of `docs/HISTORY.md`) is a generic check
//!
//! ```ignore
//! pub fn check_<name><L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation>
//! ```
//!
//! usable three ways:
//!
//! * from a contender's tests: [`conformance_tests!`] expands into one `#[test]` per check —
//!   also in a crate outside this workspace, which needs only `loop-conformance` as a
//!   dev-dependency (`docs/BRING-YOUR-OWN-LOOP.md`; `examples/my-loop/tests/conformance.rs`);
//! * from the tournament: [`all_checks`] lists every check by name, and [`quick_gate`] runs the
//!   small-N subset [`GATE_CHECKS`] as the correctness gate (a few seconds per contender);
//! * one by one: `loop_conformance::checks::fifo::check_fifo_per_producer::<MyLoop>(&ctx)`.
//!
//! ## Outcomes
//!
//! * `Ok(Report)`: the property held; the report says what was exercised and observed (counts,
//!   timings, one summary line per sub-check).
//! * `Ok(Report { skipped: Some(reason), .. })`: the check does not apply because the contender
//!   declares the capability it needs unsupported (`internal_priority`, `microtasks`, `timers`,
//!   `readiness`). A skip is a pass; [`Report::is_skipped`] tells them apart.
//! * `Err(Violation)`: the property failed — the violation names the check, the contender, the
//!   phase, and what was observed or is still missing.
//!
//! ## Guarantees of the harness
//!
//! * **Nothing panics out of a check.** The body runs on its own thread under `catch_unwind`;
//!   a panic (inside the check or escaping `run` on the loop thread) becomes a violation.
//! * **Nothing hangs.** Every wait is bounded by [`CheckContext::wait_bound`] (default 5 s): tasks
//!   are awaited with condition variables or `recv_timeout`, calls that may hang (`shutdown`,
//!   `close`, a second `run`, dropping the loop) run on helper threads awaited with a bound, and
//!   the whole check is bounded by [`CheckContext::check_bound`] (default 120 s). A thread that
//!   does not finish in time is leaked (detached), never joined without a bound.
//! * **No sleeps.** Checks never use `thread::sleep` to synchronise. A loop is made "busy" with a
//!   barrier task blocked on a channel, and "asleep" by waiting (bounded spin/yield) until its
//!   `stats().sleeps` advanced — only for loops declaring `wake_accounting`.
//! * Each check creates its own loops (`L::new(&ctx.config)`), runs `run()` on a dedicated thread
//!   for each, and joins it with a bound: a loop thread that does not exit after
//!   shutdown/close is a violation, and the thread is leaked.
//! * Deliberate panics use the message [`checks::panic::INTENTIONAL_PANIC`]; the default panic
//!   hook prints them (the checks never touch the process-global hook).

#[cfg(not(target_os = "linux"))]
compile_error!(
    "loop-conformance supports Linux only: its readiness checks use pipe2 and dup3, and its \
     loops are measured against eventfd/epoll wake-ups; see docs/ARCHITECTURE.md"
);

pub mod checks;
pub mod macros;
mod outcome;
pub mod soak;
pub mod support;

use loop_api::{EventLoop, LoopConfig};

pub use outcome::{
    CheckContext, DEFAULT_CHECK_BOUND, DEFAULT_WAIT_BOUND, Report, SCALE_ENV, SLOWDOWN_ENV, Scale,
    Violation, ViolationKind,
};

pub use checks::affinity::check_thread_affinity;
pub use checks::capabilities::check_capabilities_declared;
pub use checks::exactly_once::{check_exactly_once_burst, check_exactly_once_multi_producer};
pub use checks::fifo::check_fifo_per_producer;
pub use checks::hostile::{
    check_close_concurrent, check_destructor_panics, check_destructor_reentry,
    check_extreme_config, check_nested_run, check_panic_payload_drop,
    check_unregister_foreign_running,
};
pub use checks::internal::{
    check_internal_chain, check_internal_priority, check_mixed_external_internal,
};
pub use checks::lifecycle::{
    check_close_drops_pending, check_drop_without_shutdown, check_run_twice,
};
pub use checks::microtask::{check_microtask_foreign_wake, check_microtask_order};
pub use checks::panic::{check_panic_isolation, check_panic_isolation_multiple};
pub use checks::readiness::check_readiness;
pub use checks::readiness_load::{check_no_double_dispatch, check_stale_events};
pub use checks::reentrancy::check_reentrancy;
pub use checks::retention::check_retention;
pub use checks::shutdown::{
    check_concurrent_shutdown, check_concurrent_shutdown_repeated,
    check_concurrent_shutdown_with_submits, check_shutdown_before_run, check_shutdown_conservation,
    check_shutdown_conservation_stress,
};
pub use checks::stats::check_stats_accounting;
pub use checks::timers::{check_timer_before_run, check_timer_cancel, check_timer_ordering};
pub use checks::wakeup::check_no_lost_wakeup;

/// The signature of every check.
pub type CheckFn = fn(&CheckContext) -> Result<Report, Violation>;

/// Every check, by short name (the `check_` prefix dropped), for [`conformance_tests!`].
#[doc(hidden)]
pub mod by_name {
    pub use crate::check_capabilities_declared as capabilities_declared;
    pub use crate::check_close_concurrent as close_concurrent;
    pub use crate::check_close_drops_pending as close_drops_pending;
    pub use crate::check_concurrent_shutdown as concurrent_shutdown;
    pub use crate::check_concurrent_shutdown_repeated as concurrent_shutdown_repeated;
    pub use crate::check_concurrent_shutdown_with_submits as concurrent_shutdown_with_submits;
    pub use crate::check_destructor_panics as destructor_panics;
    pub use crate::check_destructor_reentry as destructor_reentry;
    pub use crate::check_drop_without_shutdown as drop_without_shutdown;
    pub use crate::check_exactly_once_burst as exactly_once_burst;
    pub use crate::check_exactly_once_multi_producer as exactly_once_multi_producer;
    pub use crate::check_extreme_config as extreme_config;
    pub use crate::check_fifo_per_producer as fifo_per_producer;
    pub use crate::check_internal_chain as internal_chain;
    pub use crate::check_internal_priority as internal_priority;
    pub use crate::check_microtask_foreign_wake as microtask_foreign_wake;
    pub use crate::check_microtask_order as microtask_order;
    pub use crate::check_mixed_external_internal as mixed_external_internal;
    pub use crate::check_nested_run as nested_run;
    pub use crate::check_no_double_dispatch as no_double_dispatch;
    pub use crate::check_no_lost_wakeup as no_lost_wakeup;
    pub use crate::check_panic_isolation as panic_isolation;
    pub use crate::check_panic_isolation_multiple as panic_isolation_multiple;
    pub use crate::check_panic_payload_drop as panic_payload_drop;
    pub use crate::check_readiness as readiness;
    pub use crate::check_reentrancy as reentrancy;
    pub use crate::check_retention as retention;
    pub use crate::check_run_twice as run_twice;
    pub use crate::check_shutdown_before_run as shutdown_before_run;
    pub use crate::check_shutdown_conservation as shutdown_conservation;
    pub use crate::check_shutdown_conservation_stress as shutdown_conservation_stress;
    pub use crate::check_stale_events as stale_events;
    pub use crate::check_stats_accounting as stats_accounting;
    pub use crate::check_thread_affinity as thread_affinity;
    pub use crate::check_timer_before_run as timer_before_run;
    pub use crate::check_timer_cancel as timer_cancel;
    pub use crate::check_timer_ordering as timer_ordering;
    pub use crate::check_unregister_foreign_running as unregister_foreign_running;
}

/// Every check for `L`, by stable name, in a sensible running order (cheap lifecycle checks
/// first, stress last). The names are the check functions' names without `check_`, and the
/// `check` field of their reports.
pub fn all_checks<L: EventLoop>() -> Vec<(&'static str, CheckFn)> {
    vec![
        ("capabilities_declared", check_capabilities_declared::<L> as CheckFn),
        ("run_twice", check_run_twice::<L>),
        ("shutdown_before_run", check_shutdown_before_run::<L>),
        ("close_drops_pending", check_close_drops_pending::<L>),
        ("drop_without_shutdown", check_drop_without_shutdown::<L>),
        ("exactly_once_burst", check_exactly_once_burst::<L>),
        ("exactly_once_multi_producer", check_exactly_once_multi_producer::<L>),
        ("fifo_per_producer", check_fifo_per_producer::<L>),
        ("thread_affinity", check_thread_affinity::<L>),
        ("internal_priority", check_internal_priority::<L>),
        ("internal_chain", check_internal_chain::<L>),
        ("mixed_external_internal", check_mixed_external_internal::<L>),
        ("microtask_order", check_microtask_order::<L>),
        ("microtask_foreign_wake", check_microtask_foreign_wake::<L>),
        ("timer_ordering", check_timer_ordering::<L>),
        ("timer_before_run", check_timer_before_run::<L>),
        ("timer_cancel", check_timer_cancel::<L>),
        ("readiness", check_readiness::<L>),
        ("stale_events", check_stale_events::<L>),
        ("no_double_dispatch", check_no_double_dispatch::<L>),
        ("panic_isolation", check_panic_isolation::<L>),
        ("panic_isolation_multiple", check_panic_isolation_multiple::<L>),
        ("reentrancy", check_reentrancy::<L>),
        ("nested_run", check_nested_run::<L>),
        ("extreme_config", check_extreme_config::<L>),
        ("destructor_panics", check_destructor_panics::<L>),
        ("destructor_reentry", check_destructor_reentry::<L>),
        ("panic_payload_drop", check_panic_payload_drop::<L>),
        ("unregister_foreign_running", check_unregister_foreign_running::<L>),
        ("close_concurrent", check_close_concurrent::<L>),
        ("retention", check_retention::<L>),
        ("stats_accounting", check_stats_accounting::<L>),
        ("no_lost_wakeup", check_no_lost_wakeup::<L>),
        ("shutdown_conservation", check_shutdown_conservation::<L>),
        ("concurrent_shutdown", check_concurrent_shutdown::<L>),
        ("concurrent_shutdown_with_submits", check_concurrent_shutdown_with_submits::<L>),
        ("concurrent_shutdown_repeated", check_concurrent_shutdown_repeated::<L>),
        ("shutdown_conservation_stress", check_shutdown_conservation_stress::<L>),
    ]
}

/// The checks [`quick_gate`] runs: every check except the two that only repeat another at a
/// larger size (`shutdown_conservation_stress`, `concurrent_shutdown_repeated`), each at
/// [`Scale::Quick`] (bursts of 1,000, 4 × 1,000 producers, 300 + 4 × 100 round trips, ...).
pub const GATE_CHECKS: &[&str] = &[
    "capabilities_declared",
    "run_twice",
    "shutdown_before_run",
    "close_drops_pending",
    "drop_without_shutdown",
    "exactly_once_burst",
    "exactly_once_multi_producer",
    "fifo_per_producer",
    "thread_affinity",
    "internal_priority",
    "internal_chain",
    "mixed_external_internal",
    "microtask_order",
    "microtask_foreign_wake",
    "timer_ordering",
    "timer_before_run",
    "timer_cancel",
    "readiness",
    "stale_events",
    "no_double_dispatch",
    "panic_isolation",
    "panic_isolation_multiple",
    "reentrancy",
    "nested_run",
    "extreme_config",
    "destructor_panics",
    "destructor_reentry",
    "panic_payload_drop",
    "unregister_foreign_running",
    "close_concurrent",
    "retention",
    "stats_accounting",
    "no_lost_wakeup",
    "shutdown_conservation",
    "concurrent_shutdown",
    "concurrent_shutdown_with_submits",
];

/// The [`GATE_CHECKS`] for `L`, in [`all_checks`] order.
pub fn gate_checks<L: EventLoop>() -> Vec<(&'static str, CheckFn)> {
    all_checks::<L>().into_iter().filter(|(name, _)| GATE_CHECKS.contains(name)).collect()
}

/// The tournament's correctness gate: runs [`GATE_CHECKS`] for `L` at [`Scale::Quick`] with the
/// default bounds, stopping at the first violation. Skipped checks (declared capability gaps)
/// are included in the result as skipped reports. Takes a few seconds for a correct loop.
///
/// # Errors
/// The first [`Violation`].
pub fn quick_gate<L: EventLoop>(
    name: &str,
    config: &LoopConfig,
) -> Result<Vec<(&'static str, Report)>, Violation> {
    let ctx = CheckContext::new(name, config.clone()).quick();
    gate_checks::<L>().into_iter().map(|(check, f)| f(&ctx).map(|r| (check, r))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Never;
    impl EventLoop for Never {
        const CAPABILITIES: loop_api::Capabilities = loop_api::Capabilities::SUBMIT_ONLY;
        fn new(_: &LoopConfig) -> std::io::Result<Self> {
            Err(std::io::Error::other("cannot be built"))
        }
        fn run(&self) -> Result<(), loop_api::RunError> {
            unreachable!()
        }
        fn submit<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), loop_api::Rejected<F>> {
            Err(loop_api::Rejected::terminated(f))
        }
        fn submit_internal<F: FnOnce() + Send + 'static>(
            &self,
            f: F,
        ) -> Result<(), loop_api::Rejected<F>> {
            Err(loop_api::Rejected::terminated(f))
        }
        fn shutdown(&self, _: std::time::Duration) -> Result<(), loop_api::ShutdownError> {
            Ok(())
        }
        fn close(&self) -> u64 {
            0
        }
        fn stats(&self) -> loop_api::LoopStats {
            loop_api::LoopStats::default()
        }
    }

    #[test]
    fn names_are_unique_and_the_gate_is_a_subset() {
        let all: Vec<_> = all_checks::<Never>().into_iter().map(|(n, _)| n).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        for g in GATE_CHECKS {
            assert!(all.contains(g), "{g}");
        }
        assert_eq!(gate_checks::<Never>().len(), GATE_CHECKS.len());
    }

    #[test]
    fn a_loop_that_cannot_be_built_is_a_setup_violation_or_a_skip() {
        let ctx = CheckContext::new("never", LoopConfig::default()).quick();
        for (name, f) in all_checks::<Never>() {
            match f(&ctx) {
                Ok(r) => assert!(r.is_skipped(), "{name} passed on a loop that cannot be built"),
                Err(v) => {
                    assert_eq!(v.kind, ViolationKind::Setup, "{name}: {v}");
                    assert_eq!(v.check, name);
                    assert_eq!(v.contender, "never");
                    assert!(v.to_string().contains("cannot be built"), "{v}");
                }
            }
        }
        let err = quick_gate::<Never>("never", &LoopConfig::default()).unwrap_err();
        assert_eq!(err.check, GATE_CHECKS[0]);
    }
}
