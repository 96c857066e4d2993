//! The `echo` workload's load generator: `tournament echo-client`, run as a **separate process**
//! so the client's CPU, file descriptors and scheduling never mix with the server's.
//!
//! One thread drives every connection through one `mio::Poll` (what a real load generator does;
//! a thread per connection would measure the kernel's scheduler at C = 10,000):
//!
//! 1. **Ramp-up** (untimed): non-blocking connects in batches of `--batch`; a batch must have
//!    completed (or failed) before the next starts, so the server's accept backlog (the listener
//!    asks for 4,096) never overflows — an overflow drops SYNs, which are retried only after a
//!    1 s timeout and would make the ramp-up, not the loop, the bottleneck.
//! 2. The client prints a [`ClientLine::Ready`] line on stdout and waits for one `go` line on
//!    stdin, so the parent starts its clocks exactly when the message phase starts.
//! 3. **Message phase**: every connection sends `--messages` 64-byte messages one after the
//!    other (request → full echo → next request) and verifies every echoed byte. Each message's
//!    bytes are distinct from every other message's ([`message_byte`]: its first 8 bytes are the
//!    connection and message numbers), so an echo delivered to the wrong connection, or a stale
//!    one, is detected. A connection that has finished its messages closes (the server sees EOF
//!    and unregisters it while the others still run).
//! 4. It prints one [`ClientLine::Result`] line ([`EchoReport`]) and exits 0.
//!
//! With `--rate R` the message phase is **open-loop** instead (the `echo-open` workload): the
//! connections send at a fixed offered rate of R messages/s in all, each message at its
//! intended time on an even schedule (or at once on its predecessor's echo if that came back
//! late), and the histogram holds each message's latency from its *intended* send time
//! (coordinated-omission corrected; [`super::open_loop`]). Between sends the client polls
//! without blocking when the next send is less than 2 ms away (an `epoll_wait` timeout is
//! rounded up to whole milliseconds, far too coarse for sends µs apart), so it occupies its CPU
//! while the phase runs.
//!
//! Every wait is bounded by `--timeout-s` per phase: a connection still unfinished at the
//! deadline fails with a reason saying where it was stuck (message k of M, bytes sent and echoed).

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::{Deserialize, Serialize};

use super::open_loop::{OpenLoop, Schedule};
use crate::harness::Usage;
use crate::stats;

/// Bytes per message (the 64-byte messages).
pub const MESSAGE_LEN: usize = 64;

/// Failure reasons kept verbatim in a report (the rest are only counted by kind).
const KEPT_FAILURES: usize = 10;

/// The client's command-line options (`tournament echo-client ...`).
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The echo server, e.g. `127.0.0.1:40000`.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Concurrent connections (1 ..= 20,000; the process's open-file limit must allow them).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub connections: u32,
    /// Messages each connection sends, one after the other (≥ 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub messages: u32,
    /// Connections opened per ramp-up batch (≥ 1).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Bound on each phase (ramp-up, message phase), seconds (≥ 1).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_s: u64,
    /// Open-loop mode: the offered rate, messages/s over all connections (> 0); without it the
    /// client is closed-loop (module docs).
    #[arg(long)]
    pub rate: Option<f64>,
}

/// One line the client prints on stdout (JSON, tagged by `event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ClientLine {
    /// Ramp-up finished; the client now waits for `go` on stdin.
    Ready {
        /// Connections established.
        connected: u64,
        /// Connections that failed to connect (they are failed in the result too).
        failed: u64,
        /// Duration of the ramp-up, ns.
        ramp_ns: u64,
    },
    /// The message phase finished (or hit its deadline).
    Result(EchoReport),
}

/// What the client measured; the last line it prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EchoReport {
    /// Connections requested (`--connections`).
    pub connections: u64,
    /// Connections that completed every message with every byte verified.
    pub ok_connections: u64,
    /// Connections that failed (connect error, reset, early EOF, wrong byte, deadline).
    pub failed_connections: u64,
    /// Failures by kind (e.g. `connect`, `eof`, `mismatch`, `stuck`), counts.
    pub failure_kinds: BTreeMap<String, u64>,
    /// The first few failures verbatim, `conn <i>: <reason>`.
    pub failures: Vec<String>,
    /// Messages echoed and verified (all connections).
    pub messages: u64,
    /// Wall time of the message phase (from `go` to the last connection done), ns.
    pub elapsed_ns: u64,
    /// Client process CPU (user + system) during the message phase, ns.
    pub client_cpu_ns: u64,
    /// Per-message round trips (first byte written → last echoed byte read), ns: hdrhistogram
    /// V2 in base64 (`stats::encode_histogram`). In open-loop mode: from each message's
    /// intended send time instead (coordinated-omission corrected).
    pub latency_v2_base64: String,
    /// Open-loop mode only (`--rate`): the schedule and the uncorrected view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_loop: Option<OpenLoopReport>,
}

/// What an open-loop message phase adds to the [`EchoReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenLoopReport {
    /// The offered rate (`--rate`), messages/s.
    pub offered_per_s: f64,
    /// Per-message latency from the actual send time (what a closed-loop client would report),
    /// ns: hdrhistogram V2 in base64.
    pub uncorrected_v2_base64: String,
    /// Actual − intended send time of the messages sent on their own slot, ns: hdrhistogram V2
    /// in base64 (the client's punctuality).
    pub send_lag_v2_base64: String,
}

impl EchoReport {
    /// Decodes the latency histogram.
    ///
    /// # Errors
    /// Invalid base64 or histogram bytes.
    pub fn latency(&self) -> anyhow::Result<Histogram<u64>> {
        stats::decode_histogram(&self.latency_v2_base64)
    }
}

/// Byte `i` of message `msg` of connection `conn`. Bytes 0–3 are `conn` and 4–7 `msg`
/// (little-endian), so no two messages of a run are equal; the rest is a pattern of all three.
pub fn message_byte(conn: u32, msg: u32, i: usize) -> u8 {
    match i {
        0..4 => conn.to_le_bytes()[i],
        4..8 => msg.to_le_bytes()[i - 4],
        _ => {
            let x = u64::from(conn) * 1_000_003 + u64::from(msg) * 7_919 + i as u64 * 131;
            (x ^ (x >> 8) ^ (x >> 16)) as u8
        }
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (10,000 connections need more
/// than the usual soft limit of 1,024). Returns the new soft limit.
///
/// # Errors
/// `getrlimit`/`setrlimit` failed.
pub fn raise_nofile_limit() -> io::Result<u64> {
    // SAFETY: `getrlimit` writes one `rlimit` into the pointer to a live local.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `lim` is a valid `rlimit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid `rlimit` read above, with soft ≤ hard.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Connecting,
    Running,
    Done,
    Failed,
}

struct Conn {
    stream: Option<TcpStream>,
    state: State,
    /// Index of the message in flight.
    msg: u32,
    /// Bytes of it written so far.
    sent: usize,
    /// Bytes of its echo read and verified so far.
    recv: usize,
    /// When its first byte was written.
    started: Instant,
    /// Whether the current message may be written: always in closed-loop mode; in open-loop
    /// mode only once its slot came (or its predecessor's echo came back after it), so a
    /// writable event never sends a message early.
    armed: bool,
}

/// The client's state: every connection plus the tallies of the report.
struct Client {
    args: ClientArgs,
    poll: Poll,
    conns: Vec<Conn>,
    failed: u64,
    kinds: BTreeMap<String, u64>,
    failures: Vec<String>,
    messages: u64,
    hist: Histogram<u64>,
    /// Open-loop mode: the accounting and the start of the message phase.
    open: Option<(OpenLoop, Instant)>,
}

impl Client {
    fn new(args: ClientArgs) -> io::Result<Self> {
        let now = Instant::now();
        let conns = (0..args.connections)
            .map(|_| Conn {
                stream: None,
                state: State::Idle,
                msg: 0,
                sent: 0,
                recv: 0,
                started: now,
                armed: args.rate.is_none(),
            })
            .collect();
        Ok(Client {
            args,
            poll: Poll::new()?,
            conns,
            failed: 0,
            kinds: BTreeMap::new(),
            failures: Vec::new(),
            messages: 0,
            hist: crate::workloads::latency_histogram(),
            open: None,
        })
    }

    /// Marks connection `i` failed (closing it) with a kind and a reason.
    fn fail(&mut self, i: usize, kind: &str, reason: String) {
        let c = &mut self.conns[i];
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        c.state = State::Failed;
        self.failed += 1;
        *self.kinds.entry(kind.to_string()).or_default() += 1;
        if self.failures.len() < KEPT_FAILURES {
            self.failures.push(format!("conn {i}: {reason}"));
        }
    }

    /// Phase 1: connects every connection, `batch` at a time. Returns (connected, failed).
    fn ramp_up(&mut self) -> (u64, u64) {
        let deadline = Instant::now() + Duration::from_secs(self.args.timeout_s);
        let mut events = Events::with_capacity(1024);
        let n = self.conns.len();
        let batch = self.args.batch as usize;
        for start in (0..n).step_by(batch) {
            let end = (start + batch).min(n);
            let mut pending = 0;
            for i in start..end {
                match TcpStream::connect(self.args.addr) {
                    Ok(mut s) => {
                        let r = self.poll.registry().register(
                            &mut s,
                            Token(i),
                            Interest::READABLE | Interest::WRITABLE,
                        );
                        self.conns[i].stream = Some(s);
                        match r {
                            Ok(()) => {
                                self.conns[i].state = State::Connecting;
                                pending += 1;
                            }
                            Err(e) => self.fail(i, "connect", format!("register: {e}")),
                        }
                    }
                    Err(e) => self.fail(i, "connect", format!("connect: {e}")),
                }
            }
            while pending > 0 {
                let now = Instant::now();
                if now >= deadline {
                    for i in start..end {
                        if self.conns[i].state == State::Connecting {
                            let why = format!(
                                "connect did not complete within the {} s ramp-up bound",
                                self.args.timeout_s
                            );
                            self.fail(i, "connect", why);
                        }
                    }
                    break;
                }
                if let Err(e) = self.poll.poll(&mut events, Some(deadline - now)) {
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    for i in start..end {
                        if self.conns[i].state == State::Connecting {
                            self.fail(i, "connect", format!("poll: {e}"));
                        }
                    }
                    break;
                }
                for ev in events.iter() {
                    let i = ev.token().0;
                    if self.conns[i].state != State::Connecting {
                        continue;
                    }
                    if let Some(done) = self.connect_progress(i) {
                        pending -= 1;
                        if let Err(why) = done {
                            self.fail(i, "connect", why);
                        }
                    }
                }
            }
        }
        let connected = self.conns.iter().filter(|c| c.state == State::Connecting).count();
        for c in &mut self.conns {
            if c.state == State::Connecting {
                c.state = State::Running;
            }
        }
        (connected as u64, self.failed)
    }

    /// Whether a connecting socket finished connecting: `None` not yet, `Some(Ok)` connected,
    /// `Some(Err)` failed (mio: writable, then `take_error` and `peer_addr` tell which).
    fn connect_progress(&mut self, i: usize) -> Option<Result<(), String>> {
        let s = self.conns[i].stream.as_ref()?;
        match s.take_error() {
            Ok(Some(e)) | Err(e) => return Some(Err(format!("connect: {e}"))),
            Ok(None) => {}
        }
        match s.peer_addr() {
            Ok(_) => {
                // Nagle would hold back the second of two small writes for up to 40 ms.
                Some(s.set_nodelay(true).map_err(|e| format!("TCP_NODELAY: {e}")))
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
            Err(e) => Some(Err(format!("connect: {e}"))),
        }
    }

    /// Phase 3: every running connection sends its messages. Returns the phase's wall ns.
    fn message_phase(&mut self) -> u64 {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(self.args.timeout_s);
        let mut running = 0_u64;
        if let Some(rate) = self.args.rate {
            let schedule = Schedule::new(rate, self.conns.len() as u64);
            self.open = Some((OpenLoop::new(schedule, u64::from(self.args.messages)), t0));
            // A connection that failed to connect never sends: its slots pass unused.
            running = self.conns.iter().filter(|c| c.state == State::Running).count() as u64;
        } else {
            for i in 0..self.conns.len() {
                if self.conns[i].state == State::Running {
                    running += 1;
                    self.conns[i].started = Instant::now();
                    self.write_more(i);
                    if self.conns[i].state != State::Running {
                        running -= 1;
                    }
                }
            }
        }
        let mut events = Events::with_capacity(4096);
        let mut sends = Vec::new();
        while running > 0 {
            let mut timeout = None;
            if let Some((open, start)) = &mut self.open {
                let now_ns = start.elapsed().as_nanos() as u64;
                open.due_sends(now_ns, &mut sends);
                // mio rounds a timeout up to whole milliseconds: block only for what is
                // certainly idle, poll without blocking when a send is near.
                timeout = open.next_slot_ns().map(|at| {
                    let wait = Duration::from_nanos(at.saturating_sub(now_ns));
                    if wait < Duration::from_millis(2) {
                        Duration::ZERO
                    } else {
                        Duration::from_millis(wait.as_millis() as u64 - 1)
                    }
                });
                for i in sends.drain(..) {
                    if self.conns[i].state == State::Running {
                        self.conns[i].armed = true;
                        self.write_more(i);
                        if self.conns[i].state != State::Running {
                            running -= 1;
                        }
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                for i in 0..self.conns.len() {
                    if self.conns[i].state == State::Running {
                        let c = &self.conns[i];
                        let why = format!(
                            "stuck at message {} of {}: {} of {MESSAGE_LEN} bytes sent, {} echoed \
                             when the {} s bound expired",
                            c.msg + 1,
                            self.args.messages,
                            c.sent,
                            c.recv,
                            self.args.timeout_s
                        );
                        self.fail(i, "stuck", why);
                    }
                }
                break;
            }
            let wait = timeout.map_or(deadline - now, |t| t.min(deadline - now));
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                for i in 0..self.conns.len() {
                    if self.conns[i].state == State::Running {
                        self.fail(i, "poll", format!("poll: {e}"));
                    }
                }
                break;
            }
            for ev in events.iter() {
                let i = ev.token().0;
                if self.conns[i].state != State::Running {
                    continue;
                }
                if ev.is_writable() && self.conns[i].armed && self.conns[i].sent < MESSAGE_LEN {
                    self.write_more(i);
                }
                if self.conns[i].state == State::Running
                    && (ev.is_readable() || ev.is_read_closed() || ev.is_error())
                {
                    self.read_more(i);
                }
                if self.conns[i].state != State::Running {
                    running -= 1;
                }
            }
        }
        t0.elapsed().as_nanos() as u64
    }

    /// Writes what remains of connection `i`'s current message, until done or `WouldBlock`.
    fn write_more(&mut self, i: usize) {
        let mut buf = [0_u8; MESSAGE_LEN];
        let (msg, sent) = (self.conns[i].msg, self.conns[i].sent);
        for (j, b) in buf.iter_mut().enumerate() {
            *b = message_byte(i as u32, msg, j);
        }
        let mut off = sent;
        let result = loop {
            let Some(s) = self.conns[i].stream.as_mut() else { return };
            if off == MESSAGE_LEN {
                break Ok(());
            }
            match s.write(&buf[off..]) {
                Ok(0) => break Err("write returned 0".to_string()),
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(format!("write of message {}: {e}", msg + 1)),
            }
        };
        self.conns[i].sent = off;
        if let Err(why) = result {
            self.fail(i, "write", why);
        }
    }

    /// Reads and verifies connection `i`'s echo until `WouldBlock`; starts the next message
    /// when one is complete, and closes the connection after its last.
    fn read_more(&mut self, i: usize) {
        let mut buf = [0_u8; 2 * MESSAGE_LEN];
        loop {
            let Some(s) = self.conns[i].stream.as_mut() else { return };
            let n = match s.read(&mut buf) {
                Ok(0) => {
                    let c = &self.conns[i];
                    let why = format!(
                        "server closed the connection at message {} of {} ({} of {MESSAGE_LEN} \
                         bytes echoed)",
                        c.msg + 1,
                        self.args.messages,
                        c.recv
                    );
                    return self.fail(i, "eof", why);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let why = format!("read at message {}: {e}", self.conns[i].msg + 1);
                    return self.fail(i, "read", why);
                }
            };
            let c = &self.conns[i];
            if c.recv + n > c.sent {
                let why = format!(
                    "{} bytes echoed for message {} but only {} sent (an extra or misrouted echo)",
                    c.recv + n,
                    c.msg + 1,
                    c.sent
                );
                return self.fail(i, "mismatch", why);
            }
            for (j, &got) in buf[..n].iter().enumerate() {
                let want = message_byte(i as u32, c.msg, c.recv + j);
                if got != want {
                    let why = format!(
                        "byte {} of message {}: expected {want:#04x}, got {got:#04x} (a \
                         misrouted, stale or corrupted echo)",
                        c.recv + j,
                        c.msg + 1
                    );
                    return self.fail(i, "mismatch", why);
                }
            }
            let c = &mut self.conns[i];
            c.recv += n;
            if c.recv < MESSAGE_LEN {
                continue;
            }
            let started = c.started;
            let send_next = match &mut self.open {
                Some((open, start)) => {
                    // The open loop records the corrected and uncorrected latencies.
                    open.on_echoed(i, start.elapsed().as_nanos() as u64).send_next
                }
                None => {
                    let rtt = started.elapsed().as_nanos() as u64;
                    self.hist.saturating_record(rtt.max(1));
                    true
                }
            };
            self.messages += 1;
            let c = &mut self.conns[i];
            c.msg += 1;
            if c.msg == self.args.messages {
                c.state = State::Done;
                if let Some(mut s) = c.stream.take() {
                    let _ = self.poll.registry().deregister(&mut s);
                }
                return;
            }
            c.sent = 0;
            c.recv = 0;
            c.armed = send_next;
            if !send_next {
                return; // open loop: the next message waits for its slot
            }
            c.started = Instant::now();
            self.write_more(i);
            if self.conns[i].state != State::Running {
                return;
            }
        }
    }
}

/// Prints one JSON line on stdout and flushes it.
fn emit(line: &ClientLine) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, line)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Runs the client (phases 1–4 of the [module docs](self)) and returns its report.
///
/// `go` is called between the ramp-up and the message phase with the `Ready` line; the
/// subcommand prints it and waits for `go` on stdin, tests may proceed at once.
///
/// # Errors
/// The poller could not be created, or `go` failed (stdin closed: the parent gave up).
pub fn run_client(
    args: ClientArgs,
    go: impl FnOnce(&ClientLine) -> io::Result<()>,
) -> io::Result<EchoReport> {
    let mut client = Client::new(args)?;
    let t = Instant::now();
    let (connected, failed) = client.ramp_up();
    go(&ClientLine::Ready { connected, failed, ramp_ns: t.elapsed().as_nanos() as u64 })?;
    let cpu0 = Usage::now();
    let elapsed_ns = client.message_phase();
    let client_cpu_ns = Usage::now().cpu_ns.saturating_sub(cpu0.cpu_ns);
    let ok = client.conns.iter().filter(|c| c.state == State::Done).count() as u64;
    let open_loop = client.open.take().map(|(open, _)| {
        client.hist = open.corrected.clone();
        OpenLoopReport {
            offered_per_s: open.schedule().rate_per_s,
            uncorrected_v2_base64: stats::encode_histogram(&open.uncorrected),
            send_lag_v2_base64: stats::encode_histogram(&open.send_lag),
        }
    });
    Ok(EchoReport {
        connections: client.conns.len() as u64,
        ok_connections: ok,
        failed_connections: client.failed,
        failure_kinds: client.kinds,
        failures: client.failures,
        messages: client.messages,
        elapsed_ns,
        client_cpu_ns,
        latency_v2_base64: stats::encode_histogram(&client.hist),
        open_loop,
    })
}

/// The `tournament echo-client` subcommand: raises the open-file limit, runs the client with the
/// stdout/stdin protocol of the [module docs](self), prints the result line. Returns the exit
/// code: 0 when the result was printed (whatever it says), 1 on an I/O failure (reported on
/// stderr).
pub fn main(args: ClientArgs) -> u8 {
    if let Err(e) = raise_nofile_limit() {
        eprintln!("echo-client: cannot raise RLIMIT_NOFILE: {e}");
    }
    let go = |ready: &ClientLine| -> io::Result<()> {
        emit(ready)?;
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
        if line.trim() == "go" {
            Ok(())
        } else {
            Err(io::Error::other(format!("expected `go` on stdin, got {:?}", line.trim())))
        }
    };
    match run_client(args, go).and_then(|r| emit(&ClientLine::Result(r))) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("echo-client: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_bytes_are_distinct_per_connection_and_message() {
        let m = |c, k| (0..MESSAGE_LEN).map(|i| message_byte(c, k, i)).collect::<Vec<_>>();
        assert_ne!(m(0, 0), m(0, 1));
        assert_ne!(m(0, 0), m(1, 0));
        assert_ne!(m(256, 0), m(0, 1));
        assert_eq!(&m(7, 9)[..8], &[7, 0, 0, 0, 9, 0, 0, 0]);
    }

    #[test]
    fn client_lines_round_trip_through_json() {
        let ready = ClientLine::Ready { connected: 3, failed: 1, ramp_ns: 5 };
        let s = serde_json::to_string(&ready).unwrap();
        assert!(s.contains("\"event\":\"ready\""), "{s}");
        assert_eq!(serde_json::from_str::<ClientLine>(&s).unwrap(), ready);
    }
}
