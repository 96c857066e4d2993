//! The socket server written once against the trait's readiness API, generic over
//! `L: EventLoop`: every readiness-capable contender serves the same code.
//!
//! * The listening socket is registered readable; its callback accepts until `EAGAIN` and
//!   registers every new (non-blocking, `TCP_NODELAY`) connection.
//! * A connection callback reads, feeds the bytes to its [`Responder`] and writes the reply; it
//!   reads again only while a read filled its whole buffer (see "One read per readiness"). On
//!   EOF or an error it **unregisters itself from inside its own callback** and
//!   then closes the socket (unregister first, so the fd number cannot be reused while still
//!   registered).
//!
//! ## One read per readiness
//!
//! The contract's readiness is level-triggered: the callback is called again on a later tick
//! while data remains. A `read(2)` that returns less than the buffer has taken everything the
//! socket held at that moment, so the callback returns instead of reading on until `EAGAIN`;
//! bytes (or an EOF) that arrive later keep the fd readable and the loop calls back. This is
//! what libuv does (`uv__read` stops at a short read) and what a level-triggered user writes;
//! reading until `EAGAIN` cost the `echo` workload a second `recvfrom` per echoed message, the
//! one that fails with `EAGAIN` (the server's `syscalls_read_per_message`: 2 → 1). A read that
//! fills the buffer reads again in the same callback (more may be waiting).
//!
//! ## Partial writes without write readiness
//!
//! The contract has only read readiness. A reply that does not fit in the socket's send buffer
//! (the peer stopped reading) is kept, and the connection **stalls**: it unregisters its read
//! callback (back-pressure: it reads nothing more until the reply is out) and hands its state to
//! a retry task on the external queue, which tries the write again once per loop tick, resubmits
//! itself while the socket is still full, and re-registers the read callback once the reply is
//! out. Level-triggered readiness then reports whatever arrived meanwhile. This is correct —
//! no byte is lost or reordered and progress resumes as soon as the peer reads — at the price
//! of polling while stalled, instead of adding `register_writable` to every loop. In these
//! workloads a stall needs a peer that stops reading with a full window (≥ 2.5 MB on loopback)
//! although it sends one 64-byte message, or one small HTTP request, per reply, so it does not
//! happen; every stall is counted ([`ServerCounters::write_stalls`]) and reported, so a run in
//! which it did is visible.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, LoopConfig, LoopStats};

use super::{
    NetServer, Protocol, Responder, ServerCounters, accept_ready, bind_listener, with_read_buf,
    write_pending,
};
use crate::harness::{RunningLoop, SampleError};
use crate::workloads::warm_up;

/// A connection's state, owned by its read callback (or, while stalled, by its retry task).
struct Conn {
    stream: TcpStream,
    fd: RawFd,
    responder: Responder,
    /// Reply bytes not written yet (empty except while stalled).
    out: Vec<u8>,
}

/// What one service pass of a connection ended with.
enum Step {
    /// Read everything available and wrote every reply.
    Idle,
    /// A reply is partly unwritten: stall until the socket takes it.
    Stalled,
    /// EOF (`None`) or an error: close.
    Closed(Option<String>),
}

impl Conn {
    /// Reads and answers; reads again only after a read that filled the buffer (see the
    /// [module docs](self), "One read per readiness"), and until `EAGAIN` then.
    fn service(&mut self, counters: &ServerCounters) -> Step {
        with_read_buf(|buf| self.service_with(buf, counters))
    }

    /// [`Conn::service`] reading into `buf`.
    fn service_with(&mut self, buf: &mut [u8], counters: &ServerCounters) -> Step {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Step::Closed(None),
                Ok(n) => match self.responder.on_bytes(&buf[..n], &mut self.out) {
                    Ok(requests) => {
                        if requests > 0 {
                            counters.requests.fetch_add(requests, Ordering::Relaxed);
                        }
                        match self.flush() {
                            // A short read emptied the socket: level-triggered readiness
                            // calls back when more arrives.
                            Ok(true) if n < buf.len() => return Step::Idle,
                            Ok(true) => {}
                            Ok(false) => return Step::Stalled,
                            Err(e) => return Step::Closed(Some(format!("write: {e}"))),
                        }
                    }
                    Err(why) => return Step::Closed(Some(why)),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Idle,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Step::Closed(Some(format!("read: {e}"))),
            }
        }
    }

    /// Writes as much of `out` as the socket takes: `Ok(true)` when all of it.
    fn flush(&mut self) -> io::Result<bool> {
        write_pending(&self.stream, &mut self.out)
    }
}

/// Shared by every callback of one server.
struct Ctx<L> {
    lp: Weak<L>,
    counters: Arc<ServerCounters>,
}

impl<L> Clone for Ctx<L> {
    fn clone(&self) -> Self {
        Ctx { lp: self.lp.clone(), counters: Arc::clone(&self.counters) }
    }
}

impl<L: EventLoop> Ctx<L> {
    /// Closes a connection whose callback is unregistered (or never was): counts it.
    fn closed(&self, conn: Box<Conn>, why: Option<String>) {
        if let Some(why) = why {
            self.counters.error(why);
        }
        drop(conn);
        self.counters.closed.fetch_add(1, Ordering::AcqRel);
    }

    /// Unregisters `fd` from inside its own callback. Failure means the loop already stopped
    /// (it dropped every registration), so nothing can call the callback any more either way.
    fn unregister(&self, fd: RawFd) {
        if let Some(lp) = self.lp.upgrade() {
            let _ = lp.unregister(fd);
        }
    }

    /// Registers `conn`'s read callback; closes it if the loop refuses.
    fn register(&self, conn: Box<Conn>) {
        let Some(lp) = self.lp.upgrade() else { return self.closed(conn, None) };
        let fd = conn.fd;
        if let Err(r) = lp.register_readable(fd, conn_callback(conn, self.clone())) {
            self.counters.error(format!("register_readable({fd}) rejected: {}", r.reason));
            // The callback comes back unrun; dropping it closes the connection.
            drop(r);
            self.counters.closed.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The retry task of a stalled connection (see the module docs).
    fn retry(self, mut conn: Box<Conn>) {
        match conn.flush() {
            Ok(true) => self.register(conn),
            Ok(false) => {
                let Some(lp) = self.lp.upgrade() else { return self.closed(conn, None) };
                let me = self.clone();
                if let Err(r) = lp.submit(move || me.retry(conn)) {
                    drop(r); // the loop is stopping: the connection closes with the task
                    self.counters.closed.fetch_add(1, Ordering::AcqRel);
                }
            }
            Err(e) => self.closed(conn, Some(format!("write: {e}"))),
        }
    }
}

/// The read callback of one connection. `slot` is emptied when the connection stalls or closes;
/// the loop never calls it again after it unregistered itself, but an empty slot makes even a
/// contract-breaking extra call harmless.
fn conn_callback<L: EventLoop>(conn: Box<Conn>, ctx: Ctx<L>) -> impl FnMut() + Send + 'static {
    let mut slot = Some(conn);
    move || {
        let Some(conn) = slot.as_mut() else { return };
        match conn.service(&ctx.counters) {
            Step::Idle => {}
            Step::Stalled => {
                ctx.counters.write_stalls.fetch_add(1, Ordering::Relaxed);
                let conn = slot.take().expect("checked above");
                ctx.unregister(conn.fd);
                let me = ctx.clone();
                match ctx.lp.upgrade() {
                    Some(lp) => {
                        if let Err(r) = lp.submit(move || me.retry(conn)) {
                            drop(r);
                            ctx.counters.closed.fetch_add(1, Ordering::AcqRel);
                        }
                    }
                    None => ctx.closed(conn, None),
                }
            }
            Step::Closed(why) => {
                let conn = slot.take().expect("checked above");
                ctx.unregister(conn.fd);
                ctx.closed(conn, why);
            }
        }
    }
}

/// The listener's callback: accepts until `EAGAIN`.
fn accept_callback<L: EventLoop>(
    listener: Arc<TcpListener>,
    protocol: Protocol,
    ctx: Ctx<L>,
) -> impl FnMut() + Send + 'static {
    move || {
        accept_ready(&listener, &ctx.counters, |stream| {
            let fd = stream.as_raw_fd();
            let conn = Conn { stream, fd, responder: protocol.responder(), out: Vec::new() };
            ctx.register(Box::new(conn));
        });
    }
}

/// The trait-based server: a fresh loop of contender `L` (started and warmed up like every
/// workload's) with the listener registered.
pub struct LoopServer<L: EventLoop> {
    running: RunningLoop<L>,
    listener: Arc<TcpListener>,
    addr: SocketAddr,
    counters: Arc<ServerCounters>,
}

impl<L: EventLoop> LoopServer<L> {
    /// Starts a loop with `config`, warms it up, binds a loopback listener and registers it.
    ///
    /// # Errors
    /// The loop failed to start or warm up, the socket could not be bound, or the loop refused
    /// the registration (e.g. it lacks the readiness capability: "operation not supported").
    pub fn start(config: &LoopConfig, protocol: Protocol) -> Result<Self, SampleError> {
        super::raise_nofile_once()?;
        let running = RunningLoop::<L>::start(config)?;
        warm_up::<L>(&running.lp, 1000)?;
        let listener = Arc::new(bind_listener()?);
        let addr = listener.local_addr().map_err(|e| SampleError(format!("local_addr: {e}")))?;
        let counters = Arc::new(ServerCounters::default());
        let ctx = Ctx { lp: Arc::downgrade(&running.lp), counters: Arc::clone(&counters) };
        let cb = accept_callback(Arc::clone(&listener), protocol, ctx);
        running.lp.register_readable(listener.as_raw_fd(), cb).map_err(|r| {
            SampleError(format!("register_readable(listener) rejected: {}", r.reason))
        })?;
        Ok(LoopServer { running, listener, addr, counters })
    }
}

impl<L: EventLoop> NetServer for LoopServer<L> {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> &ServerCounters {
        &self.counters
    }

    fn loop_stats(&self) -> Option<LoopStats> {
        Some(self.running.stats())
    }

    fn wake_accounting(&self) -> bool {
        L::CAPABILITIES.wake_accounting
    }

    fn finish(self: Box<Self>, bound: Duration) -> Result<(), SampleError> {
        let this = *self;
        let unreg = this.running.lp.unregister(this.listener.as_raw_fd());
        drop(this.listener);
        let open = wait_closed(&this.counters, bound);
        this.running.finish()?;
        unreg.map_err(|e| SampleError(format!("unregister(listener) failed: {e}")))?;
        match open {
            0 => Ok(()),
            n => Err(SampleError(format!(
                "{n} server connections were still open {bound:?} after the client finished \
                 (their EOF never reached the callback)"
            ))),
        }
    }
}

/// Waits until every accepted connection is closed, at most `bound`; returns how many are still
/// open. Untimed (after the timed scope): the peers are gone and their EOFs are in flight, so it
/// yields instead of parking — the loop threads doing the closing need no wake-up from here.
pub fn wait_closed(counters: &ServerCounters, bound: Duration) -> u64 {
    let deadline = Instant::now() + bound;
    loop {
        let open = counters.open();
        if open == 0 || Instant::now() >= deadline {
            return open;
        }
        std::thread::yield_now();
    }
}
