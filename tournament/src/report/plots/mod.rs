//! SVG plots (plotters, SVG backend) written to `plots/` in a run folder and embedded in
//! `SUMMARY.md`.
//!
//! - One **bar chart** per (workload, param) ([`render_plots`]): a horizontal bar per measured
//!   contender at its median of the primary metric (ns/task or ns/op), lowest (fastest) first,
//!   with its 95% bootstrap CI as a whisker and its value and ratio to the lowest median as a
//!   label. The axis is logarithmic when the largest value is more than 4× the smallest
//!   (otherwise linear from zero). A cell that is measured but not `ok` (unstable, too few
//!   samples) has a pale bar and says so; an unmeasured one (failed, unsupported, …) is a text
//!   row with its status.
//! - One **sweep chart** per workload whose params are `key=value` lists in which exactly one
//!   numeric key varies over at least three values (e.g. `p=1` … `p=32`): median against that
//!   key, one line per contender; ticks sit exactly on the swept values (log axis when they span
//!   ≥ 8×).
//! - The **headline chart** ([`headline_chart`]): the flagship's paired ratio to every rival in
//!   every table, a small-multiples grid (one column per rival, one row per table).
//!
//! Every contender has one fixed colour in every plot, [`contender_colour`] (colour-blind-safe
//! palettes, never by rank). Output is a pure function of the input, so `tournament report`
//! rewrites the plots byte-identically. Text is laid out with a fixed per-character width
//! estimate (no font files are read), which is what makes the output independent of the
//! machine; viewers render the `<text>` elements with their own sans-serif face.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::Context;

use crate::env::Provenance;
use crate::record::SummaryRow;

mod bars;
mod canvas;
mod colour;
mod headline;
mod sweep;

pub use self::colour::contender_colour;
pub use self::headline::{HeadlineBar, headline_chart};
/// The colour type [`contender_colour`] returns (plotters' 8-bit sRGB triple).
pub use plotters::style::RGBColor;

/// Folder of the plots inside a run folder.
pub const PLOTS_DIR: &str = "plots";

/// Plot file name of one (workload, param) bar chart: the ids with every character outside
/// `[A-Za-z0-9.-]` replaced by `_`, joined by `__`, `.svg`.
pub fn bar_plot_name(workload: &str, param: &str) -> String {
    format!("{}__{}.svg", sanitize(workload), sanitize(param))
}

/// Plot file name of a workload's sweep line chart.
pub fn sweep_plot_name(workload: &str) -> String {
    format!("{}__sweep.svg", sanitize(workload))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect()
}

/// The varying key of a workload's sweep and each param's value of it, in row order; `None`
/// when the workload's params are not a single-key numeric sweep (see the module docs).
pub fn sweep_of(rows: &[SummaryRow], workload: &str) -> Option<(String, Vec<(String, f64)>)> {
    let mut params: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| r.workload == workload) {
        if !params.contains(&r.param.as_str()) {
            params.push(&r.param);
        }
    }
    if params.len() < 3 {
        return None;
    }
    let parsed: Vec<BTreeMap<&str, &str>> = params
        .iter()
        .map(|p| {
            p.split([',', ';', ' '])
                .filter(|kv| !kv.is_empty())
                .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
                .collect()
        })
        .collect();
    let keys: Vec<&str> = parsed[0].keys().copied().collect();
    if parsed.iter().any(|m| m.keys().copied().collect::<Vec<_>>() != keys) {
        return None;
    }
    let varying: Vec<&str> =
        keys.iter().copied().filter(|k| parsed.iter().any(|m| m[k] != parsed[0][k])).collect();
    let [key] = varying.as_slice() else { return None };
    let values: Option<Vec<(String, f64)>> = params
        .iter()
        .zip(&parsed)
        .map(|(p, m)| m[key].parse::<f64>().ok().filter(|x| *x > 0.0).map(|x| (p.to_string(), x)))
        .collect();
    Some((key.to_string(), values?))
}

/// Renders every plot of a run as `(file name, SVG text)`, in row order (bars), then sweeps.
///
/// # Errors
/// plotters fails to draw (not expected with the SVG backend).
pub fn render_plots(rows: &[SummaryRow]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut workloads: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let n = rows[i..]
            .iter()
            .position(|r| r.workload != rows[i].workload || r.param != rows[i].param)
            .unwrap_or(rows.len() - i);
        let group = &rows[i..i + n];
        if group.iter().any(|r| r.median().is_some()) {
            let name = bar_plot_name(&group[0].workload, &group[0].param);
            out.push((name, bars::bar_chart(group).context("drawing a bar chart")?));
        }
        if !workloads.contains(&group[0].workload.as_str()) {
            workloads.push(&group[0].workload);
        }
        i += n;
    }
    for w in workloads {
        if let Some((key, points)) = sweep_of(rows, w) {
            if let Some(svg) = sweep::sweep_chart(rows, w, &key, &points).context("drawing a sweep")? {
                out.push((sweep_plot_name(w), svg));
            }
        }
    }
    Ok(out)
}

/// Writes [`render_plots`] into `dir/plots/` and removes `.svg` files there that this report no
/// longer produces (they were derived from an earlier state of the same raw data).
///
/// # Errors
/// Rendering or writing fails.
pub fn write_plots(dir: &Path, rows: &[SummaryRow], _prov: &Provenance) -> anyhow::Result<()> {
    let plots = render_plots(rows)?;
    let pdir = dir.join(PLOTS_DIR);
    fs::create_dir_all(&pdir).with_context(|| format!("creating {}", pdir.display()))?;
    for (name, svg) in &plots {
        super::write_atomic(&pdir, name, svg.as_bytes())?;
    }
    for e in fs::read_dir(&pdir).with_context(|| format!("listing {}", pdir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".svg") && !plots.iter().any(|(n, _)| *n == name) {
            fs::remove_file(e.path()).with_context(|| format!("removing stale {name}"))?;
        }
    }
    Ok(())
}

/// Writes one headline chart (e.g. [`headline_chart`]'s SVG) as `dir/plots/name` (`dir` is the
/// run folder), through a temporary file and a rename.
///
/// # Errors
/// `name` is not a plain `.svg` file name (a path separator, a leading dot, another
/// extension); the folder or file cannot be written.
pub fn write_headline_plot(dir: &Path, name: &str, svg: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        name.ends_with(".svg") && !name.starts_with('.') && !name.contains(['/', '\\']),
        "headline plot name {name:?} is not a plain .svg file name"
    );
    let pdir = dir.join(PLOTS_DIR);
    fs::create_dir_all(&pdir).with_context(|| format!("creating {}", pdir.display()))?;
    super::write_atomic(&pdir, name, svg.as_bytes())
}
