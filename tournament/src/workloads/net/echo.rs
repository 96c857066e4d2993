//! `echo`: a TCP echo server on the contender's readiness API ([`super::server`]) under C
//! concurrent loopback connections from `tournament echo-client` ([`super::client`]), a separate
//! process. Each connection sends M 64-byte messages one after the other and verifies every
//! echoed byte.
//!
//! A sample is `ok` only if every connection completed every message (0 failed connections) and
//! the server accepted exactly C connections and saw all of them close. Primary metric: wall ns
//! per message over the message phase (messages/s = 10⁹ ÷ it). Recorded: the client's
//! per-message round trips (histogram), and the secondary metrics `messages_per_s`,
//! `failed_connections` (0), `client_cpu_ns_per_message`, `io_callbacks_per_message` (server
//! readiness callbacks, for trait-based servers), `write_stalls`, `server_errors`, and the
//! server's syscalls per message by kind ([`super::syscalls`], where the kernel allows). The
//! sample's `cpu_ns` is the server process's (loop thread included); the client's is separate.
//! The timed scope starts once the server has accepted every connection the client made (a
//! connect completes in the listen backlog before the accept), so accepting and registering
//! connections is never timed or counted; closing them is (a connection closes when its last
//! echo arrives, while the others still run: one EOF read, one unregister and one `close` per
//! connection).

use std::time::Duration;

use loop_api::{Capability, EventLoop, LoopConfig};

use super::client::{ClientLine, EchoReport};
use super::process::ChildProcess;
use super::server::LoopServer;
use super::syscalls::{SyscallCounter, start_counted};
use super::{NativeServerFn, NetServer, Protocol, client_program};
use crate::harness::{SampleError, TimedScope};
use crate::workloads::{Metric, Mode, Param, SampleOutcome, WorkloadSpec};

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "echo",
    description: "TCP echo server on the readiness API; a separate client process opens C \
                  loopback connections, each sending M 64-byte messages one after the other and \
                  verifying every echoed byte (0 failed connections for ok)",
    timed_scope: "`go` sent to the connected client → its result line (every message echoed); \
                  histogram: each message's round trip at the client",
    unit: "ns/message",
    requires: &[Capability::Readiness],
    params,
};

/// Bound on the client's ramp-up and on its message phase (each), seconds.
pub const PHASE_TIMEOUT_S: u64 = 60;

/// Bound on the server's connections closing after the client is done.
const CLOSE_BOUND: Duration = Duration::from_secs(10);

/// Bound on the server accepting the client's connections after its ramp-up.
const ACCEPT_BOUND: Duration = Duration::from_secs(10);

/// Connections opened per ramp-up batch (≤ the listen backlog).
const RAMP_BATCH: u32 = 256;

/// `c=<C>`: `tasks` = C × M messages, `batch` = M messages per connection.
pub fn point(connections: u64, messages: u64) -> Param {
    Param::new(format!("c={connections}"), connections * messages).with_batch(messages)
}

fn params(mode: Mode) -> Vec<Param> {
    match mode {
        Mode::Smoke => vec![point(10, 10)],
        // A few seconds per contender in all: 10 samples of 10,000 messages.
        Mode::Quick => vec![point(100, 100)],
        // 50,000 messages per point; at C = 10,000 each connection sends 5.
        Mode::Full => vec![point(100, 500), point(1_000, 50), point(10_000, 5)],
    }
}

/// Connections and messages per connection of a point.
pub fn shape(param: &Param) -> (u64, u64) {
    let m = param.batch.max(1);
    (param.tasks / m, m)
}

/// One sample against contender `L`'s loop.
///
/// # Errors
/// See [`drive`].
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let config = config.clone();
    let (server, counter) = start_counted(move || {
        Ok(Box::new(LoopServer::<L>::start(&config, Protocol::Echo)?) as Box<dyn NetServer>)
    })?;
    drive(server, counter.as_ref(), param)
}

/// One sample against a contender's native server.
///
/// # Errors
/// See [`drive`].
pub fn run_native(native: NativeServerFn, param: &Param) -> Result<SampleOutcome, SampleError> {
    let (server, counter) = start_counted(move || native(Protocol::Echo))?;
    drive(server, counter.as_ref(), param)
}

/// Spawns the client against `server`, times its message phase, and checks the outcome.
/// `counter` (see [`super::syscalls`]) counts the server's syscalls over the timed scope.
///
/// # Errors
/// The client could not be started, printed nothing in time (it is killed), reported a failed
/// connection (the reason names how many and why), or the server's counts disagree (accepted ≠
/// C, connections left open, echoes missing).
pub fn drive(
    server: Box<dyn NetServer>,
    counter: Option<&SyscallCounter>,
    param: &Param,
) -> Result<SampleOutcome, SampleError> {
    drive_with(server, counter, param, None).map(|(outcome, _)| outcome)
}

/// [`drive`], with the client open-loop at `rate` messages/s when given (`--rate`, the
/// `echo-open` workload); also returns the client's report. The outcome's histogram is then
/// the coordinated-omission corrected one and `messages_per_s` the achieved rate.
///
/// # Errors
/// As [`drive`].
pub fn drive_with(
    server: Box<dyn NetServer>,
    counter: Option<&SyscallCounter>,
    param: &Param,
    rate: Option<f64>,
) -> Result<(SampleOutcome, EchoReport), SampleError> {
    let (c, m) = shape(param);
    let mut args: Vec<String> = vec![
        "echo-client".into(),
        "--addr".into(),
        server.addr().to_string(),
        "--connections".into(),
        c.to_string(),
        "--messages".into(),
        m.to_string(),
        "--batch".into(),
        RAMP_BATCH.to_string(),
        "--timeout-s".into(),
        PHASE_TIMEOUT_S.to_string(),
    ];
    if let Some(rate) = rate {
        args.extend(["--rate".to_string(), format!("{rate}")]);
    }
    let mut child = ChildProcess::spawn("echo-client", &client_program()?, &args)?;
    let bound = Duration::from_secs(PHASE_TIMEOUT_S + 10);
    let ready = parse_line(&child.next_line(bound, "its ready line")?)?;
    let ClientLine::Ready { connected, .. } = ready else {
        return Err(SampleError(format!("echo-client: expected a ready line, got {ready:?}")));
    };
    // A connect completes in the kernel's backlog before the server accepts it: let the server
    // accept every connection (accept, socket options, registration) before the clocks and
    // syscall counters start, so the timed scope holds the message phase only, as the ramp-up
    // is meant to be untimed. Bounded; a server that did not accept them all fails `check`.
    wait_accepted(server.counters(), connected, ACCEPT_BOUND);
    let before = server.loop_stats();
    let sys_before = counter.and_then(|c| c.read().ok());
    let scope = TimedScope::start();
    child.send_line("go")?;
    let line = child.next_line(bound, "its result line")?;
    let measured = scope.stop();
    let sys_after = counter.and_then(|c| c.read().ok());
    let after = server.loop_stats();
    let report = match parse_line(&line)? {
        ClientLine::Result(r) => r,
        other => return Err(SampleError(format!("echo-client: expected a result, got {other:?}"))),
    };
    child.read_to_end(bound)?;
    child.wait_exit(Duration::from_secs(10))?;
    let counters = server.counters();
    let accepted = counters.accepted.load(std::sync::atomic::Ordering::Acquire);
    let stalls = counters.write_stalls.load(std::sync::atomic::Ordering::Relaxed);
    let wake_accounting = server.wake_accounting();
    let finished = server.finish(CLOSE_BOUND);
    check(&report, c, m, accepted)?;
    finished?;
    let latency = report.latency().map_err(|e| SampleError(format!("echo-client: {e:#}")))?;
    let messages = report.messages;
    let per_msg = |x: f64| x / messages as f64;
    let mut metrics = vec![
        metric("messages_per_s", "messages/s", messages as f64 * 1e9 / measured.wall_ns as f64),
        metric("failed_connections", "connections", report.failed_connections as f64),
        metric("client_cpu_ns_per_message", "ns/message", per_msg(report.client_cpu_ns as f64)),
        metric("write_stalls", "stalls", stalls as f64),
    ];
    if let (Some(b), Some(a)) = (before, after) {
        let cb = a.io_callbacks.saturating_sub(b.io_callbacks) as f64;
        metrics.push(metric("io_callbacks_per_message", "callbacks/message", per_msg(cb)));
    }
    if let (Some(b), Some(a)) = (sys_before, sys_after) {
        metrics.extend(a.since(&b).metrics(messages, false));
    }
    let wake_syscalls = match (before, after) {
        (Some(b), Some(a)) if wake_accounting => {
            Some(a.wake_syscalls.saturating_sub(b.wake_syscalls))
        }
        _ => None,
    };
    let outcome = SampleOutcome {
        tasks: messages,
        ops: Some(messages),
        measured,
        wake_syscalls,
        latency: Some(latency),
        allocs: None,
        alloc_bytes: None,
        metrics,
    };
    Ok((outcome, report))
}

/// Waits until the server has accepted at least `connected` connections, at most `bound`;
/// returns whether it did. Yields instead of parking, like [`super::server::wait_closed`]: the
/// loop thread doing the accepting needs no wake-up from here.
pub fn wait_accepted(counters: &super::ServerCounters, connected: u64, bound: Duration) -> bool {
    let deadline = std::time::Instant::now() + bound;
    loop {
        if counters.accepted.load(std::sync::atomic::Ordering::Acquire) >= connected {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
}

fn metric(name: &'static str, unit: &'static str, value: f64) -> Metric {
    Metric { name, unit, value }
}

fn parse_line(line: &str) -> Result<ClientLine, SampleError> {
    serde_json::from_str(line)
        .map_err(|e| SampleError(format!("echo-client printed an unreadable line ({e}): {line}")))
}

/// The sample's verdict from the client's report and the server's accept count.
///
/// # Errors
/// Any failed connection (with the count, kinds and the first reasons), a message count other
/// than C × M, or a server that accepted other than C connections.
pub fn check(report: &EchoReport, c: u64, m: u64, accepted: u64) -> Result<(), SampleError> {
    if report.failed_connections > 0 || report.ok_connections != c {
        let kinds: Vec<String> =
            report.failure_kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        return Err(SampleError(format!(
            "{} of {c} connections failed ({}); first: {}",
            report.failed_connections.max(c - report.ok_connections.min(c)),
            kinds.join(", "),
            report.failures.join("; ")
        )));
    }
    if report.messages != c * m {
        return Err(SampleError(format!(
            "{} messages echoed and verified, expected {c} × {m} = {}",
            report.messages,
            c * m
        )));
    }
    if accepted != c {
        return Err(SampleError(format!("the server accepted {accepted} connections, not {c}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_encode_connections_and_messages() {
        for mode in [Mode::Smoke, Mode::Quick, Mode::Full] {
            for p in params(mode) {
                let (c, m) = shape(&p);
                assert_eq!(p.id, format!("c={c}"));
                assert_eq!(c * m, p.tasks);
            }
        }
        assert!(params(Mode::Full).iter().any(|p| shape(p).0 == 10_000));
    }

    #[test]
    fn a_failed_connection_fails_the_sample_with_its_reason() {
        let mut r = EchoReport {
            connections: 3,
            ok_connections: 2,
            failed_connections: 1,
            failure_kinds: [("stuck".to_string(), 1)].into_iter().collect(),
            failures: vec!["conn 2: stuck at message 1 of 4".into()],
            messages: 8,
            elapsed_ns: 1,
            client_cpu_ns: 1,
            latency_v2_base64: String::new(),
            open_loop: None,
        };
        let e = check(&r, 3, 4, 3).unwrap_err();
        assert!(e.0.contains("1 of 3 connections failed (1 stuck)"), "{e}");
        assert!(e.0.contains("conn 2: stuck"), "{e}");
        r.ok_connections = 3;
        r.failed_connections = 0;
        r.messages = 12;
        assert!(check(&r, 3, 4, 3).is_ok());
        assert!(check(&r, 3, 4, 2).unwrap_err().0.contains("accepted 2"));
        r.messages = 11;
        assert!(check(&r, 3, 4, 3).unwrap_err().0.contains("11 messages"));
    }
}
