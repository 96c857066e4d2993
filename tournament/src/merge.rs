//! `tournament merge DIR...`: a descriptive cross-host table of several runs (e.g. run
//! folders downloaded from several hosts' `.github/workflows/bench.yml` jobs).
//!
//! Runs on different hosts cannot be compared statistically (`docs/MEASUREMENT.md` rule 8): the
//! table is labelled descriptive, prints each host's provenance, and per cell shows each run's own
//! median and its ratio to `baseline` *measured in the same run* — the only ratio that carries
//! meaning across machines. Cells are joined by stable id; a cell absent from a run is shown as
//! `—` (not in that run's plan) and a gap with its status.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::env::Provenance;
use crate::record::SummaryRow;
use crate::report::text::esc;
use crate::{raw, summarize};

/// Renders the merged markdown of the run folders `dirs` (at least one).
///
/// # Errors
/// No folder given, or a folder cannot be loaded (`raw::load_run`), naming the folder.
pub fn merge_dirs(dirs: &[PathBuf]) -> anyhow::Result<String> {
    anyhow::ensure!(!dirs.is_empty(), "merge needs at least one run folder");
    let mut runs: Vec<(PathBuf, Provenance, Vec<SummaryRow>)> = Vec::new();
    for d in dirs {
        let (samples, prov) = raw::load_run(d).with_context(|| format!("run {}", d.display()))?;
        let rows = summarize::summarize_for(&samples, Some(&prov));
        runs.push((d.clone(), prov, rows));
    }
    Ok(render(&runs))
}

fn render(runs: &[(PathBuf, Provenance, Vec<SummaryRow>)]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Cross-host results (descriptive)\n");
    let _ = writeln!(
        md,
        "> **Descriptive only.** These runs come from different hosts or builds: absolute \
         times hold only for their own machine, and no difference between columns is a \
         statistical finding. The ×baseline figures are ratios measured side by side *within* \
         each run.\n"
    );
    let _ = writeln!(
        md,
        "| # | Run | Host | OS / arch | CPU | cores | virtualisation | kernel | rustc | profile | git | mode × samples |\n\
         |---|---|---|---|---|---:|---|---|---|---|---|---|"
    );
    for (i, (dir, p, _)) in runs.iter().enumerate() {
        let _ = writeln!(
            md,
            "| {} | `{}` ({}) | {} | {} / {} | {} | {} | {} | {} | {} | {} | `{}`{} | {} × {} |",
            i + 1,
            p.run_id,
            esc(&dir.display().to_string()),
            esc(&p.hostname),
            p.os,
            p.arch,
            esc(&p.cpu_model),
            p.logical_cores.map_or("?".into(), |n| n.to_string()),
            esc(&p.virtualization),
            esc(&p.kernel),
            esc(&p.rustc),
            p.profile,
            &p.git_sha[..p.git_sha.len().min(7)],
            if p.git_dirty == Some(false) { "" } else { " (dirty?)" },
            p.run.mode,
            p.run.samples
        );
    }
    md.push('\n');
    let mut order: Vec<(String, String, String)> = Vec::new();
    let mut by_run: Vec<HashMap<(String, String, String), &SummaryRow>> = Vec::new();
    for (_, _, rows) in runs {
        let mut m = HashMap::new();
        for r in rows {
            let k = (r.workload.clone(), r.param.clone(), r.contender.clone());
            if !order.contains(&k) {
                order.push(k.clone());
            }
            m.insert(k, r);
        }
        by_run.push(m);
    }
    let mut groups: BTreeMap<usize, Vec<&(String, String, String)>> = BTreeMap::new();
    let mut first: Vec<(String, String)> = Vec::new();
    for k in &order {
        let wp = (k.0.clone(), k.1.clone());
        let idx = first.iter().position(|x| *x == wp).unwrap_or_else(|| {
            first.push(wp);
            first.len() - 1
        });
        groups.entry(idx).or_default().push(k);
    }
    for (idx, keys) in groups {
        let (w, p) = &first[idx];
        let _ = writeln!(md, "## `{w}` · `{p}`\n");
        let heads: Vec<String> = (1..=runs.len()).map(|i| format!("run {i}")).collect();
        let _ = writeln!(md, "| Contender | {} |", heads.join(" | "));
        let _ = writeln!(md, "|---|{}|", vec!["---:"; runs.len()].join("|"));
        for k in keys {
            let cells: Vec<String> = by_run
                .iter()
                .map(|m| match m.get(k) {
                    None => "—".to_string(),
                    Some(r) => match r.median() {
                        Some(x) => {
                            let base = r
                                .ratio_to_baseline
                                .map_or(String::new(), |b| format!(", {b:.2}× baseline"));
                            let flag =
                                if r.status.as_str() == "ok" { "" } else { r.status.as_str() };
                            format!(
                                "{x:.1} {}{base}{}",
                                r.unit,
                                if flag.is_empty() { String::new() } else { format!(" *{flag}*") }
                            )
                        }
                        None => format!("*{}*", r.status.as_str()),
                    },
                })
                .collect();
            let _ = writeln!(md, "| `{}` | {} |", k.2, cells.join(" | "));
        }
        md.push('\n');
    }
    md
}

/// Whether `dir` looks like a run folder (holds `env.json` and `raw.jsonl` or `raw.jsonl.gz`).
pub fn is_run_dir(dir: &Path) -> bool {
    dir.join(crate::env::ENV_FILE).is_file() && raw::has_raw(dir)
}
