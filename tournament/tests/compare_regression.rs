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
    // The "slowed build": main 20% slower on every sample; baseline 3% slower (within threshold).
    let slowed: Vec<RawSample> = valid_samples()
        .into_iter()
        .map(|mut s| {
            match s.contender.as_str() {
                "main" => s.wall_ns = s.wall_ns * 12 / 10,
                "baseline" => s.wall_ns = s.wall_ns * 103 / 100,
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
    // A threshold above the slowdown reports none.
    let c = compare_dirs(a.path(), b.path(), 0.25, false).unwrap();
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
