//! The `tournament` binary: exit codes and messages of validate, compare, merge, index, and a
//! tiny resumable smoke run.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

mod report_fixture;
use report_fixture::*;

fn tournament(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tournament")).args(args).output().expect("runs the binary")
}

fn p(d: &Path) -> &str {
    d.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn validate_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    valid_run(tmp.path());
    let o = tournament(&["validate", p(tmp.path())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = tmp.path().join("summary.csv");
    let text = fs::read_to_string(&csv).unwrap();
    fs::write(
        &csv,
        text.replace(
            "burst,b=1000,main,ok,,ns/task,,5,0,41.000",
            "burst,b=1000,main,ok,,ns/task,,5,0,39.000",
        ),
    )
    .unwrap();
    let o = tournament(&["validate", p(tmp.path())]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("violation(s):"), "{err}");
    assert!(
        err.contains("[recompute] burst · b=1000 · main: median_ns_per_task = \"39.000\""),
        "{err}"
    );
    // An unreadable folder is a runtime failure too, with the file named.
    let o = tournament(&["validate", "/nonexistent/run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/run/raw.jsonl"));
    // `report` regenerates and validates: the hand edit is gone afterwards.
    let o = tournament(&["report", p(tmp.path())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(tournament(&["validate", p(tmp.path())]).status.code(), Some(0));
}

#[test]
fn compare_exit_codes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    valid_run(a.path());
    valid_run(b.path());
    let o = tournament(&["compare", p(a.path()), p(b.path())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("# Comparison"));

    // Slowed: every main sample 50% slower.
    let slowed: Vec<_> = valid_samples()
        .into_iter()
        .map(|mut s| {
            if s.contender == "main" {
                s.wall_ns = s.wall_ns * 3 / 2;
            }
            s
        })
        .collect();
    write_run(b.path(), &slowed);
    tournament::report::regenerate(b.path()).unwrap();
    let md = b.path().join("cmp.md");
    let o =
        tournament(&["compare", p(a.path()), p(b.path()), "--threshold", "10%", "--out", p(&md)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(fs::read_to_string(&md).unwrap().contains("**REGRESSION**"));

    // Different machine: refused with exit 2, unless descriptive.
    let mut prov = provenance();
    prov.cpu_model = "Other CPU".into();
    prov.write_json(b.path()).unwrap();
    let o = tournament(&["compare", p(a.path()), p(b.path())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cpu_model: \"Test CPU\" (old) vs \"Other CPU\" (new)"),
        "{}",
        stderr(&o)
    );
    let o = tournament(&["compare", p(a.path()), p(b.path()), "--descriptive"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Descriptive only"));
    // Bad input: exit 2 as well.
    assert_eq!(tournament(&["compare", p(a.path()), "/nonexistent"]).status.code(), Some(2));
    assert_eq!(
        tournament(&["compare", p(a.path()), p(a.path()), "--threshold", "x"]).status.code(),
        Some(2)
    );
}

#[test]
fn merge_and_index() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("run-a"), root.path().join("run-b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    valid_run(&a);
    valid_run(&b);
    let mut prov = provenance();
    prov.os = "macos".into();
    prov.hostname = "mac".into();
    prov.write_json(&b).unwrap();
    let o = tournament(&["merge", p(&a), p(&b)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("Descriptive only"), "{md}");
    assert!(md.contains("| 2 | `20260101T000000Z-abc1234`"), "{md}");
    assert!(md.contains("| mac | macos / x86_64 |"), "{md}");
    assert!(
        md.contains("| `main` | 50.0 ns/task, 0.50× baseline | 50.0 ns/task, 0.50× baseline |"),
        "{md}"
    );

    let o = tournament(&["index", p(root.path())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let idx = fs::read_to_string(root.path().join("README.md")).unwrap();
    assert!(idx.contains("[`run-a`](run-a/SUMMARY.md)"), "{idx}");
    // run-b's SUMMARY.md was rendered with the other provenance: not valid any more.
    assert!(idx.contains("| **no** (1 violations) |"), "{idx}");
    assert!(idx.contains("| yes |"), "{idx}");
}

#[test]
fn smoke_run_resumes_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let args = [
        "--smoke",
        "--no-gate",
        "--contenders",
        "baseline",
        "--workloads",
        "burst",
        "--samples",
        "2",
    ];
    let mut first = vec!["run"];
    first.extend(args);
    first.extend(["--out", p(&out)]);
    let o = tournament(&first);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let raw = fs::read_to_string(out.join("raw.jsonl")).unwrap();
    let lines: Vec<&str> = raw.lines().collect();
    assert!(lines.len() >= 2);
    // Interrupt: keep only the first record, drop the reports.
    fs::write(out.join("raw.jsonl"), format!("{}\n", lines[0])).unwrap();
    // A fresh run into the same folder is refused.
    let o = tournament(&first);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    // Resuming with other options is refused.
    let o = tournament(&[
        "run",
        "--smoke",
        "--no-gate",
        "--contenders",
        "baseline",
        "--workloads",
        "ping-pong",
        "--samples",
        "2",
        "--resume",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("another plan"), "{}", stderr(&o));
    let mut resume = vec!["run"];
    resume.extend(args);
    resume.extend(["--resume", p(&out)]);
    let o = tournament(&resume);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let again = fs::read_to_string(out.join("raw.jsonl")).unwrap();
    assert_eq!(again.lines().count(), lines.len(), "every sample exactly once");
    assert_eq!(again.lines().next(), Some(lines[0]), "the kept record is not re-measured");
    assert!(stderr(&o).contains("resuming"), "{}", stderr(&o));
    assert_eq!(tournament(&["validate", p(&out)]).status.code(), Some(0));
    // More samples extend the run: two more per cell, env.json updated, still valid.
    let mut more = vec!["run", "--smoke", "--no-gate", "--contenders", "baseline"];
    more.extend(["--workloads", "burst", "--samples", "4", "--resume", p(&out)]);
    let o = tournament(&more);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let extended = fs::read_to_string(out.join("raw.jsonl")).unwrap();
    assert_eq!(extended.lines().count(), 2 * lines.len());
    assert!(fs::read_to_string(out.join("env.json")).unwrap().contains("\"samples\": 4"));
    assert_eq!(tournament(&["validate", p(&out)]).status.code(), Some(0));
    // A cut-off last line is refused with a clear message.
    fs::write(out.join("raw.jsonl"), format!("{}\n{{\"schema\":1,", lines[0])).unwrap();
    let o = tournament(&resume);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_run_split_over_processes_measures_every_share_under_the_same_placement() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = tournament(&[
        "run",
        "--smoke",
        "--no-gate",
        "--contenders",
        "main,baseline",
        "--workloads",
        "burst",
        "--samples",
        "6",
        "--processes",
        "3",
        "--out",
        p(&out),
    ]);
    // A child that inherited the pinned harness thread's single CPU would have another
    // placement (`pinning` in env.json) and its resume is refused: exit 1.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("process 2/3") && err.contains("process 3/3"), "{err}");
    assert_eq!(err.matches("main vs every rival (").count(), 1, "one headline, at the end: {err}");
    let env = fs::read_to_string(out.join("env.json")).unwrap();
    assert!(env.contains("\"processes\": 3"), "{env}");
    assert!(env.contains("\"samples\": 6"), "{env}");
    let raw = fs::read_to_string(out.join("raw.jsonl")).unwrap();
    let mut per_cell = std::collections::BTreeMap::<(String, String), Vec<u64>>::new();
    for l in raw.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let cell = (v["param"].as_str().unwrap().to_string(), v["contender"].to_string());
        per_cell.entry(cell).or_default().push(v["sample"].as_u64().unwrap());
    }
    assert_eq!(per_cell.len(), 2 * 2, "two burst points × two contenders: {per_cell:?}");
    for (cell, mut samples) in per_cell {
        samples.sort_unstable();
        assert_eq!(samples, (0..6).collect::<Vec<_>>(), "{cell:?}: samples 0..6, 2 per process");
    }
    assert_eq!(tournament(&["validate", p(&out)]).status.code(), Some(0));
    // --processes splits a new run only.
    let o = tournament(&["run", "--smoke", "--processes", "2", "--resume", p(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_run_ends_with_the_headline_and_records_its_verdict_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = tournament(&[
        "run",
        "--smoke",
        "--no-gate",
        "--contenders",
        "main,baseline",
        "--workloads",
        "burst",
        "--samples",
        "6",
        "--margin",
        "5%",
        "--seed",
        "0x2a",
        "--strict",
        "--out",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("main vs every rival ("), "{err}");
    assert!(err.contains("margin ±5%"), "{err}");
    assert!(err.contains("report: "), "{err}");
    let env = fs::read_to_string(out.join("env.json")).unwrap();
    assert!(env.contains("\"shuffle_seed\": 42"), "{env}");
    assert!(env.contains("\"margin\": 0.05"), "{env}");
    let csv = fs::read_to_string(out.join("verdicts.csv")).unwrap();
    assert!(csv.lines().nth(1).is_some_and(|l| l.starts_with("burst,")), "{csv}");
    // Same run against itself: every verdict agrees.
    let o = tournament(&["verdict-diff", p(&out), p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("verdicts differ on 0 of "));
    // A flagship that is not selected is a usage error.
    let o = tournament(&["run", "--smoke", "--contenders", "baseline", "--flagship", "main"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--flagship"), "{}", stderr(&o));
}

#[test]
fn failed_cells_are_what_strict_exits_on() {
    let tmp = tempfile::tempdir().unwrap();
    // The fixture itself holds a disqualified contender and a failed cell; those stay listed.
    valid_run(tmp.path());
    let fixture_failures = tournament::report::regenerate(tmp.path()).unwrap().failed_cells;
    assert!(!fixture_failures.iter().any(|c| c.contains("· main:")), "{fixture_failures:?}");
    let mut s = valid_samples();
    s.retain(|r| {
        !(r.workload == "burst" && r.param == "b=100" && r.contender == "main" && r.sample == 0)
    });
    s.push(failed("burst", "b=100", "main", 0, "lost a task"));
    write_run(tmp.path(), &s);
    let outcome = tournament::report::regenerate(tmp.path()).unwrap();
    let mut expected = fixture_failures.clone();
    expected.push("burst · b=100 · main: failed".to_string());
    expected.sort();
    let mut got = outcome.failed_cells;
    got.sort();
    assert_eq!(got, expected);
    valid_run(tmp.path());
    assert_eq!(tournament::report::regenerate(tmp.path()).unwrap().failed_cells, fixture_failures);
}
