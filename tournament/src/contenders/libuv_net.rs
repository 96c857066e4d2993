//! The native server of `libuv` for the socket workloads: a libuv TCP server written as a libuv
//! user writes one (Node.js's `net` module does the same through its stream wrappers), on its
//! own loop thread.
//!
//! * The listening socket (bound by [`bind_listener`], like every server's) is adopted with
//!   `uv_tcp_open` and served by `uv_listen`; each connection is `uv_accept`ed into a fresh
//!   `uv_tcp_t` with `TCP_NODELAY` and `uv_read_start`ed.
//! * Reads land in one 16 KiB buffer per server (the alloc callback hands it out; a read
//!   callback consumes it before the next read), the shared [`Responder`] turns them into the
//!   reply, and the reply goes out with `uv_try_write` (what Node.js tries first); a remainder
//!   the socket does not take is queued with `uv_write` (counted as a write stall) and writes
//!   keep their order (no `uv_try_write` while one is queued).
//! * On EOF or an error the connection is closed with `uv_close`, and its memory is freed in
//!   the close callback.
//! * Stopping: a `uv_async_t` closes the listener, itself and any open connection; `uv_run`
//!   then returns (no active handle left) and the loop is closed.

use std::collections::HashSet;
use std::ffi::{c_int, c_void};
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::libuv_sys::{self as sys, Uv, UvBuf, UvMem};
use crate::harness::SampleError;
use crate::workloads::net::native::{Started, ThreadServer};
use crate::workloads::net::{
    LISTEN_BACKLOG, NetServer, Protocol, Responder, ServerCounters, bind_listener,
    raise_nofile_once,
};

/// Bytes read per read callback at most (the same chunk as the other servers).
const READ_CHUNK: usize = 16 * 1024;

/// Starts the libuv server for `protocol` ([`crate::workloads::net::NativeServerFn`]).
///
/// # Errors
/// libuv is not installed (the message says how to install it), the listener could not be
/// bound, or the loop did not start.
pub fn start(protocol: Protocol) -> Result<Box<dyn NetServer>, SampleError> {
    let uv = sys::uv().map_err(SampleError)?;
    raise_nofile_once()?;
    let listener = bind_listener()?;
    let addr = listener.local_addr().map_err(|e| SampleError(format!("local_addr: {e}")))?;
    let counters = Arc::new(ServerCounters::default());
    let c = Arc::clone(&counters);
    let server = ThreadServer::spawn("libuv-server", addr, counters, move |started| {
        serve(uv, listener.into_raw_fd(), protocol, c, &started)
    })?;
    Ok(Box::new(server))
}

/// The stop handle handed to [`Started::serving`]: the server's `uv_async_t`, cleared (under
/// the lock) before its memory is freed, so a late stop call is harmless.
struct StopHandle {
    uv: &'static Uv,
    handle: Mutex<Option<*mut c_void>>,
}

// SAFETY: the pointer is only used for `uv_async_send` (safe from any thread) while the server
// keeps the handle alive, which the mutex guarantees (see `StopHandle`).
unsafe impl Send for StopHandle {}
// SAFETY: as above.
unsafe impl Sync for StopHandle {}

impl StopHandle {
    fn stop(&self) {
        if let Some(h) = *self.handle.lock() {
            // SAFETY: `h` is a live, initialised `uv_async_t` while it is in the mutex.
            unsafe { (self.uv.async_send)(h) };
        }
    }
}

/// Per-server state, reached from every callback through the handles' `data`.
struct Server {
    uv: &'static Uv,
    lp: *mut c_void,
    protocol: Protocol,
    counters: Arc<ServerCounters>,
    /// The read buffer the alloc callback hands out.
    buf: Box<[u8]>,
    tcp_size: usize,
    write_size: usize,
    /// Connections not yet closing.
    conns: HashSet<*mut Conn>,
    listener: UvMem,
    stop: UvMem,
}

/// One connection; owned by its `uv_tcp_t`'s `data` from accept to the close callback.
struct Conn {
    tcp: UvMem,
    server: *mut Server,
    responder: Responder,
    /// Reply bytes not written yet.
    out: Vec<u8>,
    /// `uv_write` requests in flight.
    pending_writes: usize,
    /// `uv_close` was called.
    closing: bool,
    /// Counted in `accepted` (so its close is counted in `closed`).
    counted: bool,
}

/// One queued write: the request and the bytes it writes (kept alive until its callback).
struct WriteReq {
    req: UvMem,
    bytes: Vec<u8>,
    conn: *mut Conn,
}

fn serve(
    uv: &'static Uv,
    listen_fd: c_int,
    protocol: Protocol,
    counters: Arc<ServerCounters>,
    started: &Started,
) -> Result<(), String> {
    // SAFETY: size queries without preconditions.
    let (loop_size, tcp_size, async_size, write_size) = unsafe {
        (
            (uv.loop_size)(),
            (uv.handle_size)(sys::UV_TCP),
            (uv.handle_size)(sys::UV_ASYNC),
            (uv.req_size)(sys::UV_WRITE),
        )
    };
    let lp = UvMem::new(loop_size);
    // SAFETY: zeroed memory of `uv_loop_size()` bytes, initialised once.
    let r = unsafe { (uv.loop_init)(lp.ptr()) };
    if r != 0 {
        // SAFETY: we own the fd and nothing adopted it.
        unsafe { libc::close(listen_fd) };
        return Err(format!("uv_loop_init: {}", uv.error(r)));
    }
    let mut server = Box::new(Server {
        uv,
        lp: lp.ptr(),
        protocol,
        counters,
        buf: vec![0_u8; READ_CHUNK].into_boxed_slice(),
        tcp_size,
        write_size,
        conns: HashSet::new(),
        listener: UvMem::new(tcp_size),
        stop: UvMem::new(async_size),
    });
    let sp: *mut Server = &mut *server;
    let stop = Arc::new(StopHandle { uv, handle: Mutex::new(None) });
    // SAFETY: the handles are zeroed memory of their libuv sizes on the initialised loop; the
    // `data` pointers stay valid until the loop is closed below (the `Box` does not move).
    let setup = unsafe {
        let (l, s) = (server.listener.ptr(), server.stop.ptr());
        let mut r = (uv.tcp_init)(lp.ptr(), l);
        if r == 0 {
            sys::set_data(l, sp.cast());
            r = (uv.tcp_open)(l, listen_fd);
            if r != 0 {
                libc::close(listen_fd);
            }
        } else {
            libc::close(listen_fd);
        }
        if r == 0 {
            r = (uv.listen)(l, LISTEN_BACKLOG, on_connection);
        }
        if r == 0 {
            r = (uv.async_init)(lp.ptr(), s, on_stop);
            sys::set_data(s, sp.cast());
        }
        r
    };
    if setup != 0 {
        // SAFETY: the loop is initialised; closing it may fail with EBUSY if the listener was
        // initialised, in which case it is leaked (a failed start, reported).
        unsafe {
            (uv.close)(server.listener.ptr(), None);
            (uv.run)(lp.ptr(), sys::UV_RUN_NOWAIT);
            (uv.loop_close)(lp.ptr());
        }
        return Err(format!("setting the listener up: {}", uv.error(setup)));
    }
    *stop.handle.lock() = Some(server.stop.ptr());
    let st = Arc::clone(&stop);
    started.serving(Box::new(move || st.stop()));
    // SAFETY: the loop is initialised and runs on this thread only; it returns once `on_stop`
    // closed every handle.
    let r = unsafe { (uv.run)(lp.ptr(), sys::UV_RUN_DEFAULT) };
    *stop.handle.lock() = None;
    // SAFETY: every handle is closed (their close callbacks ran inside `uv_run`).
    let closed = unsafe { (uv.loop_close)(lp.ptr()) };
    drop(server);
    drop(lp);
    if closed != 0 {
        return Err(format!("uv_loop_close: {} (uv_run returned {r})", uv.error(closed)));
    }
    Ok(())
}

/// The server a handle or connection belongs to.
///
/// # Safety
/// `h` is a handle whose `data` is the live `Server` (the listener, the stop handle).
unsafe fn server_of<'a>(h: *mut c_void) -> &'a mut Server {
    // SAFETY: per the contract.
    unsafe { &mut *sys::data(h).cast::<Server>() }
}

unsafe extern "C" fn on_stop(h: *mut c_void) {
    // SAFETY: the stop handle's `data` is the live server.
    let s = unsafe { server_of(h) };
    let conns: Vec<*mut Conn> = s.conns.iter().copied().collect();
    for c in conns {
        // SAFETY: every pointer in `conns` is a live connection that is not closing.
        unsafe { close_conn(c, None) };
    }
    // SAFETY: both handles are initialised and not closing (this runs once: the handle is
    // closed right here, so no later wake-up reaches it).
    unsafe {
        (s.uv.close)(s.listener.ptr(), None);
        (s.uv.close)(s.stop.ptr(), None);
    }
}

unsafe extern "C" fn on_connection(listener: *mut c_void, status: c_int) {
    // SAFETY: the listener's `data` is the live server.
    let s = unsafe { server_of(listener) };
    if status < 0 {
        s.counters.error(format!("accept: {}", s.uv.error(status)));
        return;
    }
    let conn = Box::new(Conn {
        tcp: UvMem::new(s.tcp_size),
        server: s,
        responder: s.protocol.responder(),
        out: Vec::new(),
        pending_writes: 0,
        closing: false,
        counted: false,
    });
    let tcp = conn.tcp.ptr();
    let p = Box::into_raw(conn);
    // SAFETY: `tcp` is zeroed memory of `uv_tcp_t`'s size on the server's loop; its `data` owns
    // the connection from here until the close callback.
    unsafe {
        let r = (s.uv.tcp_init)(s.lp, tcp);
        if r != 0 {
            s.counters.error(format!("uv_tcp_init: {}", s.uv.error(r)));
            drop(Box::from_raw(p));
            return;
        }
        sys::set_data(tcp, p.cast());
        let r = (s.uv.accept)(listener, tcp);
        if r != 0 {
            s.counters.error(format!("uv_accept: {}", s.uv.error(r)));
            (*p).closing = true;
            (s.uv.close)(tcp, Some(on_close));
            return;
        }
        s.counters.accepted.fetch_add(1, Ordering::AcqRel);
        (*p).counted = true;
        s.conns.insert(p);
        let r = (s.uv.tcp_nodelay)(tcp, 1);
        if r != 0 {
            return close_conn(p, Some(format!("TCP_NODELAY: {}", s.uv.error(r))));
        }
        let r = (s.uv.read_start)(tcp, on_alloc, on_read);
        if r != 0 {
            close_conn(p, Some(format!("uv_read_start: {}", s.uv.error(r))));
        }
    }
}

/// Starts closing a connection (once), counting `why` as an error.
///
/// # Safety
/// `p` is a live connection.
unsafe fn close_conn(p: *mut Conn, why: Option<String>) {
    // SAFETY: per the contract; the server outlives its connections.
    let (c, s) = unsafe { (&mut *p, &mut *(*p).server) };
    if c.closing {
        return;
    }
    c.closing = true;
    s.conns.remove(&p);
    if let Some(why) = why {
        s.counters.error(why);
    }
    // SAFETY: an initialised handle not yet closing.
    unsafe { (s.uv.close)(c.tcp.ptr(), Some(on_close)) };
}

unsafe extern "C" fn on_close(h: *mut c_void) {
    // SAFETY: the handle's `data` owns its connection; libuv never touches the handle after
    // this callback, so the memory (inside the connection) may go.
    let conn = unsafe { Box::from_raw(sys::data(h).cast::<Conn>()) };
    if conn.counted {
        // SAFETY: the server outlives its connections.
        let s = unsafe { &*conn.server };
        s.counters.closed.fetch_add(1, Ordering::AcqRel);
    }
    drop(conn);
}

unsafe extern "C" fn on_alloc(h: *mut c_void, _suggested: usize, buf: *mut UvBuf) {
    // SAFETY: the handle's `data` is its live connection, whose server is live; libuv passes a
    // writable `uv_buf_t`.
    unsafe {
        let s = &mut *(*sys::data(h).cast::<Conn>()).server;
        buf.write(UvBuf { base: s.buf.as_mut_ptr().cast(), len: s.buf.len() });
    }
}

unsafe extern "C" fn on_read(h: *mut c_void, nread: isize, buf: *const UvBuf) {
    // SAFETY: the handle's `data` is its live connection.
    let p = unsafe { sys::data(h) }.cast::<Conn>();
    // SAFETY: as above.
    let c = unsafe { &mut *p };
    if nread == 0 || c.closing {
        return; // EAGAIN
    }
    // SAFETY: the server outlives its connections.
    let s = unsafe { &*c.server };
    if nread == sys::UV_EOF {
        // SAFETY: a live connection.
        return unsafe { close_conn(p, None) };
    }
    if nread < 0 {
        let why = format!("read: {}", s.uv.error(nread as c_int));
        // SAFETY: a live connection.
        return unsafe { close_conn(p, Some(why)) };
    }
    // SAFETY: libuv filled `nread` bytes of the buffer it got from `on_alloc`.
    let input = unsafe { std::slice::from_raw_parts((*buf).base.cast::<u8>(), nread as usize) };
    match c.responder.on_bytes(input, &mut c.out) {
        Ok(requests) => {
            if requests > 0 {
                s.counters.requests.fetch_add(requests, Ordering::Relaxed);
            }
        }
        // SAFETY: a live connection.
        Err(why) => return unsafe { close_conn(p, Some(why)) },
    }
    // SAFETY: a live connection.
    unsafe { write_out(p) };
}

/// Sends `out`: `uv_try_write` first, the rest with a queued `uv_write`.
///
/// # Safety
/// `p` is a live connection that is not closing.
unsafe fn write_out(p: *mut Conn) {
    // SAFETY: per the contract.
    let (c, s) = unsafe { (&mut *p, &*(*p).server) };
    if c.out.is_empty() {
        return;
    }
    if c.pending_writes == 0 {
        let b = UvBuf { base: c.out.as_mut_ptr().cast(), len: c.out.len() };
        // SAFETY: an open stream; `b` describes live bytes for the duration of the call.
        let n = unsafe { (s.uv.try_write)(c.tcp.ptr(), &b, 1) };
        if n >= 0 {
            c.out.drain(..n as usize);
        } else if n != sys::UV_EAGAIN {
            // SAFETY: a live connection.
            return unsafe { close_conn(p, Some(format!("write: {}", s.uv.error(n)))) };
        }
        if c.out.is_empty() {
            return;
        }
    }
    s.counters.write_stalls.fetch_add(1, Ordering::Relaxed);
    let req = Box::new(WriteReq {
        req: UvMem::new(s.write_size),
        bytes: std::mem::take(&mut c.out),
        conn: p,
    });
    let (rp, bytes) =
        (req.req.ptr(), UvBuf { base: req.bytes.as_ptr().cast_mut().cast(), len: req.bytes.len() });
    let owner = Box::into_raw(req);
    // SAFETY: `rp` is zeroed `uv_write_t` memory owned by `owner` (freed in `on_write`, which
    // libuv always calls, with `UV_ECANCELED` if the handle closes first); the bytes live as
    // long as the request.
    unsafe {
        sys::set_data(rp, owner.cast());
        let r = (s.uv.write)(rp, c.tcp.ptr(), &bytes, 1, on_write);
        if r != 0 {
            drop(Box::from_raw(owner));
            return close_conn(p, Some(format!("uv_write: {}", s.uv.error(r))));
        }
    }
    c.pending_writes += 1;
}

unsafe extern "C" fn on_write(req: *mut c_void, status: c_int) {
    // SAFETY: the request's `data` owns it (set in `write_out`); the connection is still live
    // (libuv completes or cancels every write before the close callback).
    let req = unsafe { Box::from_raw(sys::data(req).cast::<WriteReq>()) };
    let p = req.conn;
    drop(req);
    // SAFETY: as above.
    let c = unsafe { &mut *p };
    c.pending_writes -= 1;
    if c.closing {
        return;
    }
    if status < 0 {
        // SAFETY: a live connection; its server outlives it.
        let why = format!("write: {}", unsafe { &*c.server }.uv.error(status));
        // SAFETY: a live connection.
        return unsafe { close_conn(p, Some(why)) };
    }
    // SAFETY: a live connection, not closing.
    unsafe { write_out(p) };
}
