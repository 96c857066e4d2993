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
            if let Some(svg) =
                sweep::sweep_chart(rows, w, &key, &points).context("drawing a sweep")?
            {
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
    super::own_dir(&pdir)?;
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
    super::own_dir(&pdir)?;
    super::write_atomic(&pdir, name, svg.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RAW_SCHEMA_VERSION, RawSample, SampleStatus};

    fn rec(w: &str, p: &str, c: &str, sample: u32, ns: f64) -> RawSample {
        RawSample {
            schema: RAW_SCHEMA_VERSION,
            run_id: "20260101T000000Z-abc1234".into(),
            workload: w.into(),
            param: p.into(),
            contender: c.into(),
            sample,
            status: SampleStatus::Ok,
            reason: None,
            tasks: 1000,
            ops: None,
            wall_ns: (ns * 1000.0).round() as u64,
            cpu_ns: (ns * 1000.0).round() as u64,
            voluntary_switches: 0,
            wake_syscalls: None,
            latency: None,
            allocs: None,
            alloc_bytes: None,
            metrics: Vec::new(),
        }
    }

    fn rows() -> Vec<SummaryRow> {
        let mut v = Vec::new();
        for s in 0..6 {
            let k = 1.0 + 0.01 * f64::from(s % 3);
            for (p, x) in [("p=1", 1.0), ("p=2", 2.0), ("p=4", 4.0), ("p=8", 8.0)] {
                v.push(rec("cas", p, "main", s, 10.0 * x * k));
                v.push(rec("cas", p, "tokio-ct", s, 300.0 * x * k));
            }
        }
        // A gap row: unsupported cells are listed with their reason.
        v.push(RawSample {
            status: SampleStatus::Unsupported,
            reason: Some("lacks timers".into()),
            tasks: 0,
            wall_ns: 0,
            cpu_ns: 0,
            ..rec("cas", "p=1", "alt-two", 0, 0.0)
        });
        crate::summarize::summarize(&v)
    }

    fn hb(label: &str, rival: &str, ratio: f64, verdict: &'static str) -> HeadlineBar {
        HeadlineBar {
            label: label.into(),
            rival: rival.into(),
            ratio,
            ci_low: ratio * 0.95,
            ci_high: ratio * 1.05,
            verdict,
        }
    }

    #[test]
    fn plots_are_byte_identical_for_the_same_input() {
        let a = render_plots(&rows()).unwrap();
        let b = render_plots(&rows()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 5, "four bar charts and one sweep");
        let bars = [
            hb("cas · p=1", "tokio-ct", 0.03, "faster"),
            hb("cas · p=2", "tokio-ct", 1.0, "equivalent"),
        ];
        assert_eq!(
            headline_chart("t", &bars, 0.03).unwrap(),
            headline_chart("t", &bars, 0.03).unwrap()
        );
    }

    #[test]
    fn bar_chart_uses_a_log_axis_for_a_wide_spread_and_fixed_colours() {
        let plots = render_plots(&rows()).unwrap();
        let (_, svg) = plots.iter().find(|(n, _)| n == "cas__p_1.svg").unwrap();
        assert!(svg.contains("median ns/task (log scale)"), "{svg}");
        assert!(svg.contains("10.1 ns/task"), "value label of main");
        assert!(svg.contains("303 ns/task · 30.00×"), "value label of tokio-ct with its ratio");
        assert!(svg.contains("unsupported: lacks timers"), "gap row with its reason");
        let hex = |c: RGBColor| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
        assert!(svg.contains(&hex(contender_colour("main"))));
        assert!(svg.contains(&hex(contender_colour("tokio-ct"))));
        // Sweep: ticks exactly at the swept integer values.
        let (_, sweep) = plots.iter().find(|(n, _)| n == "cas__sweep.svg").unwrap();
        for t in [">\n1\n<", ">\n2\n<", ">\n4\n<", ">\n8\n<"] {
            assert!(sweep.contains(t), "sweep tick {t}");
        }
        assert!(!sweep.contains("1.41") && !sweep.contains("2.83"));
    }

    #[test]
    fn headline_chart_rejects_bad_input() {
        let ok = hb("w · p", "tokio-ct", 0.5, "faster");
        assert!(headline_chart("t", std::slice::from_ref(&ok), 0.03).is_ok());
        let e = headline_chart("t", &[hb("w · p", "tokio-ct", 0.5, "quicker")], 0.03).unwrap_err();
        assert!(e.to_string().contains("unknown verdict"), "{e}");
        let e = headline_chart("t", &[ok.clone(), ok.clone()], 0.03).unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
        let e = headline_chart("t", &[hb("w · p", "x", f64::NAN, "undecided")], 0.03).unwrap_err();
        assert!(e.to_string().contains("not finite"), "{e}");
        assert!(headline_chart("t", std::slice::from_ref(&ok), -0.1).is_err());
        assert!(headline_chart("t", &[], 0.03).unwrap().contains("no comparison to show"));
    }

    #[test]
    fn headline_plot_names_are_plain_svg_files() {
        let tmp = tempfile::tempdir().unwrap();
        write_headline_plot(tmp.path(), "headline.svg", "<svg/>").unwrap();
        assert_eq!(
            fs::read_to_string(tmp.path().join(PLOTS_DIR).join("headline.svg")).unwrap(),
            "<svg/>"
        );
        for bad in ["../x.svg", "x.png", ".x.svg", "a/b.svg"] {
            assert!(write_headline_plot(tmp.path(), bad, "<svg/>").is_err(), "{bad}");
        }
    }
}
