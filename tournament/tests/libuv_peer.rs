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

/// Without libuv (forced here by naming a library that does not exist in
/// `libuv_sys::LIBRARY_ENV`, so the test means the same on a machine that has libuv) a run is
/// not failed by it: the gate skips `libuv`, and every `libuv` cell, submit (`ping-pong`) and
/// socket (`echo`, native server) alike, is a declared gap whose reason says how to install it,
/// while the other contender is measured as usual.
#[test]
fn missing_libuv_makes_its_cells_declared_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tournament"))
        .env(libuv_sys::LIBRARY_ENV, "libuv-absent-for-this-test.so.1")
        .args(["run", "--smoke", "--contenders", "main,libuv", "--workloads", "ping-pong,echo"])
        .args(["--samples", "1", "--out", out.to_str().unwrap()])
        .output()
        .expect("runs the binary");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("gate libuv: skipped: unavailable: libuv is not installed"),
        "{stderr}"
    );
    let raw = std::fs::read_to_string(out.join("raw.jsonl")).unwrap();
    let records: Vec<serde_json::Value> =
        raw.lines().map(|l| serde_json::from_str(l).expect("a JSON record")).collect();
    let libuv: Vec<_> = records.iter().filter(|r| r["contender"] == "libuv").collect();
    let workloads: std::collections::BTreeSet<_> =
        libuv.iter().map(|r| r["workload"].as_str().unwrap()).collect();
    assert_eq!(workloads.into_iter().collect::<Vec<_>>(), ["echo", "ping-pong"], "{raw}");
    for r in &libuv {
        assert_eq!(r["status"], "unsupported", "a declared gap, not a failure: {r}");
        let why = r["reason"].as_str().unwrap();
        assert!(why.starts_with("unavailable: libuv is not installed"), "{why}");
        assert!(why.contains("make deps") && why.contains("apt-get install libuv1"), "{why}");
    }
    let main_ok = records.iter().filter(|r| r["contender"] == "main" && r["status"] == "ok");
    assert!(main_ok.count() >= 2, "main is measured on both workloads: {raw}");
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(!summary.contains(",failed,"), "{summary}");
}
