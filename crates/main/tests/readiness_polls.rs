//! A socket-driven loop makes one `epoll_wait` per round, as libuv does: a tick that ran only
//! readiness callbacks goes straight to the sleep handshake, whose blocking poll returns with
//! whatever became ready (`src/driver.rs`). Before, such a tick was followed by a non-blocking
//! poll and, when that found nothing, a spin and then the blocking poll: two polls per round.
//!
//! A pipe ping-pong: this thread writes one byte into pipe A and blocks reading pipe B; the
//! loop's callback on A reads the byte and writes it into B. Every round is one readiness
//! callback with nothing else for the loop to do, so the polls per round are what the driver
//! costs a socket server (the `echo` workload's `syscalls_epoll_wait_per_message`).

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loop_api::{EventLoop, LoopConfig};
use loop_main::MainLoop;

/// Ping-pong rounds.
const ROUNDS: u64 = 500;

/// A pipe: (read end, write end), the read end non-blocking when `nonblocking_read`.
fn pipe(nonblocking_read: bool) -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for `pipe2` to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    if nonblocking_read {
        // SAFETY: `fds[0]` is the pipe's open read end.
        let r = unsafe { libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK) };
        assert_eq!(r, 0);
    }
    (fds[0], fds[1])
}

fn write_byte(fd: RawFd) {
    let b = [7_u8];
    // SAFETY: `b` is one valid byte; `fd` is an open pipe write end.
    assert_eq!(unsafe { libc::write(fd, b.as_ptr().cast(), 1) }, 1);
}

/// The loop's stats once its `io_callbacks` counter reaches `want`: the counter is bumped after
/// the callback returns, so the byte the callback wrote can reach this thread first. Panics
/// after 10 s (a lost callback), never sleeps.
fn stats_after_callbacks(lp: &MainLoop, want: u64) -> loop_api::LoopStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = lp.stats();
        if s.io_callbacks >= want {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "io_callbacks stuck at {} (want {want})",
            s.io_callbacks
        );
        std::thread::yield_now();
    }
}

fn read_byte(fd: RawFd) -> isize {
    let mut b = [0_u8];
    // SAFETY: `b` has room for one byte; `fd` is an open pipe read end.
    unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) }
}

#[test]
fn one_poll_per_readiness_round() {
    let lp = Arc::new(MainLoop::new(&LoopConfig::default()).expect("loop"));
    let runner = {
        let lp = Arc::clone(&lp);
        std::thread::spawn(move || lp.run())
    };
    let (a_read, a_write) = pipe(true);
    let (b_read, b_write) = pipe(false);
    lp.register_readable(a_read, move || {
        // Level-triggered: one byte per round, read once, answered once.
        if read_byte(a_read) == 1 {
            write_byte(b_write);
        }
    })
    .map_err(|r| r.reason)
    .expect("register");
    // One warm-up round, so the loop sits in its epoll sleep before counting starts.
    write_byte(a_write);
    assert_eq!(read_byte(b_read), 1);
    let before = stats_after_callbacks(&lp, 1);
    for _ in 0..ROUNDS {
        write_byte(a_write);
        assert_eq!(read_byte(b_read), 1, "the blocking read returns the echoed byte");
    }
    let after = stats_after_callbacks(&lp, before.io_callbacks + ROUNDS);
    let callbacks = after.io_callbacks - before.io_callbacks;
    let polls = after.polls - before.polls;
    assert_eq!(callbacks, ROUNDS, "one callback per byte");
    // One blocking poll per round; a few extra for rounds in which the next byte arrived
    // while the loop was still in the handshake are allowed, two per round are not.
    assert!(polls <= ROUNDS + ROUNDS / 10, "{polls} polls for {ROUNDS} readiness rounds");
    lp.unregister(a_read).expect("unregister");
    lp.shutdown(Duration::from_secs(10)).expect("shutdown");
    runner.join().expect("loop thread").expect("run");
    for fd in [a_read, a_write, b_read, b_write] {
        // SAFETY: each fd is an open pipe end owned by this test, closed once.
        unsafe { libc::close(fd) };
    }
}
