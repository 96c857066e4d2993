//! SUMMARY.md leaderboard, ablations and plots, from hand-built runs.

use std::fs;

use tournament::env::WorkloadInfo;
use tournament::record::RawSample;
use tournament::report::leaderboard::{Category, category_of, wall_verdicts};
use tournament::report::{self, plots};

mod report_fixture;
use report_fixture::*;

/// A sweep workload `mp` over p=1,2,4,8 where `main` is clearly fastest, and an ablation
/// `main/no-spin` that is slower; plus the valid fixture.
fn sweep_samples() -> Vec<RawSample> {
    let mut v = valid_samples();
    for p in [1u32, 2, 4, 8] {
        let param = format!("p={p}");
        for s in 0..5u32 {
            let jitter = f64::from(s) * 0.1;
            v.push(rec("multi-producer", &param, "baseline", s, 100.0 * f64::from(p) + jitter));
            v.push(rec("multi-producer", &param, "main", s, 20.0 * f64::from(p) + jitter));
            v.push(rec("multi-producer", &param, "main/no-spin", s, 30.0 * f64::from(p) + jitter));
        }
    }
    v
}

fn write_sweep(dir: &std::path::Path) -> Vec<RawSample> {
    let s = sweep_samples();
    write_run(dir, &s);
    let mut p = provenance();
    p.run.contenders.push("main/no-spin".into());
    p.run.workloads.push(WorkloadInfo {
        id: "multi-producer".into(),
        description: "P producers".into(),
        timed_scope: "all".into(),
        unit: "ns/task".into(),
        params: ["p=1", "p=2", "p=4", "p=8"].map(String::from).to_vec(),
    });
    p.write_json(dir).unwrap();
    // The ablation contender has no cell in the fixture's other workloads: declare those gaps.
    let mut all = s.clone();
    for (w, p) in [("burst", "b=100"), ("burst", "b=1000"), ("ping", "n=1")] {
        all.push(gap(w, p, "main/no-spin", tournament::record::SampleStatus::Unsupported, "n/a"));
    }
    for p in ["p=1", "p=2", "p=4", "p=8"] {
        for c in ["alt-two", "alt-dq", "alt-three", "alt-one", "tokio-ct"] {
            all.push(gap(
                "multi-producer",
                p,
                c,
                tournament::record::SampleStatus::Unsupported,
                "n/a",
            ));
        }
    }
    write_run(dir, &all);
    p.write_json(dir).unwrap();
    all
}

#[test]
fn categories_follow_the_documented_rules() {
    assert_eq!(category_of("ping-pong-latency"), Category::Latency);
    assert_eq!(category_of("timer-lateness"), Category::Latency);
    assert_eq!(category_of("multi-producer"), Category::Contention);
    assert_eq!(category_of("gc-pressure"), Category::Allocation);
    assert_eq!(category_of("burst"), Category::Throughput);
    assert_eq!(category_of("something-new"), Category::Other);
}

#[test]
fn leaderboard_counts_only_stable_significant_wins() {
    let rows = report::summarize(&valid_samples());
    let v = wall_verdicts(&rows);
    let find = |p: &str| v.iter().find(|x| x.param == p).unwrap();
    // b=100: the lowest median (alt-three) is unstable → undecided, main is not crowned either.
    assert_eq!(find("b=100").winner, None);
    assert!(find("b=100").note.contains("not a stable cell"));
    // b=1000: main 41 [40, 42] vs alt-three 45 (constant) → decided.
    assert_eq!(find("b=1000").winner.as_deref(), Some("main"));
    // ping: main 1000 vs baseline 2000, both ok → decided.
    assert_eq!(find("n=1").winner.as_deref(), Some("main"));
}

#[test]
fn summary_has_leaderboard_ablations_and_sweep_plot() {
    let tmp = tempfile::tempdir().unwrap();
    write_sweep(tmp.path());
    report::regenerate(tmp.path()).unwrap();
    let md = fs::read_to_string(tmp.path().join("SUMMARY.md")).unwrap();
    for needle in [
        "| contention | **`main`** | `main` 4 | 4 / 4 |",
        "| throughput | **`main`** | `main` 1 | 1 / 2 |",
        "## Ablations",
        "### `main/no-spin` vs `main`",
        "4 tables slower, 0 faster, 0 not established.",
        "| `multi-producer` · `p=4` | 1.50× | slower |",
        "![multi-producer sweep over p](plots/multi-producer__sweep.svg)",
    ] {
        assert!(md.contains(needle), "SUMMARY.md lacks {needle:?}:\n{md}");
    }
    let svg =
        fs::read_to_string(tmp.path().join("plots").join(plots::sweep_plot_name("multi-producer")))
            .unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("main/no-spin") && svg.contains("log₂"));
    // Byte-identical on regeneration, plots included; stale plots are removed.
    fs::write(tmp.path().join("plots/stale.svg"), "x").unwrap();
    let before: Vec<_> =
        ["SUMMARY.md", "summary.csv", "plots/multi-producer__sweep.svg", "plots/burst__b_100.svg"]
            .iter()
            .map(|f| fs::read(tmp.path().join(f)).unwrap())
            .collect();
    report::regenerate(tmp.path()).unwrap();
    for (i, f) in
        ["SUMMARY.md", "summary.csv", "plots/multi-producer__sweep.svg", "plots/burst__b_100.svg"]
            .iter()
            .enumerate()
    {
        assert_eq!(fs::read(tmp.path().join(f)).unwrap(), before[i], "{f}");
    }
    assert!(!tmp.path().join("plots/stale.svg").exists());
}

#[test]
fn secondary_metrics_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = valid_samples();
    for r in s.iter_mut().filter(|r| r.workload == "ping" && r.contender == "main") {
        r.metrics.push(tournament::record::RawMetric {
            name: "externals_before_internal".into(),
            unit: "tasks".into(),
            value: f64::from(r.sample),
        });
    }
    write_run(tmp.path(), &s);
    report::regenerate(tmp.path()).unwrap();
    let md = fs::read_to_string(tmp.path().join("SUMMARY.md")).unwrap();
    assert!(md.contains("| Contender | externals_before_internal (tasks) |"), "{md}");
    assert!(md.contains("| `main` | 2.000 |"), "{md}");
}
