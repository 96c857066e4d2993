//! Readiness registrations: fd → callback, each registration under its own mio token.
//!
//! **Stale-registration protection.** Every registration gets a fresh token (a generation
//! number, never reused). Events are looked up by token, so an event that was collected for an
//! old registration (already in the poll's event buffer when `unregister` ran, or for an fd
//! number that was closed and reused) finds nothing and is dropped; it can never reach the
//! callback of a newer registration of the same fd number.
//!
//! **No lock across the poll or the callbacks** (the fix for AlternateOne's poller mutex held
//! across `epoll_wait` and dispatch, bug 15, and what AlternateThree's poller did by copying the
//! epoll fd under a read lock): registration goes through a cloned
//! [`mio::Registry`] (`epoll_ctl` is safe while another thread is in `epoll_wait`), the map lock
//! is held only to look a token up, and a callback runs under its *own* registration's mutex so
//! that a foreign `unregister` can wait for a running call to end.
//!
//! **Level-triggered semantics** from a level-triggered epoll entry: mio registers
//! edge-triggered only, so `register` adds the fd to mio's epoll instance itself (`EPOLL_CTL_ADD`
//! with `EPOLLIN | EPOLLRDHUP`, no `EPOLLET`, the token as `epoll_data`, which mio reads back as
//! the event's token): epoll reports the fd at every poll while data remains, with no
//! `epoll_ctl` per callback. (Before, each call was followed by an `EPOLL_CTL_MOD` re-arm of an
//! edge-triggered registration: one `epoll_ctl` per echoed message in the `echo` workload's
//! syscall counts, as `loop-main` had before it made the same change.) The drivers dispatch
//! every event of a poll before polling again, so a level-triggered fd is never queued twice.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mio::unix::SourceFd;
use mio::{Registry, Token};
use parking_lot::Mutex;

/// A readiness callback, boxed.
pub type IoCallback = Box<dyn FnMut() + Send + 'static>;

/// The token of the wake-up eventfd; registrations start at 1.
pub const WAKER_TOKEN: Token = Token(0);

/// One registration of one fd.
pub struct Registration {
    fd: RawFd,
    token: Token,
    /// Set by `unregister` before it takes the callback; checked under `callback`'s lock before
    /// every call, so no call starts after `unregister` returned.
    removed: AtomicBool,
    callback: Mutex<Option<IoCallback>>,
}

impl Drop for Registration {
    /// The callback is user code: its destructor runs isolated, so a panicking one neither
    /// escapes into whoever drops the last reference (the loop at the end of `run`, `close`,
    /// the loop's own drop) nor stops the other registrations from being dropped.
    fn drop(&mut self) {
        loop_api::drop_isolated(self.callback.get_mut().take());
    }
}

#[derive(Default)]
struct Table {
    by_fd: HashMap<RawFd, Arc<Registration>>,
    by_token: HashMap<usize, Arc<Registration>>,
    /// The next token (generation); starts at 1, never reused.
    next_token: usize,
    /// The loop stopped: no more registrations.
    closed: bool,
}

/// Why a registration was refused (the caller turns it into a `Rejected` with its callback).
pub enum RegisterError {
    /// The loop stopped ([`Readiness::close`] ran).
    Closed,
    /// The fd already has a registration.
    AlreadyRegistered,
    /// `epoll_ctl` refused the fd.
    Io(io::Error),
}

/// A loop's readiness registrations: the fd → registration table and the mio registry that
/// arms them on the loop's poll.
pub struct Readiness {
    registry: Registry,
    table: Mutex<Table>,
    /// Live registrations, readable without the lock (the loop skips non-blocking polls when 0).
    count: AtomicUsize,
}

impl Readiness {
    /// An empty table registering on `registry` (a clone of the loop's `mio::Poll` registry).
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            table: Mutex::new(Table { next_token: 1, ..Table::default() }),
            count: AtomicUsize::new(0),
        }
    }

    /// Whether no fd is registered (a relaxed read, lock-free).
    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// Registers `fd` for readability. On error the callback is handed back.
    pub fn register<F>(&self, fd: RawFd, callback: F) -> Result<(), (RegisterError, F)>
    where
        F: FnMut() + Send + 'static,
    {
        let mut t = self.table.lock();
        if t.closed {
            return Err((RegisterError::Closed, callback));
        }
        if t.by_fd.contains_key(&fd) {
            return Err((RegisterError::AlreadyRegistered, callback));
        }
        let token = Token(t.next_token);
        if let Err(e) = self.add_level_triggered(fd, token) {
            return Err((RegisterError::Io(e), callback));
        }
        t.next_token += 1;
        let reg = Arc::new(Registration {
            fd,
            token,
            removed: AtomicBool::new(false),
            callback: Mutex::new(Some(Box::new(callback))),
        });
        t.by_fd.insert(fd, reg.clone());
        t.by_token.insert(token.0, reg);
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Adds `fd` to the poller's epoll instance (the one `registry` belongs to), readable and
    /// level-triggered, with `token` as its event data (module docs).
    fn add_level_triggered(&self, fd: RawFd, token: Token) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            u64: token.0 as u64,
        };
        // SAFETY: `ev` is a valid `epoll_event` for the duration of the call; the epoll fd is
        // the registry's, open as long as `self`; an invalid `fd` is reported as an error.
        let r =
            unsafe { libc::epoll_ctl(self.registry.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }

    /// Removes the registration of `fd`. Returns `false` if there was none. Once this returns the
    /// old callback never starts again: from a foreign thread this waits for a call in progress
    /// to finish; on the loop thread (`on_loop_thread`) no call can be in progress except the
    /// caller itself, and the `removed` flag stops every later one.
    pub fn unregister(&self, fd: RawFd, on_loop_thread: bool) -> bool {
        let reg = {
            let mut t = self.table.lock();
            let Some(reg) = t.by_fd.remove(&fd) else { return false };
            t.by_token.remove(&reg.token.0);
            // Best effort: the caller may already have closed the fd (contrary to the contract),
            // in which case the kernel dropped it from the epoll set itself.
            let _ = self.registry.deregister(&mut SourceFd(&fd));
            reg.removed.store(true, Ordering::SeqCst);
            self.count.fetch_sub(1, Ordering::Relaxed);
            reg
        };
        let taken = if on_loop_thread {
            // A callback unregistering its own fd holds this lock; it is then dropped with the
            // last `Arc` instead.
            reg.callback.try_lock().and_then(|mut c| c.take())
        } else {
            reg.callback.lock().take()
        };
        // Isolated: the destructor is user code, and this may be a foreign thread.
        loop_api::drop_isolated(taken);
        true
    }

    /// The registration an event's token belongs to, if it is still current.
    pub fn lookup(&self, token: Token) -> Option<Arc<Registration>> {
        self.table.lock().by_token.get(&token.0).cloned()
    }

    /// Runs the callback of `reg` through `run` (which isolates panics) unless it was removed.
    /// Returns whether the callback ran. No re-arm: the registration is level-triggered.
    pub fn dispatch(&self, reg: &Registration, run: impl FnOnce(&mut IoCallback)) -> bool {
        {
            let mut cb = reg.callback.lock();
            if reg.removed.load(Ordering::SeqCst) {
                return false;
            }
            let Some(cb) = cb.as_mut() else { return false };
            run(cb);
        }
        true
    }

    /// Stops all registrations for good (when the loop stops) and returns their callbacks for
    /// the caller to drop outside the lock.
    pub fn close(&self) -> Vec<Arc<Registration>> {
        let mut t = self.table.lock();
        t.closed = true;
        t.by_token.clear();
        let regs: Vec<_> = t.by_fd.drain().map(|(_, r)| r).collect();
        for r in &regs {
            let _ = self.registry.deregister(&mut SourceFd(&r.fd));
            r.removed.store(true, Ordering::SeqCst);
        }
        self.count.store(0, Ordering::Relaxed);
        regs
    }
}
