//! `report::regenerate` / `summarize` on a hand-built run folder.

use std::fs;
use std::path::Path;

use tournament::env::{Provenance, RunInfo, WorkloadInfo};
use tournament::record::{
    CellStatus, LatencySummary, RAW_SCHEMA_VERSION, RawSample, SampleStatus, SummaryRow,
};
use tournament::report::{self, regenerate, summarize};
use tournament::stats::{latency_summary, new_latency_histogram};

const RUN: &str = "20260101T000000Z-abc1234";
const TASKS: u64 = 1000;

fn rec(w: &str, p: &str, c: &str, sample: u32, ns_per_task: f64) -> RawSample {
    RawSample {
        schema: RAW_SCHEMA_VERSION,
        run_id: RUN.into(),
        workload: w.into(),
        param: p.into(),
        contender: c.into(),
        sample,
        status: SampleStatus::Ok,
        reason: None,
        tasks: TASKS,
        ops: None,
        wall_ns: (ns_per_task * TASKS as f64).round() as u64,
        cpu_ns: (2.0 * ns_per_task * TASKS as f64).round() as u64,
        voluntary_switches: 10,
        wake_syscalls: Some(5),
        latency: None,
    }
}

fn gap(w: &str, p: &str, c: &str, status: SampleStatus, why: &str) -> RawSample {
    RawSample {
        status,
        reason: Some(why.into()),
        tasks: 0,
        wall_ns: 0,
        cpu_ns: 0,
        voluntary_switches: 0,
        wake_syscalls: None,
        ..rec(w, p, c, 0, 0.0)
    }
}

fn failed(w: &str, p: &str, c: &str, sample: u32, why: &str) -> RawSample {
    RawSample {
        status: SampleStatus::Failed,
        reason: Some(why.into()),
        ..rec(w, p, c, sample, 1.0)
    }
}

fn lat(values: impl Iterator<Item = u64>) -> LatencySummary {
    let mut h = new_latency_histogram();
    for v in values {
        h.record(v).unwrap();
    }
    latency_summary(&h)
}

/// The samples of a run, in harness order (gap records first, then samples interleaved).
fn samples() -> Vec<RawSample> {
    let mut v = Vec::new();
    let (w, p) = ("burst", "b=100");
    v.push(gap(w, p, "alt-two", SampleStatus::Unsupported, "unsupported: lacks timers"));
    v.push(gap(
        w,
        p,
        "alt-dq",
        SampleStatus::Disqualified,
        "failed the conformance gate: lost task",
    ));
    let baseline = [100.0, 101.0, 99.0, 100.0, 100.5];
    let main = [50.0, 51.0, 49.0, 50.0, 50.5];
    let unstable = [20.0, 40.0, 20.0, 40.0, 30.0]; // mean 30, sd 10, CV 33.3 %
    let alt_one = [60.0, 61.0, 0.0, 60.0, 0.0]; // samples 2 and 4 fail
    for s in 0..5u32 {
        let i = s as usize;
        v.push(rec(w, p, "baseline", s, baseline[i]));
        v.push(rec(w, p, "main", s, main[i]));
        v.push(rec(w, p, "alt-three", s, unstable[i]));
        v.push(match s {
            2 => failed(w, p, "alt-one", s, "lost 3 tasks"),
            4 => failed(w, p, "alt-one", s, "timed out after 30 s"),
            _ => rec(w, p, "alt-one", s, alt_one[i]),
        });
        if s < 3 {
            v.push(rec(w, p, "tokio-ct", s, 70.0)); // too few samples
        }
    }
    // Second param: tokio-ct has no record at all (a missing cell).
    let p = "b=1000";
    v.push(gap(w, p, "alt-two", SampleStatus::Unsupported, "unsupported: lacks timers"));
    v.push(gap(
        w,
        p,
        "alt-dq",
        SampleStatus::Disqualified,
        "failed the conformance gate: lost task",
    ));
    for s in 0..5u32 {
        v.push(rec(w, p, "baseline", s, 80.0 + s as f64));
        v.push(rec(w, p, "main", s, 40.0 + s as f64 * 0.5));
        v.push(rec(w, p, "alt-three", s, 45.0));
        v.push(rec(w, p, "alt-one", s, 90.0));
    }
    // A latency workload: baseline and main record latencies; the others are gaps.
    let (w, p) = ("ping", "n=1");
    for c in ["alt-two", "alt-dq", "alt-one", "alt-three", "tokio-ct"] {
        v.push(gap(w, p, c, SampleStatus::Unsupported, "no readiness"));
    }
    for s in 0..5u64 {
        let mut b = rec(w, p, "baseline", s as u32, 2000.0);
        b.latency = Some(lat((1..=100).map(|x| x + s * 100))); // union: 1..=500
        b.wake_syscalls = None;
        v.push(b);
        let mut m = rec(w, p, "main", s as u32, 1000.0);
        m.latency = Some(lat((1..=10).map(|x| x * 10)));
        v.push(m);
    }
    v
}

fn provenance() -> Provenance {
    Provenance {
        schema: tournament::env::ENV_SCHEMA_VERSION,
        run_id: RUN.into(),
        started_utc: "2026-01-01T00:00:00Z".into(),
        hostname: "test-host".into(),
        cpu_model: "Test CPU".into(),
        logical_cores: Some(8),
        available_parallelism: Some(8),
        virtualization: "none".into(),
        virtualization_source: "systemd-detect-virt".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        kernel: "6.1.0".into(),
        rustc: "rustc 1.95.0".into(),
        profile: "release".into(),
        git_sha: "abc1234000000000000000000000000000000000".into(),
        git_dirty: Some(false),
        git_dirty_count: 0,
        git_dirty_files: vec![],
        crate_versions: [("tokio".to_string(), "1.54.1".to_string())].into(),
        cargo_lock: None,
        pinning: "none".into(),
        allocator: "system".into(),
        clock: "CLOCK_MONOTONIC".into(),
        clock_resolution_ns: Some(1),
        run: RunInfo {
            mode: "quick".into(),
            samples: 5,
            contenders: vec![],
            workloads: vec![WorkloadInfo {
                id: "burst".into(),
                description: "Bursts of B tasks | from one producer.".into(),
                timed_scope: "first submit until the last task ran".into(),
                unit: "one submitted task".into(),
                params: vec!["b=100".into(), "b=1000".into()],
            }],
            gate: true,
            command_line: "tournament run --quick".into(),
        },
    }
}

fn write_run(dir: &Path, samples: &[RawSample]) {
    let mut text = String::new();
    for s in samples {
        text.push_str(&serde_json::to_string(s).unwrap());
        text.push('\n');
    }
    fs::write(dir.join("raw.jsonl"), text).unwrap();
    provenance().write_json(dir).unwrap();
}

fn read_csv(dir: &Path) -> Vec<SummaryRow> {
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    r.deserialize().map(|row| row.unwrap()).collect()
}

fn row<'a>(rows: &'a [SummaryRow], w: &str, p: &str, c: &str) -> &'a SummaryRow {
    rows.iter()
        .find(|r| r.workload == w && r.param == p && r.contender == c)
        .unwrap_or_else(|| panic!("no row {w} {p} {c}"))
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}

#[test]
fn regenerate_writes_summary_and_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &samples());
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
    assert_eq!(names, ["SUMMARY.md", "env.json", "raw.jsonl", "summary.csv"]);

    // The CSV reads back into the same rows as summarize() produces (at CSV precision).
    let rows = read_csv(tmp.path());
    assert_eq!(rows.len(), 3 * 7);
    let direct = summarize(&samples());
    let key = |r: &SummaryRow| (r.workload.clone(), r.param.clone(), r.contender.clone(), r.status);
    assert_eq!(
        rows.iter().map(key).collect::<Vec<_>>(),
        direct.iter().map(key).collect::<Vec<_>>()
    );
}

#[test]
fn csv_header_and_fixed_precision() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &samples());
    regenerate(tmp.path()).unwrap();
    let text = fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "workload,param,contender,status,reason,samples,failed_samples,median_ns_per_task,\
         mean_ns_per_task,stddev_ns_per_task,cv_pct,ci95_low_ns_per_task,ci95_high_ns_per_task,\
         min_ns_per_task,max_ns_per_task,cpu_ns_per_task,blocks_per_task,wake_syscalls_per_task,\
         lat_count,p50_ns,p90_ns,p99_ns,p999_ns,max_latency_ns,ratio_to_baseline,ratio_to_best"
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
    // median 50, mean 50.1, min 49, max 51, cpu 100, blocks 0.01, wakes 0.005, ratios 0.5 / 1.6667.
    assert!(main.starts_with("burst,b=100,main,ok,,5,0,50.000,50.100,"), "{main}");
    assert!(
        main.contains(",49.000,51.000,100.000,0.010000,0.005000,,,,,,,0.5000,1.6667"),
        "{main}"
    );
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
    assert_eq!(r.reason.as_deref(), Some("CV 33.3% > 20%"));
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
    regenerate(tmp.path()).unwrap();
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
        "(No description of this workload was recorded in env.json.)",
        "## Declared gaps and failures",
        "- `burst` · `b=100` · `alt-two`: **unsupported** — unsupported: lacks timers",
        "- `burst` · `b=100` · `alt-one`: **failed** — lost 3 tasks (sample #2; 2 of 5 samples failed)",
        "- `burst` · `b=1000` · `tokio-ct`: **missing** —",
        "- `burst` · `b=100` · `tokio-ct`: **too-few-samples** — 3 ok samples",
        "- `burst` · `b=100` · `alt-three`: CV 33.3% > 20%",
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
    assert_eq!(report::read_raw(&path).unwrap(), samples());
}
