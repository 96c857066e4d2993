//! The socket workloads (`echo`, `echo-open`, `http`): every readiness-capable loop and both
//! native servers serve the smoke point with every byte verified by the client process; the
//! client detects stuck and corrupted echoes; non-readiness contenders without a native server
//! cannot run it; the open-loop client counts latency from intended send times.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use loop_api::{EventLoop, LoopConfig};
use tournament::contenders;
use tournament::workloads::net::client::{ClientArgs, EchoReport, MESSAGE_LEN, run_client};
use tournament::workloads::net::{self, set_client_program};
use tournament::workloads::{Mode, Param, SampleOutcome, find, run_native_sample, run_sample};

fn smoke(id: &str) -> Param {
    (find(id).expect("registered").params)(Mode::Smoke).remove(0)
}

fn metric(out: &SampleOutcome, name: &str) -> f64 {
    out.metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no {name}")).value
}

/// Checks the shape of an ok echo sample at the smoke point.
fn assert_echo_sample(who: &str, out: &SampleOutcome, p: &Param) {
    assert_eq!(out.tasks, p.tasks, "{who}: every message echoed");
    assert_eq!(out.ops, Some(p.tasks), "{who}: per-message unit");
    let h = out.latency.as_ref().expect("round-trip histogram");
    assert_eq!(h.len(), p.tasks, "{who}: one round trip per message");
    // A clamped histogram would hold only its lowest bucket; a round trip through two
    // processes is recorded at its real size.
    assert!(h.max() > 2, "{who}: latencies clamped ({} max)", h.max());
    assert_eq!(metric(out, "failed_connections"), 0.0, "{who}");
    assert!(metric(out, "messages_per_s") > 0.0, "{who}");
    assert!(out.measured.wall_ns > 0, "{who}");
}

fn echo_on<L: EventLoop>(who: &str) {
    set_client_program(env!("CARGO_BIN_EXE_tournament"));
    let p = smoke("echo");
    let out = run_sample::<L>("echo", &p, &LoopConfig::default())
        .unwrap_or_else(|e| panic!("{who}: {e}"));
    assert_echo_sample(who, &out, &p);
    // Every message reached the server through a readiness callback.
    assert!(metric(&out, "io_callbacks_per_message") > 0.0, "{who}");
    assert_eq!(out.wake_syscalls.is_some(), L::CAPABILITIES.wake_accounting, "{who}");
}

#[test]
fn echo_runs_on_main() {
    echo_on::<loop_main::MainLoop>("main");
}

#[test]
fn echo_runs_on_alt_one() {
    echo_on::<loop_alt_one::AltOneLoop>("alt-one");
}

#[test]
fn echo_runs_on_alt_two() {
    echo_on::<loop_alt_two::AltTwoLoop>("alt-two");
}

#[test]
fn echo_runs_on_alt_three() {
    echo_on::<loop_alt_three::AltThreeLoop>("alt-three");
}

#[test]
fn echo_runs_on_the_native_servers_of_tokio_calloop_and_the_floor() {
    set_client_program(env!("CARGO_BIN_EXE_tournament"));
    let p = smoke("echo");
    for id in ["tokio-ct", "calloop", "floor"] {
        let c = contenders::find(id).expect("registered");
        let native = c.native_server_for("echo").expect("has a native server");
        let out = run_native_sample("echo", native, &p).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_echo_sample(id, &out, &p);
        // The contender's own sample entry point picks the native server too.
        let out = c.sample("echo", &p, &(c.config)()).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_echo_sample(id, &out, &p);
    }
}

#[test]
fn native_servers_are_used_only_where_readiness_is_missing() {
    let native = |id: &str, w: &str| contenders::find(id).unwrap().native_server_for(w).is_some();
    assert!(native("tokio-ct", "echo") && native("tokio-ct", "http"));
    assert!(!native("tokio-ct", "ping-pong"), "only socket workloads");
    assert!(!native("main", "echo"), "readiness-capable loops serve through the trait");
    assert!(!native("baseline", "echo") && !native("std-mpsc", "echo"), "declared gaps");
    // The floor serves echo only (a reference row); echo-open and http are not applicable.
    let floor = contenders::find("floor").unwrap();
    assert!(
        floor.applies_to("echo") && !floor.applies_to("echo-open") && !floor.applies_to("http")
    );
}

#[test]
fn echo_on_a_loop_without_readiness_fails_saying_so() {
    let e = run_sample::<loop_baseline::BaselineLoop>("echo", &smoke("echo"), &Default::default())
        .unwrap_err();
    assert!(e.0.contains("not supported: readiness"), "{e}");
}

/// A loopback listener served by `serve` on a thread (one call per accepted connection, on its
/// own thread); returns its address.
fn fake_server(serve: fn(std::net::TcpStream)) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            thread::spawn(move || serve(s));
        }
    });
    addr
}

fn client(addr: std::net::SocketAddr, connections: u32, timeout_s: u64) -> EchoReport {
    let args = ClientArgs { addr, connections, messages: 3, batch: 2, timeout_s, rate: None };
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // A closed receiver means the bounded wait below already failed the test.
        let _ = tx.send(run_client(args, |_| Ok(())).unwrap());
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("the client's own bound ends it")
}

#[test]
fn client_fails_stuck_connections_with_where_they_were() {
    // Accepts and reads, never answers.
    let addr = fake_server(|mut s| {
        let mut b = [0_u8; 64];
        while s.read(&mut b).is_ok_and(|n| n > 0) {}
    });
    let r = client(addr, 4, 1);
    assert_eq!((r.ok_connections, r.failed_connections), (0, 4), "{r:?}");
    assert_eq!(r.failure_kinds.get("stuck"), Some(&4), "{r:?}");
    assert!(r.failures[0].contains("stuck at message 1 of 3: 64 of 64 bytes sent, 0 echoed"));
}

#[test]
fn client_detects_a_corrupted_echo() {
    // Echoes with the last byte of every message flipped.
    let addr = fake_server(|mut s| {
        let mut b = [0_u8; MESSAGE_LEN];
        while s.read_exact(&mut b).is_ok() {
            b[MESSAGE_LEN - 1] ^= 0xff;
            if s.write_all(&b).is_err() {
                return;
            }
        }
    });
    let r = client(addr, 3, 10);
    assert_eq!(r.failed_connections, 3, "{r:?}");
    assert_eq!(r.failure_kinds.get("mismatch"), Some(&3), "{r:?}");
    assert!(r.failures[0].contains("byte 63 of message 1"), "{r:?}");
}

#[test]
fn client_passes_a_correct_echo_server() {
    let addr = fake_server(|mut s| {
        let mut b = [0_u8; MESSAGE_LEN];
        while s.read_exact(&mut b).is_ok() && s.write_all(&b).is_ok() {}
    });
    let r = client(addr, 5, 10);
    assert_eq!((r.ok_connections, r.failed_connections, r.messages), (5, 0, 15), "{r:?}");
    assert_eq!(r.latency().unwrap().len(), 15);
}

#[test]
fn echo_client_rejects_bad_flags_with_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_tournament"))
        .args(["echo-client", "--addr", "not-an-address", "--connections", "1", "--messages", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--addr"));
    let out = Command::new(env!("CARGO_BIN_EXE_tournament"))
        .args(["echo-client", "--addr", "127.0.0.1:1", "--connections", "0", "--messages", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn http_runs_under_wrk_or_is_a_declared_gap() {
    let gap = tournament::workloads::environment_gap("http");
    if net::wrk::find().is_none() {
        let why = gap.expect("without wrk, http is a declared gap");
        assert!(why.contains("make deps") && why.contains("apt-get install wrk"), "{why}");
        eprintln!("wrk not installed: only the gap was checked");
        return;
    }
    assert!(gap.is_none());
    let p = smoke("http");
    let out = run_sample::<loop_main::MainLoop>("http", &p, &LoopConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.tasks > 0 && out.ops == Some(out.tasks));
    assert_eq!(metric(&out, "socket_errors"), 0.0);
    let (p50, p99) = (metric(&out, "latency_p50_ns"), metric(&out, "latency_p99_ns"));
    assert!(p50 > 0.0 && p50 <= p99, "{p50} {p99}");
}

#[test]
fn echo_open_records_corrected_latency_on_main_and_a_native_server() {
    set_client_program(env!("CARGO_BIN_EXE_tournament"));
    let p = smoke("echo-open");
    assert_eq!(p.load_pct, Some(80));
    let main = run_sample::<loop_main::MainLoop>("echo-open", &p, &LoopConfig::default())
        .unwrap_or_else(|e| panic!("main: {e}"));
    let tokio = contenders::find("tokio-ct").unwrap().native_server_for("echo-open").unwrap();
    let tokio = run_native_sample("echo-open", tokio, &p).unwrap_or_else(|e| panic!("tokio: {e}"));
    for (who, out) in [("main", &main), ("tokio-ct", &tokio)] {
        assert_echo_sample(who, out, &p);
        // Without `tournament run`'s calibration each sample offers 80% of its own capacity.
        let (offered, capacity) = (
            metric(out, "offered_messages_per_s"),
            metric(out, "reference_capacity_messages_per_s"),
        );
        assert!(capacity > 0.0 && (offered - 0.8 * capacity).abs() < 1e-6 * capacity, "{who}");
        assert_eq!(metric(out, "load_pct"), 80.0);
        // Each message's corrected latency (from its intended send time) is at least its
        // uncorrected one (from its actual send time), so every quantile is too.
        let h = out.latency.as_ref().unwrap();
        assert!(h.value_at_quantile(0.99) as f64 >= metric(out, "uncorrected_p99_ns"), "{who}");
        // The primary metric is the mean corrected latency.
        let mean = out.measured.wall_ns as f64 / p.tasks as f64;
        assert!((mean - h.mean()).abs() <= 1.0 + h.mean() * 1e-9, "{who}: {mean} vs {}", h.mean());
    }
}

#[test]
fn open_loop_client_charges_a_server_stall_to_every_message_intended_during_it() {
    // Echoes at once, except that it stalls 300 ms before answering the 10th message.
    let addr = fake_server(|mut s| {
        let mut b = [0_u8; MESSAGE_LEN];
        let mut n = 0;
        while s.read_exact(&mut b).is_ok() {
            n += 1;
            if n == 10 {
                // Not synchronisation: a server that stalls is the stimulus under test, and
                // the assertions below hold for any stall of at least ~100 ms.
                thread::sleep(Duration::from_millis(300));
            }
            if s.write_all(&b).is_err() {
                return;
            }
        }
    });
    // One connection offered 1,000 messages/s: message k is intended at k ms.
    let args = ClientArgs {
        addr,
        connections: 1,
        messages: 200,
        batch: 1,
        timeout_s: 30,
        rate: Some(1e3),
    };
    let r = run_client(args, |_| Ok(())).unwrap();
    assert_eq!((r.ok_connections, r.messages), (1, 200), "{r:?}");
    let open = r.open_loop.as_ref().expect("an open-loop report");
    assert_eq!(open.offered_per_s, 1e3);
    let corrected = r.latency().unwrap();
    let uncorrected = tournament::stats::decode_histogram(&open.uncorrected_v2_base64).unwrap();
    let over_100ms = |h: &hdrhistogram::Histogram<u64>| -> u64 {
        h.iter_recorded()
            .filter(|v| v.value_iterated_to() > 100_000_000)
            .map(|v| v.count_at_value())
            .sum()
    };
    // Closed-loop view: one message waited out the stall.
    assert_eq!(
        over_100ms(&uncorrected),
        1,
        "uncorrected p99 {}",
        uncorrected.value_at_quantile(0.99)
    );
    // Corrected: the ~200 messages intended from the 10th on (9 ms … 199 ms) all wait for the
    // stall to end (at ≥ 309 ms): each waited over 100 ms.
    assert!(over_100ms(&corrected) >= 180, "{}", over_100ms(&corrected));
    assert!(corrected.value_at_quantile(0.99) > 100_000_000);
    assert!(uncorrected.value_at_quantile(0.9) < 100_000_000);
}

/// The servers' read buffer is allocated and zeroed once per thread and reused; a nested call
/// gets a buffer of its own instead of aliasing the outer one.
#[test]
fn the_read_buffer_is_reused_per_thread_and_a_nested_call_gets_its_own() {
    use tournament::workloads::net::{READ_CHUNK, with_read_buf};
    let outer = with_read_buf(|a| {
        assert_eq!(a.len(), READ_CHUNK);
        a[0] = 7;
        let inner = with_read_buf(|b| {
            assert_eq!(b.len(), READ_CHUNK);
            b.as_ptr()
        });
        assert_ne!(inner, a.as_ptr(), "a nested call must not alias the outer buffer");
        assert_eq!(a[0], 7);
        a.as_ptr()
    });
    with_read_buf(|a| assert_eq!(a.as_ptr(), outer, "the same buffer on the next call"));
}
