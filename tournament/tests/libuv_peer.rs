//! The `libuv` peer: every conformance check (those of declared gaps are skipped) against the
//! submit adapter, and the echo and http smoke points on its native libuv TCP server with every
//! byte verified. Where libuv is not installed, each test checks that the peer says how to
//! install it, and stops there.

use loop_api::{EventLoop, LoopConfig};
use loop_conformance::macros::run_as_test;
use tournament::contenders::{self, libuv_peer::LibuvPeer, libuv_sys};
use tournament::workloads::net::set_client_program;
use tournament::workloads::{Mode, find, run_native_sample};

/// `true` when libuv loads; otherwise checks the gap's reason and returns `false`.
fn libuv_present() -> bool {
    match libuv_sys::missing_reason() {
        None => true,
        Some(why) => {
            assert!(why.contains("make deps"), "{why}");
            let e = LibuvPeer::new(&LoopConfig::default()).unwrap_err();
            assert!(e.to_string().contains("make deps"), "{e}");
            eprintln!("skipped: {why}");
            false
        }
    }
}

#[test]
fn conformance_suite_passes() {
    if !libuv_present() {
        return;
    }
    for (name, check) in loop_conformance::all_checks::<LibuvPeer>() {
        run_as_test("libuv", LoopConfig::default(), name, check);
    }
}

#[test]
fn native_server_serves_echo_and_http_smoke_points() {
    if !libuv_present() {
        return;
    }
    set_client_program(env!("CARGO_BIN_EXE_tournament"));
    let c = contenders::find("libuv").expect("registered");
    for w in ["echo", "http"] {
        if w == "http" && tournament::workloads::environment_gap(w).is_some() {
            continue; // no wrk here
        }
        let p = (find(w).expect("registered").params)(Mode::Smoke).remove(0);
        let native = c.native_server_for(w).expect("libuv serves sockets natively");
        let out = run_native_sample(w, native, &p).unwrap_or_else(|e| panic!("libuv {w}: {e}"));
        assert!(out.tasks > 0, "libuv {w}");
        if w == "echo" {
            assert_eq!(out.tasks, p.tasks, "every message echoed");
            let failed = out.metrics.iter().find(|m| m.name == "failed_connections");
            assert_eq!(failed.map(|m| m.value), Some(0.0));
        }
    }
}
