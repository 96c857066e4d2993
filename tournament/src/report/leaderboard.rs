//! The SUMMARY leaderboard: a winner per category, counting only stable, significant wins, and
//! the ablation comparison (`main/no-spin` against `main`, ...).
//!
//! **Table win.** In one (workload, param) table, the contender with the lowest median wins when
//! its cell is `ok` (stable: ≥ 5 samples, CV ≤ 20%) and its 95% CI lies entirely below the CI
//! of the runner-up (the second-lowest measured median). An unstable or too-few-samples leader,
//! overlapping CIs, or a table with a single measured contender decide nothing.
//!
//! **Category winner.** Each workload maps to one category by [`CATEGORY_RULES`] (first rule
//! whose pattern is a substring of the workload id; no match → [`Category::Other`]). The
//! category winner is the contender with the most table wins in the category's tables (ties
//! are printed as ties). *CPU efficiency* is judged on every table by CPU ns/task instead of
//! wall time: per-sample process CPU ns/task, median and bootstrap CI computed from the raw
//! samples, with the same win rule.
//!
//! No score is averaged over heterogeneous workloads: counts of decided tables only.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::record::{CellStatus, MIN_SAMPLES_FOR_OK, RawSample, SampleStatus, SummaryRow};
use crate::stats;

/// Leaderboard categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Time until one task or reply comes back (round trips, timers, priority).
    Latency,
    /// Tasks per unit of time from few producers (ping-pong, bursts, batches, chains).
    Throughput,
    /// Many producers on one loop.
    Contention,
    /// Allocation and memory pressure workloads.
    Allocation,
    /// CPU ns/task over every table (not a workload category).
    CpuEfficiency,
    /// Workloads no rule matches.
    Other,
}

impl Category {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Category::Latency => "latency",
            Category::Throughput => "throughput",
            Category::Contention => "contention",
            Category::Allocation => "allocation",
            Category::CpuEfficiency => "CPU efficiency",
            Category::Other => "other",
        }
    }
}

/// Workload-id → category rules, first match wins (pattern is a substring of the id). Printed
/// in SUMMARY.md and documented in `results/SCHEMA.md`.
pub const CATEGORY_RULES: &[(&str, Category)] = &[
    ("latency", Category::Latency),
    ("round-trip", Category::Latency),
    ("timer", Category::Latency),
    ("priority", Category::Latency),
    ("microtask", Category::Latency),
    ("readiness", Category::Latency),
    ("multi-producer", Category::Contention),
    ("contention", Category::Contention),
    ("cas", Category::Contention),
    ("mpsc", Category::Contention),
    ("alloc", Category::Allocation),
    ("gc", Category::Allocation),
    ("memory", Category::Allocation),
    ("ping-pong", Category::Throughput),
    ("burst", Category::Throughput),
    ("batch", Category::Throughput),
    ("budget", Category::Throughput),
    ("chain", Category::Throughput),
    ("throughput", Category::Throughput),
    ("submit", Category::Throughput),
    ("wakeup", Category::Throughput),
    ("drain", Category::Throughput),
];

/// The category of a workload id (see [`CATEGORY_RULES`]).
pub fn category_of(workload: &str) -> Category {
    CATEGORY_RULES
        .iter()
        .find(|(pat, _)| workload.contains(pat))
        .map_or(Category::Other, |(_, c)| *c)
}

/// The outcome of one table for one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct TableVerdict {
    /// Workload id.
    pub workload: String,
    /// Param id.
    pub param: String,
    /// `Some(contender)` when the table is decided (see the module rules).
    pub winner: Option<String>,
    /// Why the table is undecided, or the winner's margin.
    pub note: String,
}

/// A cell's value for judging: median, CI, and whether the cell is stable.
struct Judged<'a> {
    contender: &'a str,
    median: f64,
    ci: Option<(f64, f64)>,
    stable: bool,
}

fn judge(workload: &str, param: &str, mut cells: Vec<Judged<'_>>) -> TableVerdict {
    cells.sort_by(|a, b| a.median.total_cmp(&b.median));
    let verdict = |winner: Option<&str>, note: String| TableVerdict {
        workload: workload.to_string(),
        param: param.to_string(),
        winner: winner.map(str::to_string),
        note,
    };
    let Some(lead) = cells.first() else {
        return verdict(None, "nothing measured".into());
    };
    let Some(next) = cells.get(1) else {
        return verdict(None, "only one contender measured".into());
    };
    if !lead.stable {
        return verdict(None, format!("lowest median ({}) is not a stable cell", lead.contender));
    }
    match (lead.ci, next.ci) {
        (Some((_, hi)), Some((lo, _))) if hi < lo => verdict(
            Some(lead.contender),
            format!("{:.2}× ahead of {}", next.median / lead.median, next.contender),
        ),
        (Some(_), Some(_)) => {
            verdict(None, format!("95% CIs of {} and {} overlap", lead.contender, next.contender))
        }
        _ => verdict(None, format!("no CI for {} or {}", lead.contender, next.contender)),
    }
}

/// Groups rows by (workload, param), preserving row order.
fn tables(rows: &[SummaryRow]) -> Vec<&[SummaryRow]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let n = rows[i..]
            .iter()
            .position(|r| r.workload != rows[i].workload || r.param != rows[i].param)
            .unwrap_or(rows.len() - i);
        // Memory tables (bytes, the `footprint` workload) are not timed: they win nothing here
        // and have their own section in SUMMARY.md.
        if !rows[i].is_memory() {
            out.push(&rows[i..i + n]);
        }
        i += n;
    }
    out
}

/// Wall-time verdict of every table (primary metric).
pub fn wall_verdicts(rows: &[SummaryRow]) -> Vec<TableVerdict> {
    tables(rows)
        .into_iter()
        .map(|t| {
            let cells = t
                .iter()
                .filter_map(|r| {
                    Some(Judged {
                        contender: &r.contender,
                        median: r.median()?,
                        ci: r.ci95(),
                        stable: r.status == CellStatus::Ok,
                    })
                })
                .collect();
            judge(&t[0].workload, &t[0].param, cells)
        })
        .collect()
}

/// CPU-ns/task verdict of every table, with medians and CIs computed from the raw samples of the
/// cells (ok samples only; a cell must also be `ok` in wall time to be stable).
pub fn cpu_verdicts(rows: &[SummaryRow], samples: &[RawSample]) -> Vec<TableVerdict> {
    let mut cpu: HashMap<(&str, &str, &str), Vec<f64>> = HashMap::new();
    for s in samples.iter().filter(|s| s.status == SampleStatus::Ok) {
        if let Some(x) = s.cpu_ns_per_task() {
            cpu.entry((&s.workload, &s.param, &s.contender)).or_default().push(x);
        }
    }
    tables(rows)
        .into_iter()
        .map(|t| {
            let cells = t
                .iter()
                .filter(|r| r.status.is_measured())
                .filter_map(|r| {
                    let xs = cpu.get(&(&*r.workload, &*r.param, &*r.contender))?;
                    let ci = (xs.len() >= MIN_SAMPLES_FOR_OK)
                        .then(|| stats::bootstrap_median_ci(xs))
                        .flatten();
                    let stable = r.status == CellStatus::Ok
                        && stats::cv_pct(xs).is_some_and(|cv| cv <= crate::record::UNSTABLE_CV_PCT);
                    Some(Judged { contender: &r.contender, median: stats::median(xs)?, ci, stable })
                })
                .collect();
            judge(&t[0].workload, &t[0].param, cells)
        })
        .collect()
}

/// Renders the `## Leaderboard` section (with the category table and per-table verdicts).
pub fn render(md: &mut String, rows: &[SummaryRow], samples: &[RawSample]) {
    let wall = wall_verdicts(rows);
    let cpu = cpu_verdicts(rows, samples);
    let _ = writeln!(md, "## Leaderboard\n");
    let _ = writeln!(
        md,
        "A table (one workload parameter) is *won* only by an `ok` (stable) cell whose 95% CI \
         lies entirely below the runner-up's; unstable leaders, overlapping CIs and \
         single-contender tables decide nothing. A category's winner has the most won tables \
         in it. *CPU efficiency* applies the same rule to process CPU ns/task on every table. \
         No average is taken across different workloads.\n"
    );
    let _ =
        writeln!(md, "| Category | Winner | Won tables | Decided / tables |\n|---|---|---|---:|");
    let cats = [
        Category::Latency,
        Category::Throughput,
        Category::Contention,
        Category::Allocation,
        Category::Other,
    ];
    for cat in cats {
        let vs: Vec<&TableVerdict> =
            wall.iter().filter(|v| category_of(&v.workload) == cat).collect();
        if vs.is_empty() && cat == Category::Other {
            continue;
        }
        category_row(md, cat, &vs);
    }
    category_row(md, Category::CpuEfficiency, &cpu.iter().collect::<Vec<_>>());
    md.push('\n');
    let _ = writeln!(md, "<details><summary>Per-table verdicts</summary>\n");
    let _ = writeln!(
        md,
        "| Workload · param | Category | Wall-time winner | CPU winner |\n|---|---|---|---|"
    );
    for (w, c) in wall.iter().zip(&cpu) {
        let show = |v: &TableVerdict| match &v.winner {
            Some(x) => format!("`{x}` ({})", v.note),
            None => format!("— ({})", v.note),
        };
        let _ = writeln!(
            md,
            "| `{}` · `{}` | {} | {} | {} |",
            w.workload,
            w.param,
            category_of(&w.workload).name(),
            show(w).replace('|', "\\|"),
            show(c).replace('|', "\\|")
        );
    }
    let _ = writeln!(md, "\n</details>\n");
    let _ = writeln!(
        md,
        "Workload → category rules (first pattern contained in the id wins; none → other):"
    );
    let rules: Vec<String> =
        CATEGORY_RULES.iter().map(|(p, c)| format!("`{p}` → {}", c.name())).collect();
    let _ = writeln!(md, "{}.\n", rules.join(", "));
}

fn category_row(md: &mut String, cat: Category, vs: &[&TableVerdict]) {
    let mut wins: BTreeMap<&str, usize> = BTreeMap::new();
    for v in vs {
        if let Some(w) = &v.winner {
            *wins.entry(w).or_default() += 1;
        }
    }
    let decided: usize = wins.values().sum();
    let top = wins.values().copied().max().unwrap_or(0);
    let leaders: Vec<&str> = wins.iter().filter(|(_, n)| **n == top).map(|(c, _)| *c).collect();
    let winner = match leaders.len() {
        _ if decided == 0 => "no significant winner".to_string(),
        1 => format!("**`{}`**", leaders[0]),
        _ => format!(
            "tie: {}",
            leaders.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut counts: Vec<(&str, usize)> = wins.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let list: Vec<String> = counts.iter().map(|(c, n)| format!("`{c}` {n}")).collect();
    let _ = writeln!(
        md,
        "| {} | {} | {} | {decided} / {} |",
        cat.name(),
        winner,
        if list.is_empty() { "—".to_string() } else { list.join(", ") },
        vs.len()
    );
}

/// Renders the `## Ablations` section: every contender whose id contains `/` is an ablation of
/// the contender named by the part before the first `/` (e.g. `main/no-spin` of `main`); per
/// table, its median over its parent's, and whether their CIs separate. Nothing is written when
/// the run has no ablation.
pub fn render_ablations(md: &mut String, rows: &[SummaryRow]) {
    let mut ablations: Vec<&str> =
        rows.iter().map(|r| r.contender.as_str()).filter(|c| c.contains('/')).collect();
    ablations.sort_unstable();
    ablations.dedup();
    if ablations.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Ablations\n");
    let _ = writeln!(
        md,
        "A contender id `X/knob` is contender `X` with one mechanism changed (the part after \
         `/` names it), so the ratio to `X` in the same table attributes a difference to that \
         mechanism. *slower*/*faster* only when both cells are measured and their 95% CIs do \
         not overlap; otherwise *≈* (not established).\n"
    );
    for ab in ablations {
        let parent = ab.split('/').next().unwrap_or(ab);
        let (mut slower, mut faster, mut same) = (0, 0, 0);
        let mut lines = Vec::new();
        for t in tables(rows) {
            let find = |c: &str| t.iter().find(|r| r.contender == c);
            let (Some(a), Some(p)) = (find(ab), find(parent)) else { continue };
            let (Some(ma), Some(mp)) = (a.median(), p.median()) else { continue };
            let verdict = match (a.ci95(), p.ci95()) {
                (Some((alo, _)), Some((_, phi))) if alo > phi => {
                    slower += 1;
                    "slower"
                }
                (Some((_, ahi)), Some((plo, _))) if ahi < plo => {
                    faster += 1;
                    "faster"
                }
                _ => {
                    same += 1;
                    "≈"
                }
            };
            lines.push(format!(
                "| `{}` · `{}` | {:.2}× | {verdict} |",
                a.workload,
                a.param,
                if mp > 0.0 { ma / mp } else { f64::NAN }
            ));
        }
        let _ = writeln!(
            md,
            "### `{ab}` vs `{parent}`\n\n{slower} tables slower, {faster} faster, {same} not \
             established.\n"
        );
        if !lines.is_empty() {
            let _ = writeln!(
                md,
                "| Workload · param | median / `{parent}` median | verdict |\n|---|---:|---|"
            );
            for l in lines {
                let _ = writeln!(md, "{l}");
            }
            md.push('\n');
        }
    }
}
