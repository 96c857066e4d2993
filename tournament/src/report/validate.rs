//! `validate`: checks that a run folder's `summary.csv` (and `SUMMARY.md`) is exactly what its
//! `raw.jsonl` and `env.json` imply, and internally consistent.
//!
//! Runs after every write (`tournament run`, `tournament report`) and on demand
//! (`tournament validate DIR`). Rules, each violation naming its row (workload · param ·
//! contender) and the rule:
//!
//! | rule | what is checked |
//! |---|---|
//! | `csv-header` | the header is exactly [`super::SUMMARY_COLUMNS`], followed by the memory columns ([`MemoryColumns::HEADER`]) exactly when the run holds memory rows (`footprint`) |
//! | `csv-row` | every line parses as a [`SummaryRow`] |
//! | `percentiles` | p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max latency; percentiles only with a positive count |
//! | `ci` | CI low ≤ median ≤ CI high; min ≤ median ≤ max; min ≤ mean ≤ max |
//! | `units` | `unit` agrees with the raw samples and env.json; per-task rows carry no per-op timing and vice versa; one unit per workload |
//! | `status` | unmeasured cells carry no timing; `ok` cells have ≥ 5 samples and robust spread (`rcv_pct`) ≤ 25%; memory rows carry no timing at all |
//! | `coverage` | every contender × workload × param of env.json's plan has a row that is measured or a declared gap (never `missing`); no row outside the plan |
//! | `ratios` | `ratio_to_baseline` / `ratio_to_best` equal the ratios of the medians in the same table |
//! | `recompute` | every field equals the value recomputed from `raw.jsonl` (so an edited number is caught), same rows, same order |
//! | `verdicts-csv` | `verdicts.csv` is byte-identical to the paired comparisons recomputed from the same inputs |
//! | `summary-md` | `SUMMARY.md` is byte-identical to the one regenerated from the same inputs |

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::path::Path;

use anyhow::Context;

use super::verdicts_csv::VERDICTS_CSV;
use super::{SUMMARY_COLUMNS, SUMMARY_CSV, SUMMARY_MD};
use crate::env::Provenance;
use crate::raw::{RAW_JSONL, load_run};
use crate::record::{
    BASELINE_CONTENDER, CellStatus, MIN_SAMPLES_FOR_OK, MemoryColumns, RawSample, SummaryRow,
    UNIT_NS_PER_TASK, UNSTABLE_RCV_PCT,
};
use crate::summarize::summarize_for;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Rule name (see the module table), e.g. `percentiles`.
    pub rule: &'static str,
    /// The offending row, `workload · param · contender`, or a file/line.
    pub at: String,
    /// What is wrong, with the values involved.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.rule, self.at, self.detail)
    }
}

/// Formats violations one per line, for error messages.
pub fn format_violations(v: &[Violation]) -> String {
    v.iter().map(|x| format!("  {x}")).collect::<Vec<_>>().join("\n")
}

fn id(r: &SummaryRow) -> String {
    format!("{} · {} · {}", r.workload, r.param, r.contender)
}

/// Validates the run folder `dir`: reads `raw.jsonl`, `env.json`, `summary.csv` and
/// `SUMMARY.md`, and returns every violation (empty when the folder is valid).
///
/// # Errors
/// An input is missing or unreadable, or `raw.jsonl` / `env.json` are corrupt or belong to
/// different runs (the errors of [`crate::raw::read_raw`] and [`Provenance::read_json`]): nothing can
/// be validated against them.
pub fn validate_dir(dir: &Path) -> anyhow::Result<Vec<Violation>> {
    let (samples, prov) = load_run(dir)?;
    let csv_path = dir.join(SUMMARY_CSV);
    let text =
        fs::read_to_string(&csv_path).with_context(|| format!("reading {}", csv_path.display()))?;
    let mut out = Vec::new();
    let expected = summarize_for(&samples, Some(&prov));
    let memory = super::has_memory_columns(&expected);
    let rows = parse_csv(&text, &csv_path.display().to_string(), memory, &mut out);
    // With a foreign header no row was read: row rules would only repeat "row lacks" for
    // every cell, so the header violation stands alone.
    if !out.iter().any(|v| v.rule == "csv-header") {
        out.extend(check_rows(&rows, &samples, &prov));
    }
    let (flagship, margin) = crate::verdict::settings(&prov);
    let comps = crate::verdict::compare_all(&samples, &expected, &flagship, margin);
    let verdicts_path = dir.join(VERDICTS_CSV);
    match (fs::read(&verdicts_path), super::verdicts_csv::render(&comps, margin)) {
        (Ok(got), Ok(want)) if got == want => {}
        (Ok(_), _) => out.push(Violation {
            rule: "verdicts-csv",
            at: verdicts_path.display().to_string(),
            detail: "differs from the verdicts recomputed from raw.jsonl and env.json (edited \
                     by hand, or written by another version); run `tournament report`"
                .into(),
        }),
        (Err(e), _) => out.push(Violation {
            rule: "verdicts-csv",
            at: verdicts_path.display().to_string(),
            detail: format!("cannot be read: {e}"),
        }),
    }
    let md_path = dir.join(SUMMARY_MD);
    let want_md =
        super::markdown::render_with(&expected, &prov, &samples, &comps, &flagship, margin);
    match fs::read(&md_path) {
        Ok(md) if md == want_md.into_bytes() => {}
        Ok(_) => out.push(Violation {
            rule: "summary-md",
            at: md_path.display().to_string(),
            detail: "differs from the SUMMARY.md regenerated from raw.jsonl and env.json \
                     (edited by hand, or written by another version); run `tournament report`"
                .into(),
        }),
        Err(e) => out.push(Violation {
            rule: "summary-md",
            at: md_path.display().to_string(),
            detail: format!("cannot be read: {e}"),
        }),
    }
    Ok(out)
}

/// Parses `summary.csv` text leniently: a wrong header or an unparsable line becomes a
/// violation (`csv-header`, `csv-row`) instead of an error, so one run reports everything.
/// `memory`: whether the run holds memory rows, so the header must end with the memory columns.
fn parse_csv(text: &str, path: &str, memory: bool, out: &mut Vec<Violation>) -> Vec<SummaryRow> {
    let mut rdr = ::csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let want = super::summary_header(memory);
    let headers = match rdr.headers() {
        Ok(h) if h.iter().eq(want.iter().copied()) => h.clone(),
        Ok(h) => {
            out.push(Violation {
                rule: "csv-header",
                at: format!("{path}:1"),
                detail: format!(
                    "header is {:?}, expected {:?}{}",
                    h.iter().collect::<Vec<_>>().join(","),
                    want.join(","),
                    if memory {
                        " (the run holds footprint rows, so the memory columns follow)"
                    } else {
                        ""
                    }
                ),
            });
            return Vec::new();
        }
        Err(e) => {
            out.push(Violation { rule: "csv-header", at: path.into(), detail: e.to_string() });
            return Vec::new();
        }
    };
    let base = SUMMARY_COLUMNS.len();
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let at = format!("{path}:{}", i + 2);
        let parsed = rec.map_err(|e| e.to_string()).and_then(|rec| {
            let mut row: SummaryRow = rec.deserialize(Some(&headers)).map_err(|e| e.to_string())?;
            if memory {
                let fields: Vec<&str> = rec.iter().skip(base).collect();
                let m = MemoryColumns::parse(&fields)?;
                row.memory = (m != MemoryColumns::default()).then_some(m);
            }
            Ok(row)
        });
        match parsed {
            Ok(r) => rows.push(r),
            Err(e) => out.push(Violation {
                rule: "csv-row",
                at,
                detail: format!("not a valid summary row: {e}"),
            }),
        }
    }
    rows
}

/// All row-level rules on `rows` (as read from `summary.csv`) against the run's raw samples and
/// provenance. Does not read files; [`validate_dir`] adds the file-level rules.
pub fn check_rows(rows: &[SummaryRow], samples: &[RawSample], prov: &Provenance) -> Vec<Violation> {
    let mut out = Vec::new();
    for r in rows {
        check_row(r, &mut out);
    }
    check_units(rows, samples, prov, &mut out);
    check_coverage(rows, prov, &mut out);
    check_ratios(rows, &mut out);
    check_recompute(rows, samples, prov, &mut out);
    out
}

fn v(out: &mut Vec<Violation>, rule: &'static str, r: &SummaryRow, detail: String) {
    out.push(Violation { rule, at: id(r), detail });
}

/// Per-row rules: `percentiles`, `ci`, `status`.
fn check_row(r: &SummaryRow, out: &mut Vec<Violation>) {
    let pcts = [
        ("p50_ns", r.p50_ns),
        ("p90_ns", r.p90_ns),
        ("p99_ns", r.p99_ns),
        ("p999_ns", r.p999_ns),
        ("max_latency_ns", r.max_latency_ns),
    ];
    let present: Vec<(&str, u64)> = pcts.iter().filter_map(|(n, x)| x.map(|x| (*n, x))).collect();
    for pair in present.windows(2) {
        if pair[0].1 > pair[1].1 {
            v(
                out,
                "percentiles",
                r,
                format!(
                    "{} = {} > {} = {} (percentiles must not decrease)",
                    pair[0].0, pair[0].1, pair[1].0, pair[1].1
                ),
            );
        }
    }
    if !present.is_empty() && r.lat_count.unwrap_or(0) == 0 {
        v(out, "percentiles", r, "latency percentiles without a positive lat_count".into());
    }

    let (med, mean, lo, hi, min, max) = if r.is_per_op() {
        (
            r.median_ns_per_op,
            r.mean_ns_per_op,
            r.ci95_low_ns_per_op,
            r.ci95_high_ns_per_op,
            r.min_ns_per_op,
            r.max_ns_per_op,
        )
    } else {
        (
            r.median_ns_per_task,
            r.mean_ns_per_task,
            r.ci95_low_ns_per_task,
            r.ci95_high_ns_per_task,
            r.min_ns_per_task,
            r.max_ns_per_task,
        )
    };
    if let Some(m) = med {
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if !(lo <= m && m <= hi) {
                v(out, "ci", r, format!("median {m} outside its 95% CI [{lo}, {hi}]"));
            }
        } else if lo.is_some() != hi.is_some() {
            v(out, "ci", r, "only one CI bound present".into());
        }
        if let (Some(a), Some(b)) = (min, max) {
            if !(a <= m && m <= b) {
                v(out, "ci", r, format!("median {m} outside [min {a}, max {b}]"));
            }
            if let Some(mean) = mean.filter(|x| !(a <= *x && *x <= b)) {
                v(out, "ci", r, format!("mean {mean} outside [min {a}, max {b}]"));
            }
        }
    }

    let timing = [
        r.median_ns_per_task,
        r.mean_ns_per_task,
        r.ci95_low_ns_per_task,
        r.ci95_high_ns_per_task,
        r.median_ns_per_op,
        r.mean_ns_per_op,
        r.ci95_low_ns_per_op,
        r.ci95_high_ns_per_op,
        r.ratio_to_best,
        r.ratio_to_baseline,
    ];
    if !r.status.is_measured() && timing.iter().any(Option::is_some) {
        v(out, "status", r, format!("a {} cell carries timing values", r.status.as_str()));
    }
    if r.is_memory()
        && (timing.iter().any(Option::is_some) || r.cv_pct.is_some() || r.rcv_pct.is_some())
    {
        v(out, "status", r, "a memory (bytes) row carries timing values".into());
    }
    if r.status.is_measured() && med.is_none() && !r.is_memory() {
        v(out, "status", r, format!("a {} cell has no median", r.status.as_str()));
    }
    if r.status == CellStatus::Ok {
        if (r.samples as usize) < MIN_SAMPLES_FOR_OK {
            v(out, "status", r, format!("ok with {} samples (< {MIN_SAMPLES_FOR_OK})", r.samples));
        }
        if let Some(rcv) = r.rcv_pct.filter(|rcv| *rcv > UNSTABLE_RCV_PCT) {
            v(out, "status", r, format!("ok with robust spread {rcv}% (> {UNSTABLE_RCV_PCT}%)"));
        }
    }
}

/// `units`: one unit per workload, matching the raw samples and env.json; per-task rows have no
/// per-op timing columns and vice versa.
fn check_units(
    rows: &[SummaryRow],
    samples: &[RawSample],
    prov: &Provenance,
    out: &mut Vec<Violation>,
) {
    let mut expected: HashMap<&str, String> = HashMap::new();
    for r in rows {
        let want = expected
            .entry(r.workload.as_str())
            .or_insert_with(|| crate::summarize::workload_unit(samples, &r.workload, Some(prov)));
        if &r.unit != want {
            v(
                out,
                "units",
                r,
                format!("unit {:?}, but the raw samples of this workload are {want:?}", r.unit),
            );
        }
        let task_cols = [
            r.median_ns_per_task,
            r.mean_ns_per_task,
            r.stddev_ns_per_task,
            r.ci95_low_ns_per_task,
            r.ci95_high_ns_per_task,
            r.min_ns_per_task,
            r.max_ns_per_task,
        ];
        let op_cols = [
            r.median_ns_per_op,
            r.mean_ns_per_op,
            r.stddev_ns_per_op,
            r.ci95_low_ns_per_op,
            r.ci95_high_ns_per_op,
            r.min_ns_per_op,
            r.max_ns_per_op,
            r.tasks_per_op,
        ];
        let (wrong, kind) = if r.is_per_op() {
            (task_cols.iter().any(Option::is_some), "*_ns_per_task timing")
        } else {
            (op_cols.iter().any(Option::is_some), "*_ns_per_op / tasks_per_op")
        };
        if wrong {
            v(out, "units", r, format!("a {} row fills {kind} columns (units mixed)", r.unit));
        }
    }
    for w in &prov.run.workloads {
        let Some(declared) = crate::summarize::unit_token(&w.unit) else { continue };
        let Some(got) = expected.get(w.id.as_str()) else { continue };
        // A per-op workload declared as plain `ns/op` may be shown as `ns/op`; otherwise the
        // declared unit token and the unit the samples imply must agree.
        if declared != got {
            out.push(Violation {
                rule: "units",
                at: w.id.clone(),
                detail: format!(
                    "env.json declares unit {declared:?} but the raw samples give {got:?} \
                     ({} ops in samples)",
                    if got == UNIT_NS_PER_TASK { "no" } else { "with" }
                ),
            });
        }
    }
}

/// `coverage`: the plan of env.json against the rows.
fn check_coverage(rows: &[SummaryRow], prov: &Provenance, out: &mut Vec<Violation>) {
    let have: HashMap<(&str, &str, &str), &SummaryRow> =
        rows.iter().map(|r| ((&*r.workload, &*r.param, &*r.contender), r)).collect();
    let mut planned = BTreeSet::new();
    for w in &prov.run.workloads {
        for p in &w.params {
            for c in &prov.run.contenders {
                planned.insert((w.id.as_str(), p.as_str(), c.as_str()));
                if !have.contains_key(&(w.id.as_str(), p.as_str(), c.as_str())) {
                    out.push(Violation {
                        rule: "coverage",
                        at: format!("{} · {p} · {c}", w.id),
                        detail: "planned in env.json but has no row: neither measured nor a \
                                 declared gap"
                            .into(),
                    });
                }
            }
        }
    }
    let plan_known = !prov.run.workloads.is_empty() && !prov.run.contenders.is_empty();
    for r in rows {
        if r.status == CellStatus::Missing {
            v(out, "coverage", r, format!("missing cell: {}", r.reason.as_deref().unwrap_or("")));
        }
        if plan_known && !planned.contains(&(&*r.workload, &*r.param, &*r.contender)) {
            v(out, "coverage", r, "row is not in env.json's plan (contenders × workloads)".into());
        }
    }
}

/// `ratios`: recomputes both ratios from the medians in the CSV itself, within tolerance of the
/// 4-decimal rounding (and of the 3-decimal medians).
fn check_ratios(rows: &[SummaryRow], out: &mut Vec<Violation>) {
    let mut groups: BTreeMap<(&str, &str), Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows {
        groups.entry((&r.workload, &r.param)).or_default().push(r);
    }
    for g in groups.values() {
        let best = g
            .iter()
            .filter(|r| r.contender != crate::verdict::FLOOR_CONTENDER)
            .filter_map(|r| r.median())
            .min_by(f64::total_cmp);
        let base = g.iter().find(|r| r.contender == BASELINE_CONTENDER).and_then(|r| r.median());
        for r in g {
            let m = r.median();
            for (name, got, den) in [
                ("ratio_to_best", r.ratio_to_best, best),
                ("ratio_to_baseline", r.ratio_to_baseline, base),
            ] {
                let den = den.filter(|d| *d > 0.0);
                let want = m.zip(den).map(|(m, d)| m / d);
                let ok = match (got, want, m.zip(den)) {
                    (None, None, _) => true,
                    // The medians are rounded to 3 decimals (±0.0005 each) and the ratio to 4
                    // (±0.00005): m/d may move by (m/d)·(0.0005/m + 0.0005/d) plus the latter.
                    (Some(g), Some(w), Some((m, d))) => {
                        (g - w).abs() <= 5e-5 + w.abs() * (5e-4 / m + 5e-4 / d) * 1.01 + 1e-12
                    }
                    _ => false,
                };
                if !ok {
                    v(
                        out,
                        "ratios",
                        r,
                        format!("{name} is {got:?} but the medians in this table give {want:?}"),
                    );
                }
            }
        }
    }
}

/// `recompute`: every row equals the one derived from `raw.jsonl`, field by field as written to
/// CSV (so the comparison is at the CSV's precision), in the same order.
fn check_recompute(
    rows: &[SummaryRow],
    samples: &[RawSample],
    prov: &Provenance,
    out: &mut Vec<Violation>,
) {
    let expected = summarize_for(samples, Some(prov));
    let memory = super::has_memory_columns(&expected);
    let columns = super::summary_header(memory);
    let fields =
        |r: &SummaryRow| -> Vec<String> { super::row_fields(r, memory).unwrap_or_default() };
    let key = |r: &SummaryRow| (r.workload.clone(), r.param.clone(), r.contender.clone());
    let by_key: HashMap<_, &SummaryRow> = rows.iter().map(|r| (key(r), r)).collect();
    for e in &expected {
        let Some(r) = by_key.get(&key(e)) else {
            out.push(Violation {
                rule: "recompute",
                at: id(e),
                detail: format!(
                    "raw.jsonl yields this {} row but summary.csv lacks it",
                    e.status.as_str()
                ),
            });
            continue;
        };
        let (got, want) = (fields(r), fields(e));
        let diffs: Vec<String> = columns
            .iter()
            .zip(got.iter().zip(want.iter()))
            .filter(|(_, (g, w))| g != w)
            .map(|(c, (g, w))| format!("{c} = {g:?}, raw.jsonl gives {w:?}"))
            .collect();
        if !diffs.is_empty() {
            v(out, "recompute", r, diffs.join("; "));
        }
    }
    let want_keys: BTreeSet<_> = expected.iter().map(key).collect();
    for r in rows.iter().filter(|r| !want_keys.contains(&key(r))) {
        v(out, "recompute", r, "row has no cell in raw.jsonl".into());
    }
    let order = |v: &[SummaryRow]| v.iter().map(key).collect::<Vec<_>>();
    if order(rows) != order(&expected) && rows.len() == expected.len() && out.is_empty() {
        out.push(Violation {
            rule: "recompute",
            at: SUMMARY_CSV.into(),
            detail: "rows are not in the order the report writes them".into(),
        });
    }
}

/// Convenience for callers that must fail on any violation: `Ok(())` when valid, else an error
/// listing every violation (one per line) under a heading naming the folder.
///
/// # Errors
/// The folder cannot be validated ([`validate_dir`]) or has violations.
pub fn ensure_valid(dir: &Path) -> anyhow::Result<()> {
    let v = validate_dir(dir)?;
    if v.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{} fails validation ({} violation{}):\n{}",
        dir.join(RAW_JSONL).parent().unwrap_or(dir).display(),
        v.len(),
        if v.len() == 1 { "" } else { "s" },
        format_violations(&v)
    )
}
