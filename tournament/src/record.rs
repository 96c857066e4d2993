//! The raw-sample and summary-row schemas (serde).
//!
//! `raw.jsonl` holds one [`RawSample`] per line and is the authoritative output of a run: every
//! other file of a run folder (`summary.csv`, `SUMMARY.md`) is regenerated from it by
//! `tournament report DIR`. Cells that could not be measured (a declared capability gap, a
//! disqualified contender) are recorded in `raw.jsonl` too, as one record with the matching
//! [`SampleStatus`], so a report never loses a gap.

use serde::{Deserialize, Serialize};

/// Version of the raw-sample schema, written into every record. Bump on incompatible change.
pub const RAW_SCHEMA_VERSION: u32 = 1;

/// Outcome of one sample (or of a whole cell, for gaps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SampleStatus {
    /// Measured: exactly the requested number of tasks ran inside the timed scope.
    Ok,
    /// The sample failed (submit error, lost or extra task, timeout); `reason` says which.
    Failed,
    /// The contender declares the capability the workload needs unsupported (a declared gap).
    Unsupported,
    /// The contender failed the correctness gate; it is not timed. `reason` holds the violation.
    Disqualified,
}

/// Latency distribution of one sample, from an hdrhistogram with 3 significant digits.
///
/// Percentiles use hdrhistogram's `value_at_quantile`, i.e. nearest rank over all recorded
/// values at the histogram's resolution (the value reported is the highest value equivalent to the
/// rank's bucket, so it never under-reports). Units: ns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of recorded latencies.
    pub count: u64,
    /// Smallest recorded latency, ns.
    pub min_ns: u64,
    /// Median (nearest rank), ns.
    pub p50_ns: u64,
    /// 90th percentile (nearest rank), ns.
    pub p90_ns: u64,
    /// 99th percentile (nearest rank), ns.
    pub p99_ns: u64,
    /// 99.9th percentile (nearest rank), ns.
    pub p999_ns: u64,
    /// Largest recorded latency, ns.
    pub max_ns: u64,
    /// The full histogram, hdrhistogram V2 serialization (uncompressed) in base64, so reports can
    /// merge the samples of a cell and compute percentiles over all recorded latencies.
    pub histogram_v2_base64: String,
}

/// One sample: one (workload, param, contender) measurement, or one declared gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawSample {
    /// [`RAW_SCHEMA_VERSION`] at the time of writing.
    pub schema: u32,
    /// The run's id: UTC timestamp + short git SHA, e.g. `20261120T235959Z-abc1234`.
    pub run_id: String,
    /// Stable workload id, e.g. `burst`.
    pub workload: String,
    /// Stable parameter id within the workload, e.g. `b=10000`.
    pub param: String,
    /// Stable contender id, e.g. `tokio-ct`.
    pub contender: String,
    /// Sample index within the cell, 0-based (0 for gap records).
    pub sample: u32,
    /// Outcome.
    pub status: SampleStatus,
    /// Why the sample failed or the cell is a gap; `None` for `ok`.
    pub reason: Option<String>,
    /// Tasks that ran inside the timed scope (exactly the requested number when `ok`).
    pub tasks: u64,
    /// Wall-clock time of the timed scope, ns (monotonic clock).
    pub wall_ns: u64,
    /// Process CPU time (user + system, all threads) spent during the timed scope, ns, from
    /// `getrusage(RUSAGE_SELF)`.
    pub cpu_ns: u64,
    /// Voluntary context switches of the process during the timed scope (`ru_nvcsw`): ≈2 per
    /// round trip means both sides slept.
    pub voluntary_switches: u64,
    /// Wake-ups that cost a producer a syscall during the timed scope, from the loop's `stats()`;
    /// `None` when the contender does not count them.
    pub wake_syscalls: Option<u64>,
    /// Per-operation latencies when the workload records them.
    pub latency: Option<LatencySummary>,
}

impl RawSample {
    /// Wall ns per task; `None` when no task ran.
    pub fn ns_per_task(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.wall_ns as f64 / self.tasks as f64)
    }
    /// CPU ns per task; `None` when no task ran.
    pub fn cpu_ns_per_task(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.cpu_ns as f64 / self.tasks as f64)
    }
    /// Voluntary context switches per task; `None` when no task ran.
    pub fn blocks_per_task(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.voluntary_switches as f64 / self.tasks as f64)
    }
}

/// Status of a summary cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellStatus {
    /// At least [`MIN_SAMPLES_FOR_OK`] ok samples and CV ≤ [`UNSTABLE_CV_PCT`].
    Ok,
    /// CV above [`UNSTABLE_CV_PCT`]: reported, never called a winner.
    Unstable,
    /// Fewer than [`MIN_SAMPLES_FOR_OK`] ok samples: no trustworthy median or CI.
    TooFewSamples,
    /// Declared capability gap.
    Unsupported,
    /// Failed the correctness gate.
    Disqualified,
    /// Every sample failed, or some did (a cell with any failed sample is failed).
    Failed,
}

impl CellStatus {
    /// The kebab-case name used in CSV and markdown.
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Ok => "ok",
            CellStatus::Unstable => "unstable",
            CellStatus::TooFewSamples => "too-few-samples",
            CellStatus::Unsupported => "unsupported",
            CellStatus::Disqualified => "disqualified",
            CellStatus::Failed => "failed",
        }
    }
}

/// Cells need at least this many ok samples to be `ok` (a median with a 95% CI needs ≥ 5).
pub const MIN_SAMPLES_FOR_OK: usize = 5;

/// A cell whose coefficient of variation exceeds this (percent) is `unstable` (DESIGN.md rule 6).
pub const UNSTABLE_CV_PCT: f64 = 20.0;
