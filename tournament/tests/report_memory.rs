//! Memory rows (`footprint`): summary.csv gains the memory columns only when the run holds them,
//! the rows carry bytes and no timing, SUMMARY.md has the Memory footprint table naming the best
//! bytes-per-queued-task and the largest retention, a failed leak check is stated, reports
//! regenerate byte-identically and validation catches edits.

use std::fs;
use std::path::Path;

use tournament::env::WorkloadInfo;
use tournament::record::{CellStatus, MemoryColumns, RawMetric, RawSample, SampleStatus};
use tournament::report;
use tournament::report::{SUMMARY_COLUMNS, regenerate};
use tournament::summarize;

mod report_fixture;
use report_fixture::*;

fn metric(name: &str, unit: &str, value: f64) -> RawMetric {
    RawMetric { name: name.into(), unit: unit.into(), value }
}

/// One footprint sample of `variant` for `c` with the given metrics.
fn fp(param: &str, c: &str, sample: u32, metrics: Vec<RawMetric>) -> RawSample {
    RawSample { metrics, wake_syscalls: None, ..rec("footprint", param, c, sample, 50.0) }
}

const Q: &str = "queued-n=1000";
const G: &str = "growth-n=2000,b=100";
const L: &str = "leak-l=2,n=500";

/// Five samples per footprint cell for two contenders: `main` queues in 24 bytes/task and
/// retains 100 bytes; `baseline` queues in 40 bytes/task, retains 9,000 bytes and fails the leak
/// check (residual 100,000 > 65,536). Under sustained load `main`'s pool fills to its 600,000-byte
/// cap in the first half of some samples and in the second half of others (bounded, though every
/// other sample alone looks unbounded); `baseline`'s second half always peaks 1,000,000 bytes
/// above its first (unbounded).
fn footprint_samples() -> Vec<RawSample> {
    let mut v = Vec::new();
    for (c, per, retained, residual) in
        [("main", 24.0, 100.0, 0.0), ("baseline", 40.0, 9_000.0, 100_000.0)]
    {
        for s in 0..5 {
            let jitter = f64::from(s);
            v.push(fp(
                Q,
                c,
                s,
                vec![
                    metric("heap_after_new", "bytes", 1_000.0 + jitter),
                    metric("heap_after_warmup", "bytes", 2_000.0),
                    metric("queued_bytes_per_task", "bytes/task", per + jitter / 10.0),
                    metric("retained_after_drain", "bytes", retained),
                    metric("rss_after_new", "bytes", 4_096.0),
                    metric("rss_after_warmup", "bytes", 8_192.0),
                    metric("queued_rss_bytes_per_task", "bytes/task", per + 1.0),
                ],
            ));
            let (first, second) = match (c, s % 2) {
                ("main", 0) => (600_000.0, 50_000.0),
                ("main", _) => (50_000.0, 600_000.0),
                _ => (50_000.0 + jitter, 1_050_000.0),
            };
            let alone_bounded = second <= first * 1.25 + 65_536.0;
            v.push(fp(
                G,
                c,
                s,
                vec![
                    metric("growth_high_water", "bytes", f64::max(first, second)),
                    metric("growth_first_half_high_water", "bytes", first),
                    metric("growth_second_half_high_water", "bytes", second),
                    metric("growth_bounded", "yes=1/no=0", if alone_bounded { 1.0 } else { 0.0 }),
                ],
            ));
            v.push(fp(
                L,
                c,
                s,
                vec![
                    metric("leak_residual", "bytes", residual),
                    metric("leak_bound", "bytes", 65_536.0),
                    metric(
                        "leak_pass",
                        "pass=1/fail=0",
                        if residual <= 65_536.0 { 1.0 } else { 0.0 },
                    ),
                ],
            ));
        }
    }
    v
}

/// A run of `burst` (time) and `footprint` (memory) for `main` and `baseline`.
fn write_memory_run(dir: &Path) {
    let mut samples: Vec<RawSample> = Vec::new();
    for c in ["main", "baseline"] {
        for s in 0..5 {
            samples.push(rec("burst", "b=100", c, s, if c == "main" { 10.0 } else { 20.0 }));
        }
    }
    samples.extend(footprint_samples());
    let mut text = String::new();
    for s in &samples {
        text.push_str(&serde_json::to_string(s).unwrap());
        text.push('\n');
    }
    fs::write(dir.join("raw.jsonl"), text).unwrap();
    let mut prov = provenance();
    prov.run.contenders = vec!["main".into(), "baseline".into()];
    prov.run.workloads = vec![
        WorkloadInfo {
            id: "burst".into(),
            description: String::new(),
            timed_scope: "first submit until the last task ran".into(),
            unit: "ns/task".into(),
            params: vec!["b=100".into()],
        },
        WorkloadInfo {
            id: "footprint".into(),
            description: "memory".into(),
            timed_scope: "none (memory workload)".into(),
            unit: "bytes".into(),
            params: vec![Q.into(), G.into(), L.into()],
        },
    ];
    prov.write_json(dir).unwrap();
}

#[test]
fn memory_rows_columns_table_and_byte_identical_regeneration() {
    let tmp = tempfile::tempdir().unwrap();
    write_memory_run(tmp.path());
    regenerate(tmp.path()).unwrap();
    let csv1 = fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    let md1 = fs::read_to_string(tmp.path().join("SUMMARY.md")).unwrap();
    regenerate(tmp.path()).unwrap();
    assert_eq!(fs::read_to_string(tmp.path().join("summary.csv")).unwrap(), csv1);
    assert_eq!(fs::read_to_string(tmp.path().join("SUMMARY.md")).unwrap(), md1);
    assert!(report::validate::validate_dir(tmp.path()).unwrap().is_empty());

    // Header: the 37 time columns, then the memory columns.
    let mut rdr = csv::Reader::from_reader(csv1.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header.len(), SUMMARY_COLUMNS.len() + MemoryColumns::HEADER.len());
    assert_eq!(&header[SUMMARY_COLUMNS.len()..], MemoryColumns::HEADER);
    let recs: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let get = |w: &str, p: &str, c: &str, col: &str| -> String {
        let i = header.iter().position(|h| h == col).unwrap();
        let r = recs.iter().find(|r| &r[0] == w && &r[1] == p && &r[2] == c).unwrap();
        r[i].to_string()
    };
    // Memory rows: unit bytes, no timing, medians of the metrics.
    assert_eq!(get("footprint", Q, "main", "unit"), "bytes");
    assert_eq!(get("footprint", Q, "main", "status"), "ok");
    assert_eq!(get("footprint", Q, "main", "median_ns_per_task"), "");
    assert_eq!(get("footprint", Q, "main", "cv_pct"), "");
    assert_eq!(get("footprint", Q, "main", "queued_bytes_per_task"), "24.200");
    assert_eq!(get("footprint", Q, "main", "heap_after_new_bytes"), "1002");
    assert_eq!(get("footprint", Q, "baseline", "retained_after_drain_bytes"), "9000");
    assert_eq!(get("footprint", G, "main", "growth_bounded"), "yes", "judged across samples");
    assert_eq!(get("footprint", G, "baseline", "growth_bounded"), "no");
    assert!(get("footprint", G, "baseline", "reason").contains("heap growth not bounded"));
    assert_eq!(get("footprint", L, "main", "leak_check"), "pass");
    assert_eq!(get("footprint", L, "baseline", "leak_check"), "fail");
    assert_eq!(get("footprint", L, "baseline", "leak_residual_bytes"), "100000");
    assert!(get("footprint", L, "baseline", "reason").contains("leak check failed"));
    // Time rows of the same run leave the memory columns empty.
    assert_eq!(get("burst", "b=100", "main", "queued_bytes_per_task"), "");
    assert_eq!(get("burst", "b=100", "main", "leak_check"), "");

    // SUMMARY.md: the Memory footprint table, the two named contenders, the defect.
    assert!(md1.contains("#### Memory footprint"), "{md1}");
    assert!(md1.contains("Fewest bytes per queued task: `main` (24.2 bytes/task)."), "{md1}");
    assert!(md1.contains("Retains the most after draining: `baseline` (9,000 bytes)."), "{md1}");
    assert!(md1.contains("**fail** (> 65,536 bytes)"), "{md1}");
    assert!(md1.contains("- **Defect** `baseline` · `leak-l=2,n=500`: leak check failed"), "{md1}");
    // No ranked time table (and no "fastest") for the memory workload.
    assert!(!md1.contains("#### `footprint`"), "{md1}");
    assert!(!md1.contains("Median bytes"), "{md1}");
    let rows = summarize::summarize(&{
        let mut v = footprint_samples();
        v.truncate(3);
        v
    });
    assert!(rows.iter().all(|r| r.is_memory() && r.median().is_none()));
    assert!(rows.iter().all(|r| r.status == CellStatus::TooFewSamples));
}

#[test]
fn validation_catches_edited_memory_numbers_and_a_dropped_memory_header() {
    let tmp = tempfile::tempdir().unwrap();
    write_memory_run(tmp.path());
    regenerate(tmp.path()).unwrap();
    let path = tmp.path().join("summary.csv");
    let text = fs::read_to_string(&path).unwrap();

    let edited = text.replacen(",24.200,", ",20.000,", 1);
    assert_ne!(edited, text);
    fs::write(&path, &edited).unwrap();
    let v = report::validate::validate_dir(tmp.path()).unwrap();
    assert!(
        v.iter().any(|x| x.rule == "recompute" && x.detail.contains("queued_bytes_per_task")),
        "{v:?}"
    );

    // Cut the memory columns off: the header no longer matches a run with footprint rows.
    let base = SUMMARY_COLUMNS.len();
    let cut: String = text
        .lines()
        .map(|l| {
            let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(l.as_bytes());
            let rec = r.records().next().unwrap().unwrap();
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            w.write_record(rec.iter().take(base)).unwrap();
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        })
        .collect();
    fs::write(&path, cut).unwrap();
    let v = report::validate::validate_dir(tmp.path()).unwrap();
    assert!(v.iter().any(|x| x.rule == "csv-header"), "{v:?}");

    // A corrupt verdict is a row error with the column named.
    fs::write(&path, text.replacen(",pass", ",maybe", 1)).unwrap();
    let v = report::validate::validate_dir(tmp.path()).unwrap();
    assert!(v.iter().any(|x| x.rule == "csv-row" && x.detail.contains("leak_check")), "{v:?}");
}

#[test]
fn a_failed_footprint_sample_fails_its_cell_without_numbers() {
    let mut v = footprint_samples();
    v.push(RawSample {
        status: SampleStatus::Failed,
        reason: Some("submit rejected: loop has been terminated".into()),
        ..fp(Q, "main", 5, Vec::new())
    });
    let rows = summarize::summarize(&v);
    let r = rows.iter().find(|r| r.param == Q && r.contender == "main").unwrap();
    assert_eq!(r.status, CellStatus::Failed);
    assert!(r.memory.is_none());
    assert!(r.reason.as_deref().unwrap().contains("loop has been terminated"));
}
