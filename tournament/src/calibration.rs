//! Measuring the method on itself: from two runs of the same build (an A/A pair), how large the
//! within-run spread of the cells is and how often a cell's median moves between the runs by
//! more than its own confidence interval, by spread band. This is the data the `unstable` bar
//! ([`crate::record::UNSTABLE_RCV_PCT`]) is chosen from; `tournament verdict-diff` prints it
//! and `make calibrate` records it.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::record::SummaryRow;
use crate::stats;

/// Upper edges (percent, exclusive) of the robust-spread bands of [`spread_table`]; the last
/// band is open.
pub const SPREAD_BANDS: [f64; 5] = [2.0, 5.0, 10.0, 25.0, 50.0];

/// One band of [`spread_table`].
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Lower edge, percent (inclusive).
    pub from: f64,
    /// Upper edge, percent (exclusive); `None` for the open last band.
    pub to: Option<f64>,
    /// Cells of run A in the band (by A's `rcv_pct`) measured in both runs.
    pub cells: usize,
    /// Of those, cells whose median in B lies outside A's 95% CI and A's outside B's: the two
    /// runs disagree about the cell beyond what either run's interval admits.
    pub moved: usize,
    /// Median |ln(median B / median A)| of the band's cells, as a percent change.
    pub median_shift_pct: Option<f64>,
}

/// Joins the timed cells of two runs by (workload, param, contender) and sorts them into
/// robust-spread bands ([`SPREAD_BANDS`]) by run A's `rcv_pct`.
pub fn spread_table(a: &[SummaryRow], b: &[SummaryRow]) -> Vec<Band> {
    let key = |r: &SummaryRow| (r.workload.clone(), r.param.clone(), r.contender.clone());
    let by_b: HashMap<_, &SummaryRow> = b.iter().map(|r| (key(r), r)).collect();
    let mut edges = vec![0.0];
    edges.extend(SPREAD_BANDS);
    let mut bands: Vec<(Band, Vec<f64>)> = edges
        .iter()
        .enumerate()
        .map(|(i, from)| {
            let band = Band {
                from: *from,
                to: edges.get(i + 1).copied(),
                cells: 0,
                moved: 0,
                median_shift_pct: None,
            };
            (band, Vec::new())
        })
        .collect();
    for ra in a.iter().filter(|r| !r.is_memory()) {
        let Some(rb) = by_b.get(&key(ra)) else { continue };
        let (Some(ma), Some(mb), Some(rcv)) = (ra.median(), rb.median(), ra.rcv_pct) else {
            continue;
        };
        let (Some((alo, ahi)), Some((blo, bhi))) = (ra.ci95(), rb.ci95()) else { continue };
        if ma <= 0.0 || mb <= 0.0 {
            continue;
        }
        let Some((band, shifts)) = bands.iter_mut().rev().find(|(band, _)| rcv >= band.from) else {
            continue;
        };
        band.cells += 1;
        if (mb < alo || mb > ahi) && (ma < blo || ma > bhi) {
            band.moved += 1;
        }
        shifts.push((mb / ma).ln().abs());
    }
    bands
        .into_iter()
        .map(|(mut band, shifts)| {
            band.median_shift_pct = stats::median(&shifts).map(|x| (x.exp() - 1.0) * 100.0);
            band
        })
        .collect()
}

/// Median `rcv_pct` over the timed cells of a run (the run's typical within-cell spread).
pub fn median_spread(rows: &[SummaryRow]) -> Option<f64> {
    let v: Vec<f64> = rows.iter().filter(|r| !r.is_memory()).filter_map(|r| r.rcv_pct).collect();
    stats::median(&v)
}

/// The spread table as markdown.
pub fn render_spread(a: &[SummaryRow], b: &[SummaryRow]) -> String {
    let mut md = String::new();
    let f = |x: Option<f64>| x.map_or_else(|| "—".to_string(), |v| format!("{v:.1}%"));
    let _ = writeln!(
        md,
        "Median robust spread of a cell: A {}, B {}.\n",
        f(median_spread(a)),
        f(median_spread(b))
    );
    let _ = writeln!(
        md,
        "| robust spread of the cell in A | cells | moved beyond both CIs | share | median shift |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    for band in spread_table(a, b) {
        let range = match band.to {
            Some(to) => format!("{:.0}–{:.0}%", band.from, to),
            None => format!("≥ {:.0}%", band.from),
        };
        let share = if band.cells == 0 {
            "—".to_string()
        } else {
            format!("{:.0}%", 100.0 * band.moved as f64 / band.cells as f64)
        };
        let _ = writeln!(
            md,
            "| {range} | {} | {} | {share} | {} |",
            band.cells,
            band.moved,
            f(band.median_shift_pct)
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CellStatus;

    fn row(c: &str, median: f64, ci: (f64, f64), rcv: f64) -> SummaryRow {
        SummaryRow {
            workload: "w".into(),
            param: "p".into(),
            contender: c.into(),
            status: CellStatus::Ok,
            reason: None,
            unit: "ns/task".into(),
            tasks_per_op: None,
            samples: 10,
            failed_samples: 0,
            median_ns_per_task: Some(median),
            mean_ns_per_task: Some(median),
            stddev_ns_per_task: None,
            ci95_low_ns_per_task: Some(ci.0),
            ci95_high_ns_per_task: Some(ci.1),
            min_ns_per_task: None,
            max_ns_per_task: None,
            median_ns_per_op: None,
            mean_ns_per_op: None,
            stddev_ns_per_op: None,
            ci95_low_ns_per_op: None,
            ci95_high_ns_per_op: None,
            min_ns_per_op: None,
            max_ns_per_op: None,
            cv_pct: None,
            rcv_pct: Some(rcv),
            cpu_ns_per_task: None,
            blocks_per_task: None,
            wake_syscalls_per_task: None,
            allocs_per_task: None,
            alloc_bytes_per_task: None,
            lat_count: None,
            p50_ns: None,
            p90_ns: None,
            p99_ns: None,
            p999_ns: None,
            max_latency_ns: None,
            ratio_to_baseline: None,
            ratio_to_best: None,
            memory: None,
        }
    }

    #[test]
    fn cells_fall_into_bands_and_moves_count_only_beyond_both_intervals() {
        let a = [row("x", 100.0, (99.0, 101.0), 1.0), row("y", 100.0, (90.0, 110.0), 30.0)];
        let b = [row("x", 110.0, (109.0, 111.0), 1.0), row("y", 105.0, (95.0, 115.0), 30.0)];
        let t = spread_table(&a, &b);
        assert_eq!(t.len(), SPREAD_BANDS.len() + 1);
        assert_eq!((t[0].cells, t[0].moved), (1, 1));
        let y = t.iter().find(|band| band.from == 25.0).unwrap();
        assert_eq!((y.cells, y.moved), (1, 0));
        assert!((t[0].median_shift_pct.unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(median_spread(&a), Some(15.5));
    }
}
