//! Statistics used to reduce raw samples: medians, mean, sample standard deviation, coefficient
//! of variation, nearest-rank percentiles, a deterministic bootstrap confidence interval of the
//! median, and helpers to build, (de)serialize and merge latency histograms.
//!
//! Every function here is deterministic: the same input always gives bit-identical output, so
//! reports regenerated from the same `raw.jsonl` are byte-identical. Functions that reduce a
//! slice return `None` for an input on which the statistic is undefined (empty slice, too few
//! values, zero mean) instead of `NaN`, so a report can print an empty cell rather than a
//! number that is not one.
//!
//! Sources of the algorithms are cited on each item.

use std::cmp::Ordering;

use anyhow::{Context, bail};
use base64::prelude::{BASE64_STANDARD, Engine as _};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::record::LatencySummary;

/// Number of bootstrap resamples used by [`bootstrap_median_ci`].
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Fixed seed of the bootstrap's `ChaCha8Rng` (ASCII "tourname"), so the same samples always
/// give the same interval.
pub const BOOTSTRAP_SEED: u64 = 0x746F_7572_6E61_6D65;

/// Confidence level of [`bootstrap_median_ci`], percent.
pub const CI_LEVEL_PCT: f64 = 95.0;

/// Significant decimal digits of every latency histogram (1 part in 1,000 resolution).
pub const LATENCY_SIGFIGS: u8 = 3;

/// Total order on `f64` used for every sort in this crate (IEEE 754 `totalOrder`).
fn cmp_f64(a: &f64, b: &f64) -> Ordering {
    a.total_cmp(b)
}

/// A sorted copy of `xs` (ascending, IEEE 754 total order).
pub fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_unstable_by(cmp_f64);
    v
}

/// Sample median: the middle value of the sorted data, or the arithmetic mean of the two middle
/// values when the count is even (the conventional definition, e.g. NIST/SEMATECH e-Handbook of
/// Statistical Methods §1.3.5.1). `None` for an empty slice. Input need not be sorted.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    Some(median_of_sorted(&sorted(xs)))
}

/// Median of already sorted, non-empty data (see [`median`]).
fn median_of_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

/// Arithmetic mean. `None` for an empty slice.
pub fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    Some(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Sample standard deviation with Bessel's correction (divisor n − 1), computed in two passes
/// (mean first, then the sum of squared deviations) for numerical stability. `None` for fewer
/// than two values.
pub fn stddev(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs)?;
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (xs.len() - 1) as f64).sqrt())
}

/// Coefficient of variation in percent: sample standard deviation / mean × 100. `None` for fewer
/// than two values or a zero mean.
pub fn cv_pct(xs: &[f64]) -> Option<f64> {
    let m = mean(xs)?;
    let sd = stddev(xs)?;
    if m == 0.0 {
        return None;
    }
    Some(sd / m.abs() * 100.0)
}

/// Smallest value. `None` for an empty slice.
pub fn min(xs: &[f64]) -> Option<f64> {
    xs.iter().copied().min_by(cmp_f64)
}

/// Largest value. `None` for an empty slice.
pub fn max(xs: &[f64]) -> Option<f64> {
    xs.iter().copied().max_by(cmp_f64)
}

/// 0-based index of the `p`-th percentile among `n` sorted values by the nearest-rank method:
/// rank = ⌈p/100 × n⌉ (1-based), and rank 1 for p = 0 (Wikipedia, "Percentile", nearest-rank
/// method; the same definition hdrhistogram's `value_at_quantile` uses).
///
/// `p/100 × n` is computed as `p × n / 100` and a relative tolerance of 1e-12 is subtracted before
/// rounding up, so a product that is mathematically an integer but lands one ulp above it in
/// binary floating point (e.g. p = 99.9 with some n) is not pushed to the next rank.
///
/// `None` when `n == 0` or `p` is not within `[0, 100]` (or is NaN).
pub fn nearest_rank_index(n: usize, p: f64) -> Option<usize> {
    if n == 0 || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let x = p * n as f64 / 100.0;
    let rank = (x - x * 1e-12).ceil().max(1.0) as usize;
    Some(rank.min(n) - 1)
}

/// The `p`-th percentile (0 ≤ p ≤ 100) of ascending-sorted data by the nearest-rank method (see
/// [`nearest_rank_index`]): always one of the data values, never an interpolation.
///
/// Works for any copyable element type (`f64`, `u64`, ...). The caller must pass sorted data;
/// this is not checked. `None` for empty data or `p` outside `[0, 100]`.
///
/// Example: for `[15, 20, 35, 40, 50]`, p5 → 15, p30 → 20, p40 → 20, p50 → 35, p100 → 50.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    nearest_rank_index(sorted.len(), p).map(|i| sorted[i])
}

/// Maps a uniformly distributed `u64` onto `0..n` by Lemire's multiply-shift
/// (D. Lemire, "Fast Random Integer Generation in an Interval", ACM TOMACS 29(1), 2019),
/// without the rejection step: the bias is below n / 2⁶⁴, negligible for sample counts. Kept
/// local (rather than `rand`'s `random_range`) so the resampling sequence depends only on the
/// ChaCha8 key stream, which `rand_chacha` guarantees stable.
fn index_below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// 95% confidence interval of the median by the percentile bootstrap (B. Efron and
/// R. Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13): draw
/// [`BOOTSTRAP_RESAMPLES`] resamples of size n with replacement, take the median of each, and
/// return the 2.5th and 97.5th nearest-rank percentiles of those medians as `(low, high)`.
///
/// Deterministic: the input is sorted first (so the order of samples does not matter) and the
/// resampling indices come from a `ChaCha8Rng` seeded with [`BOOTSTRAP_SEED`]; the same values
/// always give the bit-identical interval. Units are those of the input. `None` for an empty
/// slice; a single value gives the degenerate interval `(x, x)`.
///
/// With few values the interval is coarse (it can only take data values or midpoints of two);
/// callers should not report it below [`crate::record::MIN_SAMPLES_FOR_OK`] values.
pub fn bootstrap_median_ci(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.is_empty() {
        return None;
    }
    let data = sorted(xs);
    let n = data.len();
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let mut resample = vec![0.0; n];
    let mut medians = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for slot in resample.iter_mut() {
            *slot = data[index_below(&mut rng, n)];
        }
        resample.sort_unstable_by(cmp_f64);
        medians.push(median_of_sorted(&resample));
    }
    medians.sort_unstable_by(cmp_f64);
    let tail = (100.0 - CI_LEVEL_PCT) / 2.0;
    Some((nearest_rank(&medians, tail)?, nearest_rank(&medians, 100.0 - tail)?))
}

/// 95% confidence interval of the ratio of medians `median(new) / median(old)` by the
/// percentile bootstrap (Efron and Tibshirani 1993, ch. 13, applied to a two-sample statistic):
/// [`BOOTSTRAP_RESAMPLES`] times, resample `old` and `new` independently with replacement (each
/// at its own size), take the ratio of the two resample medians, and return the 2.5th and
/// 97.5th nearest-rank percentiles of those ratios as `(low, high)`. The ratio is unitless.
///
/// Deterministic like [`bootstrap_median_ci`] (inputs sorted first, one `ChaCha8Rng` seeded with
/// [`BOOTSTRAP_SEED`], `old` drawn before `new` in each round). `None` when either slice is
/// empty or a resampled `old` median is not positive (a ratio would be meaningless).
pub fn bootstrap_ratio_of_medians_ci(old: &[f64], new: &[f64]) -> Option<(f64, f64)> {
    bootstrap_ratio_of_medians_ci_at(old, new, CI_LEVEL_PCT)
}

/// [`bootstrap_ratio_of_medians_ci`] at confidence `level_pct` (e.g. 98.0: the
/// (100 − level)/2-th and (100 + level)/2-th nearest-rank percentiles of the resampled ratios).
pub fn bootstrap_ratio_of_medians_ci_at(
    old: &[f64],
    new: &[f64],
    level_pct: f64,
) -> Option<(f64, f64)> {
    if old.is_empty() || new.is_empty() {
        return None;
    }
    let (a, b) = (sorted(old), sorted(new));
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let (mut ra, mut rb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    let mut ratios = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for (src, dst) in [(&a, &mut ra), (&b, &mut rb)] {
            for slot in dst.iter_mut() {
                *slot = src[index_below(&mut rng, src.len())];
            }
            dst.sort_unstable_by(cmp_f64);
        }
        let den = median_of_sorted(&ra);
        if den <= 0.0 {
            return None;
        }
        ratios.push(median_of_sorted(&rb) / den);
    }
    ratios.sort_unstable_by(cmp_f64);
    let tail = (100.0 - level_pct) / 2.0;
    Some((nearest_rank(&ratios, tail)?, nearest_rank(&ratios, 100.0 - tail)?))
}

/// A new empty latency histogram: auto-resizing, [`LATENCY_SIGFIGS`] significant digits, values
/// in ns. Workloads should record into histograms made here so all samples of a cell merge
/// without loss.
pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new(LATENCY_SIGFIGS).expect("3 significant digits is a valid hdrhistogram config")
}

/// Serializes a histogram with hdrhistogram's V2-deflate format (the V2 encoding, compressed
/// with zlib/deflate; a few times smaller for latency histograms) and encodes it in base64: the
/// form stored in [`LatencySummary::histogram_v2_base64`]. Deterministic: the same histogram
/// always gives the same string. Runs recorded before compression hold uncompressed V2, which
/// [`decode_histogram`] reads too.
///
/// # Panics
/// If a bucket count exceeds `i64::MAX` (V2 cannot encode it; impossible below 2⁶³ recordings).
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("V2-deflate serialization into a Vec only fails for counts above i64::MAX");
    BASE64_STANDARD.encode(&bytes)
}

/// Decodes a [`LatencySummary::histogram_v2_base64`] string (standard base64, RFC 4648, of a V2 or V2-deflate
/// serialization) back into a histogram.
///
/// # Errors
/// Invalid base64, or bytes that are not a valid hdrhistogram serialization.
pub fn decode_histogram(b64: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = BASE64_STANDARD.decode(b64).context("latency histogram is not valid base64")?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(|e| {
        anyhow::anyhow!("latency histogram is not a valid hdrhistogram V2 encoding: {e:?}")
    })
}

/// The `p`-th percentile (0 ≤ p ≤ 100) of all values recorded in `h`, by the nearest-rank
/// method over the recorded count (rank as in [`nearest_rank_index`]), reported as the highest
/// value equivalent to the bucket holding that rank (so it never under-reports; this matches
/// hdrhistogram's `value_at_quantile`, but with the rank computed as in [`nearest_rank_index`]).
/// Units: those recorded (ns). `None` for an empty histogram or `p` outside `[0, 100]`.
pub fn histogram_percentile(h: &Histogram<u64>, p: f64) -> Option<u64> {
    let n = usize::try_from(h.len()).ok()?;
    let rank = nearest_rank_index(n, p)? as u64 + 1;
    let mut seen = 0u64;
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        if seen >= rank {
            return Some(h.highest_equivalent(v.value_iterated_to()));
        }
    }
    None
}

/// Builds the [`LatencySummary`] of a histogram of latencies in ns: count, min (`h.min()`),
/// nearest-rank p50/p90/p99/p99.9 ([`histogram_percentile`]), max (`h.max()`, the highest value
/// equivalent to the largest recording), and the V2 base64 serialization ([`encode_histogram`])
/// so the samples of a cell can be merged later. An empty histogram gives count 0 and zeros.
///
/// # Panics
/// As [`encode_histogram`].
pub fn latency_summary(h: &Histogram<u64>) -> LatencySummary {
    let pct = |p| histogram_percentile(h, p).unwrap_or(0);
    let empty = h.is_empty();
    LatencySummary {
        count: h.len(),
        min_ns: if empty { 0 } else { h.min() },
        p50_ns: pct(50.0),
        p90_ns: pct(90.0),
        p99_ns: pct(99.0),
        p999_ns: pct(99.9),
        max_ns: if empty { 0 } else { h.max() },
        histogram_v2_base64: encode_histogram(h),
    }
}

/// Merges the histograms of several latency summaries (e.g. every ok sample of a cell) into one
/// histogram holding the union of their recorded values, so percentiles are computed over all
/// recorded latencies rather than averaged across samples. An empty slice gives an empty
/// histogram.
///
/// # Errors
/// A histogram that does not decode ([`decode_histogram`]), whose recorded count disagrees with
/// its summary's `count` (a corrupt or mismatched record), or that cannot be added.
pub fn merge_latencies(parts: &[&LatencySummary]) -> anyhow::Result<Histogram<u64>> {
    let mut acc = new_latency_histogram();
    for (i, part) in parts.iter().enumerate() {
        let h = decode_histogram(&part.histogram_v2_base64)
            .with_context(|| format!("latency histogram {i} of {}", parts.len()))?;
        if h.len() != part.count {
            bail!(
                "latency histogram {i} of {} holds {} values but its summary says count = {}",
                parts.len(),
                h.len(),
                part.count
            );
        }
        acc.add(&h).map_err(|e| anyhow::anyhow!("cannot merge latency histogram {i}: {e:?}"))?;
    }
    Ok(acc)
}

/// Standard normal CDF Φ(x), via the complementary error function approximation of Abramowitz &
/// Stegun, *Handbook of Mathematical Functions* (1964), formula 7.1.26 (|error| < 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let t_arg = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * t_arg);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-t_arg * t_arg).exp();
    if x >= 0.0 { 1.0 - 0.5 * erfc } else { 0.5 * erfc }
}

/// Standard normal quantile Φ⁻¹(p) for p in (0, 1), by bisection on [`normal_cdf`] (absolute
/// error below 1e-6 in x for p in [1e-12, 1 − 1e-12]; `p` is clamped to that range).
pub fn normal_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let (mut lo, mut hi) = (-8.0_f64, 8.0_f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Median absolute deviation from the median, unscaled: median(|xᵢ − median(x)|) (F. R. Hampel,
/// "The influence curve and its role in robust estimation", JASA 69, 1974). Units: those of the
/// input. `None` for an empty slice.
pub fn mad(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// Scale factor that makes the MAD a consistent estimator of the standard deviation for normal
/// data: 1 / Φ⁻¹(3/4) ≈ 1.4826 (P. J. Rousseeuw and C. Croux, "Alternatives to the median absolute
/// deviation", JASA 88, 1993).
pub const MAD_TO_SD: f64 = 1.4826;

/// Robust coefficient of variation in percent: [`MAD_TO_SD`] × [`mad`] / |median| × 100. Unlike
/// [`cv_pct`] (sd / mean) it is not inflated by one slow outlier of a skewed timing distribution,
/// and it equals the CV for normal data. `None` for fewer than two values or a zero median.
pub fn robust_cv_pct(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = median(xs)?;
    if m == 0.0 {
        return None;
    }
    Some(MAD_TO_SD * mad(xs)? / m.abs() * 100.0)
}

/// Null distribution of the Wilcoxon signed-rank statistic T⁺ for `n` pairs without ties:
/// element `t` is P(T⁺ = t) for t in 0..=n(n+1)/2, computed exactly by the recurrence over the
/// ranks 1..=n (each rank joins T⁺ with probability ½; F. Wilcoxon, "Individual comparisons by
/// ranking methods", Biometrics Bulletin 1, 1945). Probabilities are halved at each step, so
/// they stay exact in `f64` for the sample counts used here (n ≤ 1,000).
pub fn signed_rank_null(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    let mut p = vec![0.0; max + 1];
    p[0] = 1.0;
    for rank in 1..=n {
        let top = rank * (rank + 1) / 2;
        for t in (0..=top).rev() {
            let with = if t >= rank { p[t - rank] } else { 0.0 };
            p[t] = 0.5 * (p[t] + with);
        }
    }
    p
}

/// The order-statistic index of the Hodges–Lehmann confidence interval for `n` pairs: the
/// largest k ≥ 1 such that P(T⁺ ≤ k − 1) ≤ α/2, where α = 1 − [`CI_LEVEL_PCT`]/100 (Hollander,
/// Wolfe and Chicken, *Nonparametric Statistical Methods*, 3rd ed., 2014, §3.3, with
/// C_α = n(n+1)/2 + 1 − t_{α/2}). Returns `(k, achieved confidence)`, the confidence being
/// 1 − 2·P(T⁺ ≤ k − 1) ≥ the nominal level. `None` when no interval reaches the nominal level
/// (n < 6 at 95%).
pub fn signed_rank_ci_index(n: usize) -> Option<(usize, f64)> {
    signed_rank_ci_index_at(n, CI_LEVEL_PCT)
}

/// [`signed_rank_ci_index`] at confidence `level_pct` (e.g. 98.0) instead of [`CI_LEVEL_PCT`].
/// `None` when no interval of `n` pairs reaches it (n < 6 at 95%, n < 7 at 98%).
pub fn signed_rank_ci_index_at(n: usize, level_pct: f64) -> Option<(usize, f64)> {
    let alpha = 1.0 - level_pct / 100.0;
    let null = signed_rank_null(n);
    let mut cum = 0.0;
    let mut best = None;
    for (k_minus_1, p) in null.iter().enumerate() {
        cum += p;
        if cum <= alpha / 2.0 {
            best = Some((k_minus_1 + 1, 1.0 - 2.0 * cum));
        } else {
            break;
        }
    }
    best
}

/// A paired ratio of two contenders' per-sample values with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedRatio {
    /// Number of pairs the estimate uses.
    pub n: usize,
    /// Point estimate of the typical ratio a/b (unitless; < 1 means `a` took less time).
    pub ratio: f64,
    /// Lower end of the confidence interval of the ratio.
    pub low: f64,
    /// Upper end of the confidence interval of the ratio.
    pub high: f64,
    /// Achieved confidence of `[low, high]`, in (0, 1]: at least [`CI_LEVEL_PCT`]/100.
    pub confidence: f64,
}

/// Paired comparison of two contenders from samples taken side by side: pair *i* holds
/// `(aᵢ, bᵢ)`, the values of A and B measured in the same round (so both saw the same machine
/// state). Works on the log-ratios dᵢ = ln aᵢ − ln bᵢ: the estimate is the Hodges–Lehmann
/// estimator (the median of the n(n+1)/2 Walsh averages (dᵢ + dⱼ)/2, i ≤ j) and the interval is
/// the distribution-free one that inverts the Wilcoxon signed-rank test (J. L. Hodges and
/// E. L. Lehmann, "Estimates of location based on rank tests", Ann. Math. Statist. 34, 1963;
/// Hollander, Wolfe and Chicken 2014, §3.2–3.3), both mapped back by exp. The assumption is that
/// the log-ratios are symmetric about their centre; no normality is assumed, and slow outliers of
/// either side move the estimate little.
///
/// Deterministic (sorting by IEEE total order). `None` when fewer than 6 pairs remain (no 95%
/// interval exists), or any value is not finite and positive (a ratio of times needs both).
pub fn paired_ratio(pairs: &[(f64, f64)]) -> Option<PairedRatio> {
    paired_ratio_at(pairs, CI_LEVEL_PCT)
}

/// [`paired_ratio`] with the interval at confidence `level_pct` instead of [`CI_LEVEL_PCT`]
/// (`None` also when no interval of this many pairs reaches it).
pub fn paired_ratio_at(pairs: &[(f64, f64)], level_pct: f64) -> Option<PairedRatio> {
    if pairs.iter().any(|(a, b)| !(a.is_finite() && b.is_finite() && *a > 0.0 && *b > 0.0)) {
        return None;
    }
    let d: Vec<f64> = pairs.iter().map(|(a, b)| a.ln() - b.ln()).collect();
    let n = d.len();
    let (k, confidence) = signed_rank_ci_index_at(n, level_pct)?;
    let mut walsh = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            walsh.push(0.5 * (d[i] + d[j]));
        }
    }
    walsh.sort_unstable_by(cmp_f64);
    let m = walsh.len();
    Some(PairedRatio {
        n,
        ratio: median_of_sorted(&walsh).exp(),
        low: walsh[k - 1].exp(),
        high: walsh[m - k].exp(),
        confidence,
    })
}
