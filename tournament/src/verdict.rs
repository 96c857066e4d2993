//! Paired comparisons and verdicts: "which loop is faster, by how much, and how sure are we".
//!
//! **Pairing.** A run takes sample *s* of every contender of a (workload, param) table in one
//! round, in a shuffled order (`run::round_order`), before any contender takes sample *s + 1*.
//! So sample *s* of two contenders saw the same machine state, and the machine's drift between
//! speed plateaus cancels in their ratio. Each comparison of the flagship `F` with a contender `R`
//! uses the pairs (F's sample *s*, R's sample *s*) of the samples both measured (ok), and
//! [`stats::paired_ratio`] gives the typical ratio F ÷ R (Hodges–Lehmann on the log-ratios) with
//! its 95% distribution-free confidence interval. A ratio below 1 means the flagship took less
//! time.
//!
//! **Verdict** ([`Verdict::judge`]), with the practical margin *m* (default
//! [`DEFAULT_MARGIN`], 3%) and the band [1/(1+m), 1+m] around 1:
//! *faster* when the whole CI lies below the band, *slower* when it lies wholly above it,
//! *equivalent* when it lies wholly inside it, *undecided* otherwise (or with fewer than 6 pairs,
//! where no 95% interval exists). The ratio and CI are always shown beside the verdict.
//!
//! **Who is compared.** Rivals are design families: every contender that is neither the
//! flagship, one of its ablations (`F/knob`) nor the physical-floor reference
//! ([`FLOOR_CONTENDER`]). Ablations are compared with the flagship by the same paired method, in
//! their own section ("what each mechanism buys"); the floor is shown as a reference, never
//! judged. Memory (`footprint`) tables are not timed and get no verdict.

use std::collections::HashMap;

use crate::record::{CellStatus, RawSample, SampleStatus, SummaryRow, is_memory_workload};
use crate::stats::{self, PairedRatio};

/// The contender every comparison is about, unless a report is asked for another one.
pub const FLAGSHIP: &str = "main";

/// Id of the physical-floor reference row (a bare handoff between two pinned threads): shown in
/// tables as the limit of the machine, never a rival.
pub const FLOOR_CONTENDER: &str = "floor";

/// Default practical margin: a difference smaller than 3% is treated as no difference worth
/// naming (the band is [1/1.03, 1.03]).
pub const DEFAULT_MARGIN: f64 = 0.03;

/// The flagship and margin a run's verdicts use: what env.json recorded (`run --flagship`,
/// `run --margin`), else [`FLAGSHIP`] and [`DEFAULT_MARGIN`].
pub fn settings(prov: &crate::env::Provenance) -> (String, f64) {
    (
        prov.run.flagship.clone().unwrap_or_else(|| FLAGSHIP.to_string()),
        prov.run.margin.filter(|m| m.is_finite() && *m >= 0.0).unwrap_or(DEFAULT_MARGIN),
    )
}

/// The outcome of one paired comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// The flagship took less time: the whole CI of F ÷ R lies below 1/(1+m).
    Faster,
    /// Within the practical margin: the whole CI lies inside [1/(1+m), 1+m].
    Equivalent,
    /// The flagship took more time: the whole CI lies above 1+m.
    Slower,
    /// The CI straddles an edge of the band, or there were too few pairs for a CI.
    Undecided,
}

impl Verdict {
    /// Every verdict, in display order.
    pub const ALL: [Verdict; 4] =
        [Verdict::Faster, Verdict::Equivalent, Verdict::Slower, Verdict::Undecided];

    /// Judges a ratio's confidence interval `[low, high]` against the margin `margin` (0.03 =
    /// 3%). Not finite bounds are undecided.
    pub fn judge(low: f64, high: f64, margin: f64) -> Verdict {
        let (lo_edge, hi_edge) = (1.0 / (1.0 + margin), 1.0 + margin);
        if !(low.is_finite() && high.is_finite()) {
            Verdict::Undecided
        } else if high < lo_edge {
            Verdict::Faster
        } else if low > hi_edge {
            Verdict::Slower
        } else if low >= lo_edge && high <= hi_edge {
            Verdict::Equivalent
        } else {
            Verdict::Undecided
        }
    }

    /// Lower-case name as written to `verdicts.csv`: `faster`, `equivalent`, `slower`,
    /// `undecided`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Equivalent => "equivalent",
            Verdict::Slower => "slower",
            Verdict::Undecided => "undecided",
        }
    }

    /// Parses [`Verdict::as_str`].
    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// One-character mark for tables: `✓` faster, `=` equivalent, `✗` slower, `?` undecided.
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Faster => "✓",
            Verdict::Equivalent => "=",
            Verdict::Slower => "✗",
            Verdict::Undecided => "?",
        }
    }
}

/// What a compared contender is to the flagship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The flagship itself.
    Flagship,
    /// `F/knob`: the flagship with one mechanism changed.
    Ablation,
    /// Another design family (a workspace loop or a peer).
    Rival,
    /// The physical-floor reference ([`FLOOR_CONTENDER`]).
    Reference,
}

/// The role of contender `id` relative to `flagship`.
pub fn role_of(id: &str, flagship: &str) -> Role {
    if id == flagship {
        Role::Flagship
    } else if id == FLOOR_CONTENDER {
        Role::Reference
    } else if id.strip_prefix(flagship).is_some_and(|rest| rest.starts_with('/')) {
        Role::Ablation
    } else {
        Role::Rival
    }
}

/// One paired comparison of the flagship with another contender in one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Workload id.
    pub workload: String,
    /// Parameter id.
    pub param: String,
    /// Unit of the compared values (`ns/task`, `ns/batch`, …).
    pub unit: String,
    /// The flagship's id.
    pub flagship: String,
    /// The other contender's id.
    pub other: String,
    /// [`Role::Rival`] or [`Role::Ablation`].
    pub role: Role,
    /// The paired ratio flagship ÷ other with its CI; `None` with fewer than 6 pairs.
    pub paired: Option<PairedRatio>,
    /// Number of pairs available (samples both measured).
    pub pairs: usize,
    /// The verdict ([`Verdict::Undecided`] when `paired` is `None`).
    pub verdict: Verdict,
}

/// What a comparison pairs: one value per ok sample, or `None` when the sample has none.
pub type SampleValue = fn(&RawSample) -> Option<f64>;

/// Fewest latencies a sample needs for its own p99 to be a percentile rather than its largest
/// latency (nearest rank: rank ⌈0.99·n⌉ < n needs n ≥ 100), as the report's † rule.
pub const TAIL_MIN_LATENCIES: u64 = 100;

/// A sample's own p99 latency, ns: `None` without a latency record or with fewer than
/// [`TAIL_MIN_LATENCIES`] latencies.
pub fn sample_p99_ns(s: &RawSample) -> Option<f64> {
    s.latency.as_ref().filter(|l| l.count >= TAIL_MIN_LATENCIES).map(|l| l.p99_ns as f64)
}

/// The per-sample values (`value`) of a cell's ok samples by sample index (what is paired).
fn values_by_sample(recs: &[&RawSample], value: SampleValue) -> HashMap<u32, f64> {
    recs.iter()
        .filter(|s| s.status == SampleStatus::Ok && s.tasks > 0)
        .filter_map(|s| value(s).map(|v| (s.sample, v)))
        .collect()
}

/// The pairs (a's sample *s*, b's sample *s*) of primary values over the sample indices both
/// measured, in index order.
pub fn pairs_of(a: &[&RawSample], b: &[&RawSample]) -> Vec<(f64, f64)> {
    pairs_of_by(a, b, RawSample::primary_ns)
}

/// [`pairs_of`] over another per-sample value (e.g. [`sample_p99_ns`]); samples without the
/// value are left out.
pub fn pairs_of_by(a: &[&RawSample], b: &[&RawSample], value: SampleValue) -> Vec<(f64, f64)> {
    let (va, vb) = (values_by_sample(a, value), values_by_sample(b, value));
    let mut idx: Vec<u32> = va.keys().filter(|s| vb.contains_key(s)).copied().collect();
    idx.sort_unstable();
    idx.iter().map(|s| (va[s], vb[s])).collect()
}

/// The pairs of `a` and `b` by **round** of `per_round` consecutive sample indices (indices
/// `r·per_round … r·per_round + per_round − 1` form round `r`, as `make bench-ab` adds
/// `per_round` samples per side per round): for each round in which both measured a common
/// index, (median of a's values, median of b's values) over those common indices, in round
/// order. The samples of one round share a process on each side, so they are not independent
/// pairs; the round is the unit a paired interval may count. `per_round` 0 is taken as 1, which
/// gives [`pairs_of`].
pub fn round_pairs_of(a: &[&RawSample], b: &[&RawSample], per_round: u32) -> Vec<(f64, f64)> {
    let per = per_round.max(1);
    let value: SampleValue = RawSample::primary_ns;
    let (va, vb) = (values_by_sample(a, value), values_by_sample(b, value));
    let mut rounds: std::collections::BTreeMap<u32, (Vec<f64>, Vec<f64>)> = Default::default();
    for (s, x) in &va {
        if let Some(y) = vb.get(s) {
            let r = rounds.entry(s / per).or_default();
            r.0.push(*x);
            r.1.push(*y);
        }
    }
    rounds
        .into_values()
        .filter_map(|(xs, ys)| Some((crate::stats::median(&xs)?, crate::stats::median(&ys)?)))
        .collect()
}

/// Every paired comparison of `flagship` in a run: for each timed (workload, param) table in
/// which the flagship's cell is measured, one [`Comparison`] with every other measured contender
/// except the floor reference, in the order of `rows` (tables in report order, contenders by
/// median). A contender whose cell is a gap, failed or missing is not compared (the report shows
/// the gap). `rows` must be the summary of `samples` (`summarize::summarize_for`).
pub fn compare_all(
    samples: &[RawSample],
    rows: &[SummaryRow],
    flagship: &str,
    margin: f64,
) -> Vec<Comparison> {
    compare_all_by(samples, rows, flagship, margin, RawSample::primary_ns, None)
}

/// The **tail** comparisons of `flagship`: as [`compare_all`], but each sample contributes its
/// own p99 latency ([`sample_p99_ns`]) instead of its primary value, in tables whose samples
/// record latencies (unit `p99 ns`). Pairing by sample keeps one bad sample from setting the
/// result, which it does for the p99 of the latencies of all samples pooled (the tables' p99
/// column): a stall of the machine during one sample of one contender moves that pooled p99,
/// and only one pair of the paired interval. A comparison whose cells have fewer than 6 samples
/// with ≥ [`TAIL_MIN_LATENCIES`] latencies in common is [`Verdict::Undecided`].
pub fn compare_tails(
    samples: &[RawSample],
    rows: &[SummaryRow],
    flagship: &str,
    margin: f64,
) -> Vec<Comparison> {
    let latency_tables: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r.lat_count.is_some())
        .map(|r| (r.workload.as_str(), r.param.as_str()))
        .collect();
    let rows: Vec<SummaryRow> = rows
        .iter()
        .filter(|r| latency_tables.contains(&(r.workload.as_str(), r.param.as_str())))
        .cloned()
        .collect();
    compare_all_by(samples, &rows, flagship, margin, sample_p99_ns, Some("p99 ns"))
}

/// [`compare_all`] over the per-sample `value`, in `unit` (the flagship row's unit when `None`).
fn compare_all_by(
    samples: &[RawSample],
    rows: &[SummaryRow],
    flagship: &str,
    margin: f64,
    value: SampleValue,
    unit: Option<&str>,
) -> Vec<Comparison> {
    let mut cells: HashMap<(&str, &str, &str), Vec<&RawSample>> = HashMap::new();
    for s in samples {
        cells.entry((&s.workload, &s.param, &s.contender)).or_default().push(s);
    }
    let measured =
        |r: &SummaryRow| r.status.is_measured() && !matches!(r.status, CellStatus::Failed);
    let mut out = Vec::new();
    let mut tables: Vec<(&str, &str)> = Vec::new();
    for r in rows {
        if !tables.contains(&(r.workload.as_str(), r.param.as_str())) {
            tables.push((&r.workload, &r.param));
        }
    }
    for (w, p) in tables {
        if is_memory_workload(w) {
            continue;
        }
        let group: Vec<&SummaryRow> =
            rows.iter().filter(|r| r.workload == w && r.param == p).collect();
        let Some(f_row) = group.iter().find(|r| r.contender == flagship && measured(r)) else {
            continue;
        };
        let empty = Vec::new();
        let f_recs = cells.get(&(w, p, flagship)).unwrap_or(&empty);
        for r in group.iter().filter(|r| measured(r)) {
            let role = role_of(&r.contender, flagship);
            if !matches!(role, Role::Rival | Role::Ablation) {
                continue;
            }
            let o_recs = cells.get(&(w, p, r.contender.as_str())).unwrap_or(&empty);
            let pairs = pairs_of_by(f_recs, o_recs, value);
            let paired = stats::paired_ratio(&pairs);
            out.push(Comparison {
                workload: w.to_string(),
                param: p.to_string(),
                unit: unit.map_or_else(|| f_row.unit.clone(), str::to_string),
                flagship: flagship.to_string(),
                other: r.contender.clone(),
                role,
                pairs: pairs.len(),
                verdict: paired
                    .map_or(Verdict::Undecided, |x| Verdict::judge(x.low, x.high, margin)),
                paired,
            });
        }
    }
    out
}

/// Leaderboard categories: each workload belongs to one ([`category_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Time until one task or reply comes back (round trips, timers, priority).
    Latency,
    /// Tasks per unit of time from few producers (ping-pong, bursts, batches, chains, wake-ups).
    Throughput,
    /// Many producers on one loop.
    Contention,
    /// Allocation pressure.
    Allocation,
    /// Sockets: echo and HTTP servers.
    Network,
    /// Workloads no rule matches.
    Other,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 6] = [
        Category::Throughput,
        Category::Latency,
        Category::Contention,
        Category::Allocation,
        Category::Network,
        Category::Other,
    ];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Category::Latency => "latency",
            Category::Throughput => "throughput",
            Category::Contention => "contention",
            Category::Allocation => "allocation",
            Category::Network => "network",
            Category::Other => "other",
        }
    }
}

/// Workload-id → category rules, first match wins (the pattern is a substring of the id).
/// Documented in `results/SCHEMA.md`.
pub const CATEGORY_RULES: &[(&str, Category)] = &[
    ("echo", Category::Network),
    ("http", Category::Network),
    ("latency", Category::Latency),
    ("round-trip", Category::Latency),
    ("roundtrip", Category::Latency),
    ("timer", Category::Latency),
    ("priority", Category::Latency),
    ("multi-producer", Category::Contention),
    ("contention", Category::Contention),
    ("alloc", Category::Allocation),
    ("ping-pong", Category::Throughput),
    ("burst", Category::Throughput),
    ("batch", Category::Throughput),
    ("chain", Category::Throughput),
    ("wakeup", Category::Throughput),
];

/// The category of a workload id (see [`CATEGORY_RULES`]).
pub fn category_of(workload: &str) -> Category {
    CATEGORY_RULES
        .iter()
        .find(|(pat, _)| workload.contains(pat))
        .map_or(Category::Other, |(_, c)| *c)
}

/// Counts of verdicts over a set of comparisons, in [`Verdict::ALL`] order.
pub fn tally<'a>(cs: impl IntoIterator<Item = &'a Comparison>) -> [usize; 4] {
    let mut t = [0; 4];
    for c in cs {
        t[Verdict::ALL.iter().position(|v| *v == c.verdict).unwrap_or(3)] += 1;
    }
    t
}

/// How far the verdicts of two runs agree ([`agreement`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// Comparisons present in both runs (joined by workload, param, other contender, role).
    pub common: usize,
    /// Of those, how many carry the same verdict.
    pub same: usize,
    /// The ones that differ: (workload, param, other, verdict in A, verdict in B).
    pub differ: Vec<(String, String, String, Verdict, Verdict)>,
    /// Comparisons present in only one of the runs.
    pub unmatched: usize,
}

impl Agreement {
    /// Share of common comparisons whose verdicts differ, in [0, 1]; 0 when none is common.
    pub fn differ_share(&self) -> f64 {
        if self.common == 0 { 0.0 } else { (self.common - self.same) as f64 / self.common as f64 }
    }
}

/// Joins two runs' comparisons by (workload, param, other, role) and counts equal verdicts: the
/// A/A stability of the verdicts (`tournament verdict-diff`, `make calibrate`).
pub fn agreement(a: &[Comparison], b: &[Comparison]) -> Agreement {
    let key = |c: &Comparison| {
        (c.workload.clone(), c.param.clone(), c.other.clone(), c.role == Role::Rival)
    };
    let by_b: HashMap<_, &Comparison> = b.iter().map(|c| (key(c), c)).collect();
    let mut out = Agreement { common: 0, same: 0, differ: Vec::new(), unmatched: 0 };
    for x in a {
        match by_b.get(&key(x)) {
            Some(y) => {
                out.common += 1;
                if x.verdict == y.verdict {
                    out.same += 1;
                } else {
                    out.differ.push((
                        x.workload.clone(),
                        x.param.clone(),
                        x.other.clone(),
                        x.verdict,
                        y.verdict,
                    ));
                }
            }
            None => out.unmatched += 1,
        }
    }
    out.unmatched += b.len() - out.common;
    out
}

/// Loads a run folder and computes its comparisons with its own recorded settings.
///
/// # Errors
/// The folder cannot be loaded (`raw::load_run`).
pub fn comparisons_of(dir: &std::path::Path) -> anyhow::Result<Vec<Comparison>> {
    let (samples, prov) = crate::raw::load_run(dir)?;
    let rows = crate::summarize::summarize_for(&samples, Some(&prov));
    let (flagship, margin) = settings(&prov);
    Ok(compare_all(&samples, &rows, &flagship, margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_decides_each_verdict() {
        assert_eq!(Verdict::judge(0.5, 0.9, 0.03), Verdict::Faster);
        assert_eq!(Verdict::judge(1.05, 1.2, 0.03), Verdict::Slower);
        assert_eq!(Verdict::judge(0.98, 1.02, 0.03), Verdict::Equivalent);
        assert_eq!(Verdict::judge(0.90, 1.0, 0.03), Verdict::Undecided);
        assert_eq!(Verdict::judge(1.0, 1.2, 0.03), Verdict::Undecided);
        assert_eq!(Verdict::judge(f64::NAN, 1.0, 0.03), Verdict::Undecided);
        // The band is symmetric on the log scale: 1/1.03 ≈ 0.9709 is inside, 0.97 is not.
        assert_eq!(Verdict::judge(0.9709, 0.99, 0.03), Verdict::Equivalent);
        assert_eq!(Verdict::judge(0.5, 0.9700, 0.03), Verdict::Faster);
    }

    #[test]
    fn roles_separate_ablations_rivals_and_the_floor() {
        assert_eq!(role_of("main", "main"), Role::Flagship);
        assert_eq!(role_of("main/no-spin", "main"), Role::Ablation);
        assert_eq!(role_of("mainframe", "main"), Role::Rival);
        assert_eq!(role_of("tokio-ct", "main"), Role::Rival);
        assert_eq!(role_of("floor", "main"), Role::Reference);
    }

    #[test]
    fn verdict_names_round_trip() {
        for v in Verdict::ALL {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
        }
        assert_eq!(Verdict::parse("maybe"), None);
    }

    #[test]
    fn categories_follow_the_rules() {
        assert_eq!(category_of("ping-pong-latency"), Category::Latency);
        assert_eq!(category_of("ping-pong"), Category::Throughput);
        assert_eq!(category_of("cas-contention-latency"), Category::Latency);
        assert_eq!(category_of("multi-producer"), Category::Contention);
        assert_eq!(category_of("echo"), Category::Network);
        assert_eq!(category_of("readiness-roundtrip"), Category::Latency);
        assert_eq!(category_of("something-new"), Category::Other);
    }
}
