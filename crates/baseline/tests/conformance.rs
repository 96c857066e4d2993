//! The whole conformance suite against the baseline loop (checks for declared gaps are skipped).

loop_conformance::conformance_tests!(baseline, loop_baseline::BaselineLoop);
