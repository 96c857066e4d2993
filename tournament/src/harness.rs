//! The harness: exact producer split, completion barrier, timed scopes, loop lifecycle.
//!
//! Timing discipline (`docs/MEASUREMENT.md`):
//! * every workload submits exactly N tasks, split over P producers with [`producer_split`];
//! * the timed scope ([`TimedScope`]) ends only when the [`Completion`] barrier saw every task run;
//!   a task that runs twice (over-completion) or a submit error fails the sample;
//! * the waiting side always waits the same way — a brief spin, then park — whatever the
//!   contender, so no contender is advantaged by how the harness waits ([`Completion::wait_for`]);
//! * nothing inside a timed scope sleeps, polls with sleeps, or writes to the terminal;
//! * threads are placed on fixed CPUs where a workload allows it ([`pinning`], "Thread
//!   placement" below), recorded in env.json `pinning`.
//!
//! The `slow-test` build ("Injected slowdown" below) and the instruction-count lane
//! ([`TimedScope`] brackets every timed window with callgrind client requests) live here too.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use loop_api::{EventLoop, LoopConfig, LoopStats};

/// How long the harness spins re-checking the completion counter before it parks: 50 µs, about
/// the cost of one sleep/wake round trip on the reference VM (`docs/REFERENCE-MACHINE.md`), so
/// short waits do not pay a futex round trip of their own while long waits do not burn a core.
pub const WAIT_SPIN: Duration = Duration::from_micros(50);

/// Upper bound on any single wait of the harness (a sample, a loop start or a shutdown): a
/// contender stuck longer fails the sample with a reason instead of hanging the run.
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Splits `n` tasks over `p` producers exactly: ⌊n/p⌋ each, plus one for the first `n mod p`
/// producers. The shares sum to `n`. `p == 0` yields an empty split.
pub fn producer_split(n: u64, p: usize) -> Vec<u64> {
    if p == 0 {
        return Vec::new();
    }
    let base = n / p as u64;
    let extra = (n % p as u64) as usize;
    (0..p).map(|i| base + u64::from(i < extra)).collect()
}

/// Why a sample failed; the text goes into the raw record's `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleError(pub String);

impl std::fmt::Display for SampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SampleError {}

impl SampleError {
    /// Builds an error from anything displayable.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// The completion barrier tasks report to.
///
/// Each task calls [`Completion::task_done`] once. The harness sets the count it waits for with
/// [`Completion::expect`] and waits with [`Completion::wait_for`]; the task whose increment reaches
/// the expected count unparks the waiter. Counting past the total is recorded and fails the sample
/// in [`Completion::check_exact`].
///
/// Tasks capture a `&'static Completion` (8 bytes, no reference count traffic on the hot path):
/// one is leaked per sample with [`Completion::leak`] (≈100 bytes), so a task that runs late,
/// after its sample failed, never touches freed memory.
pub struct Completion {
    done: AtomicU64,
    expected: AtomicU64,
    waiter: Thread,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Completion {
    /// A leaked completion whose waiter is the calling thread.
    pub fn leak() -> &'static Completion {
        Box::leak(Box::new(Completion {
            done: AtomicU64::new(0),
            expected: AtomicU64::new(u64::MAX),
            waiter: thread::current(),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
        }))
    }

    /// Called by every task exactly once, on the loop thread.
    #[inline]
    pub fn task_done(&self) {
        injected_slowdown(); // a `slow-test` build only, see `slow_test_ns`
        let now = self.done.fetch_add(1, Ordering::AcqRel) + 1;
        if now == self.expected.load(Ordering::Acquire) {
            self.waiter.unpark();
        }
    }

    /// Tasks that ran so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Acquire)
    }

    /// Sets the count the next [`Completion::wait_for`] waits for. Must be called before the task
    /// that reaches it can run (i.e. before submitting it).
    pub fn expect(&self, count: u64) {
        self.expected.store(count, Ordering::Release);
    }

    /// Records a failure (e.g. a producer's submit was rejected) and wakes the waiter.
    pub fn fail(&self, msg: impl Into<String>) {
        let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(msg.into());
        }
        self.failed.store(true, Ordering::Release);
        self.waiter.unpark();
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until at least `count` tasks ran: spins for [`WAIT_SPIN`], then parks. Must be called
    /// on the thread that created the completion.
    ///
    /// # Errors
    /// A recorded [`Completion::fail`], or `timeout` elapsed (the error says how many ran).
    pub fn wait_for(&self, count: u64, timeout: Duration) -> Result<(), SampleError> {
        debug_assert_eq!(thread::current().id(), self.waiter.id(), "waiter must be the creator");
        let start = Instant::now();
        loop {
            if self.done.load(Ordering::Acquire) >= count {
                return Ok(());
            }
            if self.failed.load(Ordering::Acquire) {
                return Err(SampleError(self.failure().unwrap_or_default()));
            }
            let waited = start.elapsed();
            if waited < WAIT_SPIN {
                std::hint::spin_loop();
                continue;
            }
            if waited >= timeout {
                return Err(SampleError(format!(
                    "timed out after {timeout:?}: {} of {count} tasks ran",
                    self.done()
                )));
            }
            thread::park_timeout(timeout - waited);
        }
    }

    /// Checks, after the loop stopped, that exactly `total` tasks ran.
    ///
    /// # Errors
    /// Over-completion (a task ran twice or a foreign task reported) or missing tasks.
    pub fn check_exact(&self, total: u64) -> Result<(), SampleError> {
        if let Some(msg) = self.failure() {
            return Err(SampleError(msg));
        }
        match self.done() {
            d if d == total => Ok(()),
            d if d > total => {
                Err(SampleError(format!("over-completion: {d} runs for {total} tasks")))
            }
            d => Err(SampleError(format!("lost tasks: {d} of {total} ran"))),
        }
    }
}

/// Process resource usage at one instant, from `getrusage(RUSAGE_SELF)` (all threads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// User + system CPU time, ns.
    pub cpu_ns: u64,
    /// Voluntary context switches (`ru_nvcsw`).
    pub voluntary_switches: u64,
}

impl Usage {
    /// Reads the process's usage now.
    pub fn now() -> Usage {
        // SAFETY: `getrusage` writes a `rusage` into the pointer we pass; a zeroed `rusage` is a
        // valid value of that plain-data struct, and the pointer is to a live local.
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut ru);
            ru
        };
        let tv_ns =
            |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000;
        Usage {
            cpu_ns: tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime),
            voluntary_switches: ru.ru_nvcsw as u64,
        }
    }
}

/// What a timed scope measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Wall-clock ns (monotonic).
    pub wall_ns: u64,
    /// Process CPU ns (user + sys).
    pub cpu_ns: u64,
    /// Voluntary context switches.
    pub voluntary_switches: u64,
}

/// A timed region: started right before the first timed submit, stopped right after the last
/// task was observed complete.
///
/// It also brackets its window with callgrind's `START_INSTRUMENTATION` /
/// `STOP_INSTRUMENTATION` client requests ([`callgrind`]), so `make instructions`, which runs the
/// tournament under `valgrind --tool=callgrind --instr-atstart=no`, counts the instructions of
/// every thread inside timed windows only (not start-up, the environment probe, warm-up, the
/// report or the plots). Outside valgrind each request is six register instructions.
pub struct TimedScope {
    start: Instant,
    usage: Usage,
}

impl TimedScope {
    /// Starts the clocks (rusage first, so its syscall is outside the wall-clock window).
    #[inline]
    pub fn start() -> TimedScope {
        let usage = Usage::now();
        callgrind::request(callgrind::START_INSTRUMENTATION);
        TimedScope { start: Instant::now(), usage }
    }

    /// Stops the clocks.
    #[inline]
    pub fn stop(self) -> Measured {
        let wall_ns = self.start.elapsed().as_nanos() as u64;
        callgrind::request(callgrind::STOP_INSTRUMENTATION);
        let usage = Usage::now();
        Measured {
            wall_ns,
            cpu_ns: usage.cpu_ns.saturating_sub(self.usage.cpu_ns),
            voluntary_switches: usage
                .voluntary_switches
                .saturating_sub(self.usage.voluntary_switches),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Thread placement
// ---------------------------------------------------------------------------------------------

/// Environment variable that switches thread pinning off (`0`, `off`, `false`, `no`) or on
/// (`1`, `on`, `true`, `yes`, empty); read once, at the first [`pinning`] call, unless
/// [`set_pinning`] decided first (the `run --no-pin` flag). Default: on.
pub const PIN_ENV: &str = "TOURNAMENT_PIN";

/// 0: not decided yet; 1: requested on; 2: requested off.
static PIN_REQUEST: AtomicU8 = AtomicU8::new(0);

/// Requests thread pinning on or off for the rest of the process, overriding [`PIN_ENV`]. Call it
/// before the first sample (a later call applies to the threads placed from then on).
pub fn set_pinning(enabled: bool) {
    PIN_REQUEST.store(if enabled { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether threads are pinned: requested ([`set_pinning`], else [`PIN_ENV`], default on) and
/// possible ([`placement`] exists: Linux, and at least two CPUs in the process's affinity mask).
///
/// # Panics
/// [`PIN_ENV`] holds a value other than those it documents (a clear message names it).
pub fn pinning() -> bool {
    pinning_requested() && placement().is_some()
}

fn pinning_requested() -> bool {
    match PIN_REQUEST.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = match std::env::var(PIN_ENV) {
                Err(_) => true,
                Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "" | "1" | "on" | "true" | "yes" => true,
                    "0" | "off" | "false" | "no" => false,
                    _ => panic!("{PIN_ENV}={v:?}: expected 1/on/true/yes or 0/off/false/no"),
                },
            };
            let _ = PIN_REQUEST.compare_exchange(
                0,
                if on { 1 } else { 2 },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            PIN_REQUEST.load(Ordering::Relaxed) == 1
        }
    }
}

/// Where pinned threads go: CPU numbers taken from the process's affinity mask at first use
/// (ascending), so a restricted container pins inside its own CPUs.
///
/// The rule (2 vCPUs here: loop on CPU 1, harness and a single producer on CPU 0):
/// * the **loop thread** (the thread that calls `run`; a peer's worker or runtime thread *is*
///   that thread, and threads it spawns inherit its CPU) gets the second-lowest CPU;
/// * the **harness thread** (the sample's driver: the producer of the single-producer
///   workloads, the waiter of the others) gets the lowest; processes it spawns (the echo client,
///   `wrk`) inherit it, so client and server sit on different CPUs as well;
/// * **producer threads** of the multi-producer workloads get one CPU each among the CPUs other
///   than the loop's (the harness's first) while there are enough of them, i.e. P = 1 here; with
///   more producers than such CPUs they are left **unpinned** (the whole allowed mask). Not
///   round-robin: over every CPU it would tie a fixed subset of producers (depending on P) to the
///   loop's CPU, and over the loop-free CPUs only it would, on this machine, serialise every
///   producer on CPU 0, so no two producers would ever contend on the ingress at the same time
///   — the very thing those workloads measure. Unpinned, the scheduler places them as it
///   would a user's program, and the loop still starts every sample on its own CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// CPU of the harness thread.
    pub harness: usize,
    /// CPU of the loop thread.
    pub loop_cpu: usize,
    /// Every CPU of the process's affinity mask at first use, ascending (what an unpinned thread
    /// is given back).
    pub allowed: Vec<usize>,
}

impl Placement {
    /// The placement for the allowed CPUs `allowed` (any order, duplicates ignored); `None`
    /// with fewer than two CPUs (nothing to separate).
    pub fn from_allowed(allowed: &[usize]) -> Option<Placement> {
        let mut allowed = allowed.to_vec();
        allowed.sort_unstable();
        allowed.dedup();
        (allowed.len() >= 2).then(|| Placement {
            harness: allowed[0],
            loop_cpu: allowed[1],
            allowed,
        })
    }

    /// The CPUs producers may be pinned to: every allowed CPU but the loop's, the harness's first.
    pub fn producer_cpus(&self) -> Vec<usize> {
        self.allowed.iter().copied().filter(|&c| c != self.loop_cpu).collect()
    }

    /// The CPU of producer `index` (0-based) of `count`, or `None` (unpinned) when `count`
    /// exceeds [`Placement::producer_cpus`].
    pub fn producer_cpu(&self, index: usize, count: usize) -> Option<usize> {
        let cpus = self.producer_cpus();
        (count <= cpus.len()).then(|| cpus.get(index).copied()).flatten()
    }

    /// One line for env.json `pinning`.
    pub fn describe(&self) -> String {
        let free = self.producer_cpus();
        format!(
            "loop thread on CPU {}, harness thread on CPU {}; producers: one per CPU of {:?} \
             when P <= {}, else unpinned (CPUs {:?})",
            self.loop_cpu,
            self.harness,
            free,
            free.len(),
            self.allowed
        )
    }
}

/// The process's [`Placement`], computed once from the affinity mask of the first thread that
/// asks (before any thread is pinned: pinning needs it first); `None` off Linux, or when the
/// mask cannot be read or holds fewer than two CPUs.
pub fn placement() -> Option<&'static Placement> {
    static PLACEMENT: OnceLock<Option<Placement>> = OnceLock::new();
    PLACEMENT
        .get_or_init(|| affinity::current().ok().and_then(|cpus| Placement::from_allowed(&cpus)))
        .as_ref()
}

/// env.json `pinning`: `none` when threads are not pinned (switched off, or impossible here),
/// else [`Placement::describe`].
pub fn pinning_description() -> String {
    match placement() {
        Some(p) if pinning() => p.describe(),
        _ => "none".to_string(),
    }
}

/// Pins the calling thread, the harness thread, to [`Placement::harness`] (no-op when not
/// [`pinning`]). Called before every loop starts (the harness thread does not change within a
/// run); threads and processes spawned afterwards inherit this CPU unless placed otherwise.
///
/// # Errors
/// The kernel refused the affinity change (the sample fails saying so).
pub fn pin_harness_thread() -> Result<(), SampleError> {
    match placement() {
        Some(p) if pinning() => affinity::set_current(&[p.harness]).map_err(|e| {
            SampleError(format!("pinning the harness thread to CPU {}: {e}", p.harness))
        }),
        _ => Ok(()),
    }
}

/// Runs `f` on a helper thread allowed on every CPU of the process's [`Placement::allowed`]
/// mask (the mask the process started with) and returns its result; without a placement (off
/// Linux, fewer than two CPUs) on a plain helper thread.
///
/// A process inherits the affinity of the thread that starts it. The harness thread is pinned
/// to one CPU, so a process it started itself — the next process of `run --processes` — found
/// a one-CPU mask, could not pin the loop apart from its producers and ran every thread on that
/// CPU (`burst` b=1000 at 130 ns/task against 21 in the first process). Starting such processes
/// from here gives them the run's own mask, hence the same [`placement`].
///
/// # Errors
/// The kernel refused to widen the helper thread's affinity.
///
/// # Panics
/// If `f` panics (the panic is resumed on the calling thread).
pub fn with_allowed_cpus<R: Send>(f: impl FnOnce() -> R + Send) -> std::io::Result<R> {
    thread::scope(|s| {
        let h = s.spawn(|| -> std::io::Result<R> {
            if let Some(p) = placement() {
                affinity::set_current(&p.allowed)?;
            }
            Ok(f())
        });
        h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Pins thread `t` (just spawned to call a loop's `run`, or a native server's thread) to
/// [`Placement::loop_cpu`] (no-op when not [`pinning`]).
///
/// # Errors
/// The kernel refused the affinity change.
pub fn place_loop_thread<T>(t: &thread::JoinHandle<T>) -> Result<(), SampleError> {
    match placement() {
        Some(p) if pinning() => affinity::set_thread(t, &[p.loop_cpu]).map_err(|e| {
            SampleError(format!("pinning the loop thread to CPU {}: {e}", p.loop_cpu))
        }),
        _ => Ok(()),
    }
}

/// Places producer thread `t`, number `index` of `count`, by [`Placement::producer_cpu`]: pinned
/// to its CPU, or given the whole allowed mask back (it inherited the harness's CPU). No-op when
/// not [`pinning`].
///
/// # Errors
/// The kernel refused the affinity change.
pub fn place_producer_thread<T>(
    t: &thread::JoinHandle<T>,
    index: usize,
    count: usize,
) -> Result<(), SampleError> {
    match placement() {
        Some(p) if pinning() => {
            let cpus = p.producer_cpu(index, count).map_or_else(|| p.allowed.clone(), |c| vec![c]);
            affinity::set_thread(t, &cpus).map_err(|e| {
                SampleError(format!("placing producer {index} of {count} on CPUs {cpus:?}: {e}"))
            })
        }
        _ => Ok(()),
    }
}

/// The affinity calls (`sched_getaffinity`/`sched_setaffinity` for the calling thread,
/// `pthread_setaffinity_np` for another); elsewhere than Linux every call fails (`Unsupported`),
/// so [`placement`] is `None` and nothing is pinned.
pub mod affinity {
    use std::io;
    use std::thread::JoinHandle;

    /// CPUs the calling thread may run on, ascending.
    ///
    /// # Errors
    /// `sched_getaffinity` failed, or not Linux.
    #[cfg(target_os = "linux")]
    pub fn current() -> io::Result<Vec<usize>> {
        // SAFETY: a zeroed `cpu_set_t` is a valid empty set; `sched_getaffinity(0, ..)` writes at
        // most `size_of::<cpu_set_t>()` bytes into the live local we pass.
        let set = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Err(io::Error::last_os_error());
            }
            set
        };
        let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `CPU_ISSET` reads bit `c` of the set; `c` is below the set's size in bits.
        Ok((0..max).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect())
    }

    #[cfg(target_os = "linux")]
    fn cpu_set(cpus: &[usize]) -> io::Result<libc::cpu_set_t> {
        let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: a zeroed `cpu_set_t` is a valid empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &c in cpus {
            if c >= max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("CPU {c} >= {max}"),
                ));
            }
            // SAFETY: `c` is below the set's size in bits (checked above).
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        Ok(set)
    }

    /// Restricts the calling thread to `cpus`.
    ///
    /// # Errors
    /// `sched_setaffinity` failed (e.g. a CPU outside the cgroup's set), or not Linux.
    #[cfg(target_os = "linux")]
    pub fn set_current(cpus: &[usize]) -> io::Result<()> {
        let set = cpu_set(cpus)?;
        // SAFETY: pid 0 is the calling thread; the set is a live local of the size we pass.
        if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Restricts thread `t` to `cpus`.
    ///
    /// # Errors
    /// `pthread_setaffinity_np` failed, or not Linux.
    #[cfg(target_os = "linux")]
    pub fn set_thread<T>(t: &JoinHandle<T>, cpus: &[usize]) -> io::Result<()> {
        use std::os::unix::thread::JoinHandleExt;
        let set = cpu_set(cpus)?;
        // SAFETY: the handle keeps the thread joinable, so its pthread_t is valid (a thread that
        // already exited but is not joined yet is still a valid target); the set is a live local
        // of the size we pass.
        let rc = unsafe {
            libc::pthread_setaffinity_np(
                t.as_pthread_t(),
                std::mem::size_of::<libc::cpu_set_t>(),
                &set,
            )
        };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(())
    }

    /// Not Linux: fails.
    ///
    /// # Errors
    /// Always `Unsupported`.
    #[cfg(not(target_os = "linux"))]
    pub fn current() -> io::Result<Vec<usize>> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Not Linux: fails.
    ///
    /// # Errors
    /// Always `Unsupported`.
    #[cfg(not(target_os = "linux"))]
    pub fn set_current(_cpus: &[usize]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Not Linux: fails.
    ///
    /// # Errors
    /// Always `Unsupported`.
    #[cfg(not(target_os = "linux"))]
    pub fn set_thread<T>(_t: &JoinHandle<T>, _cpus: &[usize]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Valgrind client requests for callgrind (the instruction-count lane, `make instructions`).
///
/// A client request is valgrind's "special instruction sequence" (`valgrind.h`,
/// `VALGRIND_DO_CLIENT_REQUEST_EXPR`; amd64: four `rol` of `rdi` summing to 128 bits, then
/// `xchg rbx, rbx`, with `rax` pointing at the request and its five arguments): a no-op on a real
/// CPU, recognised by valgrind's decoder. Request codes from `callgrind.h`
/// (`VG_USERREQ_TOOL_BASE('C','T')` + 4 and + 5). Other architectures: no-ops (the lane then
/// counts the whole process; `scripts/instructions.sh` says so).
pub mod callgrind {
    const TOOL_BASE: u64 = ((b'C' as u64) << 24) | ((b'T' as u64) << 16);
    /// `VG_USERREQ__START_INSTRUMENTATION`: instrument (count) from here on, every thread.
    pub const START_INSTRUMENTATION: u64 = TOOL_BASE + 4;
    /// `VG_USERREQ__STOP_INSTRUMENTATION`: stop instrumenting, every thread.
    pub const STOP_INSTRUMENTATION: u64 = TOOL_BASE + 5;

    /// Issues client request `code` (no arguments); returns valgrind's answer, 0 outside it.
    #[inline(always)]
    pub fn request(code: u64) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            let args: [u64; 6] = [code, 0, 0, 0, 0, 0];
            let mut result: u64 = 0;
            // SAFETY: the four rotations of `rdi` total 128 bits (it ends unchanged) and
            // `xchg rbx, rbx` changes nothing, so on a real CPU the block only clobbers flags;
            // under valgrind it reads the six words `rax` points at (a live local) and writes
            // `rdx`, declared as an output.
            unsafe {
                std::arch::asm!(
                    "rol rdi, 3",
                    "rol rdi, 13",
                    "rol rdi, 61",
                    "rol rdi, 51",
                    "xchg rbx, rbx",
                    in("rax") args.as_ptr(),
                    inout("rdx") result,
                    options(nostack),
                );
            }
            result
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = code;
            0
        }
    }
}

/// A contender's loop running on its own thread for the duration of one sample.
pub struct RunningLoop<L: EventLoop> {
    /// The loop, shared with producers.
    pub lp: Arc<L>,
    done_rx: mpsc::Receiver<Result<(), String>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl<L: EventLoop> RunningLoop<L> {
    /// Creates the loop with `config` and starts `run()` on a new thread named `loop-<id>`.
    ///
    /// # Errors
    /// `new` failed, or the thread could not be spawned.
    pub fn start(config: &LoopConfig) -> Result<Self, SampleError> {
        let lp = Arc::new(L::new(config).map_err(|e| SampleError(format!("new failed: {e}")))?);
        Self::spawn(lp)
    }

    /// Starts `run()` of an already constructed loop on a new thread named `loop` (for callers
    /// that measure between `new` and `run`, such as the footprint workload). Pinned (see
    /// [`Placement`]): the calling harness thread first, then the new loop thread.
    ///
    /// # Errors
    /// The thread could not be spawned or placed (a placed-but-failed loop is closed and joined).
    pub fn spawn(lp: Arc<L>) -> Result<Self, SampleError> {
        pin_harness_thread()?;
        let (tx, done_rx) = mpsc::channel();
        let runner = Arc::clone(&lp);
        let thread = thread::Builder::new()
            .name("loop".into())
            .spawn(move || {
                let r = runner.run().map_err(|e| format!("run failed: {e}"));
                let _ = tx.send(r);
            })
            .map_err(|e| SampleError(format!("spawn failed: {e}")))?;
        let placed = place_loop_thread(&thread);
        let running = RunningLoop { lp, done_rx, thread: Some(thread) };
        placed?; // on error `running` drops here: closed and joined
        Ok(running)
    }

    /// A snapshot of the loop's counters.
    pub fn stats(&self) -> LoopStats {
        self.lp.stats()
    }

    /// Shuts the loop down gracefully and joins its thread, each bounded by [`SAMPLE_TIMEOUT`].
    /// Returns the final stats.
    ///
    /// # Errors
    /// Shutdown failed or timed out, `run` returned an error, or the loop thread did not exit (it is
    /// then detached, never joined, so the run goes on).
    pub fn finish(mut self) -> Result<LoopStats, SampleError> {
        let shut = self.lp.shutdown(SAMPLE_TIMEOUT);
        let run = self.done_rx.recv_timeout(SAMPLE_TIMEOUT);
        let stats = self.lp.stats();
        match run {
            Ok(Ok(())) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
            Ok(Err(e)) => return Err(SampleError(e)),
            Err(_) => {
                self.thread.take(); // detach: joining could hang the whole run
                return Err(SampleError(format!(
                    "loop thread did not exit within {SAMPLE_TIMEOUT:?} of shutdown"
                )));
            }
        }
        shut.map_err(|e| SampleError(format!("shutdown failed: {e}")))?;
        Ok(stats)
    }
}

impl<L: EventLoop> Drop for RunningLoop<L> {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            // A sample that failed early: stop the loop without waiting on a stuck contender.
            self.lp.close();
            if self.done_rx.recv_timeout(SAMPLE_TIMEOUT).is_ok() {
                let _ = t.join();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Injected slowdown (`slow-test` builds)
// ---------------------------------------------------------------------------------------------

/// The contender whose tasks a `slow-test` build slows: `main` only (not its ablations).
pub const SLOWED_CONTENDER: &str = "main";

/// The workloads whose tasks a `slow-test` build slows (for [`SLOWED_CONTENDER`] only): the
/// single-producer submit-throughput family, where the loop thread is the bottleneck, so a
/// delay it pays per task is a slowdown of the cell. Every other cell is measured as in a normal
/// build (apart from one relaxed load per task), so which cells a slowed run should flag is
/// known exactly. (`multi-producer` was slowed too until the calibration showed the delay does
/// not act on it: at a nominal 5% and 10% its p=100 point moved +4.5% and −7.8%, its pace being
/// set by 100 producer threads sharing two vCPUs, so counting it as affected measured the
/// injection, not the gate.)
pub const SLOWED_WORKLOADS: &[&str] = &["ping-pong", "burst"];

/// The injected delay when `SLOW_TEST_NS` is set neither when the process starts nor at build
/// time: 500 ns per task.
pub const DEFAULT_SLOW_TEST_NS: f64 = 500.0;

/// The least number of spin iterations paid at once (see [`slow_test_ns`]).
pub const SLOW_TEST_CHUNK_ITERS: u64 = 64;

/// The mean delay per task of this build, ns, or `None` in a normal build (without the
/// `slow-test` feature).
///
/// A `slow-test` build injects, into every task the harness runs for [`SLOWED_CONTENDER`] on
/// [`SLOWED_WORKLOADS`] (on the loop thread, when the task reports itself done; the untimed
/// warm-up's tasks too), a busy-wait of `SLOW_TEST_NS` ns per task: read from the environment
/// when the process starts (so one slowed build serves every level of `make calibrate`), else
/// at **build** time with `option_env!`, else [`DEFAULT_SLOW_TEST_NS`]. The delay is paid by
/// the loop thread because that is what a slower loop is: on the submit side it mostly vanished
/// into the producers' slack (a 1.3 ns/task producer delay moved main's ping-pong by +0.5%),
/// or, paid in long chunks, changed when the loop parks (+17% for a nominal 5%). The wait is
/// never a sleep: it is a chain of dependent integer additions whose rate (iterations/ns) is
/// calibrated once per process with [`Instant`] (the fastest of five ~2 ms spins after a
/// warm-up, about 10 ms; [`slow_test_calibration`]). Each task adds its share (fixed point,
/// 1/65536 iteration) to a per-thread debt, and the debt is paid once it reaches
/// [`SLOW_TEST_CHUNK_ITERS`] iterations (about 15 ns): a delay of a few ns per task would
/// otherwise be a handful of additions the out-of-order core overlaps with the task's own cache
/// misses, i.e. no delay at all. So the *mean* delay per task is the nominal one; how much it
/// actually slows a cell is measured (`make calibrate` reports the paired slowdown).
///
/// # Panics
/// `SLOW_TEST_NS` (environment or build time) is not a finite number ≥ 0.
pub fn slow_test_ns() -> Option<f64> {
    if !cfg!(feature = "slow-test") {
        return None;
    }
    static NS: OnceLock<f64> = OnceLock::new();
    Some(*NS.get_or_init(|| {
        let parse = |s: &str, from: &str| match s.trim().parse::<f64>() {
            Ok(ns) if ns.is_finite() && ns >= 0.0 => ns,
            _ => panic!("SLOW_TEST_NS={s:?} ({from}): expected a number of ns >= 0"),
        };
        match (std::env::var("SLOW_TEST_NS"), option_env!("SLOW_TEST_NS")) {
            (Ok(s), _) => parse(&s, "environment"),
            (Err(_), Some(s)) => parse(s, "build time"),
            (Err(_), None) => DEFAULT_SLOW_TEST_NS,
        }
    }))
}

/// The env.json `features` entry of a `slow-test` build, `slow-test=<ns>ns` (e.g.
/// `slow-test=3.2ns`); `None` in a normal build. Also calibrates the spin, so it happens at
/// process start, outside any sample.
///
/// # Panics
/// As [`slow_test_ns`].
pub fn slow_test_feature() -> Option<String> {
    let ns = slow_test_ns()?;
    slow_test_calibration();
    Some(format!("slow-test={ns}ns"))
}

/// The spin's calibration: (iterations per ns, debt added per task in 1/65536 iterations).
/// Computed once per process; `(0.0, 0)` in a normal build.
pub fn slow_test_calibration() -> (f64, u64) {
    static CAL: OnceLock<(f64, u64)> = OnceLock::new();
    *CAL.get_or_init(|| {
        let Some(ns) = slow_test_ns() else { return (0.0, 0) };
        spin(1 << 20); // warm-up: page in, let the clock ramp
        // Size a ~2 ms chunk from a first estimate, then keep the fastest of five.
        let t0 = Instant::now();
        spin(1 << 20);
        let first = (1u64 << 20) as f64 / t0.elapsed().as_nanos().max(1) as f64;
        let iters = ((first * 2e6) as u64).max(1 << 16);
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                spin(iters);
                t.elapsed().as_nanos().max(1) as f64
            })
            .fold(f64::INFINITY, f64::min);
        let per_ns = iters as f64 / best;
        let per_task = (ns * per_ns * 65_536.0).round() as u64;
        SLOW_DEBT_PER_TASK.store(per_task, Ordering::Relaxed);
        (per_ns, per_task)
    })
}

/// Whether the current sample's submits pay the injected delay.
static SLOW_ARMED: AtomicBool = AtomicBool::new(false);
/// [`slow_test_calibration`]'s debt per task, 1/65536 iterations.
static SLOW_DEBT_PER_TASK: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Unpaid spin iterations of this thread, 1/65536 iterations.
    static SLOW_DEBT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// `n` iterations of a dependent addition chain (an empty `asm!` keeps the compiler from folding
/// it); returns the sum so it is not dead.
#[inline(never)]
fn spin(n: u64) -> u64 {
    let mut x = 0u64;
    for _ in 0..n {
        x = x.wrapping_add(1);
        // SAFETY: an empty assembly block that only claims to read and write `x`'s register.
        unsafe {
            std::arch::asm!("/* {0} */", inout(reg) x, options(nomem, nostack, preserves_flags))
        };
    }
    x
}

/// Adds one task's delay to this thread's debt and pays it when due ([`slow_test_ns`]).
#[inline(never)]
fn pay_slowdown() {
    let due = SLOW_DEBT.with(|d| {
        let debt = d.get() + SLOW_DEBT_PER_TASK.load(Ordering::Relaxed);
        if debt >> 16 >= SLOW_TEST_CHUNK_ITERS {
            d.set(debt & 0xffff);
            debt >> 16
        } else {
            d.set(debt);
            0
        }
    });
    if due > 0 {
        std::hint::black_box(spin(due));
    }
}

/// Arms the injected delay of a `slow-test` build for one sample when the contender is
/// [`SLOWED_CONTENDER`] and the workload one of [`SLOWED_WORKLOADS`]; disarms when dropped. A
/// no-op in a normal build. Samples run one at a time, so one process-wide flag suffices.
#[must_use = "the delay is armed only while the guard lives"]
pub struct SlowTestScope {
    armed: bool,
}

impl SlowTestScope {
    /// Arms for (`contender`, `workload`) if they are slowed (calibrating first, untimed).
    pub fn enter(contender: &str, workload: &str) -> SlowTestScope {
        let armed = cfg!(feature = "slow-test")
            && contender == SLOWED_CONTENDER
            && SLOWED_WORKLOADS.contains(&workload);
        if armed {
            slow_test_calibration();
            SLOW_ARMED.store(true, Ordering::Release);
        }
        SlowTestScope { armed }
    }
}

impl Drop for SlowTestScope {
    fn drop(&mut self) {
        if self.armed {
            SLOW_ARMED.store(false, Ordering::Release);
        }
    }
}

/// The injected delay of a `slow-test` build for one task (nothing in a normal build, and one
/// relaxed load when not armed).
#[inline(always)]
pub fn injected_slowdown() {
    if cfg!(feature = "slow-test") && SLOW_ARMED.load(Ordering::Relaxed) {
        pay_slowdown();
    }
}

/// Submits `f` to `lp`, turning a rejection into a [`SampleError`] (the closure is dropped by the
/// caller's frame, never lost silently: the sample fails).
#[inline]
pub fn submit_or_fail<L: EventLoop, F: FnOnce() + Send + 'static>(
    lp: &L,
    f: F,
) -> Result<(), SampleError> {
    lp.submit(f).map_err(|r| SampleError(format!("submit rejected: {}", r.reason)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sums_to_n_for_awkward_values() {
        for (n, p) in [(0, 1), (1, 3), (7, 3), (10, 10), (1_000_003, 7), (5, 100), (99, 10)] {
            let s = producer_split(n, p);
            assert_eq!(s.len(), p);
            assert_eq!(s.iter().sum::<u64>(), n, "n={n} p={p}");
            let max = *s.iter().max().unwrap();
            let min = *s.iter().min().unwrap();
            assert!(max - min <= 1, "n={n} p={p}: {s:?}");
            // The first n mod p producers carry the extra task.
            let extra = (n % p as u64) as usize;
            assert!(s[..extra].iter().all(|&x| x == n / p as u64 + 1));
            assert!(s[extra..].iter().all(|&x| x == n / p as u64));
        }
        assert_eq!(producer_split(7, 3), vec![3, 2, 2]);
        assert!(producer_split(5, 0).is_empty());
    }

    #[test]
    fn completion_fails_on_over_completion_and_on_missing_tasks() {
        let c = Completion::leak();
        c.expect(3);
        for _ in 0..3 {
            c.task_done();
        }
        c.wait_for(3, Duration::from_secs(1)).unwrap();
        assert!(c.check_exact(3).is_ok());
        c.task_done();
        let err = c.check_exact(3).unwrap_err();
        assert!(err.0.contains("over-completion: 4 runs for 3 tasks"), "{err}");
        let c2 = Completion::leak();
        c2.task_done();
        assert!(c2.check_exact(2).unwrap_err().0.contains("lost tasks: 1 of 2"));
    }

    #[test]
    fn completion_wakes_a_parked_waiter_from_another_thread() {
        let c = Completion::leak();
        c.expect(1000);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let t = thread::spawn(move || {
            go_rx.recv().unwrap();
            for _ in 0..1000 {
                c.task_done();
            }
        });
        go_tx.send(()).unwrap();
        c.wait_for(1000, Duration::from_secs(10)).unwrap();
        t.join().unwrap();
        assert_eq!(c.done(), 1000);
    }

    #[test]
    fn completion_reports_failure_and_timeout() {
        let c = Completion::leak();
        c.fail("submit rejected: loop has been terminated");
        let e = c.wait_for(1, Duration::from_secs(5)).unwrap_err();
        assert!(e.0.contains("loop has been terminated"));
        let c2 = Completion::leak();
        let e = c2.wait_for(1, Duration::from_millis(1)).unwrap_err();
        assert!(e.0.contains("timed out") && e.0.contains("0 of 1"), "{e}");
    }

    #[test]
    fn placement_separates_loop_and_harness_and_unpins_crowds() {
        assert_eq!(Placement::from_allowed(&[0]), None);
        let two = Placement::from_allowed(&[1, 0]).unwrap();
        assert_eq!((two.harness, two.loop_cpu, two.allowed.clone()), (0, 1, vec![0, 1]));
        assert_eq!(two.producer_cpus(), vec![0]);
        assert_eq!(two.producer_cpu(0, 1), Some(0));
        assert_eq!(two.producer_cpu(0, 2), None);
        assert_eq!(two.producer_cpu(1, 100), None);
        let four = Placement::from_allowed(&[6, 2, 4, 3]).unwrap();
        assert_eq!((four.harness, four.loop_cpu), (2, 3));
        assert_eq!(four.producer_cpus(), vec![2, 4, 6]);
        assert_eq!(
            (0..3).map(|i| four.producer_cpu(i, 3)).collect::<Vec<_>>(),
            [Some(2), Some(4), Some(6)]
        );
        assert_eq!(four.producer_cpu(0, 4), None);
        assert!(two.describe().contains("loop thread on CPU 1"), "{}", two.describe());
    }

    /// The affinity mask a task running on `lp`'s loop thread sees.
    fn loop_thread_mask<L: EventLoop>() -> (Vec<usize>, Vec<usize>) {
        let running = RunningLoop::<L>::start(&LoopConfig::default()).unwrap();
        let (tx, rx) = mpsc::sync_channel(1);
        submit_or_fail(&*running.lp, move || {
            let _ = tx.send(affinity::current().unwrap());
        })
        .unwrap();
        let on_loop = rx.recv_timeout(SAMPLE_TIMEOUT).unwrap();
        let on_harness = affinity::current().unwrap();
        running.finish().unwrap();
        (on_loop, on_harness)
    }

    #[test]
    fn loop_threads_of_our_loops_and_of_peers_are_pinned_apart_from_the_harness() {
        let Some(p) = placement().filter(|_| pinning()) else {
            eprintln!("pinning is off or impossible here: nothing to check");
            return;
        };
        for (what, (on_loop, on_harness)) in [
            ("baseline", loop_thread_mask::<loop_baseline::BaselineLoop>()),
            ("std-mpsc", loop_thread_mask::<crate::contenders::std_mpsc::StdMpsc>()),
            ("tokio-ct", loop_thread_mask::<crate::contenders::tokio_ct::TokioCt>()),
        ] {
            assert_eq!(on_loop, vec![p.loop_cpu], "{what}: loop thread");
            assert_eq!(on_harness, vec![p.harness], "{what}: harness thread");
        }
        // Producers: a single one shares the harness's CPU; a crowd gets the whole mask back.
        for (count, want) in [(1, vec![p.harness]), (p.allowed.len() + 1, p.allowed.clone())] {
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let h = thread::spawn(move || {
                go_rx.recv().unwrap();
                affinity::current().unwrap()
            });
            place_producer_thread(&h, 0, count).unwrap();
            go_tx.send(()).unwrap();
            assert_eq!(h.join().unwrap(), want, "producer 0 of {count}");
        }
    }

    #[test]
    fn a_pinned_thread_starts_work_with_the_whole_allowed_mask() {
        let Some(p) = placement() else {
            eprintln!("skipped: no placement here (fewer than two CPUs, or not Linux)");
            return;
        };
        // A pinned thread (as the harness thread is) hands work to `with_allowed_cpus`: it runs
        // with every allowed CPU, and the pinned thread keeps its one CPU.
        thread::spawn(move || {
            affinity::set_current(&[p.harness]).unwrap();
            let inside = with_allowed_cpus(|| affinity::current().unwrap()).unwrap();
            assert_eq!(inside, p.allowed);
            assert_eq!(affinity::current().unwrap(), vec![p.harness]);
            // A process started from there inherits the whole mask too.
            let out = with_allowed_cpus(|| {
                std::process::Command::new("grep")
                    .args(["Cpus_allowed_list", "/proc/self/status"])
                    .output()
                    .unwrap()
            })
            .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let pinned_child = std::process::Command::new("grep")
                .args(["Cpus_allowed_list", "/proc/self/status"])
                .output()
                .unwrap();
            assert_ne!(text, String::from_utf8_lossy(&pinned_child.stdout), "{text}");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn injected_slowdown_is_armed_only_for_main_on_the_throughput_family() {
        assert_eq!(spin(1000), 1000);
        for (c, w, want) in [
            ("main", "ping-pong", true),
            ("main", "burst", true),
            ("main", "multi-producer", false),
            ("main", "wakeup-burst", false),
            ("main", "ping-pong-latency", false),
            ("main/no-spin", "ping-pong", false),
            ("tokio-ct", "ping-pong", false),
        ] {
            let g = SlowTestScope::enter(c, w);
            assert_eq!(g.armed, want && cfg!(feature = "slow-test"), "{c} {w}");
            assert_eq!(SLOW_ARMED.load(Ordering::Acquire), g.armed);
            drop(g);
            assert!(!SLOW_ARMED.load(Ordering::Acquire));
        }
        if cfg!(feature = "slow-test") {
            let ns = slow_test_ns().unwrap();
            let (per_ns, per_task) = slow_test_calibration();
            assert!(per_ns > 0.0);
            assert_eq!(per_task, (ns * per_ns * 65_536.0).round() as u64);
            assert!(slow_test_feature().unwrap().starts_with("slow-test="));
        } else {
            assert_eq!((slow_test_ns(), slow_test_feature()), (None, None));
            assert_eq!(slow_test_calibration(), (0.0, 0));
        }
    }

    #[test]
    fn usage_is_monotonic() {
        let a = Usage::now();
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let b = Usage::now();
        assert!(b.cpu_ns >= a.cpu_ns && b.voluntary_switches >= a.voluntary_switches);
    }
}
