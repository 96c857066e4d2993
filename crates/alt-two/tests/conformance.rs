//! The whole conformance suite against alt-two (timer checks are skipped: declared gap), with
//! the default configuration and with a batch budget of 1 (every tick runs one external task).

loop_conformance::conformance_tests!(alt_two, loop_alt_two::AltTwoLoop);

loop_conformance::conformance_tests!(
    alt_two_budget_1,
    loop_alt_two::AltTwoLoop,
    loop_api::LoopConfig { batch_budget: 1, ..loop_api::LoopConfig::default() }
);
