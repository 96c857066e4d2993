//! The conformance suite against the crossbeam-channel, calloop and async-executor peers (checks
//! for their declared gaps are skipped).

loop_conformance::conformance_tests!(
    crossbeam_worker,
    tournament::contenders::crossbeam_worker::CrossbeamWorker
);
loop_conformance::conformance_tests!(calloop, tournament::contenders::calloop_peer::CalloopPeer);
loop_conformance::conformance_tests!(
    async_executor,
    tournament::contenders::async_executor_peer::AsyncExecutorPeer
);
