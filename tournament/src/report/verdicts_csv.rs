//! `verdicts.csv`: every paired comparison of the flagship, one row each, regenerated from
//! `raw.jsonl` like every other derived file (the validator checks it byte for byte).
//!
//! Columns: `workload`, `param`, `unit`, `flagship`, `other`, `role` (`rival` or `ablation`),
//! `pairs` (samples both measured), `ratio` (flagship ÷ other, Hodges–Lehmann on the paired
//! log-ratios), `ci_low`, `ci_high` (its distribution-free CI), `confidence` (achieved level of
//! that CI, ≥ 0.95), `margin` (the practical margin, a fraction) and `verdict` (`faster`,
//! `equivalent`, `slower`, `undecided`). Ratios have 4 decimals, confidence 4; empty ratio
//! fields mean fewer than 6 pairs (no 95% interval exists).

use std::path::Path;

use crate::verdict::{Comparison, Role};

/// File name of the verdicts inside a run folder.
pub const VERDICTS_CSV: &str = "verdicts.csv";

/// Column names of `verdicts.csv`, in order.
pub const HEADER: [&str; 13] = [
    "workload",
    "param",
    "unit",
    "flagship",
    "other",
    "role",
    "pairs",
    "ratio",
    "ci_low",
    "ci_high",
    "confidence",
    "margin",
    "verdict",
];

/// Renders `verdicts.csv` (header and one row per comparison, in the given order).
///
/// # Errors
/// CSV serialisation fails (not expected).
pub fn render(comps: &[Comparison], margin: f64) -> anyhow::Result<Vec<u8>> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER)?;
    let f4 = |x: Option<f64>| x.map_or_else(String::new, |v| format!("{v:.4}"));
    for c in comps {
        let p = c.paired;
        w.write_record([
            c.workload.as_str(),
            &c.param,
            &c.unit,
            &c.flagship,
            &c.other,
            match c.role {
                Role::Ablation => "ablation",
                _ => "rival",
            },
            &c.pairs.to_string(),
            &f4(p.map(|p| p.ratio)),
            &f4(p.map(|p| p.low)),
            &f4(p.map(|p| p.high)),
            &f4(p.map(|p| p.confidence)),
            &format!("{margin:.4}"),
            c.verdict.as_str(),
        ])?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("flushing CSV: {}", e.error()))
}

/// Writes `dir/verdicts.csv` atomically.
///
/// # Errors
/// Rendering or writing fails.
pub fn write(dir: &Path, comps: &[Comparison], margin: f64) -> anyhow::Result<()> {
    super::write_atomic(dir, VERDICTS_CSV, &render(comps, margin)?)
}
