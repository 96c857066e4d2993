//! `floor`: the physical floor of a cross-thread handoff on this machine, measured in the same
//! rounds as the contenders so every table it appears in can say how far the best design is
//! from the limit of the machine *today* (a reference, never a rival: `verdict::Role::Reference`).
//!
//! It is not an event loop. A "task" here is a `u64` moved from the harness thread to a consumer
//! thread pinned where the loop thread would be ([`crate::harness::Placement::loop_cpu`]): no
//! closure, no allocation, no wake-up (the consumer spins). What remains is the cost of moving
//! cache lines between the two CPUs, which every loop that runs a task submitted from another
//! thread pays at least once.
//!
//! * `ping-pong` (throughput): a bounded single-producer single-consumer ring of `u64` slots
//!   with cached head/tail indices (the classic Lamport ring, L. Lamport, "Proving the
//!   correctness of multiprocess programs", IEEE TSE 1977, with the index caching of
//!   Rigtorp's SPSCQueue), timed from the first push until the consumer has taken the last.
//! * `ping-pong-latency`: a single-slot spin handoff: the harness writes a sequence number into
//!   one cache line, the consumer echoes it into another, the harness spins until it sees it —
//!   one round trip per sample of the histogram.
//!
//! * `echo`: a bare level-triggered epoll server on the loop's CPU, one read and one write per
//!   message and no loop machinery ([`super::floor_net`]): the server cost the kernel charges
//!   on this machine, beside the loops' (the table's *CPU ns/task*).
//!
//! Every other workload is *not applicable* ([`ONLY`]), a declared gap in the run. Conservation
//! is checked like a loop's: the consumer sums what it took, and a sample fails unless it took
//! exactly the values 1..=N once each (sum and count).

use std::hint::spin_loop;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use loop_api::{Capabilities, LoopConfig};

use super::Contender;
use crate::harness::{
    SAMPLE_TIMEOUT, SampleError, TimedScope, affinity, pin_harness_thread, pinning, placement,
};
use crate::workloads::{Param, SampleOutcome, latency_histogram};

/// Registry id of the floor reference (the same as [`crate::verdict::FLOOR_CONTENDER`]).
pub const ID: &str = crate::verdict::FLOOR_CONTENDER;

/// The floor as a registry family (one entry).
pub const ENTRIES: &[Contender] = &[ENTRY];

/// The workloads the floor is defined for; every other cell is a declared gap.
pub const ONLY: &[&str] = &["ping-pong", "ping-pong-latency", "echo"];

/// Registry entry.
pub const ENTRY: Contender = Contender {
    id: ID,
    description: "reference, not a loop: a u64 handed from the harness thread to a spinning \
                  consumer on the loop's CPU (SPSC ring for ping-pong, one-slot round trip for \
                  ping-pong-latency): the machine's floor for a cross-thread handoff; for echo \
                  a bare level-triggered epoll server, one read and one write per message",
    capabilities: Capabilities::SUBMIT_ONLY,
    config: LoopConfig::default,
    run_sample,
    gate,
    native_server: Some(super::floor_net::start),
    only_workloads: Some(ONLY),
    missing: None,
    soak: None,
};

/// Slots of the ring: a power of two, large enough that the producer rarely waits for the
/// consumer, small enough to stay in L1/L2 (8 KiB).
const RING_SLOTS: usize = 1024;

/// Tasks of the untimed warm-up pass before each timed one (threads started, lines warm).
const WARM_UP: u64 = 1_000;

/// Spins between two looks at the clock while waiting (bounded waits fail loudly), and between
/// two `yield_now` calls: pinned on two CPUs a wait never gets that far, but unpinned (or on one
/// CPU) a spinning side must let the other run.
const SPINS_PER_CLOCK_CHECK: u32 = 1 << 12;

/// One step of a spin-wait: a pause, and every [`SPINS_PER_CLOCK_CHECK`] steps a yield.
#[inline]
fn relax(spins: &mut u32) {
    spin_loop();
    *spins += 1;
    if *spins % SPINS_PER_CLOCK_CHECK == 0 {
        thread::yield_now();
    }
}

/// Keeps a value on a cache line of its own (128 bytes: adjacent-line prefetch pairs lines).
#[repr(align(128))]
#[derive(Default)]
struct Line<T>(T);

/// The state the two threads share.
struct Shared {
    /// Ring slots (`RING_SLOTS`), written by the producer before it publishes `tail`.
    slots: Box<[AtomicU64]>,
    /// Next slot the producer writes (monotonic count of pushes).
    tail: Line<AtomicU64>,
    /// Next slot the consumer reads (monotonic count of pops).
    head: Line<AtomicU64>,
    /// Single-slot handoff: the last sequence number the harness sent.
    request: Line<AtomicU64>,
    /// Single-slot handoff: the last sequence number the consumer echoed.
    reply: Line<AtomicU64>,
    /// Set by the harness to stop the consumer (after a failure, or at the end).
    stop: Line<AtomicBool>,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            slots: (0..RING_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            tail: Line::default(),
            head: Line::default(),
            request: Line::default(),
            reply: Line::default(),
            stop: Line::default(),
        })
    }
}

/// What the consumer took from the ring: count and sum of the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Taken {
    count: u64,
    sum: u64,
}

/// Waits until `done()` holds, spinning, or fails after [`SAMPLE_TIMEOUT`] naming `what`.
fn spin_until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), SampleError> {
    let start = Instant::now();
    let mut spins = 0u32;
    while !done() {
        relax(&mut spins);
        if spins % SPINS_PER_CLOCK_CHECK == 0 && start.elapsed() > SAMPLE_TIMEOUT {
            return Err(SampleError(format!("floor: timed out waiting for {what}")));
        }
    }
    Ok(())
}

/// Pins the calling thread where the loop thread would be (no-op when not pinning).
fn pin_consumer() -> Result<(), SampleError> {
    match placement() {
        Some(p) if pinning() => affinity::set_current(&[p.loop_cpu]).map_err(|e| {
            SampleError(format!("floor: pinning the consumer to CPU {}: {e}", p.loop_cpu))
        }),
        _ => Ok(()),
    }
}

/// The consumer of the ring: takes `n` values (or stops when asked), returns count and sum.
fn consume_ring(shared: &Shared, n: u64) -> Taken {
    let mut taken = Taken { count: 0, sum: 0 };
    let mut head = shared.head.0.load(Ordering::Relaxed);
    let mut tail_seen = head;
    let mut spins = 0u32;
    while taken.count < n {
        if head == tail_seen {
            tail_seen = shared.tail.0.load(Ordering::Acquire);
            if head == tail_seen {
                if shared.stop.0.load(Ordering::Relaxed) {
                    break;
                }
                relax(&mut spins);
                continue;
            }
        }
        let v = shared.slots[head as usize % RING_SLOTS].load(Ordering::Relaxed);
        head += 1;
        // Publishing head frees the slot for the producer.
        shared.head.0.store(head, Ordering::Release);
        taken.count += 1;
        taken.sum = taken.sum.wrapping_add(v);
    }
    taken
}

/// The producer side of the ring: pushes the values `1..=n`.
fn produce_ring(shared: &Shared, n: u64) -> Result<(), SampleError> {
    let mut tail = shared.tail.0.load(Ordering::Relaxed);
    let mut head_seen = shared.head.0.load(Ordering::Acquire);
    for v in 1..=n {
        if tail - head_seen == RING_SLOTS as u64 {
            spin_until("a free ring slot", || {
                head_seen = shared.head.0.load(Ordering::Acquire);
                tail - head_seen < RING_SLOTS as u64
            })?;
        }
        shared.slots[tail as usize % RING_SLOTS].store(v, Ordering::Relaxed);
        tail += 1;
        shared.tail.0.store(tail, Ordering::Release);
    }
    Ok(())
}

/// Checks that a pass of `n` took exactly the values 1..=n once each.
fn check_taken(taken: Taken, n: u64) -> Result<(), SampleError> {
    let expected = Taken { count: n, sum: n.wrapping_mul(n + 1) / 2 };
    if taken == expected {
        Ok(())
    } else {
        Err(SampleError(format!(
            "floor: conservation violated: took {} values summing to {}, expected {} summing to {}",
            taken.count, taken.sum, expected.count, expected.sum
        )))
    }
}

/// Runs `body` on the harness thread with a consumer thread running `consumer`, joined (after
/// setting `stop`) whatever `body` returns.
fn with_consumer<R, C: Send + 'static>(
    shared: &Arc<Shared>,
    consumer: impl FnOnce(&Shared) -> C + Send + 'static,
    body: impl FnOnce() -> Result<R, SampleError>,
) -> Result<(R, C), SampleError> {
    pin_harness_thread()?;
    let theirs = Arc::clone(shared);
    let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
    let handle = thread::Builder::new()
        .name("floor-consumer".into())
        .spawn(move || {
            let _ = pinned_tx.send(pin_consumer());
            consumer(&theirs)
        })
        .map_err(|e| SampleError(format!("floor: spawning the consumer: {e}")))?;
    let pinned = pinned_rx
        .recv_timeout(SAMPLE_TIMEOUT)
        .map_err(|e| SampleError(format!("floor: the consumer did not start: {e}")))
        .and_then(|r| r);
    let result = pinned.and_then(|()| body());
    shared.stop.0.store(true, Ordering::Relaxed);
    let joined =
        handle.join().map_err(|_| SampleError("floor: the consumer thread panicked".into()))?;
    Ok((result?, joined))
}

/// One `ping-pong` sample: an untimed warm-up pass, then `n` values through the ring, timed
/// from the first push until the consumer has taken the last.
fn ring_sample(n: u64) -> Result<SampleOutcome, SampleError> {
    let shared = Shared::new();
    let total = WARM_UP + n;
    let consumer = move |s: &Shared| {
        let warm = consume_ring(s, WARM_UP);
        (warm, consume_ring(s, n))
    };
    let (measured, (warm, timed)) = with_consumer(&shared, consumer, || {
        produce_ring(&shared, WARM_UP)?;
        spin_until("the warm-up pass", || shared.head.0.load(Ordering::Acquire) == WARM_UP)?;
        let scope = TimedScope::start();
        produce_ring(&shared, n)?;
        spin_until("the last value", || shared.head.0.load(Ordering::Acquire) == total)?;
        Ok(scope.stop())
    })?;
    // Each pass pushes 1..=its count.
    check_taken(warm, WARM_UP)?;
    check_taken(timed, n)?;
    Ok(outcome(n, measured, None))
}

/// The consumer of the single-slot handoff: echoes each new request until it echoed `last`
/// (or is stopped); returns how many it echoed.
fn echo_requests(shared: &Shared, last: u64) -> u64 {
    let mut seen = 0;
    let mut echoed = 0;
    let mut spins = 0u32;
    while seen < last {
        let r = shared.request.0.load(Ordering::Acquire);
        if r == seen {
            if shared.stop.0.load(Ordering::Relaxed) {
                break;
            }
            relax(&mut spins);
            continue;
        }
        seen = r;
        echoed += 1;
        shared.reply.0.store(r, Ordering::Release);
    }
    echoed
}

/// One `ping-pong-latency` sample: `n` round trips through the single-slot handoff (after
/// [`WARM_UP`] untimed ones), each recorded into the histogram.
fn round_trip_sample(n: u64) -> Result<SampleOutcome, SampleError> {
    let shared = Shared::new();
    let total = WARM_UP + n;
    let mut hist = latency_histogram();
    let round_trip = |i: u64| -> Result<(), SampleError> {
        shared.request.0.store(i, Ordering::Release);
        spin_until("the echo of a request", || shared.reply.0.load(Ordering::Acquire) == i)
    };
    let (measured, echoed) = with_consumer(
        &shared,
        move |s: &Shared| echo_requests(s, total),
        || {
            for i in 1..=WARM_UP {
                round_trip(i)?;
            }
            let scope = TimedScope::start();
            for i in WARM_UP + 1..=total {
                let t0 = Instant::now();
                round_trip(i)?;
                hist.saturating_record((t0.elapsed().as_nanos() as u64).max(1));
            }
            Ok(scope.stop())
        },
    )?;
    if echoed != total {
        return Err(SampleError(format!(
            "floor: the consumer echoed {echoed} requests, expected {total}"
        )));
    }
    Ok(outcome(n, measured, Some(hist)))
}

fn outcome(
    tasks: u64,
    measured: crate::harness::Measured,
    latency: Option<hdrhistogram::Histogram<u64>>,
) -> SampleOutcome {
    SampleOutcome {
        tasks,
        ops: None,
        measured,
        wake_syscalls: None,
        latency,
        allocs: None,
        alloc_bytes: None,
        metrics: Vec::new(),
    }
}

/// The floor's [`super::SampleFn`]: `ping-pong` and `ping-pong-latency` (see the module docs).
///
/// # Errors
/// Any other workload (the planner never asks: [`ONLY`]); a conservation violation; a wait
/// longer than [`SAMPLE_TIMEOUT`]; a refused affinity change.
pub fn run_sample(
    workload: &str,
    param: &Param,
    _config: &LoopConfig,
) -> Result<SampleOutcome, SampleError> {
    match workload {
        "ping-pong" => ring_sample(param.tasks),
        "ping-pong-latency" => round_trip_sample(param.tasks),
        other => Err(SampleError(format!("floor: not defined for workload `{other}`"))),
    }
}

/// The floor's [`super::GateFn`]: there is no loop contract to check, so the gate runs a small
/// pass of each workload it serves and checks conservation.
///
/// # Errors
/// A pass failed; the error says why.
pub fn gate(_label: &str, _config: &LoopConfig) -> Result<String, String> {
    ring_sample(10_000).map_err(|e| e.0)?;
    round_trip_sample(100).map_err(|e| e.0)?;
    Ok("reference handoff: 10,000 ring values and 100 round trips conserved".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_conserves_across_wrap_around() {
        // Several times the ring's size, so the indices wrap and the producer waits for slots.
        let out = ring_sample(RING_SLOTS as u64 * 7 + 3).unwrap();
        assert_eq!(out.tasks, RING_SLOTS as u64 * 7 + 3);
        assert!(out.measured.wall_ns > 0);
    }

    #[test]
    fn round_trips_are_each_recorded() {
        let out = round_trip_sample(500).unwrap();
        let hist = out.latency.expect("the latency workload records a histogram");
        assert_eq!(hist.len(), 500);
        assert!(hist.min() >= 1);
    }

    #[test]
    fn a_lost_value_is_a_conservation_failure() {
        let err = check_taken(Taken { count: 9, sum: 45 }, 10).unwrap_err();
        assert!(err.0.contains("conservation violated"), "{}", err.0);
        let err = check_taken(Taken { count: 10, sum: 54 }, 10).unwrap_err();
        assert!(err.0.contains("summing to 54"), "{}", err.0);
        check_taken(Taken { count: 10, sum: 55 }, 10).unwrap();
    }

    #[test]
    fn other_workloads_are_refused() {
        let p = Param::new("n=1".to_string(), 1);
        let err = run_sample("burst", &p, &LoopConfig::default()).unwrap_err();
        assert!(err.0.contains("not defined"), "{}", err.0);
    }
}
