//! Readiness registrations, with a generation token per registration so that a stale event can
//! never reach a newer callback.
//!
//! Every `register_readable` gets a fresh token (a counter, never reused) and the poller reports
//! events by token, not by fd. After `unregister(fd)` (and the fd being closed and its number
//! reused by a new registration), an event still queued for the old registration carries the old
//! token, finds nothing, and is discarded. This replaces the historical FastPoller's
//! `[65536]fdInfo` array indexed by fd, written without a lock, and its "discard the whole batch
//! if a version counter moved" heuristic (`docs/HISTORY.md`, "AlternateTwo").
//!
//! Callbacks run without the registry lock held (they are taken out while they run), so a
//! callback may register or unregister fds, including its own.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

use crate::poller::Poller;
use crate::sync::{AtomicUsize, Condvar, Mutex};

/// A readiness callback.
pub(crate) type Callback = Box<dyn FnMut() + Send + 'static>;

struct Entry {
    /// `None` while the loop is running it.
    callback: Option<Callback>,
}

#[derive(Default)]
struct Table {
    next_token: usize,
    by_fd: HashMap<RawFd, usize>,
    by_token: HashMap<usize, Entry>,
    /// The token whose callback the loop is running right now.
    dispatching: Option<usize>,
}

/// Why a registration was refused.
pub(crate) enum RegisterError {
    AlreadyRegistered,
    Io(io::Error),
}

/// The loop's registrations.
pub(crate) struct Registrations {
    table: Mutex<Table>,
    /// Signalled when a dispatch ends (a foreign `unregister` waits for it).
    dispatch_done: Condvar,
    /// Number of registrations, so the loop skips the non-blocking poll when there are none.
    count: AtomicUsize,
}

impl Registrations {
    pub(crate) fn new() -> Self {
        Self {
            table: Mutex::new(Table::default()),
            dispatch_done: Condvar::new(),
            count: AtomicUsize::new(0),
        }
    }

    /// Whether any fd is registered.
    pub(crate) fn any(&self) -> bool {
        self.count.load(Acquire) > 0
    }

    /// Registers `fd` with the poller under a fresh token; `make` boxes the callback only once
    /// the registration succeeded (so a refused callback comes back as given).
    pub(crate) fn register(
        &self,
        poller: &Poller,
        fd: RawFd,
        make: impl FnOnce() -> Callback,
    ) -> Result<(), RegisterError> {
        let mut t = self.table.lock();
        if t.by_fd.contains_key(&fd) {
            return Err(RegisterError::AlreadyRegistered);
        }
        let token = t.next_token;
        // Under the table lock, so an event for this token cannot be dispatched before the
        // entry exists (it would be discarded, and with edge triggering never come again).
        poller.register(fd, token).map_err(RegisterError::Io)?;
        t.next_token += 1;
        t.by_fd.insert(fd, token);
        t.by_token.insert(token, Entry { callback: Some(make()) });
        self.count.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Removes the registration of `fd`; returns `false` if there was none. The callback is
    /// dropped here (outside the lock, isolated) unless it is running, in which case the loop
    /// drops it when it returns. Either way it never starts again once this returns; from a
    /// thread other than the loop thread (`!on_loop_thread`) this also waits until a call in
    /// progress has returned, so the caller may close the fd at once (the `loop-api` contract).
    pub(crate) fn unregister(&self, poller: &Poller, fd: RawFd, on_loop_thread: bool) -> bool {
        let entry = {
            let mut t = self.table.lock();
            let Some(token) = t.by_fd.remove(&fd) else { return false };
            // The fd may already be closed by a careless caller; nothing to undo then.
            let _ = poller.deregister(fd);
            self.count.fetch_sub(1, Relaxed);
            let entry = t.by_token.remove(&token);
            if !on_loop_thread {
                while t.dispatching == Some(token) {
                    self.dispatch_done.wait(&mut t);
                }
            }
            entry
        };
        loop_api::drop_isolated(entry);
        true
    }

    /// Takes the callback of `token` to run it; `None` for a stale or running registration.
    pub(crate) fn take(&self, token: usize) -> Option<Callback> {
        let mut t = self.table.lock();
        let cb = t.by_token.get_mut(&token).and_then(|e| e.callback.take());
        if cb.is_some() {
            t.dispatching = Some(token);
        }
        cb
    }

    /// Puts a callback back after it ran (no re-arm: the registration is level-triggered, so if
    /// data remains the next poll reports it again). If it was unregistered meanwhile, the
    /// callback is returned to be dropped by the caller, outside the lock.
    pub(crate) fn put_back(&self, token: usize, cb: Callback) -> Option<Callback> {
        let mut t = self.table.lock();
        t.dispatching = None;
        self.dispatch_done.notify_all();
        match t.by_token.get_mut(&token) {
            Some(entry) => {
                entry.callback = Some(cb);
                None
            }
            None => Some(cb),
        }
    }

    /// Drops every registration (when the loop stops: no callback can run any more).
    pub(crate) fn clear(&self, poller: &Poller) {
        let table = std::mem::take(&mut *self.table.lock());
        for fd in table.by_fd.keys() {
            let _ = poller.deregister(*fd);
        }
        self.count.store(0, Relaxed);
        // Each callback isolated: a panicking destructor neither escapes nor keeps the rest.
        loop_api::drop_all_isolated(table.by_token.into_values());
    }
}
