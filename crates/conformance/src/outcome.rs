//! What a check is given ([`CheckContext`]) and what it returns ([`Report`] or [`Violation`]).

use std::fmt;
use std::time::Duration;

use loop_api::LoopConfig;

/// Default bound on every single wait inside a check (a task to run, a thread to return, a loop
/// to stop): 5 s. The contract's operations take micro- to milliseconds; a wait this long means
/// the loop lost something or hung.
pub const DEFAULT_WAIT_BOUND: Duration = Duration::from_secs(5);

/// Default bound on one whole check, a safety net behind the per-wait bounds: 120 s. A check
/// that exceeds it (for instance because a call into the loop deadlocked the check's own
/// thread) is reported as a [`ViolationKind::Timeout`] naming the phase it was in.
pub const DEFAULT_CHECK_BOUND: Duration = Duration::from_secs(120);

/// How much work a check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scale {
    /// The N values of the issue (bursts of 10,000, 10 producers × 10,000, 10,000 round trips,
    /// ...). Used by [`conformance_tests!`](crate::conformance_tests).
    Full,
    /// Smaller N (typically a tenth or less) so the whole [`quick_gate`](crate::quick_gate) runs
    /// in seconds. Each check documents its quick N.
    Quick,
}

/// Everything a check needs besides the loop type: who is being checked, with which
/// configuration, at which scale, and how long any wait may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckContext {
    /// The contender's display name, repeated in every [`Report`] and [`Violation`].
    pub contender: String,
    /// The configuration every loop the check creates is built with (`L::new(&config)`).
    pub config: LoopConfig,
    /// [`Scale::Full`] for tests, [`Scale::Quick`] for the tournament's gate.
    pub scale: Scale,
    /// Bound on each single wait (default [`DEFAULT_WAIT_BOUND`], 5 s). Also the `timeout`
    /// passed to [`EventLoop::shutdown`](loop_api::EventLoop::shutdown) by the checks.
    pub wait_bound: Duration,
    /// Bound on a whole check (default [`DEFAULT_CHECK_BOUND`], 120 s).
    pub check_bound: Duration,
}

impl CheckContext {
    /// A full-scale context with the default bounds.
    pub fn new(contender: impl Into<String>, config: LoopConfig) -> Self {
        Self {
            contender: contender.into(),
            config,
            scale: Scale::Full,
            wait_bound: DEFAULT_WAIT_BOUND,
            check_bound: DEFAULT_CHECK_BOUND,
        }
    }

    /// The same context at [`Scale::Quick`].
    #[must_use]
    pub fn quick(mut self) -> Self {
        self.scale = Scale::Quick;
        self
    }

    /// The same context with another per-wait bound (tests of deliberately broken loops use a
    /// short one so that a hang is detected quickly).
    #[must_use]
    pub fn with_wait_bound(mut self, bound: Duration) -> Self {
        self.wait_bound = bound;
        self
    }

    /// The same context with another whole-check bound.
    #[must_use]
    pub fn with_check_bound(mut self, bound: Duration) -> Self {
        self.check_bound = bound;
        self
    }

    /// Whether this context runs at [`Scale::Quick`].
    pub fn is_quick(&self) -> bool {
        self.scale == Scale::Quick
    }

    /// The same context adjusted for a slowed-down process (valgrind's memcheck runs code 20 to
    /// 50 times slower), from the environment:
    ///
    /// * [`SCALE_ENV`] = `quick`: [`Scale::Quick`] (the properties are the same, the N smaller);
    /// * [`SLOWDOWN_ENV`] = a factor ≥ 1: both bounds multiplied by it, so a wait that is only
    ///   slow is not reported as a hang.
    ///
    /// Unset (or unparsable), nothing changes. [`conformance_tests!`](crate::conformance_tests)
    /// applies it to every test it expands into (`make memcheck` sets both).
    #[must_use]
    pub fn from_env(mut self) -> Self {
        if std::env::var(SCALE_ENV).is_ok_and(|v| v == "quick") {
            self = self.quick();
        }
        if let Some(k) = std::env::var(SLOWDOWN_ENV).ok().and_then(|v| v.parse::<u32>().ok()) {
            let k = k.max(1);
            self.wait_bound = self.wait_bound.saturating_mul(k);
            self.check_bound = self.check_bound.saturating_mul(k);
        }
        self
    }
}

/// Environment variable read by [`CheckContext::from_env`]: `quick` runs the checks at
/// [`Scale::Quick`].
pub const SCALE_ENV: &str = "LOOP_CONFORMANCE_SCALE";

/// Environment variable read by [`CheckContext::from_env`]: a factor for every wait bound.
pub const SLOWDOWN_ENV: &str = "LOOP_CONFORMANCE_SLOWDOWN";

/// What a passing (or skipped) check observed.
///
/// A check that does not apply to the contender (it declares the capability unsupported) is
/// **not** an error: it returns `Ok(Report)` with [`Report::skipped`] set to the reason, and no
/// counts. Callers that only care about pass/fail treat a skipped report as a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The check's stable name (as in [`all_checks`](crate::all_checks)).
    pub check: &'static str,
    /// The contender's display name.
    pub contender: String,
    /// `Some(reason)` when the check did not apply (capability not declared).
    pub skipped: Option<String>,
    /// One human-readable line per sub-check: what was exercised and what was seen.
    pub summary: Vec<String>,
    /// Structured counts (`"burst_10000.executed" → 10000`, ...), in the order recorded.
    pub counts: Vec<(String, u64)>,
    /// Structured timings (`"round_trip.max"`, `"drain"`, ...), in the order recorded.
    pub timings: Vec<(String, Duration)>,
    /// Wall time of the whole check.
    pub elapsed: Duration,
}

impl Report {
    /// A report for a check that does not apply to the contender.
    pub fn skipped(check: &'static str, contender: &str, reason: impl Into<String>) -> Self {
        Self {
            check,
            contender: contender.to_owned(),
            skipped: Some(reason.into()),
            summary: Vec::new(),
            counts: Vec::new(),
            timings: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Whether the check was skipped.
    pub fn is_skipped(&self) -> bool {
        self.skipped.is_some()
    }

    /// A recorded count by key.
    pub fn count(&self, key: &str) -> Option<u64> {
        self.counts.iter().find(|(k, _)| k == key).map(|&(_, v)| v)
    }

    /// A recorded timing by key.
    pub fn timing(&self, key: &str) -> Option<Duration> {
        self.timings.iter().find(|(k, _)| k == key).map(|&(_, v)| v)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(reason) = &self.skipped {
            return write!(f, "[{}] {}: SKIPPED ({reason})", self.check, self.contender);
        }
        write!(f, "[{}] {}: passed in {:.3?}", self.check, self.contender, self.elapsed)?;
        for line in &self.summary {
            write!(f, "\n  - {line}")?;
        }
        if !self.counts.is_empty() {
            write!(f, "\n  counts:")?;
            for (k, v) in &self.counts {
                write!(f, " {k}={v}")?;
            }
        }
        if !self.timings.is_empty() {
            write!(f, "\n  timings:")?;
            for (k, v) in &self.timings {
                write!(f, " {k}={v:.3?}")?;
            }
        }
        Ok(())
    }
}

/// The category of a [`Violation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A contract property was observed broken (a task lost or run twice, wrong order, wrong
    /// thread, wrong error, ...).
    Property,
    /// A bounded wait expired: something the contract promises never happened (a task never
    /// ran, a call never returned, `run` never exited).
    Timeout,
    /// The check's own thread panicked (typically inside a call into the loop) or the loop
    /// thread panicked out of `run`.
    Panic,
    /// The check could not be set up (`L::new` failed, a thread or pipe could not be created).
    Setup,
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ViolationKind::Property => "property violated",
            ViolationKind::Timeout => "timed out",
            ViolationKind::Panic => "panicked",
            ViolationKind::Setup => "setup failed",
        })
    }
}

/// A failed check: which check, which contender, what was observed or still missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The check's stable name.
    pub check: &'static str,
    /// The contender's display name.
    pub contender: String,
    /// The category.
    pub kind: ViolationKind,
    /// What was observed or missing, with the numbers (e.g. "9990 of 10000 tasks ran; first
    /// missing ids: [999, 1999, ...]").
    pub message: String,
    /// The phase of the check at the time (e.g. "burst of 10000"), when known.
    pub phase: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance check `{}` failed for `{}` ({}): {}",
            self.check, self.contender, self.kind, self.message
        )?;
        if let Some(phase) = &self.phase {
            write!(f, " [phase: {phase}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}
