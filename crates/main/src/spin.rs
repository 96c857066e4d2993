//! The adaptive spin budget: how long the loop spins before it sleeps, learned from whether its
//! recent spins found work.
//!
//! ## Why not a fixed spin
//!
//! A spin pays off when the next task arrives from *another* CPU before it ends. When the
//! thread that would submit that task shares the loop's CPU (more runnable threads than CPUs,
//! so the scheduler put a producer beside the pinned loop), the producer cannot run while the
//! loop spins: every spin runs to its end, the loop sleeps, and only then does the producer
//! submit and wake it. A fixed spin then costs its whole length on every round trip, and the
//! system stays in that state: in `cas-contention-latency` `p=02` (two producers doing
//! serialized round trips, one loop, 2 vCPUs) a fixed 20 µs spin cost `main` 24 µs per task in 6
//! of 12 samples, with a wake syscall for every second task, against 0.35 µs in the other 6,
//! with one wake per sample (`tournament run --quick --no-gate --processes 1 --contenders
//! main,calloop --workloads cas-contention-latency --samples 12`); calloop, which never spins,
//! took 2.1–2.9 µs. The cell was `main`'s largest loss in the verdicts, and its two modes made
//! its verdicts flip between two same-build runs.
//!
//! ## Measured
//!
//! `make bench-ab` of this rule against the fixed spin (`results/ab-852b7f3-vs-adaptive-spin`:
//! 16 ABBA rounds, `--contenders main`,
//! the submit-path workloads and every latency workload of `main`): `cas-contention-latency`
//! p=02 −61% [0.325, 0.491] (98% paired interval), p=04 −58%, p=08 −51%, the other 29 cells
//! without significant change but one (`batch-budget-throughput` budget=0512 +3.6% [1.002,
//! 1.104], not flagged again in 40 rounds: [0.978, 1.018]); at 100 rounds `ping-pong`,
//! `burst` and `cas-contention` moved by −1.9% to +1.8%, none significant. The slow mode
//! remains (the producer still shares the loop's CPU: two context switches per round trip,
//! about 5 µs each on this VM), at about 8 µs per task instead of 24.
//!
//! ## The rule
//!
//! Multiplicative increase and decrease (as adaptive mutexes adapt their spin to its recent
//! success, e.g. HotSpot's adaptive spinning for monitors): a spin that finds work doubles the
//! budget, up to [`LoopConfig::spin_before_sleep`](loop_api::LoopConfig::spin_before_sleep); a
//! spin that runs out halves it, down to that maximum ÷ [`FLOOR_DIVISOR`]. A loop whose spins
//! keep failing therefore sleeps almost at once (it yields its CPU to whatever waits there), and
//! one whose spins succeed keeps the whole spin. The floor is never zero, so a loop that now
//! gets its work from another CPU finds out (a short spin that succeeds) and climbs back in a
//! few round trips (5 doublings from the floor to the maximum); and below the maximum every
//! [`PROBE_EVERY`]-th spin tries the whole maximum, for work that arrives later than a short
//! spin but within the configured one.
//!
//! The budget only delays the sleep handshake; it takes no part in the wake-up protocol, so it
//! needs no synchronisation: it lives on the loop thread's stack, in `drive`.

use std::time::Duration;

/// The budget never falls below the configured maximum divided by this: 32, so 625 ns at the
/// default 20 µs, still several cross-core round trips (110–140 ns each on the reference VM,
/// `docs/REFERENCE-MACHINE.md`), enough to catch a producer on another CPU that resubmits at
/// once and so to grow the budget back.
pub(crate) const FLOOR_DIVISOR: u32 = 32;

/// While the budget is below the maximum, every this many spins is a *probe* of the whole
/// maximum: a short budget that fails cannot tell "nothing would have come" from "it would have
/// come a little later", so without probes a loop whose producer resubmits 1–10 µs after each
/// completion (from another CPU) would stay at the floor and pay a wake-up per task. A probe
/// that finds work restores the maximum at once. Costs a co-located producer one full spin in 8
/// round trips.
pub(crate) const PROBE_EVERY: u32 = 8;

/// The loop thread's current spin budget (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpinBudget {
    max: Duration,
    floor: Duration,
    current: Duration,
    /// Spins since the last probe, while below the maximum.
    since_probe: u32,
    /// The spin under way is a probe.
    probing: bool,
}

impl SpinBudget {
    /// A budget that starts at `max` (the configured `spin_before_sleep`; `Duration::ZERO`
    /// means never spin, and stays zero).
    pub(crate) fn new(max: Duration) -> Self {
        Self { max, floor: max / FLOOR_DIVISOR, current: max, since_probe: 0, probing: false }
    }

    /// Whether the loop never spins (`spin_before_sleep` is zero).
    pub(crate) fn is_off(&self) -> bool {
        self.max.is_zero()
    }

    /// How long the next spin may last; call once per spin, then report how it ended with
    /// [`found_work`](Self::found_work) or [`ran_out`](Self::ran_out).
    pub(crate) fn next(&mut self) -> Duration {
        self.probing = false;
        if self.current < self.max {
            self.since_probe += 1;
            if self.since_probe >= PROBE_EVERY {
                self.since_probe = 0;
                self.probing = true;
                return self.max;
            }
        }
        self.current
    }

    /// The spin found work before its end: double the budget (a probe: back to the maximum).
    pub(crate) fn found_work(&mut self) {
        self.current =
            if self.probing { self.max } else { self.current.saturating_mul(2).min(self.max) };
        if self.current == self.max {
            self.since_probe = 0;
        }
    }

    /// The spin ran its whole budget without finding work: halve it, at least the floor.
    pub(crate) fn ran_out(&mut self) {
        self.current = (self.current / 2).max(self.floor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_micros(20);
    const FLOOR: Duration = Duration::from_nanos(625);

    /// A budget driven down to the floor by failed spins.
    fn at_floor() -> SpinBudget {
        let mut b = SpinBudget::new(MAX);
        for _ in 0..5 {
            b.next();
            b.ran_out();
        }
        b
    }

    #[test]
    fn starts_at_the_configured_spin() {
        assert_eq!(SpinBudget::new(MAX).next(), MAX);
        assert_eq!(SpinBudget::new(Duration::ZERO).next(), Duration::ZERO);
    }

    #[test]
    fn failing_spins_halve_it_down_to_the_floor_and_no_further() {
        let mut b = SpinBudget::new(MAX);
        let mut budgets = Vec::new();
        for _ in 0..40 {
            budgets.push(b.next());
            b.ran_out();
        }
        let (probes, spins): (Vec<Duration>, Vec<Duration>) =
            budgets[1..].iter().partition(|&&d| d == MAX);
        assert_eq!(budgets[..6], [20_000, 10_000, 5000, 2500, 1250, 625].map(Duration::from_nanos));
        assert!(spins.iter().all(|&d| d >= FLOOR), "{budgets:?}");
        assert_eq!(spins.iter().filter(|&&d| d == FLOOR).count(), 31, "{budgets:?}");
        assert_eq!(probes.len(), 39 / PROBE_EVERY as usize, "{budgets:?}");
    }

    #[test]
    fn every_eighth_spin_below_the_maximum_is_a_probe_of_the_maximum() {
        let mut b = at_floor();
        let budgets: Vec<Duration> = (0..16)
            .map(|_| {
                let d = b.next();
                b.ran_out();
                d
            })
            .collect();
        let probes: Vec<usize> =
            budgets.iter().enumerate().filter(|(_, d)| **d == MAX).map(|(i, _)| i).collect();
        assert_eq!(probes.len(), 2, "{budgets:?}");
        assert_eq!(probes[1] - probes[0], PROBE_EVERY as usize, "{budgets:?}");
        assert!(budgets.iter().all(|&d| d == FLOOR || d == MAX), "{budgets:?}");
    }

    #[test]
    fn a_probe_that_finds_work_restores_the_maximum_at_once() {
        let mut b = at_floor();
        while b.next() != MAX {
            b.ran_out();
        }
        b.found_work();
        assert_eq!(b.next(), MAX);
        assert_eq!(b.next(), MAX, "no probes at the maximum");
    }

    #[test]
    fn succeeding_short_spins_double_it_back_to_the_maximum() {
        let mut b = at_floor();
        b.since_probe = 0; // no probe in the way: this test follows the doubling alone
        let mut seen = Vec::new();
        while seen.last() != Some(&MAX) && seen.len() < 10 {
            seen.push(b.next());
            b.found_work();
        }
        assert_eq!(
            seen,
            [625, 1250, 2500, 5000, 10_000, 20_000].map(Duration::from_nanos).to_vec(),
            "625 ns doubles to 20 µs in 5 steps"
        );
    }

    #[test]
    fn a_zero_spin_stays_zero_and_a_huge_one_does_not_overflow() {
        let mut zero = SpinBudget::new(Duration::ZERO);
        zero.found_work();
        zero.ran_out();
        assert_eq!(zero.next(), Duration::ZERO);
        let mut huge = SpinBudget::new(Duration::MAX);
        huge.next();
        huge.found_work();
        assert_eq!(huge.next(), Duration::MAX);
        huge.ran_out();
        assert_eq!(huge.next(), Duration::MAX / 2);
    }
}
