//! `tournament compare OLD NEW`: regression comparison between two run folders.
//!
//! **Join.** Cells are joined by stable id (workload, param, contender), never by position.
//! Cells only in OLD are *removed*, only in NEW *added*; neither is a regression by itself, but
//! a cell measured in OLD that is failed, disqualified, unsupported or missing in NEW is
//! *lost*, which counts as a regression (a contender that stopped working must fail the gate).
//!
//! **Provenance.** Ratios of runs measured under different conditions are not evidence. The
//! fields in [`GATED_FIELDS`] must be equal, otherwise the comparison is refused (exit 2, the
//! differing fields and both values listed) unless `--descriptive`, which prints the ratios
//! labelled descriptive, without any verdict. The git SHA and dirty flag may differ: comparing
//! two builds is the point.
//!
//! **Per cell.** From the raw samples of both runs (ok samples only; the cell's primary metric,
//! ns/task or ns/op, which must be the same unit in both), the ratio new/old and its 98% CI.
//! When the runs were measured **interleaved** (`--interleaved N`: `make bench-ab` adds N
//! samples per cell to both builds in each round, ABBA order) and both measured at least 7
//! common rounds (for the 98% interval of [`PAIRED_CI_LEVEL_PCT`]), the comparison is *paired by round*: the median of NEW's samples of round *r*
//! over the median of OLD's ([`crate::verdict::round_pairs_of`]; Hodges–Lehmann with the
//! signed-rank interval over the rounds, [`stats::paired_ratio`]), so the machine's drift
//! between rounds cancels in the pairs. The round is the unit because the samples of one round
//! share one process per side: counted as independent pairs they gave intervals too narrow
//! (the first interleaved calibration flagged 2 of 30 unchanged cells with 18 per-sample
//! pairs). Otherwise — in particular for two runs taken one
//! after the other, whose sample *s* share nothing but an index — the ratio of medians with a
//! two-sample percentile bootstrap CI at 98% ([`UNPAIRED_CI_LEVEL_PCT`],
//! [`stats::bootstrap_ratio_of_medians_ci_at`]). The change
//! is *significant* when the CI excludes 1.
//!
//! **Between-run noise.** The bootstrap CI only knows the spread *within* each run. Two runs are
//! taken minutes apart, and on a VM whose speed moves between plateaus
//! (`docs/REFERENCE-MACHINE.md`) whole cells shift between runs by more than their within-run CI:
//! two back-to-back quick runs of the same build here differed by up to 29% on single stable cells,
//! with as many "improvements" as "regressions". So the comparison also estimates the between-run
//! spread from the data: σ_b² = (1.4826 × MAD of ln(ratio) over every cell stable in both
//! runs)² minus the median within-cell variance of ln(ratio) (from each cell's interval, at its
//! own level), at least 0 (a robust standard deviation of what the cells' own intervals do not explain; most
//! cells of a comparison do not change, so their spread *is* the noise; a real change moves the
//! median, not the MAD much, and inflating σ_b only makes the gate more conservative). Each cell's CI is widened by ± z·σ_b in log space, where z is the two-sided
//! normal quantile at family-wise α = 5% Bonferroni-corrected for the number of judged cells
//! (hundreds of cells are judged at once; without the correction some would always look changed).
//! With fewer than [`MIN_CELLS_FOR_NOISE`] judged cells σ_b is 0 (no estimate is possible).
//!
//! **Verdict.** A *regression* is an established slowdown of practical size: the whole widened
//! CI of the ratio lies above 1 and the ratio is at least 1 + threshold/2, on a cell that is
//! stable (`ok`: ≥ 5 samples, robust spread ≤ 25%) in both runs *or compared paired* (a paired
//! interval is as wide as the pairs' spread, so an unstable cell gets a wide CI rather than no
//! judgement: `make calibrate` found that excluding them left a +44% slowdown of `main`'s
//! ping-pong unflagged, because the slowed build's cells were often unstable); an *improvement* is the mirror
//! image. (Requiring the whole CI above 1 + threshold would catch a slowdown of exactly the
//! threshold less than half the time; half the threshold on the point estimate keeps
//! significant-but-negligible changes from failing a build. `make calibrate` measures the false
//! positives and the power of this rule.) A within-run CI that excludes 1 without meeting that bar is reported as
//! *significant, within threshold*; unstable cells compared unpaired are *not judged*. Same-machine A/B runs with
//! interleaved rounds (`make bench-ab`) shrink σ_b and so make the gate sharper.
//!
//! **Run-level sign test.** When a change slows many cells by different amounts, σ_b is inflated
//! by the change itself and few single cells clear the widened bar. Drift between runs is
//! symmetric (as many cells move up as down), a slowdown is not: among the stable cells whose
//! point ratio lies beyond the threshold, the number above 1 + threshold is Binomial(n, ½) under
//! "no change". A one-sided exact binomial p below [`SIGN_TEST_ALPHA`] (with n ≥
//! [`MIN_CELLS_FOR_NOISE`]) is a *run-level regression*, which fails the comparison like a
//! cell regression does.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use crate::env::Provenance;
use crate::record::{CellStatus, RawSample, SummaryRow};
use crate::report::text::esc;
use crate::stats;
use crate::{raw, summarize};

/// Confidence of each cell's paired interval in `compare`: 98%, so an unchanged cell falls
/// wholly above 1 at most 1% of the time (the A/A bar: `compare` flags ≤ 1% of cells). At 95%
/// the gate's own A/A (`make calibrate`, level 0: 10 interleaved rounds) flagged 1 of 35
/// unchanged cells as a regression and 1 as an improvement, as a 2.5%-per-side rate predicts.
/// Needs ≥ 7 rounds.
pub const PAIRED_CI_LEVEL_PCT: f64 = 98.0;

/// Confidence of each cell's unpaired interval (two runs not interleaved: the percentile
/// bootstrap of the ratio of medians): 98% as well, for the same 1%-per-side bar. At 95% the
/// A/A pair of the calibration at `a8189a8` (two quick runs back to back) had 7 of 531 judged
/// cells flagged as regressions (1.3%), each by an interval whose lower end was 1.011–1.051;
/// the per-side rate of a 95% interval is 2.5% by construction, so the bar could only be met by
/// luck.
pub const UNPAIRED_CI_LEVEL_PCT: f64 = 98.0;

/// Default regression threshold: 5%.
pub const DEFAULT_THRESHOLD: f64 = 0.05;

/// Fewest cells stable in both runs from which the between-run spread is estimated.
pub const MIN_CELLS_FOR_NOISE: usize = 10;

/// Family-wise error rate of the regression gate across all judged cells.
pub const FAMILY_ALPHA: f64 = 0.05;

/// Significance level of the run-level sign test.
pub const SIGN_TEST_ALPHA: f64 = 0.01;

/// Reads one provenance field as text.
pub type FieldGetter = fn(&Provenance) -> String;

/// Provenance fields that must match for a comparison to make claims (name, accessor).
pub const GATED_FIELDS: &[(&str, FieldGetter)] = &[
    ("hostname", |p| p.hostname.clone()),
    ("cpu_model", |p| p.cpu_model.clone()),
    ("logical_cores", |p| format!("{:?}", p.logical_cores)),
    ("available_parallelism", |p| format!("{:?}", p.available_parallelism)),
    ("virtualization", |p| p.virtualization.clone()),
    ("os", |p| p.os.clone()),
    ("arch", |p| p.arch.clone()),
    ("kernel", |p| p.kernel.clone()),
    ("rustc", |p| p.rustc.clone()),
    ("profile", |p| p.profile.clone()),
    ("pinning", |p| p.pinning.clone()),
    ("allocator", |p| p.allocator.clone()),
    ("clock", |p| p.clock.clone()),
    ("run.mode", |p| p.run.mode.clone()),
    ("run.gate", |p| p.run.gate.to_string()),
    ("crate_versions", |p| {
        p.crate_versions.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    }),
];

/// A provenance field whose value differs between the runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    /// Field name as in [`GATED_FIELDS`].
    pub field: &'static str,
    /// OLD's value.
    pub old: String,
    /// NEW's value.
    pub new: String,
}

/// Every gated field that differs.
pub fn provenance_diff(old: &Provenance, new: &Provenance) -> Vec<FieldDiff> {
    GATED_FIELDS
        .iter()
        .filter_map(|(name, get)| {
            let (a, b) = (get(old), get(new));
            (a != b).then_some(FieldDiff { field: name, old: a, new: b })
        })
        .collect()
}

/// What happened to one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Slowdown whose whole widened CI lies above 1, ratio ≥ 1 + threshold/2, on a cell stable in
    /// both runs or compared paired.
    Regression,
    /// Measured in OLD, not measured in NEW (failed, gap, missing).
    Lost,
    /// Speed-up: the mirror image of [`Verdict::Regression`].
    Improvement,
    /// The CI excludes 1 but does not lie entirely beyond the threshold.
    SmallChange,
    /// The CI of the ratio contains 1.
    NoChange,
    /// Unpaired and a side is not stable (or too few samples): no claim.
    NotJudged,
    /// The primary unit differs (per-task vs per-op): incomparable.
    UnitChanged,
    /// Not measured in either run, or only in NEW / only in OLD without a measurement.
    Unmeasured,
    /// Only in NEW.
    Added,
    /// Only in OLD.
    Removed,
    /// `--descriptive`: ratio only, no claim.
    Descriptive,
}

impl Verdict {
    /// Display text.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "**REGRESSION**",
            Verdict::Lost => "**LOST** (was measured)",
            Verdict::Improvement => "improvement",
            Verdict::SmallChange => "significant, not beyond threshold",
            Verdict::NoChange => "~ (no significant change)",
            Verdict::NotJudged => "not judged (unstable, unpaired)",
            Verdict::UnitChanged => "unit changed: not comparable",
            Verdict::Unmeasured => "not measured",
            Verdict::Added => "added",
            Verdict::Removed => "removed",
            Verdict::Descriptive => "descriptive only",
        }
    }
    /// Whether this verdict fails the comparison (exit 1).
    pub fn fails(self) -> bool {
        matches!(self, Verdict::Regression | Verdict::Lost)
    }
}

/// One joined cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellComparison {
    /// Stable workload id.
    pub workload: String,
    /// Stable param id.
    pub param: String,
    /// Stable contender id.
    pub contender: String,
    /// Primary unit (NEW's, else OLD's).
    pub unit: String,
    /// OLD status and median.
    pub old: Option<(CellStatus, Option<f64>)>,
    /// NEW status and median.
    pub new: Option<(CellStatus, Option<f64>)>,
    /// new ÷ old: the paired Hodges–Lehmann ratio when `paired`, else median(new) / median(old).
    pub ratio: Option<f64>,
    /// CI of the ratio: the distribution-free paired interval at [`PAIRED_CI_LEVEL_PCT`] when
    /// `paired`, else a two-sample percentile bootstrap at [`UNPAIRED_CI_LEVEL_PCT`].
    pub ci: Option<(f64, f64)>,
    /// Whether the ratio pairs sample *s* of OLD with sample *s* of NEW (≥ 6 common indices).
    pub paired: bool,
    /// Verdict.
    pub verdict: Verdict,
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// OLD's run id.
    pub old_run: String,
    /// NEW's run id.
    pub new_run: String,
    /// Gated provenance fields that differ.
    pub differs: Vec<FieldDiff>,
    /// Whether the comparison is descriptive (provenance differs and `--descriptive`).
    pub descriptive: bool,
    /// Threshold as a fraction (0.05 = 5%).
    pub threshold: f64,
    /// Cells in OLD's row order, then cells only in NEW.
    pub cells: Vec<CellComparison>,
    /// Samples per cell requested in OLD and NEW.
    pub samples: (u32, u32),
    /// Build features (env.json `features`) of OLD and NEW: not gated (a slowed build must be
    /// comparable, that is its purpose) but printed when they differ.
    pub features: (Vec<String>, Vec<String>),
    /// The revision OLD's and NEW's binaries were built from, short SHA with `-dirty` when dirty
    /// (see `git_label`).
    pub git: (String, String),
    /// Between-run spread σ_b of ln(ratio) (robust, from the judged cells stable in both runs).
    pub between_run_sigma: f64,
    /// The Bonferroni-corrected z the CIs were widened with (× σ_b, in log space).
    pub z: f64,
    /// Judged cells: stable in both runs, or paired (the family the correction is over).
    pub judged: usize,
    /// Whether the runs were compared as interleaved ([`Options::interleaved`]).
    pub interleaved: bool,
    /// Samples per round of an interleaved comparison ([`Options::samples_per_round`]).
    pub samples_per_round: u32,
    /// Run-level sign test: (cells slower beyond the threshold, cells faster beyond it,
    /// one-sided binomial p of that many or more slower under "no change").
    pub sign_test: (usize, usize, f64),
}

impl Comparison {
    /// Number of cells whose verdict fails the comparison.
    pub fn failures(&self) -> usize {
        self.cells.iter().filter(|c| c.verdict.fails()).count() + usize::from(self.run_regression())
    }

    /// Whether the run-level sign test finds a slowdown (module docs).
    pub fn run_regression(&self) -> bool {
        let (up, down, p) = self.sign_test;
        !self.descriptive && up + down >= MIN_CELLS_FOR_NOISE && p < SIGN_TEST_ALPHA
    }
}

/// Why a comparison could not be made.
#[derive(Debug)]
pub enum CompareError {
    /// Provenance differs and `--descriptive` was not given (exit 2).
    Refused(Vec<FieldDiff>),
    /// A run folder cannot be read (exit 2 as well: bad input).
    Input(anyhow::Error),
}

impl std::fmt::Display for CompareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompareError::Refused(d) => {
                writeln!(
                    f,
                    "refusing to compare runs measured under different conditions ({} \
                     provenance field{} differ); pass --descriptive for a labelled descriptive \
                     table without verdicts:",
                    d.len(),
                    if d.len() == 1 { "" } else { "s" }
                )?;
                for x in d {
                    writeln!(f, "  {}: {:?} (old) vs {:?} (new)", x.field, x.old, x.new)?;
                }
                Ok(())
            }
            CompareError::Input(e) => write!(f, "{e:#}"),
        }
    }
}

type Key = (String, String, String);

fn cell_samples(samples: &[RawSample]) -> HashMap<Key, Vec<&RawSample>> {
    let mut m: HashMap<Key, Vec<&RawSample>> = HashMap::new();
    for s in samples {
        m.entry((s.workload.clone(), s.param.clone(), s.contender.clone())).or_default().push(s);
    }
    m
}

/// Loads two run folders and compares them (see the module docs).
///
/// # Errors
/// [`CompareError::Input`] when a folder cannot be loaded (`raw::load_run`);
/// [`CompareError::Refused`] when gated provenance differs and `descriptive` is false.
pub fn compare_dirs(
    old: &Path,
    new: &Path,
    threshold: f64,
    descriptive: bool,
) -> Result<Comparison, CompareError> {
    compare_dirs_with(
        old,
        new,
        &Options { threshold, descriptive, interleaved: false, samples_per_round: 1 },
    )
}

/// How to compare.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Smallest change of practical size, as a fraction (0.05 = 5%).
    pub threshold: f64,
    /// Compare even when the provenance differs (ratios only, no verdicts).
    pub descriptive: bool,
    /// The runs' samples were taken in the same rounds (`make bench-ab`): pair them by round.
    pub interleaved: bool,
    /// With `interleaved`: how many consecutive sample indices one round added to each side
    /// (bench-ab's SAMPLES_PER_ROUND); the round, not the sample, is the unit of the pairs.
    pub samples_per_round: u32,
}

/// [`compare_dirs`] with every option.
///
/// # Errors
/// As [`compare_dirs`].
pub fn compare_dirs_with(
    old: &Path,
    new: &Path,
    opts: &Options,
) -> Result<Comparison, CompareError> {
    let (os, op) = raw::load_run(old).map_err(CompareError::Input)?;
    let (ns, np) = raw::load_run(new).map_err(CompareError::Input)?;
    compare_runs_with(&os, &op, &ns, &np, opts)
}

/// [`compare_dirs`] on loaded runs (not interleaved: unpaired).
///
/// # Errors
/// [`CompareError::Refused`] when gated provenance differs and `descriptive` is false.
pub fn compare_runs(
    old_samples: &[RawSample],
    old_prov: &Provenance,
    new_samples: &[RawSample],
    new_prov: &Provenance,
    threshold: f64,
    descriptive: bool,
) -> Result<Comparison, CompareError> {
    let opts = Options { threshold, descriptive, interleaved: false, samples_per_round: 1 };
    compare_runs_with(old_samples, old_prov, new_samples, new_prov, &opts)
}

/// [`compare_dirs_with`] on loaded runs.
///
/// # Errors
/// [`CompareError::Refused`] when gated provenance differs and `descriptive` is false.
pub fn compare_runs_with(
    old_samples: &[RawSample],
    old_prov: &Provenance,
    new_samples: &[RawSample],
    new_prov: &Provenance,
    opts: &Options,
) -> Result<Comparison, CompareError> {
    let Options { threshold, descriptive, interleaved, samples_per_round } = *opts;
    let differs = provenance_diff(old_prov, new_prov);
    if !differs.is_empty() && !descriptive {
        return Err(CompareError::Refused(differs));
    }
    // Identical conditions keep their verdicts even with --descriptive: it only licenses
    // comparing runs whose provenance differs.
    let descriptive = !differs.is_empty();
    let old_rows = summarize::summarize_for(old_samples, Some(old_prov));
    let new_rows = summarize::summarize_for(new_samples, Some(new_prov));
    let (old_cells, new_cells) = (cell_samples(old_samples), cell_samples(new_samples));
    let key = |r: &SummaryRow| (r.workload.clone(), r.param.clone(), r.contender.clone());
    let new_by: HashMap<Key, &SummaryRow> = new_rows.iter().map(|r| (key(r), r)).collect();
    let old_by: HashMap<Key, &SummaryRow> = old_rows.iter().map(|r| (key(r), r)).collect();
    let mut cells = Vec::new();
    for o in &old_rows {
        let k = key(o);
        let n = new_by.get(&k).copied();
        let old_recs: Vec<&RawSample> = old_cells.get(&k).cloned().unwrap_or_default();
        let new_recs: Vec<&RawSample> = new_cells.get(&k).cloned().unwrap_or_default();
        let vals = |r: &[&RawSample]| summarize::primary_values(r);
        let pairs = if interleaved {
            crate::verdict::round_pairs_of(&new_recs, &old_recs, samples_per_round)
        } else {
            Vec::new() // runs taken one after the other: sample s of each shares only an index
        };
        cells.push(judge(o, n, &vals(&old_recs), &vals(&new_recs), &pairs, threshold, descriptive));
    }
    let (between_run_sigma, z, judged) = apply_noise_floor(&mut cells, threshold);
    let sign_test = sign_test(&cells, threshold);
    for n in new_rows.iter().filter(|r| !old_by.contains_key(&key(r))) {
        cells.push(CellComparison {
            workload: n.workload.clone(),
            param: n.param.clone(),
            contender: n.contender.clone(),
            unit: n.unit.clone(),
            old: None,
            new: Some((n.status, n.median())),
            ratio: None,
            ci: None,
            paired: false,
            verdict: Verdict::Added,
        });
    }
    Ok(Comparison {
        old_run: old_prov.run_id.clone(),
        new_run: new_prov.run_id.clone(),
        differs,
        descriptive,
        threshold,
        cells,
        samples: (old_prov.run.samples, new_prov.run.samples),
        features: (old_prov.features.clone(), new_prov.features.clone()),
        git: (git_label(old_prov), git_label(new_prov)),
        between_run_sigma,
        z,
        judged,
        interleaved,
        samples_per_round,
        sign_test,
    })
}

/// Counts the stable cells whose point ratio is beyond the threshold, up and down, and the
/// one-sided exact binomial tail P(X ≥ up) for X ~ Binomial(up + down, ½).
fn sign_test(cells: &[CellComparison], threshold: f64) -> (usize, usize, f64) {
    let judged = cells.iter().filter(|c| {
        matches!(
            c.verdict,
            Verdict::Regression | Verdict::Improvement | Verdict::SmallChange | Verdict::NoChange
        )
    });
    let (mut up, mut down) = (0usize, 0usize);
    for r in judged.filter_map(|c| c.ratio) {
        if r > 1.0 + threshold {
            up += 1;
        } else if r < 1.0 - threshold {
            down += 1;
        }
    }
    (up, down, binomial_upper_tail(up + down, up))
}

/// P(X ≥ k) for X ~ Binomial(n, ½), summed exactly in log space (ln C(n, i) − n ln 2).
fn binomial_upper_tail(n: usize, k: usize) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let ln_fact = |m: usize| (1..=m).map(|i| (i as f64).ln()).sum::<f64>();
    let (ln_n, ln2) = (ln_fact(n), std::f64::consts::LN_2);
    (k..=n)
        .map(|i| (ln_n - ln_fact(i) - ln_fact(n - i) - n as f64 * ln2).exp())
        .sum::<f64>()
        .min(1.0)
}

/// Re-judges the judged cells (stable in both runs, or paired) with their CIs widened by the between-run noise (module docs).
/// Returns (σ_b, z, number of judged cells).
fn apply_noise_floor(cells: &mut [CellComparison], threshold: f64) -> (f64, f64, usize) {
    let judged: Vec<usize> = (0..cells.len())
        .filter(|&i| {
            matches!(
                cells[i].verdict,
                Verdict::Regression
                    | Verdict::Improvement
                    | Verdict::SmallChange
                    | Verdict::NoChange
            ) && cells[i].ratio.is_some_and(|r| r > 0.0)
        })
        .collect();
    // σ_b is estimated from the cells stable in both runs only: an unstable cell judged because
    // it is paired would inflate it with its own within-run spread, which its CI already holds.
    let stable_in_both = |c: &CellComparison| {
        matches!(c.old, Some((CellStatus::Ok, _))) && matches!(c.new, Some((CellStatus::Ok, _)))
    };
    let noise: Vec<usize> = judged.iter().copied().filter(|&i| stable_in_both(&cells[i])).collect();
    let logs: Vec<f64> = noise.iter().filter_map(|&i| cells[i].ratio).map(f64::ln).collect();
    // Each cell's own interval already holds its within-run error; only the spread of the
    // cells' ratios beyond that error is between-run noise, so the typical within-cell variance
    // (from the intervals' widths in log space, each at its own level) is subtracted before
    // widening.
    let half_width_z = |paired: bool| {
        let level = if paired { PAIRED_CI_LEVEL_PCT } else { UNPAIRED_CI_LEVEL_PCT };
        stats::normal_quantile(1.0 - (1.0 - level / 100.0) / 2.0)
    };
    let within: Vec<f64> = noise
        .iter()
        .filter_map(|&i| cells[i].ci.map(|ci| (ci, half_width_z(cells[i].paired))))
        .filter(|((lo, hi), _)| *lo > 0.0 && *hi > 0.0)
        .map(|((lo, hi), z)| ((hi.ln() - lo.ln()) / (2.0 * z)).powi(2))
        .collect();
    let sigma = if logs.len() >= MIN_CELLS_FOR_NOISE {
        let med = stats::median(&logs).unwrap_or(0.0);
        let dev: Vec<f64> = logs.iter().map(|x| (x - med).abs()).collect();
        let total = (stats::MAD_TO_SD * stats::median(&dev).unwrap_or(0.0)).powi(2);
        (total - stats::median(&within).unwrap_or(0.0)).max(0.0).sqrt()
    } else {
        0.0
    };
    let z = stats::normal_quantile(1.0 - FAMILY_ALPHA / (2.0 * judged.len().max(1) as f64));
    for &i in &judged {
        let Some((lo, hi)) = cells[i].ci else { continue };
        let (wlo, whi) = ((lo.ln() - z * sigma).exp(), (hi.ln() + z * sigma).exp());
        let r = cells[i].ratio.unwrap_or(1.0);
        cells[i].verdict = match classify(r, wlo, whi, threshold) {
            // The widened interval decides regressions and improvements; a change the
            // within-run interval alone establishes is still reported as small.
            Verdict::NoChange if lo > 1.0 || hi < 1.0 => Verdict::SmallChange,
            v => v,
        };
    }
    (sigma, z, judged.len())
}

/// The rule for one cell with ratio `r` and interval `[lo, hi]` (module docs, *Verdict*): a
/// regression when the whole interval lies above 1 and `r` ≥ 1 + threshold/2; an improvement,
/// mirrored; a small change when the interval excludes 1 otherwise; else no change.
fn classify(r: f64, lo: f64, hi: f64, threshold: f64) -> Verdict {
    if lo > 1.0 && r >= 1.0 + threshold / 2.0 {
        Verdict::Regression
    } else if hi < 1.0 && r <= 1.0 / (1.0 + threshold / 2.0) {
        Verdict::Improvement
    } else if lo > 1.0 || hi < 1.0 {
        Verdict::SmallChange
    } else {
        Verdict::NoChange
    }
}

/// The revision a run's **binary** was built from: `env.json`'s `build` facts when the build saw
/// a git checkout, else the checkout the run started in (runs recorded before `build` existed,
/// and binaries built outside git, e.g. `make bench-ab`'s base from `git archive`, which run
/// from the current checkout and so would otherwise be labelled with the new revision).
fn git_label(p: &Provenance) -> String {
    let label = |full: &str, dirty: Option<bool>| {
        let sha = &full[..full.len().min(10)];
        match dirty {
            Some(false) => sha.to_string(),
            Some(true) => format!("{sha}-dirty"),
            None => format!("{sha} (dirty state unknown)"),
        }
    };
    match &p.build {
        Some(b) if b.git_sha != "unknown" => label(&b.git_sha, b.git_dirty),
        Some(_) => format!("built outside git, run in checkout {}", label(&p.git_sha, p.git_dirty)),
        None => label(&p.git_sha, p.git_dirty),
    }
}

fn judge(
    o: &SummaryRow,
    n: Option<&SummaryRow>,
    old_vals: &[f64],
    new_vals: &[f64],
    new_old_pairs: &[(f64, f64)],
    threshold: f64,
    descriptive: bool,
) -> CellComparison {
    let mut c = CellComparison {
        workload: o.workload.clone(),
        param: o.param.clone(),
        contender: o.contender.clone(),
        unit: o.unit.clone(),
        old: Some((o.status, o.median())),
        new: n.map(|n| (n.status, n.median())),
        ratio: None,
        ci: None,
        paired: false,
        verdict: Verdict::Removed,
    };
    let Some(n) = n else { return c };
    c.unit = n.unit.clone();
    let (om, nm) = (o.median(), n.median());
    c.verdict = match (om, nm) {
        (None, _) => Verdict::Unmeasured,
        (Some(_), None) if descriptive => Verdict::Descriptive,
        (Some(_), None) => Verdict::Lost,
        (Some(_), Some(_)) if o.unit != n.unit => Verdict::UnitChanged,
        (Some(a), Some(b)) => {
            match stats::paired_ratio_at(new_old_pairs, PAIRED_CI_LEVEL_PCT) {
                Some(p) => {
                    c.ratio = Some(p.ratio);
                    c.ci = Some((p.low, p.high));
                    c.paired = true;
                }
                None => {
                    c.ratio = (a > 0.0).then(|| b / a);
                    c.ci = stats::bootstrap_ratio_of_medians_ci_at(
                        old_vals,
                        new_vals,
                        UNPAIRED_CI_LEVEL_PCT,
                    );
                }
            }
            let stable = o.status == CellStatus::Ok && n.status == CellStatus::Ok;
            match (c.ratio, c.ci) {
                _ if descriptive => Verdict::Descriptive,
                // A paired interval already holds the pairs' spread, however wide: an unstable
                // cell gets a wide CI, not a free pass. Unpaired, the bootstrap of two skewed,
                // multi-modal samples is not trusted.
                _ if !stable && !c.paired => Verdict::NotJudged,
                (Some(r), Some((lo, hi))) => classify(r, lo, hi, threshold),
                _ => Verdict::NotJudged,
            }
        }
    };
    c
}

fn pct(r: f64) -> String {
    format!("{:+.1}%", (r - 1.0) * 100.0)
}

/// Renders the comparison as markdown: header with both run ids and the method, provenance
/// differences, the verdict counts, then one table of every joined cell (failures first).
pub fn render_markdown(c: &Comparison) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Comparison `{}` → `{}`\n", c.old_run, c.new_run);
    if c.descriptive {
        let _ = writeln!(
            md,
            "> **Descriptive only.** The runs were measured under different conditions (see \
             below) or `--descriptive` was given: the ratios are arithmetic facts about two \
             runs, not statistical findings, and no regression verdict is made.\n"
        );
    }
    let pairing = if c.interleaved {
        format!("interleaved, {} samples per round", c.samples_per_round)
    } else {
        "not interleaved (unpaired)".to_string()
    };
    let bar = 1.0 + c.threshold / 2.0;
    let _ = writeln!(
        md,
        "Method: per cell (joined by workload · param · contender), the ratio new/old of the \
         per-sample primary metric (ns/task or ns/op) with a confidence interval (CI): paired by round for \
         interleaved runs (`--interleaved N`, as `make bench-ab` adds N samples per side per ABBA \
         round) holding ≥ 7 common rounds (Hodges–Lehmann of the per-round ratios of medians, \
         signed-rank interval at 98%: an unchanged cell lies wholly beyond 1 at most 1% of the \
         time per side), else ratio of medians with a 98% percentile bootstrap ({} \
         resamples, fixed seed). These runs: {}. Each CI is \
         widened by ± z·σ_b in log space for the between-run noise: σ_b = {:.4} (1.4826 × MAD of \
         ln ratio over the judged cells stable in both runs, less their median within-cell \
         variance), z = {:.2} (two-sided, family-wise α = {} Bonferroni-corrected over the {} \
         judged cells: stable, i.e. ok: ≥ 5 samples and robust spread ≤ 25%, in both runs, or \
         paired). *Regression*: the whole widened CI above 1 and the ratio ≥ {bar:.3}; \
         *improvement*: the mirror image (ratio ≤ 1/{bar:.3}); a cell measured before and not now is \
         *lost* (also a failure). Samples per cell: {} old, {} new.\n",
        stats::BOOTSTRAP_RESAMPLES,
        pairing,
        c.between_run_sigma,
        c.z,
        FAMILY_ALPHA,
        c.judged,
        c.samples.0,
        c.samples.1
    );
    let _ = writeln!(md, "Builds: old `{}`, new `{}`.\n", c.git.0, c.git.1);
    if c.features.0 != c.features.1 {
        let _ = writeln!(
            md,
            "> Build features differ: old [{}], new [{}] (`slow-test` is a deliberately slowed \
             build).\n",
            c.features.0.join(", "),
            c.features.1.join(", ")
        );
    }
    if !c.differs.is_empty() {
        let _ = writeln!(md, "| Provenance field | old | new |\n|---|---|---|");
        for d in &c.differs {
            let _ = writeln!(md, "| {} | {} | {} |", d.field, esc(&d.old), esc(&d.new));
        }
        md.push('\n');
    }
    let mut counts: BTreeMap<Verdict, usize> = BTreeMap::new();
    for x in &c.cells {
        *counts.entry(x.verdict).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(v, n)| format!("{n} {}", v.as_str())).collect();
    let _ = writeln!(
        md,
        "**Result:** {} ({} cells: {}).\n",
        if c.descriptive {
            "descriptive comparison, no verdict".to_string()
        } else if c.run_regression() {
            format!(
                "**run-level REGRESSION** (sign test: {} stable cells slower beyond the threshold, \
                 {} faster, one-sided p = {:.1e}) and {} regressed or lost cell(s)",
                c.sign_test.0,
                c.sign_test.1,
                c.sign_test.2,
                c.failures() - 1
            )
        } else if c.failures() > 0 {
            format!("{} regression(s) or lost cell(s)", c.failures())
        } else {
            format!(
                "no regression beyond {:.0}% (sign test: {} stable cells slower beyond it, {} \
                 faster, one-sided p = {:.2})",
                c.threshold * 100.0,
                c.sign_test.0,
                c.sign_test.1,
                c.sign_test.2
            )
        },
        c.cells.len(),
        summary.join(", ")
    );
    let _ = writeln!(
        md,
        "| Workload · param · contender | unit | old median | new median | new/old | 98% CI | verdict |\n\
         |---|---|---:|---:|---:|---|---|"
    );
    let mut order: Vec<&CellComparison> = c.cells.iter().collect();
    order.sort_by_key(|x| !x.verdict.fails());
    for x in order {
        let side = |s: &Option<(CellStatus, Option<f64>)>| match s {
            None => "—".to_string(),
            Some((_, Some(m))) => format!("{m:.1}"),
            Some((st, None)) => st.as_str().to_string(),
        };
        let ratio = x.ratio.map_or("—".to_string(), |r| format!("{r:.3} ({})", pct(r)));
        let ci = x.ci.map_or("—".to_string(), |(lo, hi)| format!("[{lo:.3}, {hi:.3}]"));
        let _ = writeln!(
            md,
            "| `{}` · `{}` · `{}` | {} | {} | {} | {} | {} | {} |",
            esc(&x.workload),
            esc(&x.param),
            esc(&x.contender),
            x.unit,
            side(&x.old),
            side(&x.new),
            ratio,
            ci,
            x.verdict.as_str()
        );
    }
    md
}

/// Parses a threshold: `5%`, `5` (percent) or `0.05%`; must lie in (0, 1000) percent.
///
/// # Errors
/// Not a number, or out of range.
pub fn parse_threshold(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%');
    let v: f64 = t.parse().map_err(|_| format!("threshold {s:?} is not a percentage like 5%"))?;
    if !(v > 0.0 && v < 1000.0) {
        return Err(format!("threshold {s:?} must be between 0% and 1000%"));
    }
    Ok(v / 100.0)
}
