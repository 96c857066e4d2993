//! `report::regenerate` / `summarize` on a hand-built run folder.

use std::fs;
use std::path::Path;

use tournament::raw;
use tournament::record::{CellStatus, RAW_SCHEMA_VERSION, RawSample, SampleStatus, SummaryRow};
use tournament::report;
use tournament::report::regenerate;
use tournament::summarize::summarize;

mod report_fixture;
use report_fixture::*;

#[test]
fn regenerate_writes_summary_and_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &valid_samples());
    regenerate(tmp.path()).unwrap();
    let csv1 = fs::read(tmp.path().join("summary.csv")).unwrap();
    let md1 = fs::read(tmp.path().join("SUMMARY.md")).unwrap();
    regenerate(tmp.path()).unwrap();
    assert_eq!(fs::read(tmp.path().join("summary.csv")).unwrap(), csv1);
    assert_eq!(fs::read(tmp.path().join("SUMMARY.md")).unwrap(), md1);
    // No temporary files left behind.
    let mut names: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["SUMMARY.md", "env.json", "plots", "raw.jsonl", "summary.csv", "verdicts.csv"]
    );
    let svgs = fs::read_dir(tmp.path().join("plots")).unwrap().count();
    assert_eq!(svgs, 3, "one bar chart per (workload, param) with a measured cell");

    // The CSV reads back into the same rows as summarize() produces (at CSV precision).
    let rows = read_csv(tmp.path());
    assert_eq!(rows.len(), 3 * 7);
    let direct = summarize(&valid_samples());
    let key = |r: &SummaryRow| (r.workload.clone(), r.param.clone(), r.contender.clone(), r.status);
    assert_eq!(
        rows.iter().map(key).collect::<Vec<_>>(),
        direct.iter().map(key).collect::<Vec<_>>()
    );
}

#[test]
fn csv_header_and_fixed_precision() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &valid_samples());
    regenerate(tmp.path()).unwrap();
    let text = fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "workload,param,contender,status,reason,unit,tasks_per_op,samples,failed_samples,\
         median_ns_per_task,mean_ns_per_task,stddev_ns_per_task,ci95_low_ns_per_task,\
         ci95_high_ns_per_task,min_ns_per_task,max_ns_per_task,median_ns_per_op,mean_ns_per_op,\
         stddev_ns_per_op,ci95_low_ns_per_op,ci95_high_ns_per_op,min_ns_per_op,max_ns_per_op,\
         cv_pct,rcv_pct,cpu_ns_per_task,blocks_per_task,wake_syscalls_per_task,allocs_per_task,\
         alloc_bytes_per_task,lat_count,p50_ns,p90_ns,p99_ns,p999_ns,max_latency_ns,\
         ratio_to_baseline,ratio_to_best"
    );
    assert_eq!(
        report::render_csv(&[]).unwrap(),
        format!("{}\n", text.lines().next().unwrap()).as_bytes()
    );
    // The explicit header matches the serde field names of SummaryRow.
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(&summarize(&samples())[0]).unwrap();
    let derived = String::from_utf8(w.into_inner().unwrap()).unwrap();
    assert_eq!(derived.lines().next().unwrap(), report::SUMMARY_COLUMNS.join(","));
    let main = lines.find(|l| l.starts_with("burst,b=100,main,")).unwrap();
    // median 50, mean 50.1, min 49, max 51, no per-op columns, cpu 100, blocks 0.01,
    // wakes 0.005, no allocation counts, no latencies, ratios 0.5 / 1.6667.
    assert!(main.starts_with("burst,b=100,main,ok,,ns/task,,5,0,50.000,50.100,"), "{main}");
    assert!(main.contains(",49.000,51.000,,,,,,,,"), "{main}");
    assert!(main.contains(",100.000,0.010000,0.005000,,,,,,,,,0.5000,1.6667"), "{main}");
    assert!(!text.contains("NaN") && !text.contains("inf"));
    assert!(!text.contains('\r'));
}

#[test]
fn status_rules() {
    let rows = summarize(&samples());
    let (w, p) = ("burst", "b=100");
    let r = row(&rows, w, p, "alt-two");
    assert_eq!(r.status, CellStatus::Unsupported);
    assert_eq!(r.reason.as_deref(), Some("unsupported: lacks timers"));
    assert_eq!(r.median_ns_per_task, None);
    let r = row(&rows, w, p, "alt-dq");
    assert_eq!(r.status, CellStatus::Disqualified);
    assert_eq!(r.reason.as_deref(), Some("failed the conformance gate: lost task"));
    let r = row(&rows, w, p, "alt-one");
    assert_eq!(r.status, CellStatus::Failed);
    assert_eq!(r.reason.as_deref(), Some("lost 3 tasks (sample #2; 2 of 5 samples failed)"));
    assert_eq!((r.samples, r.failed_samples), (3, 2));
    assert_eq!(r.median_ns_per_task, None, "a failed cell carries no timing");
    assert_eq!(r.ratio_to_best, None);
    let r = row(&rows, w, p, "tokio-ct");
    assert_eq!(r.status, CellStatus::TooFewSamples);
    assert_eq!(r.samples, 3);
    assert!(close(r.median_ns_per_task, 70.0));
    assert_eq!(r.ci95_low_ns_per_task, None, "no CI below MIN_SAMPLES_FOR_OK");
    let r = row(&rows, w, p, "alt-three");
    assert_eq!(r.status, CellStatus::Unstable);
    assert!(close(r.cv_pct, 100.0 / 3.0));
    // The bar is the robust spread (MAD × 1.4826 / median), not the CV.
    assert!((r.rcv_pct.unwrap() - 49.4).abs() < 0.05, "{:?}", r.rcv_pct);
    assert_eq!(r.reason.as_deref(), Some("robust spread 49.4% > 25%"));
    for c in ["baseline", "main"] {
        let r = row(&rows, w, p, c);
        assert_eq!(r.status, CellStatus::Ok, "{c}");
        assert_eq!(r.reason, None);
        let (lo, hi) = (r.ci95_low_ns_per_task.unwrap(), r.ci95_high_ns_per_task.unwrap());
        let m = r.median_ns_per_task.unwrap();
        assert!(lo <= m && m <= hi);
    }
    // The missing cell is reported, not dropped.
    let r = row(&rows, w, "b=1000", "tokio-ct");
    assert_eq!(r.status, CellStatus::Missing);
    assert!(r.reason.as_deref().unwrap().contains("no sample and no gap record"));
}

#[test]
fn order_is_by_stable_id_and_median() {
    let rows = summarize(&samples());
    let order: Vec<(&str, &str, &str)> =
        rows.iter().map(|r| (&*r.workload, &*r.param, &*r.contender)).collect();
    let b100 = ["alt-three", "main", "tokio-ct", "baseline", "alt-two", "alt-dq", "alt-one"];
    let b1000 = ["main", "alt-three", "baseline", "alt-one", "alt-two", "alt-dq", "tokio-ct"];
    let ping = ["main", "baseline", "alt-two", "alt-dq", "alt-three", "alt-one", "tokio-ct"];
    let mut want = Vec::new();
    want.extend(b100.iter().map(|c| ("burst", "b=100", *c)));
    want.extend(b1000.iter().map(|c| ("burst", "b=1000", *c)));
    want.extend(ping.iter().map(|c| ("ping", "n=1", *c)));
    assert_eq!(order, want);

    // Shuffling the records (same stable ids) changes neither the statistics nor the ratios.
    let mut rev = samples();
    rev.reverse();
    let again = summarize(&rev);
    for r in &rows {
        let o = row(&again, &r.workload, &r.param, &r.contender);
        assert_eq!(o.status, r.status);
        assert_eq!(o.median_ns_per_task, r.median_ns_per_task);
        assert_eq!(o.ci95_low_ns_per_task, r.ci95_low_ns_per_task);
        assert_eq!(o.ratio_to_best, r.ratio_to_best);
        assert_eq!(o.p99_ns, r.p99_ns);
    }
}

#[test]
fn ratios_hand_example() {
    let rows = summarize(&samples());
    let (w, p) = ("burst", "b=100");
    // Medians: alt-three 30 (unstable, still measured), main 50, tokio-ct 70, baseline 100.
    let r = row(&rows, w, p, "main");
    assert!(close(r.ratio_to_baseline, 0.5));
    assert!(close(r.ratio_to_best, 50.0 / 30.0));
    let r = row(&rows, w, p, "baseline");
    assert!(close(r.ratio_to_baseline, 1.0));
    assert!(close(r.ratio_to_best, 100.0 / 30.0));
    let r = row(&rows, w, p, "alt-three");
    assert!(close(r.ratio_to_best, 1.0));
    assert!(close(r.ratio_to_baseline, 0.3));
    let r = row(&rows, w, p, "tokio-ct");
    assert!(close(r.ratio_to_baseline, 0.7));
    // b=1000: main 41, alt-three 45, baseline 82.
    let r = row(&rows, w, "b=1000", "alt-three");
    assert!(close(r.ratio_to_best, 45.0 / 41.0));
    assert!(close(r.ratio_to_baseline, 45.0 / 82.0));
    // Unmeasured cells have no ratios.
    assert_eq!(row(&rows, w, p, "alt-two").ratio_to_baseline, None);
}

#[test]
fn ratio_to_baseline_empty_without_a_measured_baseline() {
    let mut v: Vec<RawSample> =
        samples().into_iter().filter(|s| s.contender != "baseline").collect();
    v.push(gap("burst", "b=100", "baseline", SampleStatus::Unsupported, "n/a"));
    let rows = summarize(&v);
    let r = row(&rows, "burst", "b=100", "main");
    assert_eq!(r.ratio_to_baseline, None);
    assert!(r.ratio_to_best.is_some());
}

#[test]
fn latency_percentiles_over_merged_samples() {
    let rows = summarize(&samples());
    let r = row(&rows, "ping", "n=1", "baseline");
    // Five samples of 100 latencies: the union is 1..=500.
    assert_eq!(r.lat_count, Some(500));
    assert_eq!(r.p50_ns, Some(250));
    assert_eq!(r.p90_ns, Some(450));
    assert_eq!(r.p99_ns, Some(495));
    assert_eq!(r.p999_ns, Some(500));
    assert_eq!(r.max_latency_ns, Some(500));
    assert_eq!(r.wake_syscalls_per_task, None, "not counted by this contender");
    let r = row(&rows, "ping", "n=1", "main");
    assert_eq!((r.lat_count, r.p50_ns, r.max_latency_ns), (Some(50), Some(50), Some(100)));
    let r = row(&rows, "burst", "b=100", "main");
    assert_eq!((r.lat_count, r.p50_ns), (None, None));
}

#[test]
fn markdown_content() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &samples());
    // The fixture has a missing cell: the reports are written, then validation fails naming it.
    let err = format!("{:#}", regenerate(tmp.path()).unwrap_err());
    assert!(err.contains("[coverage] burst · b=1000 · tokio-ct"), "{err}");
    let md = fs::read_to_string(tmp.path().join("SUMMARY.md")).unwrap();
    for needle in [
        "# Tournament run `20260101T000000Z-abc1234`",
        "| Machine | Test CPU; 8 logical CPUs online, 8 available to the process |",
        "| Git | `abc1234000000000000000000000000000000000` (clean) |",
        "## How to read these tables",
        "### Workload `burst`",
        "Bursts of B tasks \\| from one producer.",
        "- Timed scope: first submit until the last task ran",
        "#### `burst` · `b=100`",
        "No fastest declared: the lowest median belongs to `alt-three`, whose cell is unstable.",
        "| 1 | `main` | 41.0 |",
        "ok, **fastest**",
        "![burst b=100: median ns/task with 95% CI](plots/burst__b_100.svg)",
        "## Declared gaps and failures",
        "- `burst` · `b=100` · `alt-two`: **unsupported** — unsupported: lacks timers",
        "- `burst` · `b=100` · `alt-one`: **failed** — lost 3 tasks (sample #2; 2 of 5 samples failed)",
        "- `burst` · `b=1000` · `tokio-ct`: **missing** —",
        "- `burst` · `b=100` · `tokio-ct`: **too-few-samples** — 3 ok samples",
        "- `burst` · `b=100` · `alt-three`: robust spread 49.4% > 25%",
        "| p50 ns | p90 ns | p99 ns | p99.9 ns | max ns | Latencies |",
        "| 50 | 90 | 100† | 100† | 100 | 50 |",
        "**Coverage:** 21 cells (",
    ] {
        assert!(md.contains(needle), "SUMMARY.md lacks {needle:?}:\n{md}");
    }
    // Fastest marks: b=1000 (main, ok) and ping (main, ok); b=100's lowest median is unstable.
    let marked: Vec<&str> =
        md.lines().filter(|l| l.starts_with('|') && l.contains("**fastest**")).collect();
    assert_eq!(marked.len(), 2, "{marked:?}");
    assert!(marked.iter().all(|l| l.contains("`main`")), "{marked:?}");
    // The unstable leader is ranked first but never called fastest.
    assert!(md.contains("| 1 | `alt-three` | 30.0 |"));
}

fn expect_err(dir: &Path, needles: &[&str]) {
    let err = format!("{:#}", regenerate(dir).unwrap_err());
    for n in needles {
        assert!(err.contains(n), "error {err:?} lacks {n:?}");
    }
}

#[test]
fn corrupt_line_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &samples());
    let path = tmp.path().join("raw.jsonl");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[6] = "{\"schema\": 1, \"run_id\": \"20260101T000000Z-abc1234\", truncated";
    fs::write(&path, lines.join("\n")).unwrap();
    expect_err(tmp.path(), &["raw.jsonl:7", "not valid JSON"]);

    // A record that is JSON but not a raw sample.
    lines[6] = "{\"schema\": 1, \"run_id\": \"x\"}";
    fs::write(&path, lines.join("\n")).unwrap();
    expect_err(tmp.path(), &["raw.jsonl:7", "raw-sample schema"]);

    // A corrupt latency histogram.
    let mut s = samples();
    let i = s.iter().position(|r| r.latency.is_some()).unwrap();
    s[i].latency.as_mut().unwrap().histogram_v2_base64 = "@@@@".into();
    write_run(tmp.path(), &s);
    expect_err(tmp.path(), &[&format!("raw.jsonl:{}", i + 1), "latency histogram"]);
}

#[test]
fn refuses_unknown_schema_mixed_runs_and_foreign_env() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = samples();
    s[3].schema = RAW_SCHEMA_VERSION + 1;
    write_run(tmp.path(), &s);
    expect_err(tmp.path(), &["raw.jsonl:4", "schema version 2 is not supported"]);

    let mut s = samples();
    s[10].run_id = "20250101T000000Z-fff0000".into();
    write_run(tmp.path(), &s);
    expect_err(tmp.path(), &["mixes runs", "line 11", "20250101T000000Z-fff0000"]);

    write_run(tmp.path(), &samples());
    let mut p = provenance();
    p.run_id = "20250101T000000Z-fff0000".into();
    p.write_json(tmp.path()).unwrap();
    expect_err(tmp.path(), &["env.json belongs to run", "refusing"]);

    fs::remove_file(tmp.path().join("env.json")).unwrap();
    expect_err(tmp.path(), &["env.json"]);

    let mut s = samples();
    let dup = s[5].clone();
    s.push(dup);
    write_run(tmp.path(), &s);
    expect_err(tmp.path(), &["duplicates line 6"]);

    write_run(tmp.path(), &[]);
    expect_err(tmp.path(), &["holds no records"]);
}

#[test]
fn read_raw_skips_blank_lines() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &samples());
    let path = tmp.path().join("raw.jsonl");
    let text = fs::read_to_string(&path).unwrap().replace('\n', "\n\n");
    fs::write(&path, text).unwrap();
    assert_eq!(raw::read_raw(&path).unwrap(), samples());
}
