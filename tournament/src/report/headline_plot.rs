//! The headline chart (`plots/headline.svg`): the flagship's paired ratio to every rival with
//! its CI, one chart for the whole run. Turns [`Comparison`]s into the plot module's bars.

use std::path::Path;

use crate::verdict::{Comparison, Role};

/// File name of the headline chart inside `plots/`.
pub const HEADLINE_PLOT: &str = "headline.svg";

/// Whether the run has a headline chart: at least one rival comparison with a CI.
pub fn has_headline(comps: &[Comparison]) -> bool {
    comps.iter().any(|c| c.role == Role::Rival && c.paired.is_some())
}

/// Writes `dir/plots/headline.svg` when [`has_headline`]; otherwise nothing.
///
/// # Errors
/// The chart cannot be drawn or written.
pub fn write(dir: &Path, comps: &[Comparison], flagship: &str, margin: f64) -> anyhow::Result<()> {
    if !has_headline(comps) {
        return Ok(());
    }
    let bars: Vec<shim::HeadlineBar> = comps
        .iter()
        .filter(|c| c.role == Role::Rival)
        .filter_map(|c| {
            c.paired.map(|p| shim::HeadlineBar {
                label: format!("{} · {}", c.workload, c.param),
                rival: c.other.clone(),
                ratio: p.ratio,
                ci_low: p.low,
                ci_high: p.high,
                verdict: c.verdict.as_str(),
            })
        })
        .collect();
    let svg = shim::headline_chart(
        &format!("{flagship} ÷ each rival (paired, 95% CI)"),
        &bars,
        margin,
    )?;
    let plots = dir.join(super::plots::PLOTS_DIR);
    std::fs::create_dir_all(&plots)?;
    super::write_atomic(&plots, HEADLINE_PLOT, svg.as_bytes())
}

// TEMPORARY until plots::headline_chart lands (plots helper); replaced before commit.
mod shim {
    pub struct HeadlineBar {
        pub label: String,
        pub rival: String,
        pub ratio: f64,
        pub ci_low: f64,
        pub ci_high: f64,
        pub verdict: &'static str,
    }
    pub fn headline_chart(_t: &str, bars: &[HeadlineBar], _m: f64) -> anyhow::Result<String> {
        let n = bars.iter().filter(|b| !b.label.is_empty() && !b.rival.is_empty() && b.ratio > 0.0 && b.ci_low <= b.ci_high && !b.verdict.is_empty()).count();
        Ok(format!("<svg xmlns=\"http://www.w3.org/2000/svg\"><!-- {n} --></svg>\n"))
    }
}
