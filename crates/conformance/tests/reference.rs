//! The full conformance suite on the correct reference loop (every check must pass), plus the
//! quick gate on several configurations and on a submit-only declaration (capability checks
//! must be skipped, not failed).

mod support;

use loop_api::LoopConfig;
use loop_conformance::{GATE_CHECKS, all_checks, conformance_tests, quick_gate};
use support::{Correct, RefLoop, SubmitOnly};

conformance_tests!(reference, RefLoop<Correct>);

mod submit_only {
    use super::*;
    // The single-argument form: tests directly in this module.
    conformance_tests!(RefLoop<SubmitOnly>);
}

#[test]
fn quick_gate_passes_on_the_reference_with_every_capability() {
    let reports = quick_gate::<RefLoop<Correct>>("reference", &LoopConfig::default())
        .unwrap_or_else(|v| panic!("{v}"));
    let names: Vec<_> = reports.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, GATE_CHECKS);
    for (name, r) in &reports {
        assert!(!r.is_skipped(), "{name} skipped: {r}");
        assert_eq!(r.check, *name);
        assert_eq!(r.contender, "reference");
        assert!(!r.summary.is_empty(), "{name} has no summary");
    }
}

#[test]
fn quick_gate_passes_with_a_batch_budget_of_one() {
    let config = LoopConfig {
        batch_budget: 1,
        spin_before_sleep: std::time::Duration::ZERO,
        ..LoopConfig::default()
    };
    quick_gate::<RefLoop<Correct>>("reference/budget-1", &config).unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn capability_gaps_are_skipped_with_a_reason() {
    let reports = quick_gate::<RefLoop<SubmitOnly>>("submit-only", &LoopConfig::default())
        .unwrap_or_else(|v| panic!("{v}"));
    let mut skipped: Vec<_> =
        reports.iter().filter(|(_, r)| r.is_skipped()).map(|(n, _)| *n).collect();
    skipped.sort_unstable();
    assert_eq!(
        skipped,
        [
            "internal_priority",
            "microtask_foreign_wake",
            "microtask_order",
            "no_double_dispatch",
            "readiness",
            "stale_events",
            "timer_before_run",
            "timer_cancel",
            "timer_ordering",
            "unregister_foreign_running",
        ]
    );
    for (_, r) in reports.iter().filter(|(_, r)| r.is_skipped()) {
        let reason = r.skipped.as_deref().unwrap();
        assert!(reason.contains("unsupported"), "{reason}");
        assert!(r.to_string().contains("SKIPPED"), "{r}");
    }
}

#[test]
fn every_check_is_listed_once_with_a_documented_name() {
    let all = all_checks::<RefLoop<Correct>>();
    assert_eq!(all.len(), 38);
    for g in GATE_CHECKS {
        assert!(all.iter().any(|(n, _)| n == g), "{g}");
    }
}
