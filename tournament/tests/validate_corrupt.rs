//! `validate` on a valid run folder and on hand-corrupted copies of it: swapped percentiles, a
//! missing cell, a wrong unit, an edited median, mixed units in raw samples.

use std::fs;
use std::path::Path;

use tournament::record::SampleStatus;
use tournament::report;
use tournament::report::validate::validate_dir;
use tournament::summarize;

mod report_fixture;
use report_fixture::*;

/// Rewrites one field of the summary.csv row `(w, p, c)`.
fn edit_csv(dir: &Path, w: &str, p: &str, c: &str, column: &str, f: impl Fn(&str) -> String) {
    let path = dir.join("summary.csv");
    let text = fs::read_to_string(&path).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header = rdr.headers().unwrap().clone();
    let col = header.iter().position(|h| h == column).unwrap();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&header).unwrap();
    let mut hit = false;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let mut fields: Vec<String> = rec.iter().map(str::to_string).collect();
        if fields[0] == w && fields[1] == p && fields[2] == c {
            fields[col] = f(&fields[col]);
            hit = true;
        }
        out.write_record(&fields).unwrap();
    }
    assert!(hit, "no row {w} {p} {c}");
    fs::write(&path, out.into_inner().unwrap()).unwrap();
}

fn rules(dir: &Path) -> Vec<String> {
    validate_dir(dir).unwrap().iter().map(|v| v.to_string()).collect()
}

fn has(v: &[String], needle: &str) -> bool {
    v.iter().any(|x| x.contains(needle))
}

#[test]
fn valid_fixture_passes() {
    let tmp = tempfile::tempdir().unwrap();
    valid_run(tmp.path());
    assert_eq!(rules(tmp.path()), Vec::<String>::new());
}

#[test]
fn swapped_percentiles_fail() {
    let tmp = tempfile::tempdir().unwrap();
    valid_run(tmp.path());
    // baseline ping: p90 450, p99 495 → swap.
    edit_csv(tmp.path(), "ping", "n=1", "baseline", "p90_ns", |_| "495".into());
    edit_csv(tmp.path(), "ping", "n=1", "baseline", "p99_ns", |_| "450".into());
    let v = rules(tmp.path());
    assert!(has(&v, "[percentiles] ping · n=1 · baseline: p90_ns = 495 > p99_ns = 450"), "{v:#?}");
    assert!(has(&v, "[recompute] ping · n=1 · baseline: p90_ns = \"495\""), "{v:#?}");
}

#[test]
fn missing_cell_fails() {
    // Dropped from summary.csv by hand.
    let tmp = tempfile::tempdir().unwrap();
    valid_run(tmp.path());
    let path = tmp.path().join("summary.csv");
    let text = fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> =
        text.lines().filter(|l| !l.starts_with("burst,b=1000,alt-one,")).collect();
    fs::write(&path, kept.join("\n") + "\n").unwrap();
    let v = rules(tmp.path());
    assert!(has(&v, "[coverage] burst · b=1000 · alt-one: planned in env.json but has no row"));
    assert!(has(&v, "[recompute] burst · b=1000 · alt-one: raw.jsonl yields this ok row"));

    // Lost from raw.jsonl (neither samples nor a gap record): regenerate fails, naming it.
    let tmp = tempfile::tempdir().unwrap();
    let s: Vec<_> = valid_samples()
        .into_iter()
        .filter(|s| !(s.param == "n=1" && s.contender == "main"))
        .collect();
    write_run(tmp.path(), &s);
    let err = format!("{:#}", report::regenerate(tmp.path()).unwrap_err());
    assert!(err.contains("[coverage] ping · n=1 · main: missing cell"), "{err}");
    // ... and a cell of no contender at all (a whole param lost) is caught from the plan.
    let s: Vec<_> = valid_samples().into_iter().filter(|s| s.param != "n=1").collect();
    write_run(tmp.path(), &s);
    let err = format!("{:#}", report::regenerate(tmp.path()).unwrap_err());
    assert!(err.contains("[coverage] ping · n=1 · baseline: planned in env.json"), "{err}");
}

#[test]
fn wrong_unit_fails() {
    let tmp = tempfile::tempdir().unwrap();
    valid_run(tmp.path());
    edit_csv(tmp.path(), "burst", "b=100", "main", "unit", |_| "ns/batch".into());
    let v = rules(tmp.path());
    assert!(has(&v, "[units] burst · b=100 · main: unit \"ns/batch\""), "{v:#?}");
    assert!(has(&v, "fills *_ns_per_task timing columns (units mixed)"), "{v:#?}");
}

#[test]
fn edited_median_fails() {
    let tmp = tempfile::tempdir().unwrap();
    valid_run(tmp.path());
    edit_csv(tmp.path(), "burst", "b=1000", "main", "median_ns_per_task", |_| "40.000".into());
    let v = rules(tmp.path());
    assert!(
        has(
            &v,
            "[recompute] burst · b=1000 · main: median_ns_per_task = \"40.000\", raw.jsonl gives \"41.000\""
        ),
        "{v:#?}"
    );
    assert!(has(&v, "[ratios] burst · b=1000 · alt-three: ratio_to_best"), "{v:#?}");
}

#[test]
fn median_outside_ci_and_hand_edited_summary_md_fail() {
    let tmp = tempfile::tempdir().unwrap();
    valid_run(tmp.path());
    edit_csv(tmp.path(), "burst", "b=100", "baseline", "ci95_high_ns_per_task", |_| {
        "99.000".into()
    });
    let md = tmp.path().join("SUMMARY.md");
    let text = fs::read_to_string(&md).unwrap();
    fs::write(&md, text.replace("**fastest**", "**winner**")).unwrap();
    let v = rules(tmp.path());
    assert!(has(&v, "[ci] burst · b=100 · baseline: median 100 outside its 95% CI"), "{v:#?}");
    assert!(has(&v, "[summary-md]"), "{v:#?}");
}

#[test]
fn per_op_samples_never_mix_with_per_task() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = valid_samples();
    // burst becomes a per-op workload (10 tasks per op) for every sample but one.
    let mut first = true;
    for r in s.iter_mut().filter(|r| r.workload == "burst" && r.status == SampleStatus::Ok) {
        if first {
            first = false;
            continue;
        }
        r.ops = Some(r.tasks / 10);
    }
    write_run(tmp.path(), &s);
    let mut p = provenance();
    p.run.workloads[0].unit = "ns/batch".into();
    p.write_json(tmp.path()).unwrap();
    report::regenerate(tmp.path()).unwrap();
    let rows = summarize::summarize_for(&s, Some(&p));
    let r = row(&rows, "burst", "b=100", "main");
    assert_eq!(r.unit, "ns/batch");
    assert_eq!(r.median_ns_per_task, None);
    assert!(r.median_ns_per_op.is_some() && r.tasks_per_op == Some(10.0));
    // The one per-task sample makes its cell failed rather than mixing units in a median.
    let r = row(&rows, "burst", "b=100", "baseline");
    assert_eq!(r.status, tournament::record::CellStatus::Failed);
    assert!(r.reason.as_deref().unwrap().contains("per-task in a ns/batch workload"), "{r:?}");
    assert_eq!(rules(tmp.path()), Vec::<String>::new());

    // env.json saying per-task while the samples are per-op is a unit violation.
    let mut p = provenance();
    p.run.workloads[0].unit = "ns/task".into();
    p.write_json(tmp.path()).unwrap();
    let err = format!("{:#}", report::regenerate(tmp.path()).unwrap_err());
    assert!(err.contains("[units] burst: env.json declares unit \"ns/task\""), "{err}");
}
