//! SUMMARY.md verdicts, ablations and plots, from hand-built runs.

use std::fs;

use tournament::env::WorkloadInfo;
use tournament::record::RawSample;
use tournament::report::{self, plots};
use tournament::summarize;
use tournament::verdict::{self, Category, Role, Verdict, category_of};

mod report_fixture;
use report_fixture::*;

/// A sweep workload `mp` over p=1,2,4,8 where `main` is clearly fastest, and an ablation
/// `main/no-spin` that is slower; plus the valid fixture.
fn sweep_samples() -> Vec<RawSample> {
    let mut v = valid_samples();
    for p in [1u32, 2, 4, 8] {
        let param = format!("p={p}");
        for s in 0..8u32 {
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
    assert_eq!(category_of("alloc-pressure"), Category::Allocation);
    assert_eq!(category_of("burst"), Category::Throughput);
    assert_eq!(category_of("echo"), Category::Network);
    assert_eq!(category_of("something-new"), Category::Other);
}

/// Pairing is what decides: the machine's speed drifts 1× → 8× across rounds, so each
/// contender's samples spread over a factor of 8 and their medians' CIs overlap widely, but in
/// every round `main` takes 0.9× the rival's time, so the paired ratio is exactly 0.9.
#[test]
fn pairing_cancels_drift_that_unpaired_medians_cannot() {
    let mut v = Vec::new();
    for s in 0..8u32 {
        let drift = f64::from(s + 1);
        v.push(rec("drift", "n=1", "main", s, 90.0 * drift));
        v.push(rec("drift", "n=1", "tokio-ct", s, 100.0 * drift));
    }
    let rows = summarize::summarize(&v);
    let (m, t) = (row(&rows, "drift", "n=1", "main"), row(&rows, "drift", "n=1", "tokio-ct"));
    let (m_ci, t_ci) = (m.ci95().unwrap(), t.ci95().unwrap());
    assert!(m_ci.1 > t_ci.0, "the unpaired CIs overlap: {m_ci:?} vs {t_ci:?}");
    let comps = verdict::compare_all(&v, &rows, "main", verdict::DEFAULT_MARGIN);
    assert_eq!(comps.len(), 1);
    let c = &comps[0];
    assert_eq!((c.other.as_str(), c.role, c.pairs), ("tokio-ct", Role::Rival, 8));
    let p = c.paired.unwrap();
    assert!(
        (p.ratio - 0.9).abs() < 1e-9 && (p.low - 0.9).abs() < 1e-9 && (p.high - 0.9).abs() < 1e-9
    );
    assert_eq!(c.verdict, Verdict::Faster);
    // Only samples both measured are paired: drop two of the rival's samples.
    let fewer: Vec<_> =
        v.iter().filter(|r| !(r.contender == "tokio-ct" && r.sample >= 6)).cloned().collect();
    let rows = summarize::summarize(&fewer);
    let c = &verdict::compare_all(&fewer, &rows, "main", 0.03)[0];
    assert_eq!(c.pairs, 6);
    // Below 6 pairs no 95% interval exists: undecided, whatever the ratio.
    let five: Vec<_> = v.iter().filter(|r| r.sample < 5).cloned().collect();
    let rows = summarize::summarize(&five);
    let c = &verdict::compare_all(&five, &rows, "main", 0.03)[0];
    assert_eq!((c.pairs, c.paired, c.verdict), (5, None, Verdict::Undecided));
}

#[test]
fn summary_leads_with_verdicts_then_ablations_and_sweep_plot() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = write_sweep(tmp.path());
    report::regenerate(tmp.path()).unwrap();
    let md = fs::read_to_string(tmp.path().join("SUMMARY.md")).unwrap();
    for needle in [
        "## Verdicts: `main` against every rival",
        "| `main` ÷ … | `baseline` |",
        "| `multi-producer` · `p=4` | ✓ 0.20× <sub>0.20–0.20</sub> |",
        "- **Contention** (4 tables, 4 comparisons): `main` is faster in 4, equivalent in 0, \
         slower in 0, undecided in 0",
        "### Where `main` loses or ties",
        "## What each mechanism buys (ablations)",
        "- `main` vs `main/no-spin`: faster in 4, equivalent in 0, slower in 0, undecided in 0.",
        "![multi-producer sweep over p](plots/multi-producer__sweep.svg)",
    ] {
        assert!(md.contains(needle), "SUMMARY.md lacks {needle:?}:\n{md}");
    }
    // The answer comes first: the verdicts precede the details, within the first 150 lines.
    let verdicts = md.find("## Verdicts").unwrap();
    assert!(verdicts < md.find("## Details").unwrap());
    assert!(md[..verdicts].lines().count() < 20);
    let csv = fs::read_to_string(tmp.path().join("verdicts.csv")).unwrap();
    assert!(csv.starts_with("workload,param,unit,flagship,other,role,pairs,ratio,"), "{csv}");
    assert!(csv.contains("multi-producer,p=4,ns/task,main,main/no-spin,ablation,8,0.667"), "{csv}");
    // Fewer than 6 samples in the fixture's other tables: those comparisons are undecided.
    let rows = summarize::summarize(&samples);
    let comps = verdict::compare_all(&samples, &rows, "main", 0.03);
    assert!(
        comps.iter().filter(|c| c.workload == "burst").all(|c| c.verdict == Verdict::Undecided)
    );
    let svg =
        fs::read_to_string(tmp.path().join("plots").join(plots::sweep_plot_name("multi-producer")))
            .unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("main/no-spin"));
    // Byte-identical on regeneration, plots included; stale plots are removed.
    fs::write(tmp.path().join("plots/stale.svg"), "x").unwrap();
    let files = [
        "SUMMARY.md",
        "summary.csv",
        "verdicts.csv",
        "plots/multi-producer__sweep.svg",
        "plots/burst__b_100.svg",
    ];
    let before: Vec<_> = files.iter().map(|f| fs::read(tmp.path().join(f)).unwrap()).collect();
    report::regenerate(tmp.path()).unwrap();
    for (i, f) in files.iter().enumerate() {
        assert_eq!(fs::read(tmp.path().join(f)).unwrap(), before[i], "{f}");
    }
    assert!(!tmp.path().join("plots/stale.svg").exists());
    // An edited verdict is caught by the validator.
    let edited = String::from_utf8(before[2].clone()).unwrap().replacen("faster", "slower", 1);
    fs::write(tmp.path().join("verdicts.csv"), edited).unwrap();
    let v = report::validate::validate_dir(tmp.path()).unwrap();
    assert!(v.iter().any(|x| x.rule == "verdicts-csv"), "{v:?}");
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
