//! The sweep chart: a workload's median against its one varying numeric parameter, one line per
//! contender.

use plotters::style::text_anchor::{HPos, VPos};

use super::canvas::{GRID, INK, MUTED, Scale, fmt_tick, render, text_width, trim};
use super::colour::{contender_colour, contender_marker};
use crate::record::{CellStatus, SummaryRow};

const TITLE_PX: u32 = 14;
const NOTE_PX: u32 = 11;
const LABEL_PX: u32 = 12;
const TOP: i32 = 62;
const LEFT: i32 = 78;
const PLOT_W: i32 = 520;
const PLOT_H: i32 = 300;
const LEGEND_ROW: i32 = 20;

/// One contender's line: `(x value, median, stable)` per param it was measured at.
struct Series<'a> {
    name: &'a str,
    points: Vec<(f64, f64, bool)>,
}

/// Renders the sweep of `workload` over `key` (`points`: each param and its value of `key`,
/// all > 0). The x axis is logarithmic when the values span ≥ 8×, with ticks exactly at the
/// swept values (integers stay integers); the y axis follows [`Scale::for_values`]. `None`
/// when no contender was measured at any point.
pub(super) fn sweep_chart(
    rows: &[SummaryRow],
    workload: &str,
    key: &str,
    points: &[(String, f64)],
) -> anyhow::Result<Option<String>> {
    let mut series: Vec<Series<'_>> = Vec::new();
    for r in rows.iter().filter(|r| r.workload == workload) {
        let (Some(m), Some((_, x))) = (r.median(), points.iter().find(|(p, _)| *p == r.param))
        else {
            continue;
        };
        let stable = r.status == CellStatus::Ok;
        match series.iter_mut().find(|s| s.name == r.contender) {
            Some(s) => s.points.push((*x, m, stable)),
            None => series.push(Series { name: &r.contender, points: vec![(*x, m, stable)] }),
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    // Legend order = vertical order of the lines at their right end (highest first).
    let last = |s: &Series<'_>| s.points.last().map_or(0.0, |p| p.1);
    series.sort_by(|a, b| last(b).total_cmp(&last(a)));

    let xs: Vec<f64> = points.iter().map(|p| p.1).collect();
    let (xmin, xmax) = xs.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    let (ymin, ymax) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let unit = rows.iter().find(|r| r.workload == workload).map_or("", |r| r.unit.as_str());

    let legend_w = series.iter().map(|s| text_width(s.name, LABEL_PX)).max().unwrap_or(0) + 56;
    let (x0, x1) = (LEFT, LEFT + PLOT_W);
    let (y_top, y_bot) = (TOP, TOP + PLOT_H);
    let width = x1 + 16 + legend_w;
    let height = (y_bot + 52).max(TOP + 20 + LEGEND_ROW * series.len() as i32 + 10);

    let xlog = xmax / xmin >= 8.0;
    let xscale = if xlog {
        let pad = (xmax / xmin).powf(0.04);
        Scale { log: true, lo: xmin / pad, hi: xmax * pad, p0: x0, p1: x1 }
    } else {
        let pad = ((xmax - xmin) * 0.04).max(xmax * 0.02);
        Scale { log: false, lo: xmin - pad, hi: xmax + pad, p0: x0, p1: x1 }
    };
    let yscale = Scale::for_values(ymin, ymax, y_bot, y_top);

    let svg = render(width as u32, height as u32, |c| {
        c.text(
            &format!("{workload}: median {unit} as {key} varies"),
            (10, 8),
            TITLE_PX,
            HPos::Left,
            VPos::Top,
            INK,
            true,
        )?;
        c.text(
            "one line per contender (its marker shape and colour are fixed) · hollow marker: cell not stable enough to rank",
            (10, 28),
            NOTE_PX,
            HPos::Left,
            VPos::Top,
            MUTED,
            false,
        )?;
        c.text(
            "legend: top to bottom in the lines' order at the largest value · lower is faster",
            (10, 43),
            NOTE_PX,
            HPos::Left,
            VPos::Top,
            MUTED,
            false,
        )?;
        for t in yscale.ticks() {
            let y = yscale.px(t);
            c.line(vec![(x0, y), (x1, y)], GRID, 1)?;
            c.line(vec![(x0 - 4, y), (x0, y)], INK, 1)?;
            c.text(&fmt_tick(t), (x0 - 6, y), NOTE_PX, HPos::Right, VPos::Center, INK, false)?;
        }
        let mut last_label = i32::MIN;
        for x in &xs {
            let px = xscale.px(*x);
            c.line(vec![(px, y_top), (px, y_bot)], GRID, 1)?;
            c.line(vec![(px, y_bot), (px, y_bot + 4)], INK, 1)?;
            let label = trim(*x);
            let half = text_width(&label, NOTE_PX) / 2;
            if px - half > last_label + 6 {
                c.text(&label, (px, y_bot + 6), NOTE_PX, HPos::Center, VPos::Top, INK, false)?;
                last_label = px + half;
            }
        }
        c.line(vec![(x0, y_top), (x0, y_bot), (x1, y_bot)], INK, 1)?;
        let xdesc = if xlog { format!("{key} (log scale)") } else { key.to_string() };
        c.text(&xdesc, ((x0 + x1) / 2, y_bot + 24), NOTE_PX, HPos::Center, VPos::Top, INK, false)?;
        let ydesc = format!("median {unit} ({} scale)", if yscale.log { "log" } else { "linear" });
        c.vtext(&ydesc, (14, (y_top + y_bot) / 2), NOTE_PX, INK)?;

        for s in &series {
            let colour = contender_colour(s.name);
            let pts: Vec<(i32, i32)> =
                s.points.iter().map(|p| (xscale.px(p.0), yscale.px(p.1))).collect();
            if pts.len() > 1 {
                c.line(pts.clone(), colour, 2)?;
            }
            let shape = contender_marker(s.name);
            for (p, q) in pts.iter().zip(&s.points) {
                c.marker(shape, *p, 4, colour, q.2)?;
            }
        }
        let lx = x1 + 16;
        for (i, s) in series.iter().enumerate() {
            let y = TOP + 10 + LEGEND_ROW * i as i32;
            let colour = contender_colour(s.name);
            c.line(vec![(lx, y), (lx + 28, y)], colour, 2)?;
            c.marker(contender_marker(s.name), (lx + 14, y), 4, colour, true)?;
            c.text(s.name, (lx + 36, y), LABEL_PX, HPos::Left, VPos::Center, INK, false)?;
        }
        Ok(())
    })?;
    Ok(Some(svg))
}
