//! The whole conformance suite against alt-one, with the default configuration and with a batch
//! budget of 1 (every external task is its own tick, which stresses the priority and poll paths).
#![cfg(not(loom))]

loop_conformance::conformance_tests!(alt_one, loop_alt_one::AltOneLoop);
loop_conformance::conformance_tests!(
    alt_one_budget_1,
    loop_alt_one::AltOneLoop,
    loop_api::LoopConfig { batch_budget: 1, ..loop_api::LoopConfig::default() }
);
