//! The system libuv (`libuv.so.1`, Debian's `libuv1`), loaded at run time with `libloading`, so
//! the workspace builds and its tests pass on a machine without it; there the `libuv` cells are
//! declared gaps saying how to install it ([`missing_reason`]).
//!
//! Only the calls the `libuv` peer uses are bound, with the C signatures of `uv.h` (libuv 1.x,
//! whose ABI is stable across 1.x releases). Handle and request structs are opaque here: their
//! sizes come from `uv_handle_size` / `uv_req_size` at run time, and the only field touched is
//! the public `void *data` that starts every `uv_handle_t` and `uv_req_t` (`uv.h`:
//! `UV_HANDLE_FIELDS` and `UV_REQ_FIELDS` both begin with it).

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::sync::OnceLock;

/// `uv_loop_t` (opaque).
pub type UvLoop = c_void;
/// `uv_handle_t` and its subtypes (`uv_async_t`, `uv_tcp_t`, `uv_stream_t`), opaque.
pub type UvHandle = c_void;
/// `uv_req_t` and its subtypes (`uv_write_t`), opaque.
pub type UvReq = c_void;

/// `uv_buf_t` on Unix: the same layout as `struct iovec`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct UvBuf {
    /// Start of the bytes.
    pub base: *mut c_char,
    /// Number of bytes.
    pub len: usize,
}

/// `uv_handle_type` values (`uv.h`, `UV_HANDLE_TYPE_MAP`, counted from `UV_UNKNOWN_HANDLE` = 0).
pub const UV_ASYNC: c_int = 1;
/// `UV_TCP`.
pub const UV_TCP: c_int = 12;
/// `uv_req_type` `UV_WRITE` (`UV_REQ_TYPE_MAP`, counted from `UV_UNKNOWN_REQ` = 0).
pub const UV_WRITE: c_int = 3;
/// `uv_run_mode` `UV_RUN_DEFAULT`: run until no active handle is left or `uv_stop`.
pub const UV_RUN_DEFAULT: c_int = 0;
/// `UV_RUN_NOWAIT`: poll once without blocking.
pub const UV_RUN_NOWAIT: c_int = 2;
/// `UV_EOF` (`uv/errno.h`).
pub const UV_EOF: isize = -4095;
/// `UV_EAGAIN` on Linux (`-EAGAIN`).
pub const UV_EAGAIN: c_int = -libc::EAGAIN;

/// `uv_async_cb`.
pub type AsyncCb = unsafe extern "C" fn(*mut UvHandle);
/// `uv_close_cb`.
pub type CloseCb = unsafe extern "C" fn(*mut UvHandle);
/// `uv_connection_cb`.
pub type ConnectionCb = unsafe extern "C" fn(*mut UvHandle, c_int);
/// `uv_alloc_cb`.
pub type AllocCb = unsafe extern "C" fn(*mut UvHandle, usize, *mut UvBuf);
/// `uv_read_cb` (`nread` is `ssize_t`).
pub type ReadCb = unsafe extern "C" fn(*mut UvHandle, isize, *const UvBuf);
/// `uv_write_cb`.
pub type WriteCb = unsafe extern "C" fn(*mut UvReq, c_int);

/// The bound entry points (plain C function pointers, valid while `_lib` is loaded: it lives
/// in a `static` and is never unloaded).
#[allow(missing_docs)]
pub struct Uv {
    _lib: libloading::Library,
    pub version_string: unsafe extern "C" fn() -> *const c_char,
    pub strerror: unsafe extern "C" fn(c_int) -> *const c_char,
    pub loop_size: unsafe extern "C" fn() -> usize,
    pub loop_init: unsafe extern "C" fn(*mut UvLoop) -> c_int,
    pub loop_close: unsafe extern "C" fn(*mut UvLoop) -> c_int,
    pub run: unsafe extern "C" fn(*mut UvLoop, c_int) -> c_int,
    pub stop: unsafe extern "C" fn(*mut UvLoop),
    pub handle_size: unsafe extern "C" fn(c_int) -> usize,
    pub req_size: unsafe extern "C" fn(c_int) -> usize,
    pub close: unsafe extern "C" fn(*mut UvHandle, Option<CloseCb>),
    pub is_closing: unsafe extern "C" fn(*const UvHandle) -> c_int,
    pub async_init: unsafe extern "C" fn(*mut UvLoop, *mut UvHandle, AsyncCb) -> c_int,
    pub async_send: unsafe extern "C" fn(*mut UvHandle) -> c_int,
    pub tcp_init: unsafe extern "C" fn(*mut UvLoop, *mut UvHandle) -> c_int,
    pub tcp_open: unsafe extern "C" fn(*mut UvHandle, c_int) -> c_int,
    pub tcp_nodelay: unsafe extern "C" fn(*mut UvHandle, c_int) -> c_int,
    pub listen: unsafe extern "C" fn(*mut UvHandle, c_int, ConnectionCb) -> c_int,
    pub accept: unsafe extern "C" fn(*mut UvHandle, *mut UvHandle) -> c_int,
    pub read_start: unsafe extern "C" fn(*mut UvHandle, AllocCb, ReadCb) -> c_int,
    pub try_write: unsafe extern "C" fn(*mut UvHandle, *const UvBuf, c_uint) -> c_int,
    pub write:
        unsafe extern "C" fn(*mut UvReq, *mut UvHandle, *const UvBuf, c_uint, WriteCb) -> c_int,
}

/// The library names tried, in order (unless [`LIBRARY_ENV`] names another).
const NAMES: &[&str] = &["libuv.so.1", "libuv.so"];

/// Environment variable naming the one library to load instead of [`NAMES`] (a file name the
/// dynamic loader searches for, or a path), read once, at the first [`uv`] call: to run the
/// peer against another libuv build, or (tests) to make libuv missing on a machine that has it,
/// e.g. `TOURNAMENT_LIBUV=libuv-absent.so.1`.
pub const LIBRARY_ENV: &str = "TOURNAMENT_LIBUV";

/// How to install libuv, for gap reasons and errors.
pub const INSTALL_HINT: &str = "libuv is not installed (libuv.so.1 not found): run `make deps` (Debian: apt-get install libuv1)";

fn load() -> Result<Uv, String> {
    let chosen = std::env::var(LIBRARY_ENV).ok().filter(|v| !v.is_empty());
    let names: Vec<&str> = match &chosen {
        Some(name) => vec![name.as_str()],
        None => NAMES.to_vec(),
    };
    let mut errors = Vec::new();
    for name in names {
        // SAFETY: loading libuv runs no initialisers with preconditions (it has none that
        // depend on the caller); it stays loaded for the life of the process.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => return bind(lib).map_err(|e| format!("{name}: {e}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(format!("{INSTALL_HINT} ({})", errors.join("; ")))
}

fn bind(lib: libloading::Library) -> Result<Uv, libloading::Error> {
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol is the libuv 1.x function of that name, whose C signature
            // (uv.h) is the field's type.
            *unsafe { lib.get($name)? }
        };
    }
    Ok(Uv {
        version_string: sym!(b"uv_version_string\0"),
        strerror: sym!(b"uv_strerror\0"),
        loop_size: sym!(b"uv_loop_size\0"),
        loop_init: sym!(b"uv_loop_init\0"),
        loop_close: sym!(b"uv_loop_close\0"),
        run: sym!(b"uv_run\0"),
        stop: sym!(b"uv_stop\0"),
        handle_size: sym!(b"uv_handle_size\0"),
        req_size: sym!(b"uv_req_size\0"),
        close: sym!(b"uv_close\0"),
        is_closing: sym!(b"uv_is_closing\0"),
        async_init: sym!(b"uv_async_init\0"),
        async_send: sym!(b"uv_async_send\0"),
        tcp_init: sym!(b"uv_tcp_init\0"),
        tcp_open: sym!(b"uv_tcp_open\0"),
        tcp_nodelay: sym!(b"uv_tcp_nodelay\0"),
        listen: sym!(b"uv_listen\0"),
        accept: sym!(b"uv_accept\0"),
        read_start: sym!(b"uv_read_start\0"),
        try_write: sym!(b"uv_try_write\0"),
        write: sym!(b"uv_write\0"),
        _lib: lib,
    })
}

/// The loaded libuv, or why it is unavailable (loaded once per process).
///
/// # Errors
/// `libuv.so.1` is not installed or lacks a bound symbol; the message says how to install it.
pub fn uv() -> Result<&'static Uv, String> {
    static UV: OnceLock<Result<Uv, String>> = OnceLock::new();
    UV.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// Why the `libuv` cells are declared gaps on this machine, or `None` when libuv loads.
pub fn missing_reason() -> Option<String> {
    uv().err()
}

/// The loaded libuv's version (`uv_version_string`), e.g. `1.44.2`; `None` without libuv.
pub fn version() -> Option<String> {
    let uv = uv().ok()?;
    // SAFETY: `uv_version_string` returns a static NUL-terminated string.
    Some(unsafe { CStr::from_ptr((uv.version_string)()) }.to_string_lossy().into_owned())
}

impl Uv {
    /// libuv's message for error code `code` (a negative errno).
    pub fn error(&self, code: c_int) -> String {
        // SAFETY: `uv_strerror` returns a static NUL-terminated string (or a leaked one for
        // unknown codes, which is still valid).
        let msg = unsafe { CStr::from_ptr((self.strerror)(code)) }.to_string_lossy().into_owned();
        format!("{msg} ({code})")
    }
}

/// Zeroed, 16-byte aligned memory for one libuv struct of `size` bytes (a handle, request or
/// loop), freed on drop. libuv never keeps a pointer to it after the struct's close callback
/// (handles) or completion callback (requests) ran; owners keep it alive until then.
pub struct UvMem {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

// SAFETY: `UvMem` is plain owned memory; which thread may use the libuv struct in it is the
// owner's concern (libuv's own rules), not the allocation's.
unsafe impl Send for UvMem {}
// SAFETY: as above; shared references only hand out the raw pointer.
unsafe impl Sync for UvMem {}

impl UvMem {
    /// Allocates `size` zeroed bytes.
    ///
    /// # Panics
    /// `size` is 0 or the allocation fails (both mean libuv reported a nonsensical size or the
    /// process is out of memory).
    pub fn new(size: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(size.max(1), 16).expect("valid layout");
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "allocating {size} bytes for a libuv struct failed");
        UvMem { ptr, layout }
    }

    /// The struct's address.
    pub fn ptr(&self) -> *mut c_void {
        self.ptr.cast()
    }
}

impl Drop for UvMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Sets the `data` field (the first field) of a handle or request.
///
/// # Safety
/// `h` points to an initialised-or-zeroed libuv handle or request struct.
pub unsafe fn set_data(h: *mut c_void, data: *mut c_void) {
    // SAFETY: `data` is the first field (a `void *`) of every handle and request.
    unsafe { h.cast::<*mut c_void>().write(data) };
}

/// Reads the `data` field of a handle or request.
///
/// # Safety
/// As [`set_data`].
pub unsafe fn data(h: *const c_void) -> *mut c_void {
    // SAFETY: as in `set_data`.
    unsafe { h.cast::<*mut c_void>().read() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_or_says_how_to_install() {
        match uv() {
            Ok(_) => assert!(version().is_some_and(|v| v.starts_with("1."))),
            Err(why) => assert!(why.contains("make deps"), "{why}"),
        }
    }
}
