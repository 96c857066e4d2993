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
    let bars: Vec<super::plots::HeadlineBar> = comps
        .iter()
        .filter(|c| c.role == Role::Rival)
        .filter_map(|c| {
            c.paired.map(|p| super::plots::HeadlineBar {
                label: format!("{} · {}", c.workload, c.param),
                rival: c.other.clone(),
                ratio: p.ratio,
                ci_low: p.low,
                ci_high: p.high,
                verdict: c.verdict.as_str(),
            })
        })
        .collect();
    let svg = super::plots::headline_chart(
        &format!("{flagship} ÷ each rival (paired, 95% CI)"),
        &bars,
        margin,
    )?;
    let plots = dir.join(super::plots::PLOTS_DIR);
    super::own_dir(&plots)?;
    super::write_atomic(&plots, HEADLINE_PLOT, svg.as_bytes())
}
