//! [`conformance_tests!`](crate::conformance_tests): one `#[test]` per check for a loop type.

use crate::{CheckContext, CheckFn};

/// Expands into one `#[test]` per conformance check for an [`EventLoop`](loop_api::EventLoop)
/// type, at full scale, plus a test asserting that the expansion covers
/// [`all_checks`](crate::all_checks).
///
/// Three forms:
///
/// ```ignore
/// // A module `mod_name` with the tests, default `LoopConfig`:
/// loop_conformance::conformance_tests!(baseline_default, loop_baseline::BaselineLoop);
/// // A module with the tests, explicit configuration (any expression of type `LoopConfig`,
/// // evaluated inside the module, which glob-imports its parent):
/// loop_conformance::conformance_tests!(
///     baseline_budget_1,
///     loop_baseline::BaselineLoop,
///     loop_api::LoopConfig { batch_budget: 1, ..loop_api::LoopConfig::default() }
/// );
/// // The test functions directly in the current module, default `LoopConfig`:
/// loop_conformance::conformance_tests!(loop_baseline::BaselineLoop);
/// ```
///
/// Each test is named after its check (`exactly_once_burst`, `fifo_per_producer`, ...) and uses
/// the type's path as the contender name. A passing check prints its report (visible with
/// `--nocapture`); a skipped check passes and prints `SKIPPED` with the reason; a violation fails
/// the test with the violation's message.
#[macro_export]
macro_rules! conformance_tests {
    (@list $loop_ty:ty, $config:expr, [$($check:ident),* $(,)?]) => {
        $(
            #[test]
            fn $check() {
                $crate::macros::run_as_test(
                    stringify!($loop_ty),
                    $config,
                    stringify!($check),
                    $crate::by_name::$check::<$loop_ty>,
                );
            }
        )*

        #[test]
        fn conformance_tests_cover_every_check() {
            let expanded: &[&str] = &[$(stringify!($check)),*];
            $crate::macros::assert_covers_all::<$loop_ty>(expanded);
        }
    };
    (@tests $loop_ty:ty, $config:expr) => {
        $crate::conformance_tests!(@list $loop_ty, $config, [
            capabilities_declared,
            run_twice,
            shutdown_before_run,
            close_drops_pending,
            drop_without_shutdown,
            exactly_once_burst,
            exactly_once_multi_producer,
            fifo_per_producer,
            thread_affinity,
            internal_priority,
            internal_chain,
            mixed_external_internal,
            microtask_order,
            microtask_foreign_wake,
            timer_ordering,
            timer_before_run,
            timer_cancel,
            readiness,
            stale_events,
            no_double_dispatch,
            panic_isolation,
            panic_isolation_multiple,
            reentrancy,
            nested_run,
            extreme_config,
            destructor_panics,
            destructor_reentry,
            panic_payload_drop,
            unregister_foreign_running,
            close_concurrent,
            retention,
            stats_accounting,
            no_lost_wakeup,
            shutdown_conservation,
            concurrent_shutdown,
            concurrent_shutdown_with_submits,
            concurrent_shutdown_repeated,
            shutdown_conservation_stress,
        ]);
    };
    ($mod_name:ident, $loop_ty:ty, $config:expr $(,)?) => {
        mod $mod_name {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_tests!(@tests $loop_ty, $config);
        }
    };
    ($mod_name:ident, $loop_ty:ty $(,)?) => {
        $crate::conformance_tests!($mod_name, $loop_ty, $crate::macros::default_config());
    };
    ($loop_ty:ty $(,)?) => {
        $crate::conformance_tests!(@tests $loop_ty, $crate::macros::default_config());
    };
}

/// `LoopConfig::default()`, for the macro (so callers need not depend on `loop-api` by name).
#[doc(hidden)]
pub fn default_config() -> loop_api::LoopConfig {
    loop_api::LoopConfig::default()
}

/// Runs one check as a test: prints the report (or the skip reason), panics with the violation.
/// The context is [`CheckContext::from_env`] (quick scale and longer bounds under memcheck).
#[doc(hidden)]
pub fn run_as_test(contender: &str, config: loop_api::LoopConfig, check: &str, f: CheckFn) {
    let ctx = CheckContext::new(contender, config).from_env();
    match f(&ctx) {
        Ok(report) if report.is_skipped() => {
            println!("{report}");
            eprintln!(
                "conformance check `{check}` SKIPPED for `{contender}`: {}",
                report.skipped.as_deref().unwrap_or_default()
            );
        }
        Ok(report) => println!("{report}"),
        Err(violation) => panic!("{violation}"),
    }
}

/// Asserts that the macro's list of checks is exactly [`all_checks`](crate::all_checks).
#[doc(hidden)]
pub fn assert_covers_all<L: loop_api::EventLoop>(expanded: &[&str]) {
    let mut want: Vec<&str> = crate::all_checks::<L>().into_iter().map(|(n, _)| n).collect();
    let mut got = expanded.to_vec();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "conformance_tests! and all_checks() list different checks");
}
