//! The per-table bar chart: one horizontal bar per contender of one (workload, param).

use plotters::style::text_anchor::{HPos, VPos};

use super::canvas::{self, GRID, INK, MUTED, Scale, fmt_tick, fmt_value, render, text_width};
use super::colour::contender_colour;
use crate::record::{CellStatus, SummaryRow};

const TITLE_PX: u32 = 14;
const NOTE_PX: u32 = 11;
const LABEL_PX: u32 = 12;
const VALUE_PX: u32 = 11;
const ROW: i32 = 24;
const TOP: i32 = 62;
/// Target width of the whole chart (grows when labels need more room).
const WIDTH: i32 = 760;
const MIN_PLOT: i32 = 320;

/// One row of the chart.
enum Row<'a> {
    Measured { name: &'a str, median: f64, ci: Option<(f64, f64)>, status: CellStatus },
    Gap { name: &'a str, note: String },
}

/// Renders the bar chart of one table (`group`: the rows of one (workload, param), at least
/// one measured). Bars are sorted by median, lowest (fastest) first, and coloured by
/// [`contender_colour`]; unmeasured cells follow as text rows saying why.
pub(super) fn bar_chart(group: &[SummaryRow]) -> anyhow::Result<String> {
    let mut rows: Vec<Row<'_>> = group
        .iter()
        .filter_map(|r| {
            r.median().map(|m| Row::Measured {
                name: &r.contender,
                median: m,
                ci: r.ci95(),
                status: r.status,
            })
        })
        .collect();
    rows.sort_by(|a, b| match (a, b) {
        (Row::Measured { median: x, .. }, Row::Measured { median: y, .. }) => x.total_cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    let best = match rows.first() {
        Some(Row::Measured { median, .. }) => *median,
        _ => {
            anyhow::bail!("bar chart of {} {}: no measured cell", group[0].workload, group[0].param)
        }
    };
    for r in group.iter().filter(|r| r.median().is_none()) {
        let note = match &r.reason {
            Some(why) if why.starts_with(r.status.as_str()) => why.clone(),
            Some(why) if !why.is_empty() => format!("{}: {why}", r.status.as_str()),
            _ => r.status.as_str().to_string(),
        };
        rows.push(Row::Gap { name: &r.contender, note });
    }
    let unit = &group[0].unit;
    let value_label = |median: f64, status: CellStatus| {
        let mut s = format!("{} {unit}", fmt_value(median));
        if median > best {
            s.push_str(&format!(" · {:.2}×", median / best));
        }
        match status {
            CellStatus::Ok => {}
            CellStatus::TooFewSamples => s.push_str(" · too few samples"),
            other => s.push_str(&format!(" · {}", other.as_str())),
        }
        s
    };

    let name_of = |r: &Row<'_>| match r {
        Row::Measured { name, .. } | Row::Gap { name, .. } => name.to_string(),
    };
    let label_w =
        rows.iter().map(|r| text_width(&name_of(r), LABEL_PX)).max().unwrap_or(0).max(60) + 20;
    let value_w = rows
        .iter()
        .map(|r| match r {
            Row::Measured { median, status, .. } => {
                text_width(&value_label(*median, *status), VALUE_PX)
            }
            Row::Gap { .. } => 0,
        })
        .max()
        .unwrap_or(0)
        + 16;
    let plot_w = (WIDTH - label_w - value_w).max(MIN_PLOT);
    let width = label_w + plot_w + value_w;
    let (x0, x1) = (label_w, label_w + plot_w);
    let bottom = TOP + ROW * rows.len() as i32 + 4;
    let height = bottom + 48;

    let (mut lo, mut hi) = (f64::MAX, 0.0_f64);
    for r in &rows {
        if let Row::Measured { median, ci, .. } = r {
            let (a, b) = ci.map_or((*median, *median), |(a, b)| (a.min(*median), b.max(*median)));
            lo = lo.min(a);
            hi = hi.max(b);
        }
    }
    let scale = Scale::for_values(lo, hi, x0, x1);
    let w = &group[0].workload;
    let p = &group[0].param;

    render(width as u32, height as u32, |c| {
        c.text(&format!("{w} · {p}"), (10, 8), TITLE_PX, HPos::Left, VPos::Top, INK, true)?;
        c.text(
            "bar: median of the samples, lowest first · whisker: its 95% CI · N× = median ÷ lowest",
            (10, 28),
            NOTE_PX,
            HPos::Left,
            VPos::Top,
            MUTED,
            false,
        )?;
        c.text(
            "pale bar: cell not stable enough to rank (see status) · lower is faster",
            (10, 43),
            NOTE_PX,
            HPos::Left,
            VPos::Top,
            MUTED,
            false,
        )?;
        for t in scale.ticks() {
            let x = scale.px(t);
            c.line(vec![(x, TOP - 2), (x, bottom)], GRID, 1)?;
            c.line(vec![(x, bottom), (x, bottom + 4)], INK, 1)?;
            c.text(&fmt_tick(t), (x, bottom + 6), NOTE_PX, HPos::Center, VPos::Top, INK, false)?;
        }
        c.line(vec![(x0, TOP - 2), (x0, bottom), (x1, bottom)], INK, 1)?;
        let axis = format!("median {unit} ({} scale)", if scale.log { "log" } else { "linear" });
        c.text(&axis, ((x0 + x1) / 2, bottom + 24), NOTE_PX, HPos::Center, VPos::Top, INK, false)?;

        for (i, r) in rows.iter().enumerate() {
            let y = TOP + ROW * i as i32 + ROW / 2;
            match r {
                Row::Measured { name, median, ci, status } => {
                    let colour = contender_colour(name);
                    let stable = *status == CellStatus::Ok;
                    let fill = if stable { colour } else { canvas::tint(colour, 0.3) };
                    let xe = scale.px(*median).max(x0 + 2);
                    c.rect(x0 + 1, y - 8, xe, y + 8, fill)?;
                    c.frame(x0 + 1, y - 8, xe, y + 8, canvas::shade(colour, 0.7), 1)?;
                    let mut right = xe;
                    if let Some((a, b)) = ci {
                        let (xa, xb) = (scale.px(*a), scale.px(*b));
                        c.whisker(xa, xb, y, 10, INK)?;
                        right = right.max(xb);
                    }
                    c.text(name, (x0 - 8, y), LABEL_PX, HPos::Right, VPos::Center, INK, false)?;
                    let v = value_label(*median, *status);
                    c.text(&v, (right + 6, y), VALUE_PX, HPos::Left, VPos::Center, INK, false)?;
                }
                Row::Gap { name, note } => {
                    c.text(name, (x0 - 8, y), LABEL_PX, HPos::Right, VPos::Center, MUTED, false)?;
                    let room = ((width - x0 - 16) as f64 / (0.62 * f64::from(VALUE_PX))) as usize;
                    let note = shorten(note, room.max(12));
                    c.text(&note, (x0 + 8, y), VALUE_PX, HPos::Left, VPos::Center, MUTED, false)?;
                }
            }
        }
        Ok(())
    })
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
