//! Counting a socket server's system calls by kind, per message: the kernel's syscall-entry
//! tracepoints (`syscalls:sys_enter_*`, `raw_syscalls:sys_enter`) opened as **counting** perf
//! events (`perf_event_open(2)`, `PERF_TYPE_TRACEPOINT`, no sampling) on the server's threads.
//!
//! ## Which threads
//!
//! The counters are opened with `inherit` on a fresh thread ([`start_counted`]) that then builds
//! the server: every thread the server starts from there on (the loop thread, a native runtime's
//! thread, any helper thread of the contender) inherits them, and reading a counter sums the
//! whole tree, live threads included. The harness thread, its pipe readers and the client
//! process (spawned by the harness thread, not from the tree) are not counted, so the counts are
//! the server's alone. Only deltas across the timed scope are reported.
//!
//! ## Kinds (disjoint; per message in the metrics)
//!
//! | metric | tracepoints |
//! |---|---|
//! | `syscalls_read_per_message` | `read`, `readv`, `recvfrom`, `recvmsg`, `recvmmsg` minus those on an eventfd |
//! | `syscalls_write_per_message` | `write`, `writev`, `sendto`, `sendmsg`, `sendmmsg` minus those on an eventfd |
//! | `syscalls_epoll_wait_per_message` | `epoll_wait`, `epoll_pwait`, `epoll_pwait2` |
//! | `syscalls_epoll_ctl_per_message` | `epoll_ctl` |
//! | `syscalls_eventfd_per_message` | `read` and `write` whose fd is an eventfd of the process (wake-ups), found in `/proc/self/fd` once the server started and applied as a tracepoint filter (`fd == a \|\| fd == b`) |
//! | `syscalls_other_per_message` | every other syscall (`raw_syscalls:sys_enter` minus the kinds above): `accept4`, `close`, `futex`, `io_uring_enter`, … |
//! | `syscalls_per_message` | all of them |
//!
//! ## Why tracepoints, and when there are no counts
//!
//! Alternatives measured on this kind of machine: `/proc/<pid>/task/<tid>/io` counts only
//! `read(2)`/`write(2)`-family calls through the VFS (`syscr`/`syscw`), not `recvfrom`/`sendto`,
//! which is what `std`'s and mio's sockets use, and nothing of epoll; counting inside the
//! pollers reaches our loops but not tokio's, calloop's or libuv's. Tracepoints see every
//! server alike. They need the tracepoint ids from tracefs (`…/events/syscalls/*/id`, readable
//! by root only) and `perf_event_open` of tracepoints (root, `CAP_PERFMON`, or
//! `kernel.perf_event_paranoid` ≤ 1; counting only, so no raw-data permission), and a kernel
//! with `CONFIG_FTRACE_SYSCALLS`. Where tracefs is not mounted and the process is root, it is
//! mounted at `/sys/kernel/tracing` (what `perf` itself does). Where any of this is missing, the
//! samples carry no syscall metrics and the reason is printed once on stderr ([`availability`]).

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::harness::SampleError;
use crate::workloads::Metric;

/// One counted kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Read,
    Write,
    EpollWait,
    EpollCtl,
    EventfdRead,
    EventfdWrite,
    Total,
}

/// The tracepoints of each slot (`category/name` under tracefs `events/`).
const TRACEPOINTS: &[(Slot, &str)] = &[
    (Slot::Read, "syscalls/sys_enter_read"),
    (Slot::Read, "syscalls/sys_enter_readv"),
    (Slot::Read, "syscalls/sys_enter_recvfrom"),
    (Slot::Read, "syscalls/sys_enter_recvmsg"),
    (Slot::Read, "syscalls/sys_enter_recvmmsg"),
    (Slot::Write, "syscalls/sys_enter_write"),
    (Slot::Write, "syscalls/sys_enter_writev"),
    (Slot::Write, "syscalls/sys_enter_sendto"),
    (Slot::Write, "syscalls/sys_enter_sendmsg"),
    (Slot::Write, "syscalls/sys_enter_sendmmsg"),
    (Slot::EpollWait, "syscalls/sys_enter_epoll_wait"),
    (Slot::EpollWait, "syscalls/sys_enter_epoll_pwait"),
    (Slot::EpollWait, "syscalls/sys_enter_epoll_pwait2"),
    (Slot::EpollCtl, "syscalls/sys_enter_epoll_ctl"),
    (Slot::EventfdRead, "syscalls/sys_enter_read"),
    (Slot::EventfdWrite, "syscalls/sys_enter_write"),
    (Slot::Total, "raw_syscalls/sys_enter"),
];

/// Counts per kind (a reading, or a difference of two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyscallCounts {
    /// Reads on sockets and pipes (eventfds excluded).
    pub read: u64,
    /// Writes on sockets and pipes (eventfds excluded).
    pub write: u64,
    /// `epoll_wait` and its `pwait` variants.
    pub epoll_wait: u64,
    /// `epoll_ctl`.
    pub epoll_ctl: u64,
    /// Reads and writes on eventfds.
    pub eventfd: u64,
    /// Every syscall.
    pub total: u64,
}

impl SyscallCounts {
    /// `self - earlier`, per kind (saturating).
    pub fn since(&self, earlier: &SyscallCounts) -> SyscallCounts {
        SyscallCounts {
            read: self.read.saturating_sub(earlier.read),
            write: self.write.saturating_sub(earlier.write),
            epoll_wait: self.epoll_wait.saturating_sub(earlier.epoll_wait),
            epoll_ctl: self.epoll_ctl.saturating_sub(earlier.epoll_ctl),
            eventfd: self.eventfd.saturating_sub(earlier.eventfd),
            total: self.total.saturating_sub(earlier.total),
        }
    }

    /// Syscalls not in any named kind.
    pub fn other(&self) -> u64 {
        self.total.saturating_sub(
            self.read + self.write + self.epoll_wait + self.epoll_ctl + self.eventfd,
        )
    }

    /// The per-unit metrics (`unit_name`: `message` or `request`) of these counts over `per`
    /// units; names as in the [module docs](self).
    pub fn metrics(&self, per: u64, request: bool) -> Vec<Metric> {
        let per = per.max(1) as f64;
        let unit = if request { "syscalls/request" } else { "syscalls/message" };
        let n = |name_msg: &'static str, name_req: &'static str, v: u64| Metric {
            name: if request { name_req } else { name_msg },
            unit,
            value: v as f64 / per,
        };
        vec![
            n("syscalls_per_message", "syscalls_per_request", self.total),
            n("syscalls_read_per_message", "syscalls_read_per_request", self.read),
            n("syscalls_write_per_message", "syscalls_write_per_request", self.write),
            n(
                "syscalls_epoll_wait_per_message",
                "syscalls_epoll_wait_per_request",
                self.epoll_wait,
            ),
            n("syscalls_epoll_ctl_per_message", "syscalls_epoll_ctl_per_request", self.epoll_ctl),
            n("syscalls_eventfd_per_message", "syscalls_eventfd_per_request", self.eventfd),
            n("syscalls_other_per_message", "syscalls_other_per_request", self.other()),
        ]
    }
}

/// The open counters of one server's thread tree.
pub struct SyscallCounter {
    /// One counting event per tracepoint of [`TRACEPOINTS`] that exists on this kernel.
    events: Vec<(Slot, OwnedFd)>,
}

/// The kernel ABI's `struct perf_event_attr`, first version (`PERF_ATTR_SIZE_VER0`, 64 bytes):
/// enough for a counting tracepoint event. Source: `include/uapi/linux/perf_event.h`.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// Bit flags: bit 0 `disabled`, bit 1 `inherit`, bit 6 `exclude_hv`, …
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_ATTR_SIZE_VER0: u32 = 64;
const FLAG_INHERIT: u64 = 1 << 1;
/// `PERF_EVENT_IOC_SET_FILTER` = `_IOW('$', 6, char *)`.
const PERF_EVENT_IOC_SET_FILTER: libc::c_ulong = 0x4008_2406;

/// The tracefs directories tried, in order.
const TRACEFS: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

fn tracefs_events() -> Result<PathBuf, String> {
    let found = || {
        TRACEFS
            .iter()
            .map(|d| Path::new(d).join("events"))
            .find(|p| p.join("raw_syscalls/sys_enter/id").exists())
    };
    if let Some(p) = found() {
        return Ok(p);
    }
    // SAFETY: `geteuid` has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // What `perf` does when tracefs is not mounted.
        // SAFETY: every pointer is a NUL-terminated string literal; no data argument.
        let r = unsafe {
            libc::mount(
                c"nodev".as_ptr(),
                c"/sys/kernel/tracing".as_ptr(),
                c"tracefs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if r == 0 {
            if let Some(p) = found() {
                return Ok(p);
            }
        }
    }
    Err("the syscall tracepoints are not readable (tracefs not mounted at /sys/kernel/tracing \
         and not root to mount it, or a kernel without CONFIG_FTRACE_SYSCALLS)"
        .into())
}

/// Each slot's tracepoint id (`None` for one this kernel lacks).
type TracepointIds = Vec<(Slot, Option<u64>)>;

/// The tracepoint ids of [`TRACEPOINTS`] (`None` for one this kernel lacks), or why none.
fn tracepoint_ids() -> Result<&'static [(Slot, Option<u64>)], String> {
    static IDS: OnceLock<Result<TracepointIds, String>> = OnceLock::new();
    IDS.get_or_init(|| {
        let events = tracefs_events()?;
        let total = fs::read_to_string(events.join("raw_syscalls/sys_enter/id")).map_err(|e| {
            format!("reading the raw_syscalls:sys_enter tracepoint id (root only): {e}")
        })?;
        total.trim().parse::<u64>().map_err(|e| format!("bad tracepoint id {total:?}: {e}"))?;
        Ok(TRACEPOINTS
            .iter()
            .map(|(slot, tp)| {
                let id = fs::read_to_string(events.join(tp).join("id"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                (*slot, id)
            })
            .collect())
    })
    .as_ref()
    .map(Vec::as_slice)
    .map_err(Clone::clone)
}

/// Opens one counting tracepoint event on the calling thread, inherited by the threads it
/// creates afterwards.
fn open_counting(id: u64) -> io::Result<OwnedFd> {
    let attr = PerfEventAttr {
        type_: PERF_TYPE_TRACEPOINT,
        size: PERF_ATTR_SIZE_VER0,
        config: id,
        flags: FLAG_INHERIT,
        ..PerfEventAttr::default()
    };
    // SAFETY: `attr` is a valid, initialised `perf_event_attr` of the size it declares; pid 0
    // (this thread), cpu -1 (any), no group, no flags.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            0 as libc::pid_t,
            -1 as libc::c_int,
            -1 as libc::c_int,
            0 as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl SyscallCounter {
    /// Opens every counter on the calling thread (inherited by the threads it creates after).
    ///
    /// # Errors
    /// The tracepoints are unavailable, or `perf_event_open` was refused (the message says why).
    fn open_here() -> Result<SyscallCounter, String> {
        let ids = tracepoint_ids()?;
        let mut events = Vec::new();
        for (slot, id) in ids {
            let Some(id) = id else { continue };
            let fd = open_counting(*id).map_err(|e| {
                format!(
                    "perf_event_open of a syscall tracepoint refused ({e}; needs root, \
                     CAP_PERFMON or kernel.perf_event_paranoid <= 1)"
                )
            })?;
            events.push((*slot, fd));
        }
        // The eventfd counters count every read and write until `track_eventfds` sets their
        // filter (the kernel takes one filter per event: a second one fails with `EEXIST`);
        // only differences taken after that are meaningful.
        Ok(SyscallCounter { events })
    }

    /// Restricts the eventfd counters to reads and writes of `fds` (an empty list: none). Once
    /// per counter.
    fn set_eventfds(&mut self, fds: &[i32]) -> Result<(), String> {
        let filter = if fds.is_empty() {
            // No fd is negative: a filter that never matches.
            "fd == 4294967295".to_string()
        } else {
            fds.iter().map(|f| format!("fd == {f}")).collect::<Vec<_>>().join(" || ")
        };
        let c = std::ffi::CString::new(filter.clone()).expect("no NUL in a filter");
        for (slot, fd) in &self.events {
            if matches!(slot, Slot::EventfdRead | Slot::EventfdWrite) {
                // SAFETY: `fd` is an open perf event; `c` is a NUL-terminated string that
                // outlives the call.
                let r =
                    unsafe { libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_SET_FILTER, c.as_ptr()) };
                if r != 0 {
                    return Err(format!(
                        "setting the tracepoint filter {filter:?}: {}",
                        io::Error::last_os_error()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Points the eventfd counters at every eventfd the process holds now (call once, when the
    /// server started: its loop created its wake-up eventfd by then).
    ///
    /// # Errors
    /// `/proc/self/fd` unreadable, or the filter was refused.
    pub fn track_eventfds(&mut self) -> Result<Vec<i32>, String> {
        let fds = eventfds().map_err(|e| format!("listing /proc/self/fd: {e}"))?;
        self.set_eventfds(&fds)?;
        Ok(fds)
    }

    /// The current totals of the thread tree.
    ///
    /// # Errors
    /// A counter could not be read.
    pub fn read(&self) -> io::Result<SyscallCounts> {
        let mut c = SyscallCounts::default();
        let (mut ev_read, mut ev_write) = (0, 0);
        for (slot, fd) in &self.events {
            let mut v = 0_u64;
            // SAFETY: reads 8 bytes (the count, `read_format` 0) into a live `u64`.
            let n = unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
            if n != 8 {
                return Err(if n < 0 {
                    io::Error::last_os_error()
                } else {
                    io::Error::other(format!("short read of a perf counter ({n} bytes)"))
                });
            }
            match slot {
                Slot::Read => c.read += v,
                Slot::Write => c.write += v,
                Slot::EpollWait => c.epoll_wait += v,
                Slot::EpollCtl => c.epoll_ctl += v,
                Slot::EventfdRead => ev_read += v,
                Slot::EventfdWrite => ev_write += v,
                Slot::Total => c.total += v,
            }
        }
        c.read = c.read.saturating_sub(ev_read);
        c.write = c.write.saturating_sub(ev_write);
        c.eventfd = ev_read + ev_write;
        Ok(c)
    }
}

/// The fd numbers of this process's eventfds (`/proc/self/fd/N -> anon_inode:[eventfd]`).
fn eventfds() -> io::Result<Vec<i32>> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc/self/fd")? {
        let e = e?;
        let Ok(target) = fs::read_link(e.path()) else { continue };
        if target.to_string_lossy().contains("[eventfd]") {
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse().ok()) {
                out.push(n);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Whether syscall counting works in this process (`Err` says why not); probed once, and the
/// reason printed once on stderr.
pub fn availability() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let r = std::thread::spawn(|| SyscallCounter::open_here().map(drop))
                .join()
                .unwrap_or_else(|_| Err("the probe thread panicked".into()));
            if let Err(why) = &r {
                eprintln!("note: socket workloads record no syscall counts: {why}");
            }
            r
        })
        .clone()
}

/// Runs `start` (which builds a server) on a fresh thread that first opens the syscall
/// counters, so every thread the server starts is counted ([module docs](self)). Returns the
/// server and its counter (`None` where counting is unavailable, see [`availability`]). The
/// calling thread then takes the CPU affinity `start` left on its thread (starting a server
/// pins the thread that starts it as the harness thread; see `harness::pin_harness_thread`).
///
/// # Errors
/// `start` failed, or the thread could not be spawned.
pub fn start_counted<S, F>(start: F) -> Result<(S, Option<SyscallCounter>), SampleError>
where
    S: Send + 'static,
    F: FnOnce() -> Result<S, SampleError> + Send + 'static,
{
    let counting = availability().is_ok();
    let t = std::thread::Builder::new()
        .name("server-start".into())
        .spawn(move || {
            let counter = if counting { SyscallCounter::open_here().ok() } else { None };
            let started = start().map(|s| (s, counter));
            (started, current_affinity())
        })
        .map_err(|e| SampleError(format!("spawning the server-start thread: {e}")))?;
    let (started, affinity) =
        t.join().map_err(|_| SampleError("starting the server panicked".into()))?;
    // Starting a server may pin "the harness thread" (the one that starts it) so that the
    // client process it spawns later inherits that CPU: carry that over to the real harness
    // thread, the caller.
    if let Some(mask) = affinity {
        set_current_affinity(&mask)?;
    }
    let (server, mut counter) = started?;
    if let Some(c) = counter.as_mut() {
        if let Err(why) = c.track_eventfds() {
            eprintln!("note: no syscall counts for this sample: {why}");
            counter = None;
        }
    }
    Ok((server, counter))
}

/// The calling thread's CPU affinity mask (`None` if it cannot be read).
fn current_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: `cpu_set_t` is plain bits; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: writes at most `size_of::<cpu_set_t>()` bytes into `set`; pid 0 is this thread.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    (r == 0).then_some(set)
}

/// Sets the calling thread's CPU affinity mask to `mask` (no syscall when it already is).
fn set_current_affinity(mask: &libc::cpu_set_t) -> Result<(), SampleError> {
    let same = current_affinity().is_some_and(|cur| {
        // SAFETY: `CPU_EQUAL` only reads the two sets.
        unsafe { libc::CPU_EQUAL(&cur, mask) }
    });
    if same {
        return Ok(());
    }
    // SAFETY: reads `size_of::<cpu_set_t>()` bytes of a live set; pid 0 is this thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), mask) };
    if r != 0 {
        return Err(SampleError(format!(
            "copying the server-start thread's CPU affinity to the harness thread: {}",
            io::Error::last_os_error()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_disjoint_and_other_is_the_rest() {
        let a = SyscallCounts {
            read: 10,
            write: 5,
            epoll_wait: 3,
            epoll_ctl: 2,
            eventfd: 1,
            total: 30,
        };
        assert_eq!(a.other(), 9);
        let d = a.since(&SyscallCounts { read: 4, total: 10, ..Default::default() });
        assert_eq!((d.read, d.total, d.other()), (6, 20, 3));
        let m = d.metrics(2, false);
        assert_eq!(m[0].name, "syscalls_per_message");
        assert_eq!(m[0].value, 10.0);
        assert_eq!(d.metrics(2, true)[1].name, "syscalls_read_per_request");
    }

    /// Counts a known mix of syscalls made by a thread that the counted thread spawned (the
    /// way a loop thread is), and nothing of an uncounted thread. Skipped (with a message) where
    /// counting is unavailable.
    #[test]
    fn counts_the_server_threads_syscalls_by_kind() {
        use std::sync::mpsc;
        if let Err(why) = availability() {
            eprintln!("skipped: {why}");
            return;
        }
        let (go_tx, go_rx) = mpsc::sync_channel::<()>(0);
        let (done_tx, done_rx) = mpsc::sync_channel::<()>(0);
        let ((efd, worker), counter) = start_counted(move || {
            // SAFETY: plain eventfd creation.
            let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK) };
            assert!(efd >= 0);
            let worker = std::thread::spawn(move || {
                while go_rx.recv().is_ok() {
                    let one = 1_u64.to_ne_bytes();
                    let mut buf = [0_u8; 8];
                    for _ in 0..5 {
                        // SAFETY: 8-byte write from / read into live buffers on an open eventfd.
                        unsafe { libc::write(efd, one.as_ptr().cast(), 8) };
                        // SAFETY: as above.
                        unsafe { libc::read(efd, buf.as_mut_ptr().cast(), 8) };
                    }
                    for _ in 0..3 {
                        // SAFETY: EPOLL_CTL_DEL on an invalid epoll fd fails with EBADF.
                        unsafe {
                            libc::epoll_ctl(-1, libc::EPOLL_CTL_DEL, efd, std::ptr::null_mut())
                        };
                    }
                    let _ = done_tx.send(());
                }
            });
            Ok((efd, worker))
        })
        .unwrap();
        let counter = counter.expect("counting is available");
        let before = counter.read().unwrap();
        go_tx.send(()).unwrap();
        done_rx.recv().unwrap();
        let d = counter.read().unwrap().since(&before);
        assert_eq!((d.eventfd, d.epoll_ctl, d.read, d.write), (10, 3, 0, 0), "{d:?}");
        assert!(d.total >= 13, "{d:?}");
        // This (uncounted) thread's syscalls do not show up.
        let before = counter.read().unwrap();
        let one = 1_u64.to_ne_bytes();
        // SAFETY: 8-byte write from a live buffer to an open eventfd.
        unsafe { libc::write(efd, one.as_ptr().cast(), 8) };
        assert_eq!(counter.read().unwrap().since(&before), SyscallCounts::default());
        drop(go_tx);
        worker.join().unwrap();
        // SAFETY: `efd` was opened above and is closed once.
        unsafe { libc::close(efd) };
    }
}
