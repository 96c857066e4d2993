//! Notes printed under one result table that qualify what its ranking can say:
//!
//! * [`tail_note`]: the flagship's tail latency against each rival, each sample's own p99
//!   paired by sample ([`crate::verdict::compare_tails`]), beside the table's pooled p99 column,
//!   which the worst samples set;
//! * [`client_bound_note`]: whether a closed-loop load generator, rather than the servers, set
//!   the pace of the cell, so that the servers' differences are compressed.

use std::fmt::Write as _;

use super::headline::fmt_comparison;
use super::text::{code, group_thousands};
use crate::record::{RawSample, SampleStatus, SummaryRow};
use crate::stats;
use crate::verdict::{Comparison, Role, Verdict};

/// Workloads whose load generator is **closed-loop** (a connection sends its next message only
/// after the previous reply) and reports its own CPU as `client_cpu_ns_per_message`: the cell's
/// wall time per message cannot fall below what the client spends per message, whatever the
/// server does. (The open-loop `echo-open` client paces by spinning, so its CPU says nothing
/// about saturation; `http`'s wrk does not report its CPU.)
pub const CLOSED_LOOP_CLIENT_WORKLOADS: &[&str] = &["echo"];

/// Name of the secondary metric with the client's CPU (user + system) per message, ns.
pub const CLIENT_CPU_METRIC: &str = "client_cpu_ns_per_message";

/// Share of the wall time the client must have been busy, in every measured contender's cell
/// (median over its ok samples), for [`client_bound_note`] to call the table client-bound. At
/// 90% the client had at most 10% of slack: no server could be measured more than about 10%
/// faster than the slowest-paced one, whatever its own cost.
pub const CLIENT_BOUND_SHARE: f64 = 0.90;

/// Writes the tail comparison of `flagship` with each rival in this table (`group`: the rows of
/// one workload × param table), taken from `tails` (the run's
/// [`compare_tails`](crate::verdict::compare_tails)): one sentence listing `rival ratio×
/// (low–high) verdict`, with `margin` the practical margin of the verdicts. Writes nothing when
/// the table has no tail comparison.
pub fn tail_note(
    md: &mut String,
    group: &[SummaryRow],
    tails: &[Comparison],
    flagship: &str,
    margin: f64,
) {
    let Some(first) = group.first() else { return };
    let comps: Vec<&Comparison> = tails
        .iter()
        .filter(|c| c.workload == first.workload && c.param == first.param)
        .filter(|c| c.role == Role::Rival)
        .collect();
    if comps.is_empty() {
        return;
    }
    let listed: Vec<String> = comps
        .iter()
        .map(|c| {
            let verdict = match c.verdict {
                Verdict::Faster => "**lower**",
                Verdict::Slower => "**higher**",
                Verdict::Equivalent => "equivalent",
                Verdict::Undecided => "undecided",
            };
            format!("{} {} {verdict}", code(&c.other), fmt_comparison(c))
        })
        .collect();
    let _ = writeln!(
        md,
        "Tail, paired by sample: {}'s p99 ÷ each rival's, each sample's own p99 (95% CI; \
         margin {:.0}%): {}. The p99 column pools every sample's latencies, so its worst \
         samples set it.",
        code(flagship),
        margin * 100.0,
        listed.join(", ")
    );
}

/// Of a cell's ok samples: the median client busy share (client CPU per message ÷ wall ns per
/// message; unitless, 1 = the client never waited) and the median client CPU per message, ns.
/// `None` without such samples.
fn client_load(samples: &[&RawSample]) -> Option<(f64, f64)> {
    let (shares, cpus): (Vec<f64>, Vec<f64>) = samples
        .iter()
        .filter(|s| s.status == SampleStatus::Ok)
        .filter_map(|s| {
            let cpu = s.metrics.iter().find(|m| m.name == CLIENT_CPU_METRIC)?.value;
            let wall = s.ns_per_task()?;
            (wall > 0.0 && cpu.is_finite()).then(|| (cpu / wall, cpu))
        })
        .unzip();
    Some((stats::median(&shares)?, stats::median(&cpus)?))
}

/// How busy a closed-loop client was across one table's measured cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientBound {
    /// Lowest and highest busy share over the cells (client CPU per message ÷ wall ns per
    /// message, median over each cell's ok samples; unitless, 1 = never waited).
    pub share: (f64, f64),
    /// Lowest client CPU per message over the cells (median over samples), ns: below it no cell
    /// of the table could have been measured.
    pub floor_ns: f64,
}

/// [`ClientBound`] of one table (`group`: the rows of one workload × param table) when its
/// workload has a closed-loop client ([`CLOSED_LOOP_CLIENT_WORKLOADS`]) that was busy at least
/// [`CLIENT_BOUND_SHARE`] of the wall time in every measured cell; `None` otherwise (also when a
/// measured cell has no client CPU metric).
pub fn client_bound(group: &[SummaryRow], samples: &[RawSample]) -> Option<ClientBound> {
    let first = group.first()?;
    if !CLOSED_LOOP_CLIENT_WORKLOADS.contains(&first.workload.as_str()) {
        return None;
    }
    let mut shares = Vec::new();
    let mut client_cpu = Vec::new();
    for r in group.iter().filter(|r| r.status.is_measured()) {
        let cell: Vec<&RawSample> = samples
            .iter()
            .filter(|s| {
                s.workload == r.workload && s.param == r.param && s.contender == r.contender
            })
            .collect();
        let (share, cpu) = client_load(&cell)?;
        shares.push(share);
        client_cpu.push(cpu);
    }
    let lo = shares.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = shares.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if shares.is_empty() || lo < CLIENT_BOUND_SHARE {
        return None;
    }
    let floor_ns = client_cpu.iter().copied().fold(f64::INFINITY, f64::min);
    Some(ClientBound { share: (lo, hi), floor_ns })
}

/// Writes a warning under a client-bound table ([`client_bound`]): the client, not the server,
/// set the pace, so the servers' differences are compressed and a ratio between them
/// understates the real one. Names the range of busy shares and the floor. Writes nothing
/// otherwise.
pub fn client_bound_note(md: &mut String, group: &[SummaryRow], samples: &[RawSample]) {
    let Some(b) = client_bound(group, samples) else { return };
    let _ = writeln!(
        md,
        "**Client-bound:** the load generator was busy {:.0}–{:.0}% of the wall time in every \
         contender's cell (its CPU per message ÷ the wall time per message, median over \
         samples), so the client, not the server, set the pace. No server could be measured \
         below about {} ns/message here (the client's own CPU per message), and the ratios \
         between servers understate their real differences.",
        b.share.0 * 100.0,
        b.share.1 * 100.0,
        group_thousands(b.floor_ns.round() as u64)
    );
}

/// Writes one line for the headline listing every client-bound table of the run (`rows` in
/// report order), so a reader of the verdicts knows which ratios are compressed towards 1
/// before reading the tables. Writes nothing when there is none.
pub fn client_bound_headline(md: &mut String, rows: &[SummaryRow], samples: &[RawSample]) {
    let mut bound = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let end = rows[i..]
            .iter()
            .position(|r| r.workload != rows[i].workload || r.param != rows[i].param)
            .map_or(rows.len(), |n| i + n);
        if client_bound(&rows[i..end], samples).is_some() {
            bound.push(format!("{} · {}", code(&rows[i].workload), code(&rows[i].param)));
        }
        i = end;
    }
    if bound.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "**Client-bound tables:** {}. Their load generator was busy at least {:.0}% of the time \
         in every cell: it, not the server, set the pace, so the ratios in those rows are \
         compressed towards 1 (each table gives its client's busy share and the floor it sets).\n",
        bound.join(", "),
        CLIENT_BOUND_SHARE * 100.0
    );
}
