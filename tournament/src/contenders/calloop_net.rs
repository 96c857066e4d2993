//! The native server of `calloop` for the socket workloads: calloop's `Generic` I/O source on a
//! calloop `EventLoop` running on its own thread — how a calloop user serves sockets.
//!
//! The listener is a level-triggered `Generic` source accepting until `EAGAIN`; each connection
//! is an **edge-triggered** `Generic` source with read and write interest, so a reply the socket
//! cannot take at once waits for the writable edge instead of polling (the connection reads
//! nothing more until it is out). The protocol code is the shared [`Responder`].

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use calloop::generic::Generic;
use calloop::{EventLoop, Interest, LoopHandle, Mode, PostAction};

use crate::harness::SampleError;
use crate::workloads::net::native::ThreadServer;
use crate::workloads::net::{
    NetServer, Protocol, Responder, ServerCounters, accept_ready, bind_listener, raise_nofile_once,
    with_read_buf, write_pending,
};

/// Starts the calloop server for `protocol` ([`crate::workloads::net::NativeServerFn`]).
///
/// # Errors
/// The listener could not be bound, or the event loop did not start.
pub fn start(protocol: Protocol) -> Result<Box<dyn NetServer>, SampleError> {
    raise_nofile_once()?;
    let listener = bind_listener()?;
    let addr = listener.local_addr().map_err(|e| SampleError(format!("local_addr: {e}")))?;
    let counters = Arc::new(ServerCounters::default());
    let c = Arc::clone(&counters);
    let server = ThreadServer::spawn("calloop-server", addr, counters, move |started| {
        let mut event_loop: EventLoop<'static, ()> =
            EventLoop::try_new().map_err(|e| format!("creating the event loop: {e}"))?;
        let handle = event_loop.handle();
        let h = handle.clone();
        handle
            .insert_source(Generic::new(listener, Interest::READ, Mode::Level), move |_, l, _| {
                accept_all(l, &h, protocol, &c);
                Ok(PostAction::Continue)
            })
            .map_err(|e| format!("inserting the listener: {e}"))?;
        let signal = event_loop.get_signal();
        started.serving(Box::new(move || {
            signal.stop();
            signal.wakeup();
        }));
        event_loop.run(None, &mut (), |_| {}).map_err(|e| format!("event loop failed: {e}"))
    })?;
    Ok(Box::new(server))
}

fn accept_all(
    listener: &TcpListener,
    handle: &LoopHandle<'static, ()>,
    protocol: Protocol,
    counters: &Arc<ServerCounters>,
) {
    accept_ready(listener, counters, |stream| {
        let mut conn = Conn { responder: protocol.responder(), out: Vec::new() };
        let c = Arc::clone(counters);
        let source = Generic::new(stream, Interest::BOTH, Mode::Edge);
        let inserted = handle.insert_source(source, move |_, s, _| match conn.service(s, &c) {
            Ok(true) => Ok(PostAction::Continue),
            Ok(false) => {
                c.closed.fetch_add(1, Ordering::AcqRel);
                Ok(PostAction::Remove)
            }
            Err(e) => {
                c.error(e.to_string());
                c.closed.fetch_add(1, Ordering::AcqRel);
                Ok(PostAction::Remove)
            }
        });
        if let Err(e) = inserted {
            counters.error(format!("inserting a connection: {e}"));
            counters.closed.fetch_add(1, Ordering::AcqRel);
        }
    });
}

struct Conn {
    responder: Responder,
    out: Vec<u8>,
}

impl Conn {
    /// Handles one edge: flush what is pending, then read until `EAGAIN`, answering. `Ok(false)`
    /// at EOF.
    fn service(&mut self, s: &TcpStream, counters: &ServerCounters) -> io::Result<bool> {
        with_read_buf(|buf| self.service_with(s, buf, counters))
    }

    /// [`Conn::service`] reading into `buf`.
    fn service_with(
        &mut self,
        mut s: &TcpStream,
        buf: &mut [u8],
        counters: &ServerCounters,
    ) -> io::Result<bool> {
        loop {
            if !self.out.is_empty() && !self.flush(s)? {
                counters.write_stalls.fetch_add(1, Ordering::Relaxed);
                return Ok(true); // the writable edge brings us back
            }
            match s.read(buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    let answered = self
                        .responder
                        .on_bytes(&buf[..n], &mut self.out)
                        .map_err(io::Error::other)?;
                    counters.requests.fetch_add(answered, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.out.is_empty() && !self.flush(s)? {
                        counters.write_stalls.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes as much of `out` as the socket takes; `Ok(true)` when all of it.
    fn flush(&mut self, s: &TcpStream) -> io::Result<bool> {
        write_pending(s, &mut self.out)
    }
}
