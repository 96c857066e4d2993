//! The native server of `tokio-ct` for the socket workloads: tokio's own `TcpListener` /
//! `TcpStream` on a current-thread runtime (I/O and time drivers), one spawned task per
//! connection — what a tokio user would write, and the reference row the trait-based servers
//! are read against.
//!
//! The connection task waits with `readable()` / `writable()` and moves bytes with `try_read` /
//! `try_write` (tokio's readiness API for `TcpStream`; the `AsyncReadExt` helpers need tokio's
//! `io-util` feature, which this workspace does not enable — they wrap the same calls). The
//! protocol code is the shared [`Responder`], so only the I/O machinery differs from our loops.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;

use crate::harness::SampleError;
use crate::workloads::net::native::ThreadServer;
use crate::workloads::net::{
    NetServer, Protocol, Responder, ServerCounters, bind_listener, raise_nofile_once,
};

/// Starts the tokio server for `protocol` ([`crate::workloads::net::NativeServerFn`]).
///
/// # Errors
/// The listener could not be bound, or the runtime did not start.
pub fn start(protocol: Protocol) -> Result<Box<dyn NetServer>, SampleError> {
    raise_nofile_once()?;
    let std_listener = bind_listener()?;
    let addr = std_listener.local_addr().map_err(|e| SampleError(format!("local_addr: {e}")))?;
    let counters = Arc::new(ServerCounters::default());
    let c = Arc::clone(&counters);
    let server = ThreadServer::spawn("tokio-server", addr, counters, move |started| {
        let rt = Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("building the runtime: {e}"))?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener)
                .map_err(|e| format!("registering the listener: {e}"))?;
            tokio::spawn(accept_loop(listener, protocol, c));
            started.serving(Box::new(move || {
                let _ = stop_tx.send(());
            }));
            // Serve until stopped; dropping the runtime afterwards cancels every task.
            let _ = stop_rx.await;
            Ok::<(), String>(())
        })
    })?;
    Ok(Box::new(server))
}

async fn accept_loop(listener: TcpListener, protocol: Protocol, counters: Arc<ServerCounters>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                counters.accepted.fetch_add(1, Ordering::AcqRel);
                if let Err(e) = stream.set_nodelay(true) {
                    counters.error(format!("TCP_NODELAY: {e}"));
                }
                let c = Arc::clone(&counters);
                tokio::spawn(async move {
                    if let Err(e) = serve(&stream, protocol.responder(), &c).await {
                        c.error(e.to_string());
                    }
                    drop(stream);
                    c.closed.fetch_add(1, Ordering::AcqRel);
                });
            }
            // EMFILE and the like: counted; the client reports the connections that failed.
            Err(e) => counters.error(format!("accept: {e}")),
        }
    }
}

/// Serves one connection until EOF.
async fn serve(s: &TcpStream, mut r: Responder, counters: &ServerCounters) -> io::Result<()> {
    let mut buf = vec![0_u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        s.readable().await?;
        let n = match s.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        let answered = r.on_bytes(&buf[..n], &mut out).map_err(io::Error::other)?;
        counters.requests.fetch_add(answered, Ordering::Relaxed);
        let mut off = 0;
        while off < out.len() {
            match s.try_write(&out[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    counters.write_stalls.fetch_add(1, Ordering::Relaxed);
                    s.writable().await?;
                }
                Err(e) => return Err(e),
            }
        }
        out.clear();
    }
}
