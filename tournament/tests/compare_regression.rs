//! `compare`: identical runs show no regression; a slowed copy is reported; differing
//! provenance is refused unless descriptive; lost cells fail.

use std::path::Path;

use tournament::compare::{CompareError, Verdict, compare_dirs, parse_threshold, render_markdown};
use tournament::record::{RawSample, SampleStatus};

mod report_fixture;
use report_fixture::*;

const NEW_RUN: &str = "20260102T000000Z-def5678";

/// Writes a run with `samples` (run id changed to NEW_RUN) and the fixture's provenance.
fn write_new(dir: &Path, samples: Vec<RawSample>, edit: impl Fn(&mut tournament::env::Provenance)) {
    let s: Vec<RawSample> = samples
        .into_iter()
        .map(|mut s| {
            s.run_id = NEW_RUN.into();
            s
        })
        .collect();
    write_run(dir, &s);
    let mut p = provenance();
    p.run_id = NEW_RUN.into();
    p.git_sha = "def5678000000000000000000000000000000000".into();
    edit(&mut p);
    p.write_json(dir).unwrap();
}

fn verdict(c: &tournament::compare::Comparison, w: &str, p: &str, who: &str) -> Verdict {
    c.cells.iter().find(|x| x.workload == w && x.param == p && x.contender == who).unwrap().verdict
}

#[test]
fn identical_runs_have_no_regression() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    valid_run(a.path());
    write_new(b.path(), valid_samples(), |_| {});
    let c = compare_dirs(a.path(), b.path(), 0.05, false).unwrap();
    assert_eq!(c.failures(), 0);
    assert_eq!(verdict(&c, "burst", "b=100", "main"), Verdict::NoChange);
    assert_eq!(verdict(&c, "burst", "b=100", "alt-three"), Verdict::NotJudged, "unstable");
    let x = c.cells.iter().find(|x| x.contender == "main" && x.param == "b=100").unwrap();
    assert_eq!(x.ratio, Some(1.0));
    let (lo, hi) = x.ci.unwrap();
    assert!(lo <= 1.0 && 1.0 <= hi);
    let md = render_markdown(&c);
    assert!(md.contains("no regression beyond 5%"), "{md}");
}

#[test]
fn slowed_run_is_reported() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    valid_run(a.path());
    // The "slowed build": main 20% slower on every sample; baseline 2% slower (below half the
    // threshold, the smallest paired slowdown `compare` flags).
    let slowed: Vec<RawSample> = valid_samples()
        .into_iter()
        .map(|mut s| {
            match s.contender.as_str() {
                "main" => s.wall_ns = s.wall_ns * 12 / 10,
                "baseline" => s.wall_ns = s.wall_ns * 102 / 100,
                _ => {}
            }
            s
        })
        .collect();
    write_new(b.path(), slowed, |_| {});
    let c = compare_dirs(a.path(), b.path(), 0.05, false).unwrap();
    assert_eq!(verdict(&c, "burst", "b=100", "main"), Verdict::Regression);
    assert_eq!(verdict(&c, "burst", "b=1000", "main"), Verdict::Regression);
    assert_eq!(verdict(&c, "ping", "n=1", "main"), Verdict::Regression);
    assert_ne!(verdict(&c, "burst", "b=1000", "baseline"), Verdict::Regression);
    assert_eq!(c.failures(), 3);
    let x = c.cells.iter().find(|x| x.contender == "main" && x.param == "n=1").unwrap();
    assert!((x.ratio.unwrap() - 1.2).abs() < 1e-9);
    assert!(x.ci.unwrap().0 > 1.0);
    let md = render_markdown(&c);
    assert!(
        md.contains("| `ping` · `n=1` · `main` | ns/task | 1000.0 | 1200.0 | 1.200 (+20.0%) |"),
        "{md}"
    );
    assert!(md.contains("**REGRESSION**"));
    // A cell is flagged from half the threshold up (power at the threshold itself), so a
    // threshold above twice the slowdown reports none.
    let c = compare_dirs(a.path(), b.path(), 0.45, false).unwrap();
    assert_eq!(c.failures(), 0);
}

#[test]
fn lost_cell_is_a_failure() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    valid_run(a.path());
    let mut s: Vec<RawSample> = valid_samples()
        .into_iter()
        .filter(|s| !(s.contender == "main" && s.param == "n=1"))
        .collect();
    s.push(RawSample {
        status: SampleStatus::Failed,
        reason: Some("contender panicked: boom".into()),
        ..rec("ping", "n=1", "main", 0, 1.0)
    });
    write_new(b.path(), s, |_| {});
    let c = compare_dirs(a.path(), b.path(), 0.05, false).unwrap();
    assert_eq!(verdict(&c, "ping", "n=1", "main"), Verdict::Lost);
    assert_eq!(c.failures(), 1);
}

#[test]
fn differing_provenance_is_refused_unless_descriptive() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    valid_run(a.path());
    write_new(b.path(), valid_samples(), |p| {
        p.kernel = "6.18.0".into();
        p.run.mode = "full".into();
    });
    match compare_dirs(a.path(), b.path(), 0.05, false) {
        Err(e @ CompareError::Refused(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("kernel: \"6.1.0\" (old) vs \"6.18.0\" (new)"), "{msg}");
            assert!(msg.contains("run.mode"), "{msg}");
            assert!(msg.contains("--descriptive"), "{msg}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let c = compare_dirs(a.path(), b.path(), 0.05, true).unwrap();
    assert!(c.descriptive);
    assert_eq!(c.failures(), 0);
    assert!(c.cells.iter().all(|x| !matches!(x.verdict, Verdict::NoChange | Verdict::Regression)));
    assert!(render_markdown(&c).contains("**Descriptive only.**"));
}

#[test]
fn threshold_parsing() {
    assert_eq!(parse_threshold("5%"), Ok(0.05));
    assert_eq!(parse_threshold("12.5"), Ok(0.125));
    assert!(parse_threshold("0%").is_err());
    assert!(parse_threshold("five").is_err());
}

/// 40 cells of one contender; NEW scales cell i by `factor(i)` (every sample of it, plus a tiny
/// within-cell jitter so each within-run CI is tight).
fn many_cells(factor: impl Fn(usize) -> f64) -> (Vec<RawSample>, Vec<RawSample>) {
    let (mut old, mut new) = (Vec::new(), Vec::new());
    for i in 0..40 {
        let p = format!("b={i}");
        for s in 0..7u32 {
            let jitter = 1.0 + f64::from(s) * 0.001;
            old.push(rec("burst", &p, "main", s, 100.0 * jitter));
            let mut n = rec("burst", &p, "main", s, 100.0 * jitter * factor(i));
            n.run_id = NEW_RUN.into();
            new.push(n);
        }
    }
    (old, new)
}

#[test]
fn between_run_drift_is_not_a_regression_but_a_uniform_slowdown_is() {
    let (old_p, mut new_p) = (provenance(), provenance());
    new_p.run_id = NEW_RUN.into();
    // Drift like two back-to-back runs on the VM: cells move by up to ±8% in both directions;
    // one cell moves +15%. Its own within-run CI excludes 1.05, but it is within the noise.
    let drift = |i: usize| if i == 7 { 1.15 } else { 1.0 + ((i * 37 % 17) as f64 - 8.0) / 100.0 };
    let (old, new) = many_cells(drift);
    let c = tournament::compare::compare_runs(&old, &old_p, &new, &new_p, 0.05, false).unwrap();
    let x = c.cells.iter().find(|x| x.param == "b=7").unwrap();
    assert!(x.ci.unwrap().0 > 1.05, "the within-run CI alone would flag it: {:?}", x.ci);
    assert_ne!(x.verdict, Verdict::Regression);
    assert_eq!(c.failures(), 0);
    assert_eq!(c.judged, 40);
    assert!(c.between_run_sigma > 0.03 && c.between_run_sigma < 0.1, "{}", c.between_run_sigma);
    assert!((c.z - 3.23).abs() < 0.01, "Bonferroni z for 40 cells: {}", c.z);
    // A real slowdown moves every cell: 1.5× ± the same small drift is a regression everywhere.
    let (old, new) = many_cells(|i| 1.5 * (1.0 + ((i * 37 % 17) as f64 - 8.0) / 400.0));
    let c = tournament::compare::compare_runs(&old, &old_p, &new, &new_p, 0.05, false).unwrap();
    assert!(c.run_regression());
    assert_eq!(c.failures(), 41, "40 cells and the run-level sign test: {}", render_markdown(&c));
}

#[test]
fn a_slowdown_of_many_cells_by_different_amounts_is_a_run_level_regression() {
    let (old_p, mut new_p) = (provenance(), provenance());
    new_p.run_id = NEW_RUN.into();
    // Like the slow-test build: a fixed cost per task slows cheap cells a lot and costly ones a
    // little, so the log ratios spread widely and inflate the between-run noise estimate.
    let (old, new) = many_cells(|i| 1.1 + i as f64 * 0.15);
    let c = tournament::compare::compare_runs(&old, &old_p, &new, &new_p, 0.05, false).unwrap();
    assert!(c.between_run_sigma > 0.2, "{}", c.between_run_sigma);
    assert!(c.run_regression(), "{:?}", c.sign_test);
    assert_eq!(c.sign_test.0, 40);
    assert!(c.failures() >= 1);
    assert!(render_markdown(&c).contains("run-level REGRESSION"));
    // Symmetric drift is not.
    let (old, new) = many_cells(|i| if i % 2 == 0 { 1.08 } else { 0.92 });
    let c = tournament::compare::compare_runs(&old, &old_p, &new, &new_p, 0.05, false).unwrap();
    assert!(!c.run_regression(), "{:?}", c.sign_test);
    assert!(c.sign_test.2 > 0.4);
}

#[test]
fn interleaved_runs_judge_an_unstable_cell_by_its_pairs_and_unpaired_runs_do_not() {
    let (old_p, mut new_p) = (provenance(), provenance());
    new_p.run_id = NEW_RUN.into();
    // 39 stable cells that do not change, and one cell whose samples spread over 60–400 (robust
    // spread far above 25%: unstable) while each NEW sample is its OLD twin slowed by 30%, as
    // when both builds meet the same machine state in an interleaved round.
    let (mut old, mut new) = many_cells(|_| 1.0);
    old.retain(|s| s.param != "b=39");
    new.retain(|s| s.param != "b=39");
    for (s, v) in [100.0, 200.0, 60.0, 300.0, 90.0, 150.0, 400.0].into_iter().enumerate() {
        old.push(rec("burst", "b=39", "main", s as u32, v));
        let mut n = rec("burst", "b=39", "main", s as u32, v * 1.3);
        n.run_id = NEW_RUN.into();
        new.push(n);
    }
    let cell = |c: &tournament::compare::Comparison| {
        c.cells.iter().find(|x| x.param == "b=39").unwrap().clone()
    };
    let unpaired =
        tournament::compare::compare_runs(&old, &old_p, &new, &new_p, 0.05, false).unwrap();
    assert!(!unpaired.interleaved);
    assert_eq!(cell(&unpaired).verdict, Verdict::NotJudged);
    assert!(!cell(&unpaired).paired);
    let opts = tournament::compare::Options {
        threshold: 0.05,
        descriptive: false,
        interleaved: true,
        samples_per_round: 1,
    };
    let paired = tournament::compare::compare_runs_with(&old, &old_p, &new, &new_p, &opts).unwrap();
    let x = cell(&paired);
    assert!(x.paired);
    assert!((x.ratio.unwrap() - 1.3).abs() < 1e-6, "{:?}", x.ratio);
    assert_eq!(x.verdict, Verdict::Regression, "{}", render_markdown(&paired));
    assert_eq!(paired.failures(), 1, "the 39 unchanged cells stay unflagged");
    assert!(render_markdown(&paired).contains("These runs: interleaved, 1 samples per round."));
    // Rounds of 3 samples: 7 samples make 3 rounds, too few for a paired interval (6), so the
    // cell is compared unpaired and, being unstable, not judged.
    let opts = tournament::compare::Options { samples_per_round: 3, ..opts };
    let by_3 = tournament::compare::compare_runs_with(&old, &old_p, &new, &new_p, &opts).unwrap();
    assert!(!cell(&by_3).paired);
    assert_eq!(cell(&by_3).verdict, Verdict::NotJudged);
}

/// The "Builds" line names the revision each binary was built from (`env.json` `build`), not the
/// checkout it ran in: `make bench-ab` runs a base binary built from `git archive` (no git, so
/// `unknown`) in the new checkout.
#[test]
fn builds_line_names_the_binarys_revision_not_the_checkout() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_run(a.path(), &valid_samples());
    let mut old = provenance();
    old.build = Some(tournament::env::BuildInfo {
        git_sha: "unknown".into(),
        git_dirty: None,
        ..tournament::env::BuildInfo::current()
    });
    old.write_json(a.path()).unwrap();
    write_new(b.path(), valid_samples(), |p| {
        p.build = Some(tournament::env::BuildInfo {
            git_sha: "0123456789abcdef000000000000000000000000".into(),
            git_dirty: Some(false),
            ..tournament::env::BuildInfo::current()
        });
    });
    let md = render_markdown(&compare_dirs(a.path(), b.path(), 0.05, false).unwrap());
    let line = md.lines().find(|l| l.starts_with("Builds:")).expect("a Builds line");
    assert_eq!(
        line,
        "Builds: old `built outside git, run in checkout abc1234000`, new `0123456789`."
    );
}
