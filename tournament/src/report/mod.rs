//! Reports: reduce `raw.jsonl` to `summary.csv` and `SUMMARY.md`.
//!
//! Reports are regenerated from a run folder's `raw.jsonl` (the authority) and `env.json`
//! (provenance) alone — [`regenerate`] — never from the memory of a run, and the output is
//! byte-identical for the same input. Cells are joined by their stable id
//! (workload, param, contender), never by position (DESIGN.md rule 7), and a cell that has no
//! record at all although its contender ran elsewhere in the run is reported as
//! [`CellStatus::Missing`], so coverage loss is never silent.
//!
//! Cell status rules, first match wins ([`summarize`]):
//! 1. a `disqualified` gap record → `disqualified`; an `unsupported` one → `unsupported`
//!    (reason copied from the record);
//! 2. any failed sample (or an `ok` sample that ran no task, or unreadable latency histograms)
//!    → `failed`, reason = the first failure's reason and the count;
//! 3. fewer than [`MIN_SAMPLES_FOR_OK`] ok samples → `too-few-samples`;
//! 4. CV of per-sample ns/task above [`UNSTABLE_CV_PCT`] → `unstable`;
//! 5. otherwise `ok`.

mod csv;
pub mod leaderboard;
mod markdown;
pub mod plots;
pub mod validate;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, bail};

pub use self::csv::{
    HEADER as SUMMARY_COLUMNS, SUMMARY_CSV, has_memory_columns, header as summary_header,
    render_csv, row_fields, write_csv,
};
pub use self::markdown::{SUMMARY_MD, render_markdown, write_markdown};
use crate::env::Provenance;
use crate::record::{
    BASELINE_CONTENDER, CellStatus, MIN_SAMPLES_FOR_OK, MemoryColumns, RAW_SCHEMA_VERSION,
    RawSample, SampleStatus, SummaryRow, UNIT_BYTES, UNIT_NS_PER_OP, UNIT_NS_PER_TASK,
    UNSTABLE_CV_PCT, is_memory_workload,
};
use crate::stats;

/// File name of the raw samples inside a run folder.
pub const RAW_JSONL: &str = "raw.jsonl";

/// Reads `raw.jsonl`: one [`RawSample`] per line, blank lines ignored. Every latency histogram is
/// decoded and checked against its summary's count, so a corrupt record is reported here, with
/// its line, rather than later as a wrong number.
///
/// # Errors
/// The file cannot be read; a line is not JSON, has no numeric `schema`, has a schema version
/// other than [`RAW_SCHEMA_VERSION`], does not match the [`RawSample`] schema, or holds a corrupt
/// latency histogram. Messages name the file and the 1-based line number.
pub fn read_raw(path: &Path) -> anyhow::Result<Vec<RawSample>> {
    Ok(read_raw_lines(path)?.into_iter().map(|(_, s)| s).collect())
}

/// [`read_raw`], keeping each record's 1-based line number.
fn read_raw_lines(path: &Path) -> anyhow::Result<Vec<(usize, RawSample)>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let n = i + 1;
        let at = || format!("{}:{n}", path.display());
        let line = line.with_context(|| format!("{}: cannot read line", at()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not valid JSON", at()))?;
        match value.get("schema").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(RAW_SCHEMA_VERSION) => {}
            Some(v) => bail!(
                "{}: raw schema version {v} is not supported (this build reads version \
                 {RAW_SCHEMA_VERSION}); regenerate with the tournament version that wrote it",
                at()
            ),
            None => bail!("{}: record has no numeric \"schema\" field", at()),
        }
        let sample: RawSample = serde_json::from_value(value)
            .with_context(|| format!("{}: record does not match the raw-sample schema", at()))?;
        if let Some(lat) = &sample.latency {
            stats::merge_latencies(&[lat])
                .with_context(|| format!("{}: corrupt latency histogram", at()))?;
        }
        out.push((n, sample));
    }
    Ok(out)
}

/// Consistency checks of a whole run before reporting: one run id, no duplicate record for a
/// (workload, param, contender, sample), no cell with both a gap record and samples.
fn validate(path: &Path, lines: &[(usize, RawSample)]) -> anyhow::Result<()> {
    let Some((first_line, first)) = lines.first() else {
        bail!("{} holds no records", path.display());
    };
    if let Some((n, s)) = lines.iter().find(|(_, s)| s.run_id != first.run_id) {
        let ids: BTreeSet<&str> = lines.iter().map(|(_, s)| s.run_id.as_str()).collect();
        bail!(
            "{}: mixes runs: line {n} has run id {:?} but line {first_line} has {:?} \
             ({} distinct run ids); a report covers exactly one run",
            path.display(),
            s.run_id,
            first.run_id,
            ids.len()
        );
    }
    let mut seen: HashMap<(&str, &str, &str, u32, bool), usize> = HashMap::new();
    let mut kinds: HashMap<(&str, &str, &str), (bool, bool, usize)> = HashMap::new();
    for (n, s) in lines {
        let gap = matches!(s.status, SampleStatus::Unsupported | SampleStatus::Disqualified);
        let key = (s.workload.as_str(), s.param.as_str(), s.contender.as_str(), s.sample, gap);
        if let Some(prev) = seen.insert(key, *n) {
            bail!(
                "{}: line {n} duplicates line {prev} ({} {} {} {} #{})",
                path.display(),
                s.workload,
                s.param,
                s.contender,
                if gap { "gap record" } else { "sample" },
                s.sample
            );
        }
        let k = kinds.entry((key.0, key.1, key.2)).or_insert((false, false, *n));
        if gap {
            k.0 = true
        } else {
            k.1 = true
        }
        if k.0 && k.1 {
            bail!(
                "{}: line {n}: cell {} {} {} has both a gap record and samples (line {})",
                path.display(),
                s.workload,
                s.param,
                s.contender,
                k.2
            );
        }
    }
    Ok(())
}

/// Reads a run folder's `raw.jsonl` and `env.json` and checks that they belong together.
///
/// # Errors
/// `raw.jsonl` is unreadable or corrupt (see [`read_raw`]); it is empty, mixes run ids, repeats
/// a sample or has a cell with both a gap record and samples; `env.json` is missing or corrupt,
/// or belongs to another run (its run id differs from `raw.jsonl`'s).
pub fn load_run(dir: &Path) -> anyhow::Result<(Vec<RawSample>, Provenance)> {
    let raw_path = dir.join(RAW_JSONL);
    let lines = read_raw_lines(&raw_path)?;
    validate(&raw_path, &lines)?;
    let prov = Provenance::read_json(dir)?;
    let run_id = &lines[0].1.run_id;
    if &prov.run_id != run_id {
        bail!(
            "{}/env.json belongs to run {:?} but {} holds run {:?}; refusing to mix provenance",
            dir.display(),
            prov.run_id,
            raw_path.display(),
            run_id
        );
    }
    Ok((lines.into_iter().map(|(_, s)| s).collect(), prov))
}

/// Regenerates `summary.csv`, `SUMMARY.md` and `plots/` in a run folder from its `raw.jsonl`
/// and `env.json`, then validates the folder ([`validate::validate_dir`]). Idempotent: the same
/// inputs give byte-identical files. `raw.jsonl` and `env.json` are only read.
///
/// # Errors
/// The inputs cannot be loaded ([`load_run`]); an output cannot be written; or the written
/// folder fails validation (the error lists every violation — e.g. a planned cell with neither
/// samples nor a declared gap). The files are written before validating, so they can be
/// inspected.
pub fn regenerate(dir: &Path) -> anyhow::Result<()> {
    let (samples, prov) = load_run(dir)?;
    let rows = summarize_for(&samples, Some(&prov));
    write_csv(dir, &rows)?;
    plots::write_plots(dir, &rows, &prov)?;
    write_markdown(dir, &rows, &prov, &samples)?;
    validate::ensure_valid(dir)
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so a reader never sees
/// a half-written report.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("renaming {} into place", tmp.display()))
}

/// First-appearance order of the distinct values of `key`.
fn first_appearance<'a>(
    samples: impl Iterator<Item = &'a RawSample>,
    key: impl Fn(&'a RawSample) -> &'a str,
) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    samples.map(key).filter(|k| seen.insert(*k)).collect()
}

/// [`summarize_for`] without provenance: per-op workloads get the unit [`UNIT_NS_PER_OP`].
pub fn summarize(samples: &[RawSample]) -> Vec<SummaryRow> {
    summarize_for(samples, None)
}

/// The unit token of a workload's declared unit (env.json `WorkloadInfo::unit`): its first
/// whitespace-separated word when that starts with `ns/` (`"ns/task (admission)"` → `ns/task`,
/// `"ns/batch"` → `ns/batch`); `None` for a free-text unit.
pub fn unit_token(declared: &str) -> Option<&str> {
    declared.split_whitespace().next().filter(|t| t.starts_with("ns/"))
}

/// The unit of a workload's primary metric: [`UNIT_BYTES`] for the memory workload
/// ([`is_memory_workload`]); otherwise [`UNIT_NS_PER_TASK`] unless some sample of the
/// workload carries `ops`, in which case the unit token ([`unit_token`]) `env.json` records for
/// the workload when it is an `ns/<op>` unit other than `ns/task`, else [`UNIT_NS_PER_OP`].
pub fn workload_unit(samples: &[RawSample], workload: &str, prov: Option<&Provenance>) -> String {
    if is_memory_workload(workload) {
        return UNIT_BYTES.to_string();
    }
    let per_op = samples.iter().any(|s| s.workload == workload && s.ops.is_some());
    if !per_op {
        return UNIT_NS_PER_TASK.to_string();
    }
    prov.and_then(|p| p.run.workloads.iter().find(|w| w.id == workload))
        .and_then(|w| unit_token(&w.unit))
        .filter(|u| *u != UNIT_NS_PER_TASK)
        .unwrap_or(UNIT_NS_PER_OP)
        .to_string()
}

/// Reduces raw samples to one [`SummaryRow`] per (workload, param, contender).
///
/// Order: workloads in order of first appearance in `samples`, then each workload's params in
/// first-appearance order, then contenders by median ascending (ties by contender first
/// appearance), with unmeasured cells (failed, unsupported, disqualified, missing) last in
/// contender first-appearance order. Every contender that appears anywhere in `samples` gets a
/// row in every (workload, param); one with no record there is [`CellStatus::Missing`].
///
/// Status rules: see the module documentation. Statistics are over the per-sample primary
/// metric of the ok samples (ns/task, or ns/op for per-op workloads; see [`SummaryRow`] and
/// [`workload_unit`]); the CI is left empty below [`MIN_SAMPLES_FOR_OK`] samples. Ratios use
/// the cell medians of the same (workload, param) only. `prov` (env.json) only names the unit
/// of per-op workloads.
pub fn summarize_for(samples: &[RawSample], prov: Option<&Provenance>) -> Vec<SummaryRow> {
    let contenders = first_appearance(samples.iter(), |s| s.contender.as_str());
    let workloads = first_appearance(samples.iter(), |s| s.workload.as_str());
    let mut cells: HashMap<(&str, &str, &str), Vec<&RawSample>> = HashMap::new();
    for s in samples {
        cells.entry((&s.workload, &s.param, &s.contender)).or_default().push(s);
    }
    let mut rows = Vec::new();
    for w in &workloads {
        let unit = workload_unit(samples, w, prov);
        let params = first_appearance(samples.iter().filter(|s| s.workload == *w), |s| &s.param);
        for p in &params {
            let mut group: Vec<(usize, SummaryRow)> = contenders
                .iter()
                .enumerate()
                .map(|(ci, c)| {
                    let recs = cells.get(&(*w, *p, *c)).map(Vec::as_slice).unwrap_or(&[]);
                    (ci, summarize_cell(w, p, c, &unit, recs))
                })
                .collect();
            add_ratios(&mut group);
            group.sort_by(|(ai, a), (bi, b)| match (a.median(), b.median()) {
                (Some(x), Some(y)) => x.total_cmp(&y).then(ai.cmp(bi)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => ai.cmp(bi),
            });
            rows.extend(group.into_iter().map(|(_, r)| r));
        }
    }
    rows
}

/// Fills `ratio_to_baseline` and `ratio_to_best` within one (workload, param) group.
fn add_ratios(group: &mut [(usize, SummaryRow)]) {
    let best = group.iter().filter_map(|(_, r)| r.median()).min_by(f64::total_cmp);
    let baseline =
        group.iter().find(|(_, r)| r.contender == BASELINE_CONTENDER).and_then(|(_, r)| r.median());
    let ratio = |m: f64, d: Option<f64>| d.filter(|d| *d > 0.0).map(|d| m / d);
    for (_, r) in group.iter_mut() {
        if let Some(m) = r.median() {
            r.ratio_to_best = ratio(m, best);
            r.ratio_to_baseline = ratio(m, baseline);
        }
    }
}

/// An empty row (no statistics) for a cell.
fn empty_row(
    w: &str,
    p: &str,
    c: &str,
    unit: &str,
    status: CellStatus,
    reason: Option<String>,
) -> SummaryRow {
    SummaryRow {
        workload: w.to_string(),
        param: p.to_string(),
        contender: c.to_string(),
        status,
        reason,
        unit: unit.to_string(),
        tasks_per_op: None,
        samples: 0,
        failed_samples: 0,
        median_ns_per_task: None,
        mean_ns_per_task: None,
        stddev_ns_per_task: None,
        ci95_low_ns_per_task: None,
        ci95_high_ns_per_task: None,
        min_ns_per_task: None,
        max_ns_per_task: None,
        median_ns_per_op: None,
        mean_ns_per_op: None,
        stddev_ns_per_op: None,
        ci95_low_ns_per_op: None,
        ci95_high_ns_per_op: None,
        min_ns_per_op: None,
        max_ns_per_op: None,
        cv_pct: None,
        cpu_ns_per_task: None,
        blocks_per_task: None,
        wake_syscalls_per_task: None,
        allocs_per_task: None,
        alloc_bytes_per_task: None,
        lat_count: None,
        p50_ns: None,
        p90_ns: None,
        p99_ns: None,
        p999_ns: None,
        max_latency_ns: None,
        ratio_to_baseline: None,
        ratio_to_best: None,
        memory: None,
    }
}

/// The per-sample primary values (ns/task or ns/op) of a cell's ok samples, in sample-index
/// order; what the cell's median, CI and CV are computed from. Used by `compare` too.
pub fn primary_values(recs: &[&RawSample]) -> Vec<f64> {
    let mut ok: Vec<&RawSample> =
        recs.iter().copied().filter(|s| s.status == SampleStatus::Ok && s.tasks > 0).collect();
    ok.sort_by_key(|s| s.sample);
    ok.iter().filter_map(|s| s.primary_ns()).collect()
}

/// Reduces the records of one cell (without ratios).
fn summarize_cell(w: &str, p: &str, c: &str, unit: &str, recs: &[&RawSample]) -> SummaryRow {
    if recs.is_empty() {
        let why = "no sample and no gap record for this cell in raw.jsonl, although the \
                   contender ran elsewhere in this run";
        return empty_row(w, p, c, unit, CellStatus::Missing, Some(why.to_string()));
    }
    for (status, cell) in [
        (SampleStatus::Disqualified, CellStatus::Disqualified),
        (SampleStatus::Unsupported, CellStatus::Unsupported),
    ] {
        if let Some(g) = recs.iter().find(|s| s.status == status) {
            return empty_row(w, p, c, unit, cell, g.reason.clone());
        }
    }
    if unit == UNIT_BYTES {
        return summarize_memory_cell(w, p, c, recs);
    }
    let per_op = unit != UNIT_NS_PER_TASK;
    // Samples in sample-index order (stable for equal indices), so "first failure" is defined
    // by the sample index, not by file position.
    let mut recs = recs.to_vec();
    recs.sort_by_key(|s| s.sample);
    // An ok sample whose unit disagrees with its workload's would mix per-task and per-op
    // numbers in one median: it counts as a failure, never as a value.
    let (ok, bad): (Vec<&RawSample>, Vec<&RawSample>) = recs.iter().partition(|s| {
        s.status == SampleStatus::Ok && s.tasks > 0 && s.ops.is_some_and(|o| o > 0) == per_op
    });
    let failure_reason = |s: &RawSample| match (s.status, &s.reason) {
        (SampleStatus::Ok, _) if s.tasks == 0 => "an ok sample ran no task".to_string(),
        (SampleStatus::Ok, _) => format!(
            "an ok sample is {} in a {unit} workload (per-task and per-op never mix)",
            if s.ops.is_some() { "per-op" } else { "per-task" }
        ),
        (_, Some(r)) => r.clone(),
        (_, None) => "no reason recorded".to_string(),
    };

    let mut row = empty_row(w, p, c, unit, CellStatus::Ok, None);
    row.samples = ok.len() as u64;
    row.failed_samples = bad.len() as u64;
    if let Some(first) = bad.first() {
        row.status = CellStatus::Failed;
        row.reason = Some(format!(
            "{} (sample #{}; {} of {} samples failed)",
            failure_reason(first),
            first.sample,
            bad.len(),
            recs.len()
        ));
        return row;
    }

    let lat: Vec<_> = ok.iter().filter_map(|s| s.latency.as_ref()).collect();
    if !lat.is_empty() {
        match stats::merge_latencies(&lat) {
            Ok(h) => {
                let n = h.len();
                row.lat_count = Some(n);
                if n > 0 {
                    row.p50_ns = stats::histogram_percentile(&h, 50.0);
                    row.p90_ns = stats::histogram_percentile(&h, 90.0);
                    row.p99_ns = stats::histogram_percentile(&h, 99.0);
                    row.p999_ns = stats::histogram_percentile(&h, 99.9);
                    row.max_latency_ns = Some(h.max());
                }
            }
            Err(e) => {
                row.status = CellStatus::Failed;
                row.reason = Some(format!("latency histograms unreadable: {e:#}"));
                return row;
            }
        }
    }

    let values = primary_values(&ok);
    let per_task = |f: fn(&RawSample) -> Option<u64>| -> Option<f64> {
        let v: Option<Vec<f64>> =
            ok.iter().map(|s| f(s).map(|k| k as f64 / s.tasks as f64)).collect();
        v.as_deref().and_then(stats::median)
    };
    let cpu: Vec<f64> = ok.iter().filter_map(|s| s.cpu_ns_per_task()).collect();
    let blocks: Vec<f64> = ok.iter().filter_map(|s| s.blocks_per_task()).collect();
    let median = stats::median(&values);
    let mean = stats::mean(&values);
    let sd = stats::stddev(&values);
    let (lo, hi) = (stats::min(&values), stats::max(&values));
    let ci =
        if values.len() >= MIN_SAMPLES_FOR_OK { stats::bootstrap_median_ci(&values) } else { None };
    if per_op {
        let tpo: Vec<f64> =
            ok.iter().filter_map(|s| s.ops.map(|o| s.tasks as f64 / o as f64)).collect();
        row.tasks_per_op = stats::median(&tpo);
        row.median_ns_per_op = median;
        row.mean_ns_per_op = mean;
        row.stddev_ns_per_op = sd;
        row.min_ns_per_op = lo;
        row.max_ns_per_op = hi;
        row.ci95_low_ns_per_op = ci.map(|c| c.0);
        row.ci95_high_ns_per_op = ci.map(|c| c.1);
    } else {
        row.median_ns_per_task = median;
        row.mean_ns_per_task = mean;
        row.stddev_ns_per_task = sd;
        row.min_ns_per_task = lo;
        row.max_ns_per_task = hi;
        row.ci95_low_ns_per_task = ci.map(|c| c.0);
        row.ci95_high_ns_per_task = ci.map(|c| c.1);
    }
    row.cv_pct = stats::cv_pct(&values);
    row.cpu_ns_per_task = stats::median(&cpu);
    row.blocks_per_task = stats::median(&blocks);
    row.wake_syscalls_per_task = per_task(|s| s.wake_syscalls);
    row.allocs_per_task = per_task(|s| s.allocs);
    row.alloc_bytes_per_task = per_task(|s| s.alloc_bytes);

    if values.len() < MIN_SAMPLES_FOR_OK {
        row.status = CellStatus::TooFewSamples;
        row.reason =
            Some(format!("{} ok samples, at least {MIN_SAMPLES_FOR_OK} required", values.len()));
        return row;
    }
    if let Some(cv) = row.cv_pct.filter(|cv| *cv > UNSTABLE_CV_PCT) {
        row.status = CellStatus::Unstable;
        row.reason = Some(format!("CV {cv:.1}% > {UNSTABLE_CV_PCT}%"));
    }
    row
}

/// Reduces the records of one memory cell (`footprint`): status from the sample counts only
/// (any failed sample → `failed`; fewer than [`MIN_SAMPLES_FOR_OK`] ok samples →
/// `too-few-samples`; else `ok` — no CV rule, since no time is measured), every
/// [`MemoryColumns`] field the median over the ok samples of the metric of the same name, and
/// allocations per task from the counting pass. A failed leak check or unbounded growth keeps
/// the cell's numbers and is stated in `reason` (the row names the defect).
fn summarize_memory_cell(w: &str, p: &str, c: &str, recs: &[&RawSample]) -> SummaryRow {
    let mut recs = recs.to_vec();
    recs.sort_by_key(|s| s.sample);
    let (ok, bad): (Vec<&RawSample>, Vec<&RawSample>) =
        recs.iter().partition(|s| s.status == SampleStatus::Ok && s.tasks > 0);
    let mut row = empty_row(w, p, c, UNIT_BYTES, CellStatus::Ok, None);
    row.samples = ok.len() as u64;
    row.failed_samples = bad.len() as u64;
    if let Some(first) = bad.first() {
        let why = match (first.status, &first.reason) {
            (SampleStatus::Ok, _) => "an ok sample ran no task".to_string(),
            (_, Some(r)) => r.clone(),
            (_, None) => "no reason recorded".to_string(),
        };
        row.status = CellStatus::Failed;
        row.reason = Some(format!(
            "{why} (sample #{}; {} of {} samples failed)",
            first.sample,
            bad.len(),
            recs.len()
        ));
        return row;
    }
    let metric = |name: &str| -> Option<f64> {
        let v: Vec<f64> = ok
            .iter()
            .filter_map(|s| s.metrics.iter().find(|m| m.name == name).map(|m| m.value))
            .collect();
        stats::median(&v)
    };
    let all = |name: &str| -> Option<bool> {
        let v: Vec<bool> = ok
            .iter()
            .filter_map(|s| s.metrics.iter().find(|m| m.name == name).map(|m| m.value != 0.0))
            .collect();
        (!v.is_empty()).then(|| v.iter().all(|x| *x))
    };
    let mem = MemoryColumns {
        heap_after_new_bytes: metric("heap_after_new"),
        heap_after_warmup_bytes: metric("heap_after_warmup"),
        rss_after_new_bytes: metric("rss_after_new"),
        rss_after_warmup_bytes: metric("rss_after_warmup"),
        queued_bytes_per_task: metric("queued_bytes_per_task"),
        queued_rss_bytes_per_task: metric("queued_rss_bytes_per_task"),
        retained_after_drain_bytes: metric("retained_after_drain"),
        growth_high_water_bytes: metric("growth_high_water"),
        growth_first_half_bytes: metric("growth_first_half_high_water"),
        growth_second_half_bytes: metric("growth_second_half_high_water"),
        growth_bounded: growth_bounded_across(&ok),
        leak_residual_bytes: metric("leak_residual"),
        leak_bound_bytes: metric("leak_bound"),
        leak_pass: all("leak_pass"),
    };
    let per_task = |f: fn(&RawSample) -> Option<u64>| -> Option<f64> {
        let v: Option<Vec<f64>> =
            ok.iter().map(|s| f(s).map(|k| k as f64 / s.tasks as f64)).collect();
        v.as_deref().and_then(stats::median)
    };
    row.allocs_per_task = per_task(|s| s.allocs);
    row.alloc_bytes_per_task = per_task(|s| s.alloc_bytes);
    let mut defects = Vec::new();
    if mem.leak_pass == Some(false) {
        defects.push(format!(
            "leak check failed: median residual {} bytes > bound {} bytes",
            mem.leak_residual_bytes.map_or_else(|| "?".into(), |x| format!("{x:.0}")),
            mem.leak_bound_bytes.map_or_else(|| "?".into(), |x| format!("{x:.0}"))
        ));
    }
    if mem.growth_bounded == Some(false) {
        defects.push(format!(
            "heap growth not bounded: second-half high-water {} bytes vs first half {} bytes",
            mem.growth_second_half_bytes.map_or_else(|| "?".into(), |x| format!("{x:.0}")),
            mem.growth_first_half_bytes.map_or_else(|| "?".into(), |x| format!("{x:.0}"))
        ));
    }
    row.memory = Some(mem);
    if ok.len() < MIN_SAMPLES_FOR_OK {
        row.status = CellStatus::TooFewSamples;
        defects.push(format!("{} ok samples, at least {MIN_SAMPLES_FOR_OK} required", ok.len()));
    }
    if !defects.is_empty() {
        row.reason = Some(defects.join("; "));
    }
    row
}

/// Whether a contender's heap stayed bounded under sustained load, judged over all its `growth`
/// samples together: the largest second-half high-water must stay within
/// `footprint::GROWTH_RATIO` × the largest first-half high-water + `footprint::GROWTH_SLACK`.
///
/// Per sample the halves are too noisy to judge: a pool that fills to its cap during whichever
/// half happens to see the biggest backlog makes a bounded loop look unbounded in a sample
/// (seen in `results/20261121T035105Z-f9e2f85`: main's 128-segment pool reached its cap in the
/// second half of 2 of 10 samples and in the first half of 3 others). Growth without limit shows
/// in every sample's second half, so it still exceeds the largest first half. `None` when no
/// sample carries the halves.
fn growth_bounded_across(ok: &[&RawSample]) -> Option<bool> {
    let max_of = |name: &str| -> Option<f64> {
        ok.iter()
            .filter_map(|s| s.metrics.iter().find(|m| m.name == name).map(|m| m.value))
            .reduce(f64::max)
    };
    let first = max_of("growth_first_half_high_water")?;
    let second = max_of("growth_second_half_high_water")?;
    Some(
        second
            <= first * crate::workloads::footprint::GROWTH_RATIO
                + crate::workloads::footprint::GROWTH_SLACK as f64,
    )
}
