//! Hand-checked examples for `tournament::stats`.

use tournament::stats::{
    self, bootstrap_median_ci, cv_pct, decode_histogram, histogram_percentile, latency_summary,
    mean, median, merge_latencies, nearest_rank, nearest_rank_index, new_latency_histogram, stddev,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn nearest_rank_classic_example() {
    // Wikipedia "Percentile", nearest-rank method: [15, 20, 35, 40, 50].
    let f = [15.0, 20.0, 35.0, 40.0, 50.0];
    let u = [15u64, 20, 35, 40, 50];
    for (p, want) in [(5.0, 15), (30.0, 20), (40.0, 20), (50.0, 35), (100.0, 50)] {
        assert_eq!(nearest_rank(&f, p), Some(want as f64), "p{p}");
        assert_eq!(nearest_rank(&u, p), Some(want), "p{p}");
    }
    assert_eq!(nearest_rank(&u, 0.0), Some(15), "p0 is the first value");
    assert_eq!(nearest_rank(&u, 20.0), Some(15), "rank = ceil(1.0) = 1 exactly");
    assert_eq!(nearest_rank(&u, 20.000001), Some(20));
    assert_eq!(nearest_rank::<u64>(&[], 50.0), None);
    assert_eq!(nearest_rank(&u, -1.0), None);
    assert_eq!(nearest_rank(&u, 100.5), None);
    assert_eq!(nearest_rank(&u, f64::NAN), None);
}

#[test]
fn nearest_rank_is_robust_to_decimal_percentiles() {
    // p × n is an exact integer mathematically; binary rounding must not push it to rank + 1.
    assert_eq!(nearest_rank_index(1000, 99.9), Some(998)); // rank 999
    assert_eq!(nearest_rank_index(100, 99.0), Some(98)); // rank 99
    assert_eq!(nearest_rank_index(10, 90.0), Some(8)); // rank 9
    assert_eq!(nearest_rank_index(3, 100.0 / 3.0), Some(0)); // rank 1
    assert_eq!(nearest_rank_index(10_000, 99.99), Some(9998));
    assert_eq!(nearest_rank_index(7, 100.0), Some(6));
    assert_eq!(nearest_rank_index(0, 50.0), None);
}

#[test]
fn median_mean_stddev_cv_hand_example() {
    // Classic example: mean 5, Σ(x − 5)² = 32, sample variance 32/7.
    let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
    assert_eq!(mean(&xs), Some(5.0));
    assert_eq!(median(&xs), Some(4.5));
    let sd = stddev(&xs).unwrap();
    assert!(close(sd, (32.0f64 / 7.0).sqrt()), "{sd}");
    let cv = cv_pct(&xs).unwrap();
    assert!(close(cv, (32.0f64 / 7.0).sqrt() / 5.0 * 100.0), "{cv}");
    assert!(close(cv, 42.761798705987), "{cv}");
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(stats::min(&xs), Some(2.0));
    assert_eq!(stats::max(&xs), Some(9.0));
    // Undefined cases give None, not NaN.
    assert_eq!(median(&[]), None);
    assert_eq!(mean(&[]), None);
    assert_eq!(stddev(&[1.0]), None);
    assert_eq!(cv_pct(&[1.0]), None);
    assert_eq!(cv_pct(&[0.0, 0.0]), None);
    // sd = 10, mean = 30.
    assert!(close(cv_pct(&[20.0, 40.0, 20.0, 40.0, 30.0]).unwrap(), 100.0 / 3.0));
}

#[test]
fn bootstrap_ci_contains_median_and_is_deterministic() {
    let xs = [101.0, 99.5, 100.2, 98.7, 103.9, 100.0, 97.8, 100.4, 99.9, 102.2];
    let m = median(&xs).unwrap();
    let (lo, hi) = bootstrap_median_ci(&xs).unwrap();
    assert!(lo <= m && m <= hi, "[{lo}, {hi}] must contain {m}");
    assert!(lo >= 97.8 && hi <= 103.9, "within the data range");
    assert!(lo < hi, "non-degenerate for spread data");
    // Same input → bit-identical output; sample order does not matter.
    let again = bootstrap_median_ci(&xs).unwrap();
    assert_eq!(again.0.to_bits(), lo.to_bits());
    assert_eq!(again.1.to_bits(), hi.to_bits());
    let mut rev = xs;
    rev.reverse();
    assert_eq!(bootstrap_median_ci(&rev), Some((lo, hi)));
    // Degenerate inputs.
    assert_eq!(bootstrap_median_ci(&[]), None);
    assert_eq!(bootstrap_median_ci(&[7.0]), Some((7.0, 7.0)));
    assert_eq!(bootstrap_median_ci(&[5.0; 6]), Some((5.0, 5.0)));
}

#[test]
fn bootstrap_ci_contains_median_for_many_inputs() {
    for n in 5..40usize {
        let xs: Vec<f64> = (0..n).map(|i| ((i * 7919) % 97) as f64 + 0.5 * i as f64).collect();
        let m = median(&xs).unwrap();
        let (lo, hi) = bootstrap_median_ci(&xs).unwrap();
        assert!(lo <= m && m <= hi, "n={n}: [{lo}, {hi}] vs {m}");
    }
}

#[test]
fn latency_summary_percentiles_are_nearest_rank() {
    // Values below 2048 are exact at 3 significant digits.
    let mut h = new_latency_histogram();
    let values: Vec<u64> = (1..=1000).map(|i| (i * 37) % 1999 + 1).collect();
    for &v in &values {
        h.record(v).unwrap();
    }
    let mut sorted = values.clone();
    sorted.sort_unstable();
    let s = latency_summary(&h);
    assert_eq!(s.count, 1000);
    assert_eq!(s.min_ns, sorted[0]);
    assert_eq!(s.p50_ns, nearest_rank(&sorted, 50.0).unwrap());
    assert_eq!(s.p90_ns, nearest_rank(&sorted, 90.0).unwrap());
    assert_eq!(s.p99_ns, nearest_rank(&sorted, 99.0).unwrap());
    assert_eq!(s.p999_ns, nearest_rank(&sorted, 99.9).unwrap());
    assert_eq!(s.max_ns, *sorted.last().unwrap());
    // The serialization round-trips.
    let back = decode_histogram(&s.histogram_v2_base64).unwrap();
    assert_eq!(back.len(), 1000);
    assert_eq!(latency_summary(&back), s);
}

#[test]
fn merged_histograms_give_percentiles_of_the_union() {
    let mut a = new_latency_histogram();
    let mut b = new_latency_histogram();
    for v in 1..=100u64 {
        a.record(v).unwrap();
    }
    for v in 101..=300u64 {
        b.record(v).unwrap();
    }
    b.record(1_000_000).unwrap(); // a large value: reported as its bucket's highest equivalent
    let (sa, sb) = (latency_summary(&a), latency_summary(&b));
    let merged = merge_latencies(&[&sa, &sb]).unwrap();
    assert_eq!(merged.len(), 301);
    let mut union: Vec<u64> = (1..=300).collect();
    union.push(1_000_000);
    for p in [0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.5] {
        let want = nearest_rank(&union, p).unwrap();
        assert_eq!(histogram_percentile(&merged, p), Some(want), "p{p}");
    }
    let top = histogram_percentile(&merged, 100.0).unwrap();
    assert_eq!(top, merged.highest_equivalent(1_000_000));
    assert!((1_000_000..1_001_000).contains(&top), "within 3 significant digits: {top}");
    // Not the average of the two samples' medians (50 and 200), but the union's (151).
    assert_eq!(histogram_percentile(&merged, 50.0), Some(151));
    // Empty input → empty histogram.
    assert_eq!(merge_latencies(&[]).unwrap().len(), 0);
    assert_eq!(latency_summary(&new_latency_histogram()).count, 0);
}

#[test]
fn corrupt_histograms_are_errors() {
    let mut h = new_latency_histogram();
    h.record(5).unwrap();
    let mut s = latency_summary(&h);
    s.count = 2;
    let err = merge_latencies(&[&s]).unwrap_err().to_string();
    assert!(err.contains("count"), "{err}");
    s.count = 1;
    s.histogram_v2_base64 = "not base64!".into();
    assert!(merge_latencies(&[&s]).is_err());
    s.histogram_v2_base64 = "AAAA".into(); // valid base64, not a histogram
    assert!(merge_latencies(&[&s]).is_err());
}

#[test]
fn normal_quantile_matches_tabulated_values() {
    use tournament::stats::{normal_cdf, normal_quantile};
    for (p, z) in [(0.5, 0.0), (0.975, 1.959_964), (0.995, 2.575_829), (0.999, 3.090_232)] {
        assert!((normal_quantile(p) - z).abs() < 1e-4, "p={p}: {}", normal_quantile(p));
        assert!((normal_quantile(1.0 - p) + z).abs() < 1e-4);
        assert!((normal_cdf(z) - p).abs() < 1e-6);
    }
    // Bonferroni over 500 cells at family-wise 5%: the two-sided quantile is ≈ 3.89.
    let z = normal_quantile(1.0 - 0.05 / 1000.0);
    assert!((z - 3.8906).abs() < 1e-3, "{z}");
}

#[test]
fn robust_spread_ignores_one_outlier_that_the_cv_does_not() {
    let xs = [100.0, 101.0, 99.0, 100.0, 102.0, 98.0, 100.0, 400.0];
    assert_eq!(stats::mad(&xs), Some(1.0));
    let rcv = stats::robust_cv_pct(&xs).unwrap();
    assert!((rcv - 1.4826).abs() < 1e-9, "{rcv}");
    // sd/mean is inflated by the one outlier: about 77%.
    assert!(cv_pct(&xs).unwrap() > 70.0);
    assert_eq!(stats::robust_cv_pct(&[5.0]), None);
    assert_eq!(stats::robust_cv_pct(&[0.0, 0.0, 0.0]), None);
}

/// Against the published critical values of the Wilcoxon signed-rank test (two-sided α = 0.05:
/// n = 6 → 0, 8 → 3, 10 → 8, 15 → 25, 20 → 52; e.g. Hollander, Wolfe and Chicken 2014, Table
/// A.4): the CI index k is the critical value + 1, and n = 5 admits no 95% interval.
#[test]
fn signed_rank_ci_index_matches_the_tables() {
    let p = stats::signed_rank_null(3);
    let want = [1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0].map(|x| x / 8.0);
    assert_eq!(p, want);
    assert_eq!(stats::signed_rank_ci_index(5), None);
    for (n, crit) in [(6, 0), (8, 3), (10, 8), (15, 25), (20, 52)] {
        let (k, conf) = stats::signed_rank_ci_index(n).unwrap();
        assert_eq!(k, crit + 1, "n = {n}");
        assert!((0.95..0.99).contains(&conf), "n = {n}: {conf}");
    }
    assert_eq!(stats::signed_rank_ci_index(6).unwrap().1, 1.0 - 2.0 / 64.0);
}

#[test]
fn paired_ratio_is_hodges_lehmann_on_log_ratios() {
    // Constant ratio: estimate and interval are exactly it.
    let pairs: Vec<(f64, f64)> = (1..=8).map(|i| (0.5 * f64::from(i), f64::from(i))).collect();
    let r = stats::paired_ratio(&pairs).unwrap();
    assert_eq!(r.n, 8);
    assert!((r.ratio - 0.5).abs() < 1e-12 && (r.low - 0.5).abs() < 1e-12);
    // Ratios e^{-2..=3} (log-ratios -2..=3 symmetric about 0.5): HL estimate e^{0.5}; with n = 6
    // the interval is the extreme Walsh averages, e^{-2} .. e^{3}.
    let pairs: Vec<(f64, f64)> = (-2..=3).map(|d| (f64::from(d).exp(), 1.0)).collect();
    let r = stats::paired_ratio(&pairs).unwrap();
    assert!((r.ratio.ln() - 0.5).abs() < 1e-12, "{r:?}");
    assert!((r.low.ln() + 2.0).abs() < 1e-12 && (r.high.ln() - 3.0).abs() < 1e-12, "{r:?}");
    // One wild pair moves the estimate little (robust), unlike a mean of ratios.
    let mut pairs: Vec<(f64, f64)> = (0..10).map(|i| (1.0 + 0.01 * f64::from(i), 1.0)).collect();
    pairs[9] = (50.0, 1.0);
    let r = stats::paired_ratio(&pairs).unwrap();
    assert!(r.ratio < 1.06, "{r:?}");
    assert!(r.low <= r.ratio && r.ratio <= r.high);
    // Not a time: refused.
    assert_eq!(stats::paired_ratio(&[(0.0, 1.0); 8]), None);
    assert_eq!(stats::paired_ratio(&[(f64::NAN, 1.0); 8]), None);
    assert_eq!(stats::paired_ratio(&[(1.0, 1.0); 5]), None);
}
