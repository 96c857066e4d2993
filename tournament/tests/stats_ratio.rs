//! The bootstrap CI of a ratio of medians used by `compare`.

use tournament::stats::bootstrap_ratio_of_medians_ci;

#[test]
fn ratio_ci_is_deterministic_and_brackets_the_ratio() {
    let old = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 99.8];
    let new: Vec<f64> = old.iter().map(|x| x * 1.3).collect();
    let (lo, hi) = bootstrap_ratio_of_medians_ci(&old, &new).unwrap();
    assert!(lo <= 1.3 && 1.3 <= hi && lo > 1.2 && hi < 1.4, "{lo} {hi}");
    assert_eq!(bootstrap_ratio_of_medians_ci(&old, &new), Some((lo, hi)));
    // Order of the inputs does not matter.
    let mut shuffled = new.clone();
    shuffled.reverse();
    assert_eq!(bootstrap_ratio_of_medians_ci(&old, &shuffled), Some((lo, hi)));
    // Identical data: the interval contains 1.
    let (lo, hi) = bootstrap_ratio_of_medians_ci(&old, &old).unwrap();
    assert!(lo <= 1.0 && 1.0 <= hi);
    assert_eq!(bootstrap_ratio_of_medians_ci(&[], &old), None);
    assert_eq!(bootstrap_ratio_of_medians_ci(&[0.0, 0.0], &old), None);
}
