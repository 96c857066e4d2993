//! The raw → summary reduction: one [`SummaryRow`] per (workload, param, contender), computed
//! from the samples of `raw.jsonl` alone. Reports render these rows; the validator recomputes
//! them. Nothing here formats output.
//!
//! Cells are joined by their stable id (workload, param, contender), never by position, and a
//! cell that has no record at all although its contender ran elsewhere in the run is reported as
//! [`CellStatus::Missing`], so coverage loss is never silent.
//!
//! Cell status rules, first match wins ([`summarize`]):
//! 1. a `disqualified` gap record → `disqualified`; an `unsupported` one → `unsupported`
//!    (reason copied from the record);
//! 2. any failed sample (or an `ok` sample that ran no task, or unreadable latency histograms)
//!    → `failed`, reason = the first failure's reason and the count;
//! 3. fewer than [`MIN_SAMPLES_FOR_OK`] ok samples → `too-few-samples`;
//! 4. robust spread ([`stats::robust_cv_pct`]: 1.4826 × MAD / median) of the per-sample
//!    primary values above [`UNSTABLE_RCV_PCT`] → `unstable`;
//! 5. otherwise `ok`.

use std::collections::{BTreeSet, HashMap};

use crate::env::Provenance;
use crate::record::{
    BASELINE_CONTENDER, CellStatus, MIN_SAMPLES_FOR_OK, MemoryColumns, RawSample, SampleStatus,
    SummaryRow, UNIT_BYTES, UNIT_NS_PER_OP, UNIT_NS_PER_TASK, UNSTABLE_RCV_PCT, is_memory_workload,
};
use crate::stats;

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

/// Fills `ratio_to_baseline` and `ratio_to_best` within one (workload, param) group. The best is
/// the lowest median among the contenders, never the physical-floor reference
/// ([`crate::verdict::FLOOR_CONTENDER`]), which is not a design (its own ratio is still filled).
fn add_ratios(group: &mut [(usize, SummaryRow)]) {
    let best = group
        .iter()
        .filter(|(_, r)| r.contender != crate::verdict::FLOOR_CONTENDER)
        .filter_map(|(_, r)| r.median())
        .min_by(f64::total_cmp);
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
        rcv_pct: None,
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
    row.rcv_pct = stats::robust_cv_pct(&values);
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
    if let Some(rcv) = row.rcv_pct.filter(|rcv| *rcv > UNSTABLE_RCV_PCT) {
        row.status = CellStatus::Unstable;
        row.reason = Some(format!("robust spread {rcv:.1}% > {UNSTABLE_RCV_PCT}%"));
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
/// samples together by [`footprint::growth_bounded_over`](crate::workloads::footprint::growth_bounded_over).
/// `None` when no sample carries the halves.
fn growth_bounded_across(ok: &[&RawSample]) -> Option<bool> {
    let value =
        |s: &RawSample, name: &str| s.metrics.iter().find(|m| m.name == name).map(|m| m.value);
    let halves: Vec<(f64, f64)> = ok
        .iter()
        .filter_map(|s| {
            Some((
                value(s, "growth_first_half_high_water")?,
                value(s, "growth_second_half_high_water")?,
            ))
        })
        .collect();
    (!halves.is_empty()).then(|| crate::workloads::footprint::growth_bounded_over(&halves))
}
