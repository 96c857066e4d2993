//! `summary.csv`: one [`SummaryRow`] per cell, header row first, `\n` line endings, fields
//! quoted only when needed (csv crate defaults), floats at the fixed precision documented on
//! [`SummaryRow`].
//!
//! The memory columns ([`MemoryColumns::HEADER`]) are appended after [`HEADER`] only when some
//! row is a memory row (the `footprint` workload ran): a run without it keeps the original
//! 37-column header, so older committed runs regenerate byte-identically.

use std::path::Path;

use anyhow::Context;

use crate::record::{MemoryColumns, SummaryRow};

/// File name of the CSV summary inside a run folder.
pub const SUMMARY_CSV: &str = "summary.csv";

/// Renders rows as CSV bytes (header + one line per row, in the given order). An empty slice
/// gives the header only.
///
/// # Errors
/// Serialization fails (not expected for well-formed rows).
pub fn render_csv(rows: &[SummaryRow]) -> anyhow::Result<Vec<u8>> {
    let memory = has_memory_columns(rows);
    let mut w = ::csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    // The header comes from the struct's field names; written explicitly so that an empty
    // report still has it.
    w.write_record(header(memory))?;
    for r in rows {
        let fields = row_fields(r, memory).with_context(|| {
            format!("serializing summary row {} {} {}", r.workload, r.param, r.contender)
        })?;
        w.write_record(&fields)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("flushing CSV: {}", e.error()))
}

/// Whether a summary of `rows` carries the memory columns: some row is a memory row.
pub fn has_memory_columns(rows: &[SummaryRow]) -> bool {
    rows.iter().any(SummaryRow::is_memory)
}

/// The header of a summary with (`memory`) or without the memory columns.
pub fn header(memory: bool) -> Vec<&'static str> {
    let mut h = HEADER.to_vec();
    if memory {
        h.extend(MemoryColumns::HEADER);
    }
    h
}

/// The CSV fields of one row as written to `summary.csv`: the [`HEADER`] fields, then, when
/// `memory`, the [`MemoryColumns`] fields (empty for a row without memory numbers).
///
/// # Errors
/// Serialization fails (not expected for well-formed rows).
pub fn row_fields(r: &SummaryRow, memory: bool) -> anyhow::Result<Vec<String>> {
    let mut w = ::csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.serialize(r)?;
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("flushing CSV: {}", e.error()))?;
    let mut rdr = ::csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
    let rec = rdr.records().next().context("serialized row is empty")??;
    let mut fields: Vec<String> = rec.iter().map(str::to_string).collect();
    if memory {
        match &r.memory {
            Some(m) => fields.extend(m.fields()),
            None => fields.extend(std::iter::repeat_n(String::new(), MemoryColumns::HEADER.len())),
        }
    }
    Ok(fields)
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
pub const HEADER: [&str; 38] = [
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
    "rcv_pct",
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
