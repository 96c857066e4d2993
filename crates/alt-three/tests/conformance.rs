//! The whole conformance suite against alt-three (microtask checks are skipped: declared gap),
//! with the default configuration and with a batch budget of 1.
#![cfg(not(loom))]

loop_conformance::conformance_tests!(alt_three, loop_alt_three::AltThreeLoop);
loop_conformance::conformance_tests!(
    alt_three_budget_1,
    loop_alt_three::AltThreeLoop,
    loop_api::LoopConfig { batch_budget: 1, ..loop_api::LoopConfig::default() }
);
