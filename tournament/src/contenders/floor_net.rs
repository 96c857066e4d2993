//! The floor's socket server: the least a readiness loop can do per message, as a reference row
//! for the `echo` tables (never a rival: `verdict::Role::Reference`).
//!
//! One thread, one level-triggered epoll instance and nothing else: no task queue, no callback
//! table, no timers, no wake-up protocol, no spin. Each connection is registered once
//! (`EPOLLIN`, the fd as `epoll_data`), and each readiness gets **one** `read` (a short read
//! took everything; level-triggered readiness reports the rest at the next wait, the rule the
//! readiness-API server of `workloads/net/server.rs` follows too) and one `write` of the reply.
//! So per echoed message the floor makes the same syscalls as `main` (a read, a write and a share
//! of an `epoll_wait`) and no user-space work beyond them: its *CPU ns/task* is what the kernel
//! charges a server on this machine, and a loop's CPU per message minus the floor's is what
//! that loop's own machinery costs.
//!
//! A reply the socket cannot take at once switches that connection's interest to `EPOLLOUT`
//! (back-pressure: it reads nothing more) until the reply is out, counted as a write stall.
//! Stopping writes an eventfd registered in the same epoll instance.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::harness::SampleError;
use crate::workloads::net::native::ThreadServer;
use crate::workloads::net::{
    NetServer, Protocol, READ_CHUNK, Responder, ServerCounters, accept_ready, bind_listener,
    raise_nofile_once, write_pending,
};

/// `epoll_data` of the listening socket (connections use their fd, which is never this large).
const LISTENER: u64 = u64::MAX;

/// `epoll_data` of the stop eventfd.
const STOP: u64 = u64::MAX - 1;

/// Events read per `epoll_wait` (as `main`'s poller).
const EVENTS: usize = 256;

/// Starts the floor's server for `protocol` ([`crate::workloads::net::NativeServerFn`]).
///
/// # Errors
/// The listener could not be bound, or epoll or the eventfd could not be created.
pub fn start(protocol: Protocol) -> Result<Box<dyn NetServer>, SampleError> {
    raise_nofile_once()?;
    let listener = bind_listener()?;
    let addr = listener.local_addr().map_err(|e| SampleError(format!("local_addr: {e}")))?;
    let counters = Arc::new(ServerCounters::default());
    let c = Arc::clone(&counters);
    let server = ThreadServer::spawn("floor-server", addr, counters, move |started| {
        let ep = Epoll::new().map_err(|e| format!("epoll_create1: {e}"))?;
        let stop = Arc::new(eventfd().map_err(|e| format!("eventfd: {e}"))?);
        ep.ctl(libc::EPOLL_CTL_ADD, listener.as_raw_fd(), libc::EPOLLIN as u32, LISTENER)
            .map_err(|e| format!("registering the listener: {e}"))?;
        ep.ctl(libc::EPOLL_CTL_ADD, stop.as_raw_fd(), libc::EPOLLIN as u32, STOP)
            .map_err(|e| format!("registering the stop eventfd: {e}"))?;
        let stopper = Arc::clone(&stop);
        started.serving(Box::new(move || {
            let one = 1_u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from a live stack buffer to an eventfd this closure keeps
            // open (`stopper` holds the OwnedFd).
            let _ = unsafe { libc::write(stopper.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        }));
        serve(&ep, &listener, protocol, &c)
    })?;
    Ok(Box::new(server))
}

/// The event loop: returns when the stop eventfd becomes readable.
fn serve(
    ep: &Epoll,
    listener: &TcpListener,
    protocol: Protocol,
    counters: &ServerCounters,
) -> Result<(), String> {
    let mut conns: HashMap<RawFd, Conn> = HashMap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    let mut buf = vec![0_u8; READ_CHUNK];
    loop {
        let n = match ep.wait(&mut events) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("epoll_wait: {e}")),
        };
        for ev in &events[..n] {
            let (token, flags) = (ev.u64, ev.events);
            match token {
                STOP => return Ok(()),
                LISTENER => accept_all(ep, listener, protocol, counters, &mut conns),
                fd => {
                    let fd = fd as RawFd;
                    // An event for an fd closed earlier in this batch finds no connection (or,
                    // if accept reused the number, a read or flush that finds nothing to do).
                    let Some(conn) = conns.get_mut(&fd) else { continue };
                    let keep = if flags & libc::EPOLLOUT as u32 != 0 {
                        conn.resume(ep, fd, counters)
                    } else {
                        conn.serve_once(ep, fd, &mut buf, counters)
                    };
                    if !keep {
                        // Unregister before closing, so the fd number cannot be reused while
                        // still registered.
                        let _ = ep.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
                        conns.remove(&fd);
                        counters.closed.fetch_add(1, Ordering::AcqRel);
                    }
                }
            }
        }
    }
}

fn accept_all(
    ep: &Epoll,
    listener: &TcpListener,
    protocol: Protocol,
    counters: &ServerCounters,
    conns: &mut HashMap<RawFd, Conn>,
) {
    accept_ready(listener, counters, |stream| {
        let fd = stream.as_raw_fd();
        match ep.ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, fd as u64) {
            Ok(()) => {
                conns.insert(fd, Conn { stream, responder: protocol.responder(), out: Vec::new() });
            }
            Err(e) => {
                counters.error(format!("registering an accepted socket: {e}"));
                counters.closed.fetch_add(1, Ordering::AcqRel);
            }
        }
    });
}

struct Conn {
    stream: TcpStream,
    responder: Responder,
    /// Reply bytes not written yet (empty except while stalled).
    out: Vec<u8>,
}

impl Conn {
    /// One readiness: one read, the reply written. `false` when the connection must close.
    fn serve_once(
        &mut self,
        ep: &Epoll,
        fd: RawFd,
        buf: &mut [u8],
        counters: &ServerCounters,
    ) -> bool {
        match self.stream.read(buf) {
            Ok(0) => false,
            Ok(n) => match self.responder.on_bytes(&buf[..n], &mut self.out) {
                Ok(answered) => {
                    if answered > 0 {
                        counters.requests.fetch_add(answered, Ordering::Relaxed);
                    }
                    match self.flush() {
                        Ok(true) => true,
                        Ok(false) => {
                            counters.write_stalls.fetch_add(1, Ordering::Relaxed);
                            self.interest(ep, fd, libc::EPOLLOUT, counters)
                        }
                        Err(e) => {
                            counters.error(format!("write: {e}"));
                            false
                        }
                    }
                }
                Err(why) => {
                    counters.error(why);
                    false
                }
            },
            Err(e)
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) =>
            {
                true
            }
            Err(e) => {
                counters.error(format!("read: {e}"));
                false
            }
        }
    }

    /// The socket became writable while stalled: write the rest, then read again.
    fn resume(&mut self, ep: &Epoll, fd: RawFd, counters: &ServerCounters) -> bool {
        match self.flush() {
            Ok(true) => self.interest(ep, fd, libc::EPOLLIN, counters),
            Ok(false) => true,
            Err(e) => {
                counters.error(format!("write: {e}"));
                false
            }
        }
    }

    /// Switches the registration's interest to `flags`; `false` (close) when epoll refuses.
    fn interest(&self, ep: &Epoll, fd: RawFd, flags: i32, counters: &ServerCounters) -> bool {
        match ep.ctl(libc::EPOLL_CTL_MOD, fd, flags as u32, fd as u64) {
            Ok(()) => true,
            Err(e) => {
                counters.error(format!("epoll_ctl: {e}"));
                false
            }
        }
    }

    /// Writes as much of `out` as the socket takes: `Ok(true)` when all of it.
    fn flush(&mut self) -> io::Result<bool> {
        write_pending(&self.stream, &mut self.out)
    }
}

/// An epoll instance, closed on drop.
struct Epoll(OwnedFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new fd we own.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nothing else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// `epoll_ctl(op, fd)` with `events` and `data` (ignored by `EPOLL_CTL_DEL`).
    fn ctl(&self, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: `ev` is a valid epoll_event on the stack for the duration of the call; the
        // kernel copies it.
        if unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Blocks until at least one event; fills the front of `events` and returns how many.
    fn wait(&self, events: &mut [libc::epoll_event]) -> io::Result<usize> {
        let max = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: the kernel writes at most `max` events into `events`, which is valid for
        // `events.len()` ≥ `max` elements.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, -1) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new fd we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
