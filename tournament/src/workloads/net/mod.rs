//! Socket workloads: the work arrives through the poller instead of `submit`.
//!
//! * [`echo`]: a TCP echo server written once against the trait's readiness API
//!   ([`server::LoopServer`]), driven by `tournament echo-client` ([`client`]) in a separate
//!   process with C concurrent loopback connections.
//! * [`echo_open`]: the same server under an open-loop client at a fixed offered rate, latency
//!   counted from each message's intended send time ([`open_loop`]).
//! * [`http`]: a minimal HTTP/1.1 keep-alive responder on the same server, driven by `wrk`
//!   ([`wrk`]), a load generator nobody here wrote.
//!
//! Peers without the readiness capability can still take part through a **native server**
//! ([`NativeServerFn`], e.g. tokio's `TcpListener` on its current-thread runtime): what a user of
//! that runtime would write, given the same protocol code ([`Responder`]). Their rows are the
//! reference the trait-based servers are read against; contenders with neither are declared
//! gaps.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use loop_api::LoopStats;

use crate::harness::SampleError;

pub mod client;
pub mod echo;
pub mod echo_open;
pub mod http;
pub mod native;
pub mod open_loop;
pub mod process;
pub mod server;
pub mod syscalls;
pub mod wrk;

/// Which protocol a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Every byte received is sent back.
    Echo,
    /// HTTP/1.1 keep-alive: every request (up to its blank line) gets [`http::RESPONSE`].
    Http,
}

impl Protocol {
    /// A fresh per-connection protocol state.
    pub fn responder(self) -> Responder {
        match self {
            Protocol::Echo => Responder::Echo,
            Protocol::Http => Responder::Http(http::RequestParser::default()),
        }
    }
}

/// Per-connection protocol state: turns the bytes received into the bytes to send. Shared by
/// every server (trait-based and native) so they differ only in how they do I/O.
#[derive(Debug)]
pub enum Responder {
    /// Echo: output = input.
    Echo,
    /// HTTP: a request parser that handles partial and pipelined requests.
    Http(http::RequestParser),
}

impl Responder {
    /// Consumes `input`, appending the reply bytes to `out`; returns the number of complete
    /// requests answered (echo: 0, the echo is a stream).
    ///
    /// # Errors
    /// A malformed or oversized HTTP request (the connection should be closed).
    pub fn on_bytes(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<u64, String> {
        match self {
            Responder::Echo => {
                out.extend_from_slice(input);
                Ok(0)
            }
            Responder::Http(p) => p.feed(input, out),
        }
    }
}

/// Counters every server keeps (updated on its loop thread, read by the workload). Units: counts.
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed (EOF, error, or the server stopping).
    pub closed: AtomicU64,
    /// Connections closed because of an I/O or protocol error (resets included).
    pub errors: AtomicU64,
    /// Times a reply could not be written completely (the peer's receive window was full) and
    /// the connection had to wait before reading more.
    pub write_stalls: AtomicU64,
    /// HTTP requests answered.
    pub requests: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ServerCounters {
    /// Counts a connection closed because of `why`, remembering the first reason.
    pub fn error(&self, why: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(why.into());
        }
    }

    /// The first error counted, if any.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Connections accepted and not closed yet.
    pub fn open(&self) -> u64 {
        self.accepted.load(Ordering::Acquire).saturating_sub(self.closed.load(Ordering::Acquire))
    }
}

/// A running server of a socket workload.
pub trait NetServer: Send {
    /// The loopback address it listens on.
    fn addr(&self) -> SocketAddr;
    /// Its counters.
    fn counters(&self) -> &ServerCounters;
    /// Its loop's counters (trait-based servers), for wake syscalls and callbacks per message;
    /// `None` for native servers.
    fn loop_stats(&self) -> Option<LoopStats>;
    /// Whether [`LoopStats::wake_syscalls`] is counted exactly by this server's loop.
    fn wake_accounting(&self) -> bool;
    /// Stops listening, waits (at most `bound`) until every accepted connection was closed by
    /// its peer, then stops the loop.
    ///
    /// # Errors
    /// Connections still open after `bound`, or the loop failed to stop.
    fn finish(self: Box<Self>, bound: Duration) -> Result<(), SampleError>;
}

/// Bytes a server of these workloads reads per `read(2)` call.
pub const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// This thread's read buffer for [`with_read_buf`].
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_CHUNK]);
}

/// Runs `f` with this thread's read buffer of [`READ_CHUNK`] bytes, zeroed once per thread
/// instead of once per readiness: a `[0; 16 KiB]` on the stack per callback was a 16 KiB
/// `memset` per echoed message (1.1% of `main`'s server thread under `perf`, on the server
/// code every trait-based loop shares and on calloop's native server). A nested call (a read
/// from inside another read's `f`) gets a fresh buffer.
pub fn with_read_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    READ_BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut vec![0; READ_CHUNK]),
    })
}

/// Writes as much of `out` to `w` as it takes without blocking and removes what was written:
/// `Ok(true)` when all of it, `Ok(false)` when the socket would block with bytes left (the
/// peer's receive window is full). Shared by every server of these workloads.
///
/// # Errors
/// A write failed (other than `EAGAIN`/`EINTR`), or returned 0.
pub fn write_pending(mut w: impl std::io::Write, out: &mut Vec<u8>) -> std::io::Result<bool> {
    use std::io::ErrorKind;
    let mut off = 0;
    let result = loop {
        if off == out.len() {
            break Ok(true);
        }
        match w.write(&out[off..]) {
            Ok(0) => break Err(std::io::Error::new(ErrorKind::WriteZero, "write returned 0")),
            Ok(n) => off += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    out.drain(..off);
    result
}

/// Accepts every connection waiting on the non-blocking `listener` (until `EAGAIN`), counts
/// each in `counters.accepted`, makes it non-blocking with `TCP_NODELAY` and hands it to
/// `on_conn`; a socket that cannot be configured is counted as an error and closed. Returns on
/// `EAGAIN`, or on another `accept` error (EMFILE and friends: the rest stays in the backlog for
/// the next readiness rather than spinning; the client reports the connections that failed).
pub fn accept_ready(
    listener: &std::net::TcpListener,
    counters: &ServerCounters,
    mut on_conn: impl FnMut(std::net::TcpStream),
) {
    use std::io::ErrorKind;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                counters.accepted.fetch_add(1, Ordering::AcqRel);
                match stream.set_nonblocking(true).and(stream.set_nodelay(true)) {
                    Ok(()) => on_conn(stream),
                    Err(e) => {
                        counters.error(format!("configuring an accepted socket: {e}"));
                        counters.closed.fetch_add(1, Ordering::AcqRel);
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                counters.error(format!("accept: {e}"));
                return;
            }
        }
    }
}

/// Starts a contender's own (native) server for `Protocol`: the reference rows of peers that
/// lack the readiness capability.
pub type NativeServerFn = fn(Protocol) -> Result<Box<dyn NetServer>, SampleError>;

/// Listen backlog asked for (the kernel caps it at `net.core.somaxconn`, 4,096 by default): at
/// least the client's ramp-up batch, so connects never wait for a SYN retransmission.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds a non-blocking listener on `127.0.0.1:0` with [`LISTEN_BACKLOG`].
///
/// # Errors
/// `bind`, `listen` or `fcntl` failed.
pub fn bind_listener() -> Result<std::net::TcpListener, SampleError> {
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| SampleError(format!("bind 127.0.0.1:0: {e}")))?;
    // std listens with a backlog of 128; a second listen(2) on a listening socket only changes
    // the backlog.
    // SAFETY: `l` owns an open listening socket for the duration of the call.
    if unsafe { libc::listen(l.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        return Err(SampleError(format!("listen: {}", std::io::Error::last_os_error())));
    }
    l.set_nonblocking(true).map_err(|e| SampleError(format!("set_nonblocking: {e}")))?;
    Ok(l)
}

static CLIENT_PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Sets the `tournament` executable the echo workload spawns as its client (integration tests,
/// whose own executable is a test harness, pass `env!("CARGO_BIN_EXE_tournament")`). The first
/// call wins.
pub fn set_client_program(path: impl Into<PathBuf>) {
    let _ = CLIENT_PROGRAM.set(path.into());
}

/// The `tournament` executable to spawn as the echo client: the one set with
/// [`set_client_program`], else this process's executable when it is `tournament`, else a
/// `tournament` next to it or one directory up (where cargo puts binaries beside `deps/`).
///
/// # Errors
/// None of these exists.
pub fn client_program() -> Result<PathBuf, SampleError> {
    if let Some(p) = CLIENT_PROGRAM.get() {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe()
        .map_err(|e| SampleError(format!("cannot locate the tournament executable: {e}")))?;
    if exe.file_stem().is_some_and(|s| s == "tournament") {
        return Ok(exe);
    }
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    for cand in [dir.join("tournament"), dir.join("..").join("tournament")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Err(SampleError(format!(
        "cannot find the `tournament` executable to run the echo client (this process is {}); \
         build it (cargo build -p tournament) or call workloads::net::set_client_program",
        exe.display()
    )))
}

/// Raises the soft open-file limit once per process (see [`client::raise_nofile_limit`]).
///
/// # Errors
/// The limit could not be raised.
pub fn raise_nofile_once() -> Result<u64, SampleError> {
    static DONE: OnceLock<Result<u64, String>> = OnceLock::new();
    DONE.get_or_init(|| client::raise_nofile_limit().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| SampleError(format!("cannot raise RLIMIT_NOFILE: {e}")))
}
