//! The headline chart: the flagship's paired ratio to every rival in every table, as a
//! small-multiples grid.
//!
//! Layout: one **column per rival** (in first-appearance order of the bars, headed by the
//! rival's name, its fixed colour and a tally of its verdicts) and one **row per table**
//! (`label`, first-appearance order; rows of one workload share a background band). Every
//! panel has the same logarithmic ratio axis centred on 1×, so a dot's distance from the 1× line
//! means the same in every panel: left of the line the flagship took less time. Each comparison
//! is a marker at the paired ratio with its CI as a whisker in the rival's colour; the marker's
//! shape is the verdict (filled circle faster, filled square slower, hollow diamond equivalent,
//! hollow circle undecided) and its value is printed in the panel. A grey band marks the
//! practical margin `[1/(1+m), 1+m]`.
//!
//! The grid reads like the headline matrix of SUMMARY.md (rows = workload·param, columns =
//! rivals) and stays legible at ~20 rows × ~10 rivals (about 1,300 × 700 px): a reader scans a
//! column to answer "is the flagship faster than X?" and a row to see one table.

use std::collections::HashSet;

use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, VPos};

use super::canvas::{self, GRID, INK, MUTED, Scale, Shape, fmt_ratio, render, text_width};
use super::colour::contender_colour;

/// One comparison of the headline chart: the flagship against one rival in one table.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadlineBar {
    /// The table, `workload · param` (rows are grouped by the part before the first `·`).
    pub label: String,
    /// The rival's contender id (its column and colour, see [`super::contender_colour`]).
    pub rival: String,
    /// Flagship ÷ rival, the paired median ratio of their per-round samples (unitless; < 1
    /// means the flagship took less time). Must be finite and > 0.
    pub ratio: f64,
    /// Lower end of the ratio's confidence interval (not drawn unless finite and > 0).
    pub ci_low: f64,
    /// Upper end of the ratio's confidence interval (not drawn unless finite and > 0).
    pub ci_high: f64,
    /// `"faster"`, `"slower"`, `"equivalent"` or `"undecided"` (the flagship's verdict).
    pub verdict: &'static str,
}

/// The verdicts [`headline_chart`] accepts, in legend order, with their marker: shape, filled.
const VERDICTS: [(&str, Shape, bool); 4] = [
    ("faster", Shape::Circle, true),
    ("slower", Shape::Square, true),
    ("equivalent", Shape::Diamond, false),
    ("undecided", Shape::Circle, false),
];

const TITLE_PX: u32 = 14;
const NOTE_PX: u32 = 11;
const LABEL_PX: u32 = 11;
const VALUE_PX: u32 = 10;
const ROW: i32 = 20;
const GAP: i32 = 10;
/// The grid aims at this total width; panels stay between [`MIN_PANEL`] and [`MAX_PANEL`].
const TARGET_WIDTH: i32 = 1280;
const MIN_PANEL: i32 = 100;
const MAX_PANEL: i32 = 180;
/// Largest ratio the axis shows; further values are clamped to the edge with an arrow.
const MAX_RATIO: f64 = 1000.0;

/// Ends of the ratio axis offered, from the tightest.
const RANGES: [f64; 13] =
    [1.1, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
/// Candidate ticks on each side of 1×, outermost first.
const LEFT_TICKS: [f64; 7] = [0.001, 0.01, 0.1, 0.2, 0.5, 0.8, 0.9];
const RIGHT_TICKS: [f64; 7] = [1000.0, 100.0, 10.0, 5.0, 2.0, 1.25, 1.1];

fn marker_of(verdict: &str) -> Option<(Shape, bool)> {
    VERDICTS.iter().find(|v| v.0 == verdict).map(|v| (v.1, v.2))
}

fn workload_of(label: &str) -> &str {
    label.split('·').next().unwrap_or(label).trim()
}

/// Renders the headline chart (SVG text) of `bars` under `title`, with the practical margin
/// `margin` (0.03 = ±3%: the band `[1/(1+margin), 1+margin]`). See the module docs for the
/// layout. An empty `bars` gives a small chart that says so.
///
/// # Errors
/// A bar has a verdict other than the four above, a ratio that is not finite and > 0, or the
/// same (label, rival) as an earlier bar; `margin` is not finite or negative; plotters fails to
/// draw (not expected with the SVG backend).
pub fn headline_chart(title: &str, bars: &[HeadlineBar], margin: f64) -> anyhow::Result<String> {
    anyhow::ensure!(
        margin.is_finite() && margin >= 0.0,
        "headline chart: margin {margin} is not a finite value ≥ 0"
    );
    let mut seen = HashSet::new();
    for b in bars {
        anyhow::ensure!(
            marker_of(b.verdict).is_some(),
            "headline chart: {} vs {}: unknown verdict {:?} (expected faster, slower, equivalent or undecided)",
            b.label,
            b.rival,
            b.verdict
        );
        anyhow::ensure!(
            b.ratio.is_finite() && b.ratio > 0.0,
            "headline chart: {} vs {}: ratio {} is not finite and > 0",
            b.label,
            b.rival,
            b.ratio
        );
        anyhow::ensure!(
            seen.insert((b.label.as_str(), b.rival.as_str())),
            "headline chart: {} vs {} appears twice",
            b.label,
            b.rival
        );
    }
    let mut labels: Vec<&str> = Vec::new();
    let mut rivals: Vec<&str> = Vec::new();
    for b in bars {
        if !labels.contains(&b.label.as_str()) {
            labels.push(&b.label);
        }
        if !rivals.contains(&b.rival.as_str()) {
            rivals.push(&b.rival);
        }
    }
    if bars.is_empty() {
        return render(560, 80, |c| {
            c.text(title, (10, 8), TITLE_PX, HPos::Left, VPos::Top, INK, true)?;
            c.text("no comparison to show", (10, 40), NOTE_PX, HPos::Left, VPos::Top, MUTED, false)
        });
    }

    // Axis: symmetric in log around 1×, wide enough for every ratio and finite CI bound.
    let ok = |v: f64| v.is_finite() && v > 0.0;
    let spread = bars
        .iter()
        .flat_map(|b| [b.ratio, b.ci_low, b.ci_high])
        .filter(|v| ok(*v))
        .map(|v| v.max(1.0 / v))
        .fold((1.0 + margin) * (1.0 + margin), f64::max)
        * 1.12;
    let range = RANGES.iter().copied().find(|r| *r >= spread).unwrap_or(MAX_RATIO);

    let label_w = labels.iter().map(|l| text_width(l, LABEL_PX)).max().unwrap_or(0).max(60) + 18;
    let n = rivals.len() as i32;
    let panel = ((TARGET_WIDTH - label_w - 10) / n - GAP).clamp(MIN_PANEL, MAX_PANEL);
    let name_w = rivals.iter().map(|r| text_width(r, 12)).max().unwrap_or(0);
    // Rival names take one header line when they fit over their panel, else two staggered ones.
    let stagger = name_w + 12 > panel + GAP;
    let width = label_w + n * (panel + GAP) + 10;
    let head_top = 64;
    let band_y = head_top + if stagger { 36 } else { 20 };
    let tally_y = band_y + 10;
    let rows_top = tally_y + 34;
    let rows_bot = rows_top + ROW * labels.len() as i32;
    let legend_y = rows_bot + 44;
    let height = legend_y + 40;
    let col_x = |j: usize| label_w + j as i32 * (panel + GAP);
    let scale_of = |j: usize| Scale {
        log: true,
        lo: 1.0 / range,
        hi: range,
        p0: col_x(j) + 5,
        p1: col_x(j) + panel - 5,
    };
    let mpct = margin * 100.0;
    let mtext = if mpct == mpct.round() { format!("{mpct:.0}") } else { format!("{mpct:.1}") };

    render(width as u32, height as u32, |c| {
        c.text(title, (10, 8), TITLE_PX, HPos::Left, VPos::Top, INK, true)?;
        c.text(
            "each marker: one table; the ratio of the two contenders' times, median over the rounds in which both ran \
             (paired); whisker: its 95% CI",
            (10, 28),
            NOTE_PX,
            HPos::Left,
            VPos::Top,
            MUTED,
            false,
        )?;
        c.text(
            &format!(
                "log scale, same in every column · left of the 1× line = the flagship took less time · \
                 grey band: ±{mtext}% practical margin"
            ),
            (10, 43),
            NOTE_PX,
            HPos::Left,
            VPos::Top,
            MUTED,
            false,
        )?;

        // Row backgrounds: alternate workloads get a light band.
        let mut shaded = false;
        let mut prev: Option<&str> = None;
        for (i, l) in labels.iter().enumerate() {
            let w = workload_of(l);
            if prev.is_some_and(|p| p != w) {
                shaded = !shaded;
            }
            prev = Some(w);
            let y = rows_top + ROW * i as i32;
            if shaded {
                c.rect(4, y, width - 6, y + ROW, RGBColor(244, 244, 244))?;
            }
            c.text(l, (label_w - 8, y + ROW / 2), LABEL_PX, HPos::Right, VPos::Center, INK, false)?;
        }

        for (j, rival) in rivals.iter().enumerate() {
            let colour = contender_colour(rival);
            let s = scale_of(j);
            let (x0, x1) = (col_x(j), col_x(j) + panel);
            let mid = (x0 + x1) / 2;
            // Header: name (staggered when long), colour band, verdict tally.
            let ny = if stagger && j % 2 == 1 { head_top + 16 } else { head_top };
            c.text(rival, (mid, ny), 12, HPos::Center, VPos::Top, INK, true)?;
            c.rect(x0, band_y, x1, band_y + 5, colour)?;
            let ours: Vec<&HeadlineBar> = bars.iter().filter(|b| b.rival == *rival).collect();
            let mut tx = x0 + 6;
            let mut ty = tally_y + 7;
            for (k, (v, shape, filled)) in VERDICTS.iter().enumerate() {
                let count = ours.iter().filter(|b| b.verdict == *v).count();
                let item = text_width(&count.to_string(), VALUE_PX) + 20;
                if k > 0 && tx + item > x1 {
                    tx = x0 + 6;
                    ty += 14;
                }
                c.marker(*shape, (tx + 4, ty), 4, INK, *filled)?;
                c.text(
                    &count.to_string(),
                    (tx + 11, ty),
                    VALUE_PX,
                    HPos::Left,
                    VPos::Center,
                    INK,
                    false,
                )?;
                tx += item;
            }

            // Panel: margin band, grid at the ticks, the 1× line, frame.
            let (b0, b1) = (s.px(1.0 / (1.0 + margin)), s.px(1.0 + margin));
            let (b0, b1) = if b1 - b0 < 3 { (mid - 1, mid + 2) } else { (b0, b1) };
            c.rect(b0, rows_top, b1, rows_bot, RGBColor(210, 210, 210))?;
            let ticks = ticks(&s);
            for t in &ticks {
                let x = s.px(*t);
                c.line(vec![(x, rows_top), (x, rows_bot)], GRID, 1)?;
                c.line(vec![(x, rows_bot), (x, rows_bot + 3)], INK, 1)?;
                c.text(
                    &tick_label(*t),
                    (x, rows_bot + 5),
                    VALUE_PX,
                    HPos::Center,
                    VPos::Top,
                    INK,
                    false,
                )?;
            }
            let one = s.px(1.0);
            c.line(vec![(one, rows_top), (one, rows_bot)], INK, 1)?;
            c.frame(x0, rows_top, x1, rows_bot, RGBColor(170, 170, 170), 1)?;

            for (i, l) in labels.iter().enumerate() {
                let y = rows_top + ROW * i as i32 + ROW / 2;
                let Some(b) = ours.iter().find(|b| b.label == *l) else {
                    c.text("–", (mid, y), VALUE_PX, HPos::Center, VPos::Center, MUTED, false)?;
                    continue;
                };
                let (shape, filled) = marker_of(b.verdict).unwrap_or((Shape::Circle, false));
                let x = s.px(b.ratio);
                // Value text on the side away from the marker.
                let decided = filled;
                let vcol = if decided { INK } else { MUTED };
                let v = fmt_ratio(b.ratio);
                if b.ratio <= 1.0 {
                    c.text(&v, (x1 - 3, y), VALUE_PX, HPos::Right, VPos::Center, vcol, decided)?;
                } else {
                    c.text(&v, (x0 + 3, y), VALUE_PX, HPos::Left, VPos::Center, vcol, decided)?;
                }
                if ok(b.ci_low) && ok(b.ci_high) {
                    let (xa, xb) = (s.px(b.ci_low), s.px(b.ci_high));
                    c.line(vec![(xa, y), (xb, y)], colour, 2)?;
                    for (edge, v, dir) in [(xa, b.ci_low, -1), (xb, b.ci_high, 1)] {
                        if s.contains(v) {
                            c.line(vec![(edge, y - 3), (edge, y + 3)], colour, 2)?;
                        } else {
                            // Clamped at the axis end: an arrowhead says "beyond".
                            c.line(
                                vec![(edge - 4 * dir, y - 4), (edge, y), (edge - 4 * dir, y + 4)],
                                colour,
                                2,
                            )?;
                        }
                    }
                }
                c.marker(shape, (x, y), 5, colour, filled)?;
            }
        }

        // Axis caption and legend.
        c.text(
            "flagship time ÷ rival time (log scale; 1× = same time)",
            (label_w, rows_bot + 22),
            NOTE_PX,
            HPos::Left,
            VPos::Top,
            INK,
            false,
        )?;
        let items = [
            ("faster: whole CI below the band", Shape::Circle, true),
            ("slower: whole CI above the band", Shape::Square, true),
            ("equivalent: whole CI inside the band", Shape::Diamond, false),
            ("undecided: CI crosses a band edge", Shape::Circle, false),
        ];
        let mut x = 14;
        for (text, shape, filled) in items {
            c.marker(shape, (x, legend_y + 8), 5, INK, filled)?;
            c.text(text, (x + 10, legend_y + 8), NOTE_PX, HPos::Left, VPos::Center, INK, false)?;
            x += text_width(text, NOTE_PX) + 34;
        }
        c.text(
            "column colour: the rival's fixed colour (the same in every plot) · –: no comparison",
            (14, legend_y + 26),
            NOTE_PX,
            HPos::Left,
            VPos::Center,
            MUTED,
            false,
        )?;
        Ok(())
    })
}

/// The labelled ticks of a ratio panel: 1× and, on each side, the candidates inside the range
/// that keep their labels apart (outermost first).
fn ticks(s: &Scale) -> Vec<f64> {
    let one = s.px(1.0);
    let mut out = vec![1.0];
    for side in [&LEFT_TICKS[..], &RIGHT_TICKS[..]] {
        let mut last: Option<i32> = None;
        for t in side.iter().copied().filter(|t| s.contains(*t)) {
            let x = s.px(t);
            let w = canvas::text_width(&tick_label(t), VALUE_PX);
            // Labels are centred on their ticks: half this one, half of "1×" (≈ 7 px), a gap.
            let clear_of_one = (x - one).abs() >= w / 2 + 9;
            let clear_of_last = last.is_none_or(|l| (x - l).abs() >= w + 6);
            // The label stays over its own panel (never runs into the next one).
            let inside = x - w / 2 >= s.p0 - 4 && x + w / 2 <= s.p1 + 4;
            if clear_of_one && clear_of_last && inside {
                out.push(t);
                last = Some(x);
            }
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

fn tick_label(t: f64) -> String {
    if t >= 1.0 && t == t.round() {
        format!("{t:.0}×")
    } else {
        let s = format!("{t:.3}");
        format!("{}×", s.trim_end_matches('0').trim_end_matches('.'))
    }
}
