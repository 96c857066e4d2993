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
    /// The full histogram, hdrhistogram V2-deflate serialization (uncompressed V2 in runs recorded
    /// before compression; both are read) in base64, so reports can
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
    /// Operations timed, for workloads whose primary unit is per operation (e.g. `ns/batch`,
    /// where one op is one batch of B submits; the workload's unit names the op). `None` for
    /// per-task workloads, whose unit is `ns/task`. Per-task and per-op values are never mixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<u64>,
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
    /// Heap allocations made by the process during the timed scope (counting global allocator);
    /// `None` when the build does not count allocations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocs: Option<u64>,
    /// Bytes requested by those allocations; `None` when not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloc_bytes: Option<u64>,
    /// Secondary metrics the workload reports for this sample (name, unit, value), e.g. the
    /// share of externals run before an internal task. Kept in raw.jsonl so nothing measured is
    /// lost; not summarised into summary.csv columns (their set varies by workload).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<RawMetric>,
}

/// One secondary metric of a sample ([`RawSample::metrics`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawMetric {
    /// Stable name, e.g. `externals_before_internal`.
    pub name: String,
    /// Unit, e.g. `tasks`.
    pub unit: String,
    /// The value.
    pub value: f64,
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
    /// Wall ns per operation for per-op workloads (`ops` is `Some`); `None` for per-task
    /// workloads or when no op ran.
    pub fn ns_per_op(&self) -> Option<f64> {
        self.ops.filter(|o| *o > 0).map(|o| self.wall_ns as f64 / o as f64)
    }
    /// The sample's primary metric in its own unit: ns/op for per-op samples, else ns/task.
    pub fn primary_ns(&self) -> Option<f64> {
        if self.ops.is_some() { self.ns_per_op() } else { self.ns_per_task() }
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
    /// No sample and no gap record for this cell although the contender ran elsewhere in the
    /// same run: the cell was silently lost (crash, interrupted run, harness bug). Printed as a
    /// gap so coverage loss is never silent.
    Missing,
}

impl CellStatus {
    /// Whether the cell has a median from ok samples that may be ranked and used in ratios:
    /// `ok`, `unstable` and `too-few-samples`. Only `ok` may be called fastest.
    pub fn is_measured(self) -> bool {
        matches!(self, CellStatus::Ok | CellStatus::Unstable | CellStatus::TooFewSamples)
    }

    /// The kebab-case name used in CSV and markdown.
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Ok => "ok",
            CellStatus::Unstable => "unstable",
            CellStatus::TooFewSamples => "too-few-samples",
            CellStatus::Unsupported => "unsupported",
            CellStatus::Disqualified => "disqualified",
            CellStatus::Failed => "failed",
            CellStatus::Missing => "missing",
        }
    }
}

/// Cells need at least this many ok samples to be `ok` (a median with a 95% CI needs ≥ 5).
pub const MIN_SAMPLES_FOR_OK: usize = 5;

/// A cell whose robust spread (`rcv_pct`: 1.4826 × MAD / median, percent) exceeds this is
/// `unstable`. Chosen from same-build A/A runs on the reference VM (docs/MEASUREMENT.md,
/// "Stability"): above it a cell's median moved between the two runs by more than its own
/// confidence interval far more often than below it. Unstable cells keep their numbers and their
/// paired verdicts (whose confidence intervals already widen with the spread); the flag tells a
/// reader not to trust their ranking by medians.
pub const UNSTABLE_RCV_PCT: f64 = 25.0;

/// Unit of the primary metric of a per-task workload (the `unit` column of `summary.csv`).
pub const UNIT_NS_PER_TASK: &str = "ns/task";

/// Default unit of the primary metric of a per-op workload when `env.json` does not name the op.
pub const UNIT_NS_PER_OP: &str = "ns/op";

/// Id of the memory workload (`footprint`): its primary metrics are bytes, not time.
pub const FOOTPRINT_WORKLOAD: &str = "footprint";

/// The `unit` of memory rows ([`FOOTPRINT_WORKLOAD`]): every number of such a row is in bytes
/// (or bytes per task, as its column name says); no time is reported.
pub const UNIT_BYTES: &str = "bytes";

/// Whether `workload` is a memory workload (primary metrics in bytes, never timed or ranked by
/// time).
pub fn is_memory_workload(workload: &str) -> bool {
    workload == FOOTPRINT_WORKLOAD
}

/// One row of `summary.csv`: one cell (workload × param × contender) of a run, reduced from its
/// raw samples by `summarize::summarize`. Column names carry their units; `results/SCHEMA.md`
/// documents every column.
///
/// **Per-task and per-op never mix.** The primary metric of a cell is wall ns per task
/// (`unit` = `ns/task`, the `*_ns_per_task` timing columns are filled and the `*_ns_per_op`
/// ones empty) or, for workloads whose samples carry [`RawSample::ops`], wall ns per operation
/// (`unit` = the workload's unit, e.g. `ns/batch`; the `*_ns_per_op` columns are filled and the
/// `*_ns_per_task` timing columns empty). `cv_pct`, `rcv_pct` and the ratios are unitless and refer to the
/// primary metric. CPU ns, blocks, wake syscalls and allocations are always per task.
///
/// Timing statistics are over the cell's **ok** samples; they are empty (`None`) unless the cell
/// is measured ([`CellStatus::is_measured`]): a failed, missing, unsupported or disqualified
/// cell has no timing, so it can never be mistaken for a fast one.
///
/// Floats are written to CSV with fixed precision so output is byte-stable (Rust's `{:.N}`
/// formatting, which rounds the exact binary value half-to-even):
///
/// | columns | decimals |
/// |---|---|
/// | `*_ns_per_task`, `*_ns_per_op`, `cv_pct`, `rcv_pct`, `tasks_per_op`, `alloc*_per_task` | 3 |
/// | `blocks_per_task`, `wake_syscalls_per_task` | 6 |
/// | `ratio_to_baseline`, `ratio_to_best` | 4 |
///
/// An empty CSV field means "not applicable / not measured", never zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Stable workload id.
    pub workload: String,
    /// Stable parameter id within the workload.
    pub param: String,
    /// Stable contender id.
    pub contender: String,
    /// Cell status (kebab-case in CSV).
    pub status: CellStatus,
    /// Why the cell is not `ok` (gap reason, first failure and count, CV, sample count).
    pub reason: Option<String>,
    /// Unit of the primary metric: [`UNIT_NS_PER_TASK`] or the per-op unit (e.g. `ns/batch`).
    pub unit: String,
    /// Tasks per operation (median over ok samples of `tasks / ops`); empty for per-task cells.
    #[serde(with = "fixed3")]
    pub tasks_per_op: Option<f64>,
    /// Number of ok samples.
    pub samples: u64,
    /// Number of failed samples.
    pub failed_samples: u64,
    /// Median of per-sample wall ns/task (per-task cells only).
    #[serde(with = "fixed3")]
    pub median_ns_per_task: Option<f64>,
    /// Mean of per-sample wall ns/task.
    #[serde(with = "fixed3")]
    pub mean_ns_per_task: Option<f64>,
    /// Sample standard deviation (n − 1) of per-sample wall ns/task; empty below 2 samples.
    #[serde(with = "fixed3")]
    pub stddev_ns_per_task: Option<f64>,
    /// Lower bound of the 95% percentile-bootstrap CI of the median, ns/task; empty below
    /// [`MIN_SAMPLES_FOR_OK`] ok samples.
    #[serde(with = "fixed3")]
    pub ci95_low_ns_per_task: Option<f64>,
    /// Upper bound of the 95% percentile-bootstrap CI of the median, ns/task.
    #[serde(with = "fixed3")]
    pub ci95_high_ns_per_task: Option<f64>,
    /// Fastest sample, ns/task.
    #[serde(with = "fixed3")]
    pub min_ns_per_task: Option<f64>,
    /// Slowest sample, ns/task.
    #[serde(with = "fixed3")]
    pub max_ns_per_task: Option<f64>,
    /// Median of per-sample wall ns/op (per-op cells only).
    #[serde(with = "fixed3")]
    pub median_ns_per_op: Option<f64>,
    /// Mean of per-sample wall ns/op.
    #[serde(with = "fixed3")]
    pub mean_ns_per_op: Option<f64>,
    /// Sample standard deviation (n − 1) of per-sample wall ns/op; empty below 2 samples.
    #[serde(with = "fixed3")]
    pub stddev_ns_per_op: Option<f64>,
    /// Lower bound of the 95% percentile-bootstrap CI of the median, ns/op.
    #[serde(with = "fixed3")]
    pub ci95_low_ns_per_op: Option<f64>,
    /// Upper bound of the 95% percentile-bootstrap CI of the median, ns/op.
    #[serde(with = "fixed3")]
    pub ci95_high_ns_per_op: Option<f64>,
    /// Fastest sample, ns/op.
    #[serde(with = "fixed3")]
    pub min_ns_per_op: Option<f64>,
    /// Slowest sample, ns/op.
    #[serde(with = "fixed3")]
    pub max_ns_per_op: Option<f64>,
    /// Coefficient of variation of the per-sample primary metric, percent; empty below 2 samples.
    #[serde(with = "fixed3")]
    pub cv_pct: Option<f64>,
    /// Robust spread of the per-sample primary metric, percent: 1.4826 × MAD / median × 100
    /// (`stats::robust_cv_pct`); what the `unstable` status is judged on. Empty below 2 samples.
    #[serde(with = "fixed3")]
    pub rcv_pct: Option<f64>,
    /// Median of per-sample process CPU ns/task (all threads, user + system).
    #[serde(with = "fixed3")]
    pub cpu_ns_per_task: Option<f64>,
    /// Median of per-sample voluntary context switches per task.
    #[serde(with = "fixed6")]
    pub blocks_per_task: Option<f64>,
    /// Median of per-sample producer wake-up syscalls per task; empty when the contender does
    /// not count them (in any ok sample).
    #[serde(with = "fixed6")]
    pub wake_syscalls_per_task: Option<f64>,
    /// Median of per-sample heap allocations per task; empty when not counted.
    #[serde(with = "fixed3")]
    pub allocs_per_task: Option<f64>,
    /// Median of per-sample allocated bytes per task; empty when not counted.
    #[serde(with = "fixed3")]
    pub alloc_bytes_per_task: Option<f64>,
    /// Number of latencies in the merged histogram of all ok samples; empty when the workload
    /// records none.
    pub lat_count: Option<u64>,
    /// Nearest-rank p50 over the merged histogram, ns.
    pub p50_ns: Option<u64>,
    /// Nearest-rank p90 over the merged histogram, ns.
    pub p90_ns: Option<u64>,
    /// Nearest-rank p99 over the merged histogram, ns.
    pub p99_ns: Option<u64>,
    /// Nearest-rank p99.9 over the merged histogram, ns.
    pub p999_ns: Option<u64>,
    /// Largest latency in the merged histogram, ns.
    pub max_latency_ns: Option<u64>,
    /// This median / the `baseline` contender's median in the same workload + param (primary
    /// metric); empty when this cell or the baseline cell is not measured.
    #[serde(with = "fixed4")]
    pub ratio_to_baseline: Option<f64>,
    /// This median / the smallest median among measured cells of the same workload + param
    /// (1 for the lowest); empty when this cell is not measured.
    #[serde(with = "fixed4")]
    pub ratio_to_best: Option<f64>,
    /// The memory columns of a [`FOOTPRINT_WORKLOAD`] row; `None` for every other row. Not part
    /// of the serde schema: `report::csv` appends them as extra columns
    /// ([`MemoryColumns::HEADER`]) only to the summary of a run that holds memory rows, so
    /// runs without the footprint workload keep the original header byte for byte.
    #[serde(skip)]
    pub memory: Option<MemoryColumns>,
}

/// Memory metrics of one `footprint` cell: the median over its ok samples of each per-sample
/// metric of the same name (`RawSample::metrics`), in bytes (or bytes per task where the name
/// says so). Which columns a row fills depends on its param's variant (`queued`, `growth`,
/// `leak`); the others stay empty. All heap numbers are *requested* bytes counted by the
/// counting global allocator (`alloc_count`): the system allocator's per-block overhead and
/// fragmentation are not included; the RSS columns are where they show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryColumns {
    /// Live heap growth over `L::new` (the loop object in its `Arc`, its queues, pools and
    /// arenas), bytes.
    pub heap_after_new_bytes: Option<f64>,
    /// Live heap of the idle, running loop after the warm-up tasks, relative to before `new`,
    /// with the cost of a bare parked thread (the loop thread's std bookkeeping) subtracted,
    /// bytes.
    pub heap_after_warmup_bytes: Option<f64>,
    /// Resident-set growth over `L::new`, bytes (`/proc/self/statm`; empty where unavailable).
    pub rss_after_new_bytes: Option<f64>,
    /// Resident-set growth from before `new` to after the warm-up, bytes.
    pub rss_after_warmup_bytes: Option<f64>,
    /// Live heap growth while N tasks are queued behind a blocked loop, divided by N,
    /// bytes/task.
    pub queued_bytes_per_task: Option<f64>,
    /// Resident-set growth while those N tasks are queued, divided by N, bytes/task.
    pub queued_rss_bytes_per_task: Option<f64>,
    /// Live heap the loop still holds after the N tasks ran and it went idle, relative to its
    /// idle state after warm-up (what pools, arenas and grown buffers keep), bytes.
    pub retained_after_drain_bytes: Option<f64>,
    /// Live-heap high-water mark over the sustained-load run, relative to the idle warm loop,
    /// bytes.
    pub growth_high_water_bytes: Option<f64>,
    /// High-water mark of the first half of the bursts, bytes.
    pub growth_first_half_bytes: Option<f64>,
    /// High-water mark of the second half of the bursts, bytes.
    pub growth_second_half_bytes: Option<f64>,
    /// `yes` when every ok sample's growth was bounded (see the footprint workload's
    /// criterion), `no` otherwise.
    pub growth_bounded: Option<bool>,
    /// Live heap after the leak scenario's loops were created, driven and shut down, minus the
    /// live heap before them, bytes (may be negative: freed lazily-initialised state).
    pub leak_residual_bytes: Option<f64>,
    /// The bound the residual is checked against, bytes.
    pub leak_bound_bytes: Option<f64>,
    /// `pass` when every ok sample's residual was within the bound, `fail` otherwise.
    pub leak_pass: Option<bool>,
}

impl MemoryColumns {
    /// Column names appended to `summary.csv` when a run holds memory rows, in order.
    pub const HEADER: [&'static str; 14] = [
        "heap_after_new_bytes",
        "heap_after_warmup_bytes",
        "rss_after_new_bytes",
        "rss_after_warmup_bytes",
        "queued_bytes_per_task",
        "queued_rss_bytes_per_task",
        "retained_after_drain_bytes",
        "growth_high_water_bytes",
        "growth_first_half_bytes",
        "growth_second_half_bytes",
        "growth_bounded",
        "leak_residual_bytes",
        "leak_bound_bytes",
        "leak_check",
    ];

    /// The CSV fields, in [`MemoryColumns::HEADER`] order: bytes with 0 decimals, bytes/task
    /// with 3, `yes`/`no` and `pass`/`fail` for the verdicts, empty when not measured.
    pub fn fields(&self) -> Vec<String> {
        let b = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x:.0}"));
        let t = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x:.3}"));
        let yn = |v: Option<bool>, y: &str, n: &str| {
            v.map_or_else(String::new, |x| if x { y.to_string() } else { n.to_string() })
        };
        vec![
            b(self.heap_after_new_bytes),
            b(self.heap_after_warmup_bytes),
            b(self.rss_after_new_bytes),
            b(self.rss_after_warmup_bytes),
            t(self.queued_bytes_per_task),
            t(self.queued_rss_bytes_per_task),
            b(self.retained_after_drain_bytes),
            b(self.growth_high_water_bytes),
            b(self.growth_first_half_bytes),
            b(self.growth_second_half_bytes),
            yn(self.growth_bounded, "yes", "no"),
            b(self.leak_residual_bytes),
            b(self.leak_bound_bytes),
            yn(self.leak_pass, "pass", "fail"),
        ]
    }

    /// Parses [`MemoryColumns::fields`] back.
    ///
    /// # Errors
    /// Not exactly [`MemoryColumns::HEADER`]`.len()` fields, a number that does not parse, or a
    /// verdict other than `yes`/`no`/`pass`/`fail`/empty; the message names the column.
    pub fn parse(fields: &[&str]) -> Result<Self, String> {
        if fields.len() != Self::HEADER.len() {
            return Err(format!("{} memory fields, expected {}", fields.len(), Self::HEADER.len()));
        }
        let num = |i: usize| -> Result<Option<f64>, String> {
            match fields[i] {
                "" => Ok(None),
                s => s
                    .parse::<f64>()
                    .map(Some)
                    .map_err(|e| format!("{}: {s:?} is not a number: {e}", Self::HEADER[i])),
            }
        };
        let flag = |i: usize, y: &str, n: &str| -> Result<Option<bool>, String> {
            match fields[i] {
                "" => Ok(None),
                s if s == y => Ok(Some(true)),
                s if s == n => Ok(Some(false)),
                s => Err(format!("{}: {s:?} is neither {y:?} nor {n:?}", Self::HEADER[i])),
            }
        };
        Ok(MemoryColumns {
            heap_after_new_bytes: num(0)?,
            heap_after_warmup_bytes: num(1)?,
            rss_after_new_bytes: num(2)?,
            rss_after_warmup_bytes: num(3)?,
            queued_bytes_per_task: num(4)?,
            queued_rss_bytes_per_task: num(5)?,
            retained_after_drain_bytes: num(6)?,
            growth_high_water_bytes: num(7)?,
            growth_first_half_bytes: num(8)?,
            growth_second_half_bytes: num(9)?,
            growth_bounded: flag(10, "yes", "no")?,
            leak_residual_bytes: num(11)?,
            leak_bound_bytes: num(12)?,
            leak_pass: flag(13, "pass", "fail")?,
        })
    }
}

impl SummaryRow {
    /// Whether the primary metric is per operation (`unit` is neither [`UNIT_NS_PER_TASK`] nor
    /// the memory unit [`UNIT_BYTES`]).
    pub fn is_per_op(&self) -> bool {
        self.unit != UNIT_NS_PER_TASK && !self.is_memory()
    }

    /// Whether this is a memory row ([`FOOTPRINT_WORKLOAD`]): no timing, no ranking by time;
    /// its numbers are in [`SummaryRow::memory`].
    pub fn is_memory(&self) -> bool {
        self.unit == UNIT_BYTES
    }

    /// The primary median (ns/task or ns/op, see `unit`) if the cell is measured; always
    /// `None` for memory rows, which are never ranked by time.
    pub fn median(&self) -> Option<f64> {
        if self.is_memory() {
            return None;
        }
        let m = if self.is_per_op() { self.median_ns_per_op } else { self.median_ns_per_task };
        m.filter(|_| self.status.is_measured())
    }

    /// The primary CI `(low, high)` (unit as `unit`), when both bounds are present.
    pub fn ci95(&self) -> Option<(f64, f64)> {
        if self.is_per_op() {
            self.ci95_low_ns_per_op.zip(self.ci95_high_ns_per_op)
        } else {
            self.ci95_low_ns_per_task.zip(self.ci95_high_ns_per_task)
        }
    }
}

/// Stable id of the reference contender that `ratio_to_baseline` divides by.
pub const BASELINE_CONTENDER: &str = "baseline";

/// Fixed-precision (de)serialization of `Option<f64>` for [`SummaryRow`]: `None` ↔ empty,
/// `Some(x)` ↔ `format!("{x:.N}")`. Deserialization accepts any decimal string.
macro_rules! fixed_precision {
    ($name:ident, $decimals:literal) => {
        #[doc = concat!("`Option<f64>` written with ", stringify!($decimals), " decimals.")]
        mod $name {
            use serde::{Deserialize, Deserializer, Serializer, de::Error};

            pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
                match v {
                    Some(x) => s.serialize_str(&format!("{:.*}", $decimals, x)),
                    None => s.serialize_none(),
                }
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
                match Option::<String>::deserialize(d)? {
                    None => Ok(None),
                    Some(s) if s.is_empty() => Ok(None),
                    Some(s) => s.parse::<f64>().map(Some).map_err(D::Error::custom),
                }
            }
        }
    };
}
fixed_precision!(fixed3, 3);
fixed_precision!(fixed4, 4);
fixed_precision!(fixed6, 6);
