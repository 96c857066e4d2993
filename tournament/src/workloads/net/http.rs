//! `http`: a minimal HTTP/1.1 keep-alive responder on the readiness API (the same server as
//! `echo`, [`super::server`], with [`RequestParser`] as its protocol), driven by `wrk` on
//! loopback: `wrk -t1 -cN -dDs --latency http://127.0.0.1:PORT/`.
//!
//! Every request gets [`RESPONSE`] (status 200, a fixed 13-byte body). A sample is `ok` only with
//! 0 socket errors and 0 error statuses. Primary metric: wall ns per completed request over the
//! wrk run (wrk's start to its exit; wrk's own `Requests/sec`, over its measured duration, is
//! recorded as `wrk_requests_per_s`). wrk prints a latency distribution, not a histogram, so its
//! percentiles are recorded as secondary metrics (`latency_p50_ns` … `latency_p99_ns`) rather
//! than as the sample's histogram; the server's syscalls per request by kind are recorded where
//! the kernel allows ([`super::syscalls`]). Needs `wrk` on `PATH`; without it the cells are declared gaps
//! saying how to install it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use loop_api::{Capability, EventLoop, LoopConfig};

use super::process::ChildProcess;
use super::server::LoopServer;
use super::syscalls::{SyscallCounter, start_counted};
use super::{NativeServerFn, NetServer, Protocol, wrk};
use crate::harness::{SampleError, TimedScope};
use crate::workloads::{Metric, Mode, Param, SampleOutcome, WorkloadSpec};

/// The reply to every request.
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";

/// Largest request head accepted, bytes; a longer one without its blank line closes the
/// connection.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "http",
    description: "minimal HTTP/1.1 keep-alive responder (fixed 13-byte body) on the readiness \
                  API, driven by wrk (-t1 -cN --latency) on loopback; 0 socket errors for ok",
    timed_scope: "wrk started → wrk exited (its fixed duration); latency percentiles are \
                  wrk's, recorded as secondary metrics",
    unit: "ns/request",
    requires: &[Capability::Readiness],
    params,
};

/// Incremental parser of pipelined HTTP/1.1 request heads: every complete head (up to its
/// `\r\n\r\n`) is one request, answered in order. Request bodies are not supported (wrk's GETs
/// have none).
#[derive(Debug, Default)]
pub struct RequestParser {
    buf: Vec<u8>,
}

impl RequestParser {
    /// Consumes `input`, appending one [`RESPONSE`] per complete request to `out`; keeps a
    /// partial request for the next call. Returns the number of requests answered.
    ///
    /// # Errors
    /// A head longer than [`MAX_REQUEST_HEAD`] without its blank line.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<u64, String> {
        self.buf.extend_from_slice(input);
        let mut answered = 0;
        let mut start = 0;
        // The whole unconsumed buffer is searched again, so a terminator split over two reads
        // is found.
        while let Some(end) = find_terminator(&self.buf[start..]) {
            out.extend_from_slice(RESPONSE);
            answered += 1;
            start += end;
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_REQUEST_HEAD {
            return Err(format!("request head longer than {MAX_REQUEST_HEAD} bytes"));
        }
        Ok(answered)
    }
}

/// The offset just past the first `\r\n\r\n` in `b`.
fn find_terminator(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// `c=<N>`: N connections for `variant` (`d=<S>s`) seconds. `tasks` is 0: wrk runs for a
/// duration, so the request count is what it achieved (the sample's `tasks`).
fn point(connections: u64, duration: &'static str) -> Param {
    Param::new(format!("c={connections}"), 0).with_batch(connections).with_variant(duration)
}

fn params(mode: Mode) -> Vec<Param> {
    match mode {
        Mode::Smoke => vec![point(4, "d=1s")],
        // Not part of `make bench-quick` (it would add a fixed duration per sample).
        Mode::Quick => Vec::new(),
        Mode::Full => vec![point(64, "d=2s")],
    }
}

/// Connections and duration of a point.
///
/// # Errors
/// A variant that is not `d=<S>s`.
pub fn shape(param: &Param) -> Result<(u64, u64), SampleError> {
    let secs = param
        .variant
        .strip_prefix("d=")
        .and_then(|v| v.strip_suffix('s'))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| SampleError(format!("http point {:?}: bad duration", param.variant)))?;
    Ok((param.batch.max(1), secs.max(1)))
}

/// One sample against contender `L`'s loop.
///
/// # Errors
/// See [`drive`].
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let wrk = wrk::find().ok_or_else(|| SampleError(wrk::missing_reason().unwrap_or_default()))?;
    let config = config.clone();
    let (server, counter) = start_counted(move || {
        Ok(Box::new(LoopServer::<L>::start(&config, Protocol::Http)?) as Box<dyn NetServer>)
    })?;
    drive(server, counter.as_ref(), param, &wrk)
}

/// One sample against a contender's native server.
///
/// # Errors
/// See [`drive`].
pub fn run_native(native: NativeServerFn, param: &Param) -> Result<SampleOutcome, SampleError> {
    let wrk = wrk::find().ok_or_else(|| SampleError(wrk::missing_reason().unwrap_or_default()))?;
    let (server, counter) = start_counted(move || native(Protocol::Http))?;
    drive(server, counter.as_ref(), param, &wrk)
}

/// Runs wrk against `server` and turns its output into a sample. `counter` (see
/// [`super::syscalls`]) counts the server's syscalls over the wrk run.
///
/// # Errors
/// wrk could not run, did not finish within its duration + 30 s (killed), printed output the
/// parser cannot read, reported socket errors or error statuses, completed no request, or the
/// server answered fewer requests than wrk counted.
pub fn drive(
    server: Box<dyn NetServer>,
    counter: Option<&SyscallCounter>,
    param: &Param,
    wrk_path: &std::path::Path,
) -> Result<SampleOutcome, SampleError> {
    let (c, secs) = shape(param)?;
    let url = format!("http://{}/", server.addr());
    let args: Vec<String> = vec![
        "-t1".into(),
        format!("-c{c}"),
        format!("-d{secs}s"),
        "--latency".into(),
        "--timeout".into(),
        "10s".into(),
        url,
    ];
    let sys_before = counter.and_then(|c| c.read().ok());
    let scope = TimedScope::start();
    let mut child = ChildProcess::spawn("wrk", wrk_path, &args)?;
    let lines = child.read_to_end(Duration::from_secs(secs + 30))?;
    let measured = scope.stop();
    let sys_after = counter.and_then(|c| c.read().ok());
    let status = child.wait_exit(Duration::from_secs(10))?;
    let text = lines.join("\n");
    if !status.success() {
        return Err(SampleError(format!("wrk {status}: {} {}", text, child.stderr_tail())));
    }
    let r = wrk::parse(&text).map_err(|e| SampleError(format!("wrk output: {e}")))?;
    let answered = server.counters().requests.load(Ordering::Acquire);
    server.finish(Duration::from_secs(10))?;
    if r.socket_errors > 0 {
        return Err(SampleError(format!(
            "wrk reported {} socket errors ({})",
            r.socket_errors,
            r.socket_errors_line.as_deref().unwrap_or("")
        )));
    }
    if r.non_2xx > 0 {
        return Err(SampleError(format!("wrk got {} error responses", r.non_2xx)));
    }
    if r.requests == 0 {
        return Err(SampleError("wrk completed no request".into()));
    }
    if answered < r.requests {
        return Err(SampleError(format!(
            "wrk counted {} responses but the server answered only {answered} requests",
            r.requests
        )));
    }
    let mut metrics = vec![
        Metric { name: "wrk_requests_per_s", unit: "requests/s", value: r.requests_per_s },
        Metric { name: "socket_errors", unit: "errors", value: r.socket_errors as f64 },
    ];
    for (name, p) in [
        ("latency_p50_ns", 50.0),
        ("latency_p75_ns", 75.0),
        ("latency_p90_ns", 90.0),
        ("latency_p99_ns", 99.0),
    ] {
        if let Some(v) = r.percentile(p) {
            metrics.push(Metric { name, unit: "ns", value: v as f64 });
        }
    }
    if let (Some(b), Some(a)) = (sys_before, sys_after) {
        metrics.extend(a.since(&b).metrics(r.requests, true));
    }
    Ok(SampleOutcome {
        tasks: r.requests,
        ops: Some(r.requests),
        measured,
        wake_syscalls: None,
        latency: None,
        allocs: None,
        alloc_bytes: None,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(parts: &[&[u8]]) -> (u64, usize) {
        let mut p = RequestParser::default();
        let mut out = Vec::new();
        let n = parts.iter().map(|x| p.feed(x, &mut out).unwrap()).sum();
        (n, out.len())
    }

    #[test]
    fn response_has_the_documented_13_byte_body() {
        let s = std::str::from_utf8(RESPONSE).unwrap();
        let (head, body) = s.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK"));
        assert!(head.contains("Content-Length: 13"));
        assert_eq!(body.len(), 13);
    }

    #[test]
    fn parser_handles_partial_and_pipelined_requests() {
        let req: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(feed_all(&[req]), (1, RESPONSE.len()));
        // Split inside the terminator, byte by byte.
        let bytes: Vec<&[u8]> = req.chunks(1).collect();
        assert_eq!(feed_all(&bytes), (1, RESPONSE.len()));
        // Three pipelined in one read, the third split over two.
        let three = [req, req, &req[..10]].concat();
        assert_eq!(feed_all(&[&three, &req[10..]]), (3, 3 * RESPONSE.len()));
        // Nothing complete: nothing answered.
        assert_eq!(feed_all(&[b"GET / HT"]), (0, 0));
    }

    #[test]
    fn oversized_head_is_an_error() {
        let mut p = RequestParser::default();
        let big = vec![b'a'; MAX_REQUEST_HEAD + 1];
        assert!(p.feed(&big, &mut Vec::new()).unwrap_err().contains("longer than"));
    }

    #[test]
    fn points_carry_connections_and_duration() {
        let p = &params(Mode::Full)[0];
        assert_eq!(shape(p).unwrap(), (64, 2));
        assert!(params(Mode::Quick).is_empty());
        assert_eq!(shape(&params(Mode::Smoke)[0]).unwrap(), (4, 1));
    }
}
