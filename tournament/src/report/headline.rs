//! The answer first: the headline of `SUMMARY.md` (verdict matrix, one sentence per category,
//! where the flagship loses or ties, the ablations) and the same headline as plain text for the
//! terminal when `run` and `report` end. Renders [`crate::verdict`] comparisons; computes none.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::text::{NA, code, esc};
use crate::env::Provenance;
use crate::record::SummaryRow;
use crate::verdict::{Category, Comparison, FLOOR_CONTENDER, Role, Verdict, category_of, tally};

/// How many entries the "where the flagship loses or ties" list shows before it refers to
/// `verdicts.csv`, so the first screen of SUMMARY.md stays short.
pub const MAX_LISTED: usize = 20;

/// A ratio for display: 3 decimals below 0.1, 2 below 10, else 1 (`0.042`, `0.87`, `12.3`).
pub fn fmt_ratio(x: f64) -> String {
    if x < 0.0995 {
        format!("{x:.3}")
    } else if x < 9.995 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

/// `0.87× (0.84–0.90)` for a comparison with a CI, `n/a (k pairs)` without.
pub fn fmt_comparison(c: &Comparison) -> String {
    match c.paired {
        Some(p) => format!("{}× ({}–{})", fmt_ratio(p.ratio), fmt_ratio(p.low), fmt_ratio(p.high)),
        None => format!("no CI ({} pairs, 6 needed)", c.pairs),
    }
}

/// The rival columns of the matrix: every contender with a rival comparison, in the run's
/// contender order (env.json), then any other in first-appearance order.
pub fn rivals(comps: &[Comparison], prov: &Provenance, role: Role) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let present = |id: &str| comps.iter().any(|c| c.role == role && c.other == id);
    for id in &prov.run.contenders {
        if present(id) && !out.contains(id) {
            out.push(id.clone());
        }
    }
    for c in comps.iter().filter(|c| c.role == role) {
        if !out.contains(&c.other) {
            out.push(c.other.clone());
        }
    }
    out
}

/// The (workload, param) tables that have a comparison of `role`, in report order.
fn tables(comps: &[Comparison], role: Role) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for c in comps.iter().filter(|c| c.role == role) {
        if !out.contains(&(c.workload.as_str(), c.param.as_str())) {
            out.push((&c.workload, &c.param));
        }
    }
    out
}

/// A verdict matrix: rows = tables, columns = `cols`, cell = mark, ratio and CI.
fn matrix(md: &mut String, comps: &[Comparison], role: Role, flagship: &str, cols: &[String]) {
    let head: Vec<String> = cols.iter().map(|c| code(c)).collect();
    let _ = writeln!(md, "| {} ÷ … | {} |", code(flagship), head.join(" | "));
    let _ = writeln!(md, "|---|{}|", vec!["---"; cols.len()].join("|"));
    for (w, p) in tables(comps, role) {
        let cells: Vec<String> = cols
            .iter()
            .map(|col| {
                comps
                    .iter()
                    .find(|c| c.role == role && c.workload == w && c.param == p && &c.other == col)
                    .map_or_else(
                        || NA.to_string(),
                        |c| match c.paired {
                            Some(x) => format!(
                                "{} {}× <sub>{}–{}</sub>",
                                c.verdict.mark(),
                                fmt_ratio(x.ratio),
                                fmt_ratio(x.low),
                                fmt_ratio(x.high)
                            ),
                            None => format!("? <sub>{} pairs</sub>", c.pairs),
                        },
                    )
            })
            .collect();
        let _ = writeln!(md, "| {} · {} | {} |", code(w), code(p), cells.join(" | "));
    }
    md.push('\n');
}

/// One sentence for a category's rival comparisons.
fn category_sentence(cat: Category, cs: &[&Comparison], flagship: &str) -> String {
    let [faster, equivalent, slower, undecided] = tally(cs.iter().copied());
    let tables: std::collections::BTreeSet<(&str, &str)> =
        cs.iter().map(|c| (c.workload.as_str(), c.param.as_str())).collect();
    let ratios: Vec<f64> = cs.iter().filter_map(|c| c.paired.map(|p| p.ratio)).collect();
    let range =
        match (ratios.iter().copied().reduce(f64::min), ratios.iter().copied().reduce(f64::max)) {
            (Some(lo), Some(hi)) => format!(
                "; median ratio {}× (from {}× to {}×)",
                fmt_ratio(crate::stats::median(&ratios).unwrap_or(f64::NAN)),
                fmt_ratio(lo),
                fmt_ratio(hi)
            ),
            _ => String::new(),
        };
    let worst = cs
        .iter()
        .filter(|c| c.verdict == Verdict::Slower)
        .filter_map(|c| c.paired.map(|p| (p.ratio, *c)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| {
            format!(
                " Its largest loss: {}× against {} on {} {}.",
                fmt_ratio(c.paired.map_or(f64::NAN, |p| p.ratio)),
                code(&c.other),
                code(&c.workload),
                code(&c.param)
            )
        })
        .unwrap_or_default();
    format!(
        "**{}** ({} tables, {} comparisons): {} is faster in {faster}, equivalent in \
         {equivalent}, slower in {slower}, undecided in {undecided}{range}.{worst}",
        capitalise(cat.name()),
        tables.len(),
        cs.len(),
        code(flagship)
    )
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().collect::<String>() + c.as_str())
}

/// Renders the headline of SUMMARY.md: the verdict rule in two sentences, the rival matrix, one
/// sentence per category, where the flagship loses or ties, and the headline plot when it
/// exists (`plot`: its path relative to the folder).
pub fn render(
    md: &mut String,
    comps: &[Comparison],
    prov: &Provenance,
    flagship: &str,
    margin: f64,
    plot: Option<&str>,
) {
    let rival_comps: Vec<&Comparison> = comps.iter().filter(|c| c.role == Role::Rival).collect();
    let _ = writeln!(md, "## Verdicts: {} against every rival\n", code(flagship));
    if rival_comps.is_empty() {
        let _ = writeln!(
            md,
            "No paired comparison: {} was not measured beside another contender in this run.\n",
            code(flagship)
        );
        return;
    }
    let [f, e, s, u] = tally(rival_comps.iter().copied());
    let n = rival_comps.len();
    let _ = writeln!(
        md,
        "Each cell is {fl}'s time ÷ the rival's, paired sample by sample (both measured in the \
         same round), with its 95% CI: ✓ {fl} faster (the whole CI below {lo}×), ✗ slower \
         (above {hi}×), = equivalent (inside the ±{m}% margin), ? undecided. Over {n} \
         comparisons: **{f} faster, {e} equivalent, {s} slower, {u} undecided** ({d:.0}% \
         decided). Method: `docs/MEASUREMENT.md`; every comparison: `verdicts.csv`.\n",
        fl = code(flagship),
        lo = fmt_ratio(1.0 / (1.0 + margin)),
        hi = fmt_ratio(1.0 + margin),
        m = fmt_pct(margin),
        d = 100.0 * (n - u) as f64 / n as f64,
    );
    for cat in Category::ALL {
        let cs: Vec<&Comparison> =
            rival_comps.iter().copied().filter(|c| category_of(&c.workload) == cat).collect();
        if !cs.is_empty() {
            let _ = writeln!(md, "- {}", category_sentence(cat, &cs, flagship));
        }
    }
    md.push('\n');
    if let Some(plot) = plot {
        let _ = writeln!(md, "![{flagship} ÷ each rival, paired, with 95% CIs]({plot})\n");
    }
    let cols = rivals(comps, prov, Role::Rival);
    matrix(md, comps, Role::Rival, flagship, &cols);
    loses_or_ties(md, &rival_comps, flagship);
}

fn fmt_pct(margin: f64) -> String {
    let p = margin * 100.0;
    if (p - p.round()).abs() < 1e-9 { format!("{p:.0}") } else { format!("{p:.1}") }
}

/// The comparisons the flagship loses (slower) or ties (equivalent), worst first, then how many
/// are undecided.
fn loses_or_ties(md: &mut String, cs: &[&Comparison], flagship: &str) {
    let mut bad: Vec<&Comparison> = cs
        .iter()
        .copied()
        .filter(|c| matches!(c.verdict, Verdict::Slower | Verdict::Equivalent))
        .collect();
    bad.sort_by(|a, b| {
        let r = |c: &Comparison| c.paired.map_or(0.0, |p| p.ratio);
        r(b).total_cmp(&r(a))
    });
    let _ = writeln!(md, "### Where {} loses or ties\n", code(flagship));
    if bad.is_empty() {
        let _ = writeln!(md, "Nowhere: no comparison is *slower* or *equivalent*.\n");
    }
    for c in bad.iter().take(MAX_LISTED) {
        let _ = writeln!(
            md,
            "- {} · {} vs {}: {} — {}",
            code(&c.workload),
            code(&c.param),
            code(&c.other),
            fmt_comparison(c),
            c.verdict.as_str()
        );
    }
    if bad.len() > MAX_LISTED {
        let _ = writeln!(md, "- … and {} more (`verdicts.csv`)", bad.len() - MAX_LISTED);
    }
    let undecided: Vec<&&Comparison> =
        cs.iter().filter(|c| c.verdict == Verdict::Undecided).collect();
    if !undecided.is_empty() {
        let mut by_rival: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &undecided {
            *by_rival.entry(c.other.as_str()).or_default() += 1;
        }
        let parts: Vec<String> = by_rival.iter().map(|(r, n)| format!("{} {n}", code(r))).collect();
        let _ = writeln!(
            md,
            "\nUndecided ({}; the CI straddles an edge of the margin): {}.",
            undecided.len(),
            parts.join(", ")
        );
    }
    md.push('\n');
}

/// Renders "What each mechanism buys": the flagship against each of its ablations, same paired
/// method. Nothing when the run has no ablation.
pub fn render_ablations(md: &mut String, comps: &[Comparison], prov: &Provenance, flagship: &str) {
    let cols = rivals(comps, prov, Role::Ablation);
    if cols.is_empty() {
        return;
    }
    let _ = writeln!(md, "## What each mechanism buys (ablations)\n");
    let _ = writeln!(
        md,
        "`{flagship}/knob` is {fl} with one mechanism changed. A ratio below 1 (✓) means {fl} is \
         faster *with* the mechanism, so the mechanism pays for itself on that table; ✗ means \
         it costs time there. Same paired method and margin as the verdicts.\n",
        fl = code(flagship)
    );
    for ab in &cols {
        let cs: Vec<&Comparison> =
            comps.iter().filter(|c| c.role == Role::Ablation && &c.other == ab).collect();
        let [f, e, s, u] = tally(cs.iter().copied());
        let _ = writeln!(
            md,
            "- {} vs {}: faster in {f}, equivalent in {e}, slower in {s}, undecided in {u}.",
            code(flagship),
            code(ab)
        );
    }
    md.push('\n');
    let _ = writeln!(md, "<details><summary>Ablation matrix</summary>\n");
    matrix(md, comps, Role::Ablation, flagship, &cols);
    let _ = writeln!(md, "</details>\n");
}

/// Renders "Distance to the physical floor": for each table with a measured floor row, the best
/// contender's median ÷ the floor's. Nothing when the run has no floor row.
pub fn render_floor(md: &mut String, rows: &[SummaryRow]) {
    let floors: Vec<&SummaryRow> =
        rows.iter().filter(|r| r.contender == FLOOR_CONTENDER && r.median().is_some()).collect();
    if floors.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Distance to the physical floor\n");
    let _ = writeln!(
        md,
        "`floor` is the least a design can do on this machine today, measured in the same \
         rounds, a reference and never a rival: a bare handoff between two pinned threads \
         (`ping-pong`, `ping-pong-latency`) and a bare level-triggered epoll server, one read \
         and one write per message (`echo`). A ratio near or below 1 means the best design is \
         at the floor within this run's noise.\n"
    );
    let _ = writeln!(md, "| Table | floor | best design | best ÷ floor |\n|---|---:|---|---:|");
    for f in floors {
        let best = rows
            .iter()
            .filter(|r| r.workload == f.workload && r.param == f.param)
            .filter(|r| r.contender != FLOOR_CONTENDER && r.status.is_measured())
            .filter_map(|r| r.median().map(|m| (m, r)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let fm = f.median().unwrap_or(f64::NAN);
        let (name, ratio) = match best {
            Some((m, r)) => (code(&r.contender), format!("{}×", fmt_ratio(m / fm))),
            None => (NA.to_string(), NA.to_string()),
        };
        let _ = writeln!(
            md,
            "| {} · {} | {:.1} {} | {name} | {ratio} |",
            code(&f.workload),
            code(&f.param),
            fm,
            esc(&f.unit)
        );
    }
    md.push('\n');
}

/// The headline as plain text for the terminal: counts per category, where the flagship loses
/// or ties (worst first, at most `MAX_LISTED`), and where the full report is.
pub fn terminal(comps: &[Comparison], flagship: &str, margin: f64, summary_path: &str) -> String {
    let mut out = String::new();
    let rival: Vec<&Comparison> = comps.iter().filter(|c| c.role == Role::Rival).collect();
    if rival.is_empty() {
        let _ = writeln!(out, "no paired comparison of {flagship} in this run");
        let _ = writeln!(out, "report: {summary_path}");
        return out;
    }
    let [f, e, s, u] = tally(rival.iter().copied());
    let _ = writeln!(
        out,
        "{flagship} vs every rival ({} paired comparisons, margin ±{}%): {f} faster, {e} \
         equivalent, {s} slower, {u} undecided",
        rival.len(),
        fmt_pct(margin)
    );
    for cat in Category::ALL {
        let cs: Vec<&Comparison> =
            rival.iter().copied().filter(|c| category_of(&c.workload) == cat).collect();
        if cs.is_empty() {
            continue;
        }
        let [f, e, s, u] = tally(cs.iter().copied());
        let _ = writeln!(
            out,
            "  {:<12} faster {f:>3}  equivalent {e:>3}  slower {s:>3}  undecided {u:>3}",
            cat.name()
        );
    }
    let mut bad: Vec<&&Comparison> = rival
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Slower | Verdict::Equivalent))
        .collect();
    bad.sort_by(|a, b| {
        let r = |c: &Comparison| c.paired.map_or(0.0, |p| p.ratio);
        r(b).total_cmp(&r(a))
    });
    if !bad.is_empty() {
        let _ = writeln!(out, "where {flagship} loses or ties:");
        for c in bad.iter().take(MAX_LISTED) {
            let _ = writeln!(
                out,
                "  {:<10} {} {} vs {}: {}",
                c.verdict.as_str(),
                c.workload,
                c.param,
                c.other,
                fmt_comparison(c)
            );
        }
        if bad.len() > MAX_LISTED {
            let _ = writeln!(out, "  … and {} more", bad.len() - MAX_LISTED);
        }
    }
    let _ = writeln!(out, "report: {summary_path}");
    out
}
