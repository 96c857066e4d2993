//! Readiness through mio: the poller the loop sleeps in when fds are registered, its waker, and
//! the registration table.
//!
//! * Every registration gets a fresh 64-bit **generation**, used as its mio token. Events are
//!   looked up by generation, so an event still queued for an fd that was unregistered (and
//!   whose number was reused by a new registration) finds no entry, or another generation, and
//!   is dropped: a stale registration never fires.
//! * The contract promises level-triggered behaviour ("called again on a later tick while data
//!   remains"). mio registers edge-triggered only, so registrations bypass mio's registry and
//!   add the fd to mio's epoll instance **level-triggered** (`EPOLL_CTL_ADD` with `EPOLLIN`,
//!   no `EPOLLET`, the generation as `epoll_data`, which mio reads back as the token): epoll
//!   reports the fd at every wait while it is readable, so no `epoll_ctl` is needed per
//!   callback. (Before, each callback was followed by an `EPOLL_CTL_MOD` re-arm of an
//!   edge-triggered registration: one `epoll_ctl` per echoed message in the `echo` workload's
//!   syscall counts.) `unregister` still removes the fd with `EPOLL_CTL_DEL`.
//! * The callback is taken out of the table while it runs (so the table lock is not held across
//!   user code, which may register or unregister). `unregister` from another thread waits until
//!   a dispatch of that registration in progress has finished, so once it returns the old
//!   callback never runs again; from the loop thread (inside a callback) it cannot wait for
//!   itself and does not need to: nothing else runs concurrently there.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Poll, Registry, Token, Waker};

use crate::sync::{AtomicUsize, Condvar, Mutex};

/// A readiness callback.
pub(crate) type IoCallback = Box<dyn FnMut() + Send + 'static>;

/// The waker's token; registrations use generations from 1 up.
const WAKER: Token = Token(0);

/// Events read per `epoll_wait`.
const EVENTS_CAPACITY: usize = 256;

struct Registration {
    fd: RawFd,
    /// `None` while the loop runs it.
    callback: Option<IoCallback>,
}

#[derive(Default)]
struct Table {
    by_fd: HashMap<RawFd, u64>,
    by_gen: HashMap<u64, Registration>,
    next_gen: u64,
    /// The generation whose callback the loop is running right now.
    dispatching: Option<u64>,
}

/// Why a registration was refused.
pub(crate) enum RegisterError {
    AlreadyRegistered,
    Io(io::Error),
}

/// The poller (loop thread only), the waker (any thread) and the registration table.
pub(crate) struct Io {
    poll: Mutex<(Poll, Events)>,
    registry: Registry,
    waker: Waker,
    table: Mutex<Table>,
    dispatch_done: Condvar,
    /// Number of registered fds. The loop sleeps in epoll (rather than on its futex) while it is
    /// non-zero; read by the loop after it published its sleep mode (see `driver.rs`).
    registered: AtomicUsize,
    /// mio's epoll instance (owned by `poll`), for the level-triggered registrations.
    epoll_fd: RawFd,
}

impl Io {
    /// Creates the epoll instance and its eventfd waker.
    pub(crate) fn new() -> io::Result<Self> {
        let poll = Poll::new()?;
        let epoll_fd = poll.as_raw_fd();
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        Ok(Self {
            poll: Mutex::new((poll, Events::with_capacity(EVENTS_CAPACITY))),
            registry,
            waker,
            table: Mutex::new(Table { next_gen: 1, ..Table::default() }),
            dispatch_done: Condvar::new(),
            registered: AtomicUsize::new(0),
            epoll_fd,
        })
    }

    /// Whether any fd is registered.
    pub(crate) fn has_registrations(&self) -> bool {
        self.registered.load(Acquire) > 0
    }

    /// Wakes a loop blocked in [`Io::poll`] (an eventfd write). Errors are ignored: the only
    /// failure mode of an eventfd write that mio does not already handle is a closed fd, which
    /// means the loop is gone.
    pub(crate) fn wake(&self) {
        let _ = self.waker.wake();
    }

    /// Registers `fd` for readability (boxing the callback only once accepted, so a refused one
    /// goes back to the caller as it came).
    pub(crate) fn register<F>(&self, fd: RawFd, callback: F) -> Result<(), (RegisterError, F)>
    where
        F: FnMut() + Send + 'static,
    {
        let mut t = self.table.lock();
        if t.by_fd.contains_key(&fd) {
            return Err((RegisterError::AlreadyRegistered, callback));
        }
        let generation = t.next_gen;
        if let Err(e) = self.add_level_triggered(fd, generation) {
            return Err((RegisterError::Io(e), callback));
        }
        t.next_gen += 1;
        t.by_fd.insert(fd, generation);
        t.by_gen.insert(generation, Registration { fd, callback: Some(Box::new(callback)) });
        self.registered.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Adds `fd` to the poller's epoll instance, readable and level-triggered, with
    /// `generation` as its token (mio's `Token` is the event's `u64` data).
    fn add_level_triggered(&self, fd: RawFd, generation: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            u64: generation,
        };
        // SAFETY: `ev` is a valid `epoll_event` for the duration of the call; the epoll fd is
        // mio's, alive as long as `self`; an invalid `fd` is reported as an error.
        let r = unsafe { libc::epoll_ctl(self.epoll_fd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }

    /// Unregisters `fd`; returns its callback (for the caller to drop outside any lock) or
    /// `Err(())` if it was not registered. Waits for a dispatch of it in progress unless
    /// `on_loop_thread`.
    pub(crate) fn unregister(
        &self,
        fd: RawFd,
        on_loop_thread: bool,
    ) -> Result<Option<IoCallback>, ()> {
        let mut t = self.table.lock();
        let generation = t.by_fd.remove(&fd).ok_or(())?;
        let reg = t.by_gen.remove(&generation).expect("by_fd and by_gen agree");
        // The fd may already be closed by a careless caller; nothing to undo then.
        let _ = self.registry.deregister(&mut SourceFd(&fd));
        self.registered.fetch_sub(1, Relaxed);
        if !on_loop_thread {
            while t.dispatching == Some(generation) {
                self.dispatch_done.wait(&mut t);
            }
        }
        Ok(reg.callback)
    }

    /// Removes every registration (the loop stopped); returns the callbacks to drop.
    pub(crate) fn unregister_all(&self) -> Vec<IoCallback> {
        let mut t = self.table.lock();
        let regs: Vec<Registration> = t.by_gen.drain().map(|(_, r)| r).collect();
        t.by_fd.clear();
        self.registered.store(0, Relaxed);
        drop(t);
        regs.into_iter()
            .filter_map(|r| {
                let _ = self.registry.deregister(&mut SourceFd(&r.fd));
                r.callback
            })
            .collect()
    }

    /// Waits for events at most `timeout` (`None`: until woken) and appends the generations of
    /// ready registrations to `ready`. Loop thread only. `EINTR` counts as a spurious wake-up.
    pub(crate) fn poll(&self, timeout: Option<Duration>, ready: &mut Vec<u64>) -> io::Result<()> {
        let mut guard = self.poll.lock();
        let (poll, events) = &mut *guard;
        match poll.poll(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        ready.extend(events.iter().filter(|e| e.token() != WAKER).map(|e| e.token().0 as u64));
        Ok(())
    }

    /// Takes the callback of generation `generation` out for the loop to run, or `None` if that
    /// registration is gone (a stale event).
    pub(crate) fn begin_dispatch(&self, generation: u64) -> Option<IoCallback> {
        let mut t = self.table.lock();
        let callback = t.by_gen.get_mut(&generation)?.callback.take()?;
        t.dispatching = Some(generation);
        Some(callback)
    }

    /// Puts the callback back after it ran and re-arms the fd (level-triggered emulation), or
    /// returns it to be dropped if it was unregistered meanwhile.
    pub(crate) fn end_dispatch(&self, generation: u64, callback: IoCallback) -> Option<IoCallback> {
        let mut t = self.table.lock();
        t.dispatching = None;
        self.dispatch_done.notify_all();
        match t.by_gen.get_mut(&generation) {
            Some(reg) => {
                // Level-triggered: epoll reports the fd again while it stays readable.
                reg.callback = Some(callback);
                None
            }
            None => Some(callback),
        }
    }
}
