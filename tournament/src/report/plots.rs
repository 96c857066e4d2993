//! SVG plots (plotters, SVG backend) written to `plots/` in a run folder and embedded in
//! `SUMMARY.md`.
//!
//! - One bar chart per (workload, param): each measured contender's median of the primary
//!   metric (ns/task or ns/op), with its 95% bootstrap CI as a whisker; unstable cells are drawn
//!   hatched-grey (a lighter fill) so they are never read as winners.
//! - One line chart per *sweep*: a workload with at least three params whose ids are
//!   `key=value` lists in which exactly one numeric key varies (e.g. `p=1` … `p=32`,
//!   `budget=64` … `budget=4096`). x is that key (log₂ axis when it spans ≥ 8×), y the median,
//!   one line per contender.
//!
//! Output is a pure function of the summary rows, so `tournament report` rewrites the plots
//! byte-identically. Text is laid out with plotters' built-in font metrics estimate (no font
//! files are read), which is what makes the output independent of the machine.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::env::Provenance;
use crate::record::{CellStatus, SummaryRow};

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
            out.push((name, bar_chart(group).context("drawing a bar chart")?));
        }
        if !workloads.contains(&group[0].workload.as_str()) {
            workloads.push(&group[0].workload);
        }
        i += n;
    }
    for w in workloads {
        if let Some((key, points)) = sweep_of(rows, w) {
            if let Some(svg) = sweep_chart(rows, w, &key, &points).context("drawing a sweep")? {
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

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plotters: {e:?}")
}

fn bar_chart(group: &[SummaryRow]) -> anyhow::Result<String> {
    let bars: Vec<&SummaryRow> = group.iter().filter(|r| r.median().is_some()).collect();
    let top = bars
        .iter()
        .map(|r| r.ci95().map_or(r.median().unwrap_or(0.0), |c| c.1).max(r.median().unwrap_or(0.0)))
        .fold(0.0_f64, f64::max)
        * 1.15;
    let top = if top > 0.0 { top } else { 1.0 };
    let unit = group[0].unit.clone();
    let names: Vec<String> = bars.iter().map(|r| r.contender.clone()).collect();
    let mut svg = String::new();
    {
        let width = (160 + 90 * bars.len() as u32).max(480);
        let root = SVGBackend::with_string(&mut svg, (width, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{} · {}", group[0].workload, group[0].param), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(bars.len() as f64 - 0.5), 0f64..top)
            .map_err(err)?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-9 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len().max(1) * 2 + 1)
            .x_label_formatter(&label)
            .y_desc(format!("median {unit} (whisker: 95% CI)"))
            .draw()
            .map_err(err)?;
        for (i, r) in bars.iter().enumerate() {
            let m = r.median().unwrap_or(0.0);
            let x = i as f64;
            let color = if r.status == CellStatus::Ok {
                Palette99::pick(i).to_rgba()
            } else {
                RGBColor(190, 190, 190).to_rgba()
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.35, 0.0), (x + 0.35, m)],
                    color.filled(),
                )))
                .map_err(err)?;
            if let Some((lo, hi)) = r.ci95() {
                let whisker = vec![
                    vec![(x, lo), (x, hi)],
                    vec![(x - 0.12, lo), (x + 0.12, lo)],
                    vec![(x - 0.12, hi), (x + 0.12, hi)],
                ];
                chart
                    .draw_series(
                        whisker.into_iter().map(|p| PathElement::new(p, BLACK.stroke_width(2))),
                    )
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn sweep_chart(
    rows: &[SummaryRow],
    workload: &str,
    key: &str,
    points: &[(String, f64)],
) -> anyhow::Result<Option<String>> {
    let mut contenders: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| r.workload == workload && r.median().is_some()) {
        if !contenders.contains(&r.contender.as_str()) {
            contenders.push(&r.contender);
        }
    }
    contenders.sort_unstable();
    if contenders.is_empty() {
        return Ok(None);
    }
    let (xmin, xmax) =
        points.iter().fold((f64::MAX, f64::MIN), |(a, b), (_, x)| (a.min(*x), b.max(*x)));
    let log = xmax / xmin >= 8.0;
    let tx = |x: f64| if log { x.log2() } else { x };
    let series: Vec<(&str, Vec<(f64, f64)>)> = contenders
        .iter()
        .map(|c| {
            let pts = points
                .iter()
                .filter_map(|(p, x)| {
                    let r = rows
                        .iter()
                        .find(|r| r.workload == workload && &r.param == p && r.contender == *c)?;
                    Some((tx(*x), r.median()?))
                })
                .collect();
            (*c, pts)
        })
        .collect();
    let ymax = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).fold(0.0, f64::max) * 1.1;
    let ymax = if ymax > 0.0 { ymax } else { 1.0 };
    let (x0, x1) = (tx(xmin), tx(xmax));
    let pad = ((x1 - x0) * 0.05).max(0.05);
    let unit =
        rows.iter().find(|r| r.workload == workload).map_or(String::new(), |r| r.unit.clone());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{workload}: sweep over {key}"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .right_y_label_area_size(10)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), 0f64..ymax)
            .map_err(err)?;
        let fmt_x = |x: &f64| {
            let v = if log { 2f64.powf(*x) } else { *x };
            format!("{}", (v * 100.0).round() / 100.0)
        };
        chart
            .configure_mesh()
            .x_desc(if log { format!("{key} (log₂ axis)") } else { key.to_string() })
            .y_desc(format!("median {unit}"))
            .x_label_formatter(&fmt_x)
            .draw()
            .map_err(err)?;
        for (i, (c, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(c.to_string())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}
