//! `summary.csv`: one [`SummaryRow`] per cell, header row first, `\n` line endings, fields
//! quoted only when needed (csv crate defaults), floats at the fixed precision documented on
//! [`SummaryRow`].

use std::path::Path;

use anyhow::Context;

use crate::record::SummaryRow;

/// File name of the CSV summary inside a run folder.
pub const SUMMARY_CSV: &str = "summary.csv";

/// Renders rows as CSV bytes (header + one line per row, in the given order). An empty slice
/// gives the header only.
///
/// # Errors
/// Serialization fails (not expected for well-formed rows).
pub fn render_csv(rows: &[SummaryRow]) -> anyhow::Result<Vec<u8>> {
    let mut w = ::csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    // The header comes from the struct's field names; written explicitly so that an empty
    // report still has it.
    w.write_record(HEADER)?;
    for r in rows {
        w.serialize(r).with_context(|| {
            format!("serializing summary row {} {} {}", r.workload, r.param, r.contender)
        })?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("flushing CSV: {}", e.error()))
}

/// Writes `dir/summary.csv` (atomically: temporary file, then rename).
///
/// # Errors
/// Rendering ([`render_csv`]) or writing fails.
pub fn write_csv(dir: &Path, rows: &[SummaryRow]) -> anyhow::Result<()> {
    super::write_atomic(dir, SUMMARY_CSV, &render_csv(rows)?)
}

/// Column names of `summary.csv`, in order (the fields of [`SummaryRow`]; documented in
/// `results/SCHEMA.md`).
pub const HEADER: [&str; 37] = [
    "workload",
    "param",
    "contender",
    "status",
    "reason",
    "unit",
    "tasks_per_op",
    "samples",
    "failed_samples",
    "median_ns_per_task",
    "mean_ns_per_task",
    "stddev_ns_per_task",
    "ci95_low_ns_per_task",
    "ci95_high_ns_per_task",
    "min_ns_per_task",
    "max_ns_per_task",
    "median_ns_per_op",
    "mean_ns_per_op",
    "stddev_ns_per_op",
    "ci95_low_ns_per_op",
    "ci95_high_ns_per_op",
    "min_ns_per_op",
    "max_ns_per_op",
    "cv_pct",
    "cpu_ns_per_task",
    "blocks_per_task",
    "wake_syscalls_per_task",
    "allocs_per_task",
    "alloc_bytes_per_task",
    "lat_count",
    "p50_ns",
    "p90_ns",
    "p99_ns",
    "p999_ns",
    "max_latency_ns",
    "ratio_to_baseline",
    "ratio_to_best",
];
