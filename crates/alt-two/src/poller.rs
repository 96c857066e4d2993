//! The OS poller: mio's `Poll` (epoll) with an eventfd `mio::Waker`, and fd registration.
//!
//! Under `--cfg loom` the poller is a model (a counter under a loom mutex and condvar with the
//! eventfd's semantics: a wake written before or during a poll ends it, a wake written after a
//! poll returned ends the next one), because mio's syscalls cannot run inside loom. Readiness
//! registration is not modelled.

#[cfg(not(loom))]
pub(crate) use self::os::Poller;

#[cfg(loom)]
pub(crate) use self::model::Poller;

#[cfg(not(loom))]
mod os {
    use std::io;
    use std::os::fd::{AsRawFd, RawFd};
    use std::time::Duration;

    use mio::unix::SourceFd;
    use mio::{Events, Poll, Registry, Token, Waker};

    use crate::sync::Mutex;

    /// The waker's token; registration tokens count up from 0 and never reach it.
    const WAKE_TOKEN: Token = Token(usize::MAX);

    /// Events per `epoll_wait` (the historical FastPoller's buffer size).
    const EVENTS: usize = 256;

    struct PollState {
        poll: Poll,
        events: Events,
    }

    /// epoll + eventfd. `poll` is called by the loop thread only (the mutex is uncontended; it
    /// exists because `mio::Poll::poll` needs `&mut`), `wake` and registration by any thread.
    pub(crate) struct Poller {
        state: Mutex<PollState>,
        registry: Registry,
        waker: Waker,
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Self> {
            let poll = Poll::new()?;
            let registry = poll.registry().try_clone()?;
            let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
            Ok(Self {
                state: Mutex::new(PollState { poll, events: Events::with_capacity(EVENTS) }),
                registry,
                waker,
            })
        }

        /// Writes the eventfd: ends the current or next `poll`.
        pub(crate) fn wake(&self) {
            // mio's eventfd waker resets the counter itself if it would overflow; any other
            // error would mean the eventfd is gone, which cannot happen while `self` lives.
            let _ = self.waker.wake();
        }

        /// `epoll_wait` for at most `timeout` (`None`: until an event or a wake). Appends the
        /// registration tokens of ready fds to `ready` (the waker's own token is filtered out).
        /// An interrupted wait (`EINTR`) returns `Ok` with no events.
        pub(crate) fn poll(
            &self,
            timeout: Option<Duration>,
            ready: &mut Vec<usize>,
        ) -> io::Result<()> {
            let mut st = self.state.lock();
            let PollState { poll, events } = &mut *st;
            match poll.poll(events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
                Err(e) => return Err(e),
            }
            ready
                .extend(events.iter().map(|e| e.token()).filter(|&t| t != WAKE_TOKEN).map(|t| t.0));
            Ok(())
        }

        /// Adds `fd` for readability under `token`, **level-triggered**: mio registers
        /// edge-triggered only, so this adds the fd to mio's epoll instance itself
        /// (`EPOLL_CTL_ADD` with `EPOLLIN | EPOLLRDHUP`, no `EPOLLET`, the token as
        /// `epoll_data`, which mio reads back as the event's token). epoll then reports the fd
        /// at every poll while data remains, with no `epoll_ctl` per callback (the re-arm with
        /// `EPOLL_CTL_MOD` it replaces cost one per echoed message in the `echo` workload).
        pub(crate) fn register(&self, fd: RawFd, token: usize) -> io::Result<()> {
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
                u64: token as u64,
            };
            // SAFETY: `ev` is a valid `epoll_event` for the duration of the call; the epoll fd
            // is the registry's, open as long as `self`; an invalid `fd` is reported as an error.
            let r = unsafe {
                libc::epoll_ctl(self.registry.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev)
            };
            if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
        }

        pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
            self.registry.deregister(&mut SourceFd(&fd))
        }
    }
}

#[cfg(loom)]
mod model {
    use std::io;
    use std::time::Duration;

    use crate::sync::{Condvar, Mutex};

    /// A model of the eventfd + `epoll_wait` pair: `wake` increments a counter, `poll` waits
    /// for it to be non-zero and resets it.
    pub(crate) struct Poller {
        count: Mutex<u64>,
        cv: Condvar,
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Self> {
            Ok(Self { count: Mutex::new(0), cv: Condvar::new() })
        }

        pub(crate) fn wake(&self) {
            *self.count.lock() += 1;
            self.cv.notify_one();
        }

        /// Only `None` (block until woken) or a zero timeout are used by the loop.
        pub(crate) fn poll(
            &self,
            timeout: Option<Duration>,
            _ready: &mut Vec<usize>,
        ) -> io::Result<()> {
            let mut count = self.count.lock();
            if timeout.is_none() {
                while *count == 0 {
                    self.cv.wait(&mut count);
                }
            }
            *count = 0;
            Ok(())
        }

        pub(crate) fn register(&self, _fd: std::os::fd::RawFd, _token: usize) -> io::Result<()> {
            Err(io::Error::other("readiness is not modelled under loom"))
        }

        pub(crate) fn deregister(&self, _fd: std::os::fd::RawFd) -> io::Result<()> {
            Ok(())
        }
    }
}
