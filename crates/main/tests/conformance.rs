//! The whole conformance suite against `MainLoop`, with the default configuration and with the
//! configuration of each registered ablation (checks for declared gaps would be skipped; `main`
//! declares none).

loop_conformance::conformance_tests!(main_default, loop_main::MainLoop);

loop_conformance::conformance_tests!(
    main_no_spin,
    loop_main::MainLoop,
    loop_api::LoopConfig {
        spin_before_sleep: std::time::Duration::ZERO,
        ..loop_api::LoopConfig::default()
    }
);

loop_conformance::conformance_tests!(
    main_always_epoll,
    loop_main::MainLoop,
    loop_api::LoopConfig { always_poll: true, ..loop_api::LoopConfig::default() }
);

loop_conformance::conformance_tests!(
    main_boxed,
    loop_main::MainLoop,
    loop_api::LoopConfig { inline_tasks: false, ..loop_api::LoopConfig::default() }
);

loop_conformance::conformance_tests!(
    main_budget_1,
    loop_main::MainLoop,
    loop_api::LoopConfig { batch_budget: 1, ..loop_api::LoopConfig::default() }
);
