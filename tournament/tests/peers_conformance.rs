//! The conformance suite against every peer adapter (checks for declared gaps are skipped).

loop_conformance::conformance_tests!(tokio_ct, tournament::contenders::tokio_ct::TokioCt);
loop_conformance::conformance_tests!(tokio_ct_noio, tournament::contenders::tokio_ct::TokioCtNoIo);
loop_conformance::conformance_tests!(std_mpsc, tournament::contenders::std_mpsc::StdMpsc);
