//! Drawing helpers shared by the plots: pixel-space primitives on a plotters SVG drawing area,
//! a text-width estimate for layout, number formatting and axis scales.
//!
//! Every coordinate is an integer SVG pixel and every size is fixed, so a plot is a pure
//! function of its input (byte-identical SVG for the same data).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Font family of every text element (the viewer picks its sans-serif face).
const FAMILY: &str = "sans-serif";

/// Average advance width of one character as a fraction of the font size, used to size label
/// columns so that no label is clipped. DejaVu Sans (the widest common sans-serif face) averages
/// ≈ 0.58 em over lower-case letters and 0.636 em for digits; 0.62 errs on the wide side.
const CHAR_EM: f64 = 0.62;

/// Estimated width in px of `text` at font size `px` (see [`CHAR_EM`]).
pub(super) fn text_width(text: &str, px: u32) -> i32 {
    (text.chars().count() as f64 * CHAR_EM * f64::from(px)).ceil() as i32
}

pub(super) fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plotters: {e:?}")
}

/// Light grey of grid lines.
pub(super) const GRID: RGBColor = RGBColor(226, 226, 226);
/// Grey of secondary text (subtitles, notes, unmeasured rows).
pub(super) const MUTED: RGBColor = RGBColor(100, 100, 100);
/// Near-black of axes, whiskers and primary text.
pub(super) const INK: RGBColor = RGBColor(34, 34, 34);

/// `c` mixed with white: `keep` = 1 is `c`, 0 is white.
pub(super) fn tint(c: RGBColor, keep: f64) -> RGBColor {
    let m = |v: u8| (255.0 - (255.0 - f64::from(v)) * keep).round() as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// `c` darkened: `keep` = 1 is `c`, 0 is black.
pub(super) fn shade(c: RGBColor, keep: f64) -> RGBColor {
    let m = |v: u8| (f64::from(v) * keep).round() as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// Marker shapes; each contender has a fixed one (see `colour::contender_marker`), each
/// verdict of the headline chart another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Circle,
    Square,
    Triangle,
    Diamond,
}

/// A plotters SVG drawing area addressed in integer pixels.
pub(super) struct Canvas<'a> {
    area: DrawingArea<SVGBackend<'a>, Shift>,
}

/// Renders a `width` × `height` px SVG on a white background with `draw`.
pub(super) fn render(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Canvas<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        area.fill(&WHITE).map_err(err)?;
        let canvas = Canvas { area };
        draw(&canvas)?;
        canvas.area.present().map_err(err)?;
    }
    Ok(svg)
}

impl Canvas<'_> {
    /// Filled rectangle with corners `(x0, y0)` and `(x1, y1)`.
    pub(super) fn rect(
        &self,
        x0: i32,
        y0: i32,
        x1: i32,
        y1: i32,
        fill: RGBColor,
    ) -> anyhow::Result<()> {
        self.area.draw(&Rectangle::new([(x0, y0), (x1, y1)], fill.filled())).map_err(err)
    }

    /// Rectangle outline, `width` px.
    pub(super) fn frame(
        &self,
        x0: i32,
        y0: i32,
        x1: i32,
        y1: i32,
        colour: RGBColor,
        width: u32,
    ) -> anyhow::Result<()> {
        self.area
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], colour.stroke_width(width)))
            .map_err(err)
    }

    /// Polyline through `points`, `width` px.
    pub(super) fn line(
        &self,
        points: Vec<(i32, i32)>,
        colour: RGBColor,
        width: u32,
    ) -> anyhow::Result<()> {
        self.area.draw(&PathElement::new(points, colour.stroke_width(width))).map_err(err)
    }

    /// Text at `(x, y)` anchored by `h`/`v`, font size `px` (SVG px).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn text(
        &self,
        s: &str,
        (x, y): (i32, i32),
        px: u32,
        h: HPos,
        v: VPos,
        colour: RGBColor,
        bold: bool,
    ) -> anyhow::Result<()> {
        // plotters writes `font-size = size / 1.24`; sizes here are whole SVG px.
        let size = f64::from(px) * 1.24;
        let style = if bold { FontStyle::Bold } else { FontStyle::Normal };
        let font = FontDesc::new(FontFamily::Name(FAMILY), size, style);
        let style = font.color(&colour).pos(Pos::new(h, v));
        self.area.draw(&Text::new(s.to_string(), (x, y), style)).map_err(err)
    }

    /// Text rotated 90° counter-clockwise (reads bottom to top), centred on `(x, y)`.
    pub(super) fn vtext(
        &self,
        s: &str,
        (x, y): (i32, i32),
        px: u32,
        colour: RGBColor,
    ) -> anyhow::Result<()> {
        let size = f64::from(px) * 1.24;
        let font = FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
            .transform(FontTransform::Rotate270);
        let style = font.color(&colour).pos(Pos::new(HPos::Center, VPos::Center));
        self.area.draw(&Text::new(s.to_string(), (x, y), style)).map_err(err)
    }

    /// A marker of `shape` centred on `(x, y)` with half-size `r` px: filled with `colour` and
    /// outlined in a darker shade, or (not `filled`) a white interior with a 2 px outline.
    pub(super) fn marker(
        &self,
        shape: Shape,
        (x, y): (i32, i32),
        r: i32,
        colour: RGBColor,
        filled: bool,
    ) -> anyhow::Result<()> {
        let pts: Vec<(i32, i32)> = match shape {
            Shape::Circle => Vec::new(),
            Shape::Square => {
                let s = r * 9 / 10;
                vec![(x - s, y - s), (x + s, y - s), (x + s, y + s), (x - s, y + s)]
            }
            Shape::Triangle => vec![(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)],
            Shape::Diamond => vec![(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)],
        };
        let (fill, edge, width) =
            if filled { (colour, shade(colour, 0.6), 1) } else { (WHITE, colour, 2) };
        if shape == Shape::Circle {
            self.area.draw(&Circle::new((x, y), r, fill.filled())).map_err(err)?;
            return self.area.draw(&Circle::new((x, y), r, edge.stroke_width(width))).map_err(err);
        }
        self.area.draw(&Polygon::new(pts.clone(), fill.filled())).map_err(err)?;
        let mut closed = pts;
        closed.push(closed[0]);
        self.line(closed, edge, width)
    }

    /// A horizontal whisker from `x0` to `x1` at `y` with end caps `cap` px tall, drawn in
    /// `colour` over a white halo so it stays visible on any bar colour.
    pub(super) fn whisker(
        &self,
        x0: i32,
        x1: i32,
        y: i32,
        cap: i32,
        colour: RGBColor,
    ) -> anyhow::Result<()> {
        for (c, w) in [(WHITE, 4), (colour, 2)] {
            self.line(vec![(x0, y), (x1, y)], c, w)?;
            self.line(vec![(x0, y - cap / 2), (x0, y + cap / 2)], c, w)?;
            self.line(vec![(x1, y - cap / 2), (x1, y + cap / 2)], c, w)?;
        }
        Ok(())
    }
}

/// A 1-D mapping from data values to pixels, linear or logarithmic.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scale {
    /// Logarithmic (base 10) when true.
    pub log: bool,
    /// Data value at `p0`.
    pub lo: f64,
    /// Data value at `p1`.
    pub hi: f64,
    /// Pixel of `lo`.
    pub p0: i32,
    /// Pixel of `hi`.
    pub p1: i32,
}

/// A timing axis is logarithmic when its largest value is more than this many times its
/// smallest: below that, a linear axis from zero shows the differences honestly; above it, a
/// linear axis shrinks the fast contenders to a few pixels.
pub(super) const LOG_SPREAD: f64 = 4.0;

/// The 1-2-5 sequence value at or below (`up` = false) / at or above (`up`) `v` (`v` > 0).
fn nice_125(v: f64, up: bool) -> f64 {
    let e = v.log10().floor();
    let base = 10f64.powf(e);
    let steps = [1.0, 2.0, 5.0, 10.0];
    if up {
        steps.iter().map(|s| s * base).find(|x| *x >= v * (1.0 - 1e-9)).unwrap_or(10.0 * base)
    } else {
        steps.iter().rev().map(|s| s * base).find(|x| *x <= v * (1.0 + 1e-9)).unwrap_or(base)
    }
}

impl Scale {
    /// A scale for positive values in `[min, max]` over pixels `p0..p1`: logarithmic with 1-2-5
    /// bounds when `max / min > LOG_SPREAD`, else linear from zero with a nice upper bound.
    pub(super) fn for_values(min: f64, max: f64, p0: i32, p1: i32) -> Scale {
        let (min, max) = (min.max(f64::MIN_POSITIVE), max.max(min).max(f64::MIN_POSITIVE));
        if max / min > LOG_SPREAD {
            Scale {
                log: true,
                lo: nice_125(min / 1.1, false),
                hi: nice_125(max * 1.1, true),
                p0,
                p1,
            }
        } else {
            let step = nice_125(max * 1.08 / 5.0, true);
            Scale { log: false, lo: 0.0, hi: (max * 1.08 / step).ceil() * step, p0, p1 }
        }
    }

    fn t(&self, v: f64) -> f64 {
        if self.log { v.max(f64::MIN_POSITIVE).log10() } else { v }
    }

    /// The pixel of value `v`, clamped to the scale's pixel range.
    pub(super) fn px(&self, v: f64) -> i32 {
        let (a, b) = (self.t(self.lo), self.t(self.hi));
        let f = ((self.t(v) - a) / (b - a)).clamp(0.0, 1.0);
        if f.is_nan() {
            return self.p0;
        }
        (f64::from(self.p0) + f * f64::from(self.p1 - self.p0)).round() as i32
    }

    /// Whether `v` lies inside the scale's data range.
    pub(super) fn contains(&self, v: f64) -> bool {
        v >= self.lo * (1.0 - 1e-9) && v <= self.hi * (1.0 + 1e-9)
    }

    /// Tick values: for a log scale the 1-2-5 values inside the range (only powers of ten when
    /// the range spans more than two decades); for a linear scale ~5 steps of a 1-2-5 size.
    pub(super) fn ticks(&self) -> Vec<f64> {
        let mut out = Vec::new();
        if self.log {
            let decades = (self.hi / self.lo).log10();
            let mults: &[f64] = if decades > 2.2 { &[1.0] } else { &[1.0, 2.0, 5.0] };
            let mut e = self.lo.log10().floor() as i32;
            while 10f64.powi(e) <= self.hi * (1.0 + 1e-9) {
                for m in mults {
                    let v = m * 10f64.powi(e);
                    if self.contains(v) {
                        out.push(v);
                    }
                }
                e += 1;
            }
        } else {
            let step = nice_125(self.hi / 5.0, true);
            let mut i = 0.0;
            while i * step <= self.hi * (1.0 + 1e-9) {
                out.push(i * step);
                i += 1.0;
            }
        }
        out
    }
}

/// A tick label of a value axis: k/M suffixes from 1 000 on, otherwise up to 3 decimals
/// (e.g. `0.5`, `20`, `1.5k`, `20k`, `1.5M`).
pub(super) fn fmt_tick(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// A swept parameter value as written (integers stay whole: `1024`, not `1.024k`).
pub(super) fn trim(v: f64) -> String {
    let s = if v == v.round() { format!("{v:.0}") } else { format!("{v:.3}") };
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// A measured value with thousands separators and 3–4 significant digits: `0.412`, `18.2`,
/// `812`, `12,345`.
pub(super) fn fmt_value(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.0}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    }
}

/// A ratio with 2–3 significant digits and a `×`: `0.041×`, `0.15×`, `1.03×`, `12×`.
pub(super) fn fmt_ratio(r: f64) -> String {
    if r < 0.1 {
        format!("{r:.3}×")
    } else if r < 10.0 {
        format!("{r:.2}×")
    } else {
        format!("{r:.0}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scale_for_wide_spread_and_linear_from_zero_otherwise() {
        let s = Scale::for_values(6.0, 234.0, 0, 100);
        assert!(s.log);
        assert_eq!((s.lo, s.hi), (5.0, 500.0));
        assert_eq!(s.ticks(), vec![5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]);
        assert_eq!(s.px(5.0), 0);
        assert_eq!(s.px(500.0), 100);
        assert_eq!(s.px(50.0), 50);
        let s = Scale::for_values(1000.0, 1300.0, 0, 100);
        assert!(!s.log);
        assert_eq!(s.lo, 0.0);
        assert!(s.hi >= 1300.0 * 1.08 && s.hi <= 1600.0, "{}", s.hi);
        assert_eq!(s.ticks().first(), Some(&0.0));
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_tick(20_000.0), "20k");
        assert_eq!(fmt_tick(1_500_000.0), "1.5M");
        assert_eq!(fmt_tick(0.5), "0.5");
        assert_eq!(fmt_tick(200.0), "200");
        assert_eq!(fmt_tick(2000.0), "2k");
        assert_eq!(trim(1024.0), "1024");
        assert_eq!(fmt_value(12_345.4), "12,345");
        assert_eq!(fmt_value(123_456_789.0), "123,456,789");
        assert_eq!(fmt_value(18.24), "18.2");
        assert_eq!(fmt_ratio(0.0412), "0.041×");
        assert_eq!(fmt_ratio(1.034), "1.03×");
        assert_eq!(fmt_ratio(25.4), "25×");
        assert_eq!(tint(RGBColor(0, 100, 255), 0.0), RGBColor(255, 255, 255));
    }
}
