//! The whole conformance suite on `MyLoop`: one `#[test]` per check (checks needing a capability
//! it does not declare pass as skipped).

loop_conformance::conformance_tests!(my_loop, example_loop::MyLoop);
