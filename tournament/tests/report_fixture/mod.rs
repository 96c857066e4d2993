//! Shared fixture of the report/validate/compare tests: a hand-built run with known statistics.
//! Included with `mod report_fixture;` by each test file (not a test crate itself).
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use tournament::env::{Provenance, RunInfo, WorkloadInfo};
use tournament::record::{LatencySummary, RAW_SCHEMA_VERSION, RawSample, SampleStatus, SummaryRow};
use tournament::stats::{latency_summary, new_latency_histogram};

/// The contenders of the fixture's plan, in first-appearance order of `samples()`.
pub const CONTENDERS: [&str; 7] =
    ["alt-two", "alt-dq", "baseline", "main", "alt-three", "alt-one", "tokio-ct"];

pub const RUN: &str = "20260101T000000Z-abc1234";
pub const TASKS: u64 = 1000;

pub fn rec(w: &str, p: &str, c: &str, sample: u32, ns_per_task: f64) -> RawSample {
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
        allocs: None,
        alloc_bytes: None,
        metrics: Vec::new(),
    }
}

pub fn gap(w: &str, p: &str, c: &str, status: SampleStatus, why: &str) -> RawSample {
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

pub fn failed(w: &str, p: &str, c: &str, sample: u32, why: &str) -> RawSample {
    RawSample {
        status: SampleStatus::Failed,
        reason: Some(why.into()),
        ..rec(w, p, c, sample, 1.0)
    }
}

pub fn lat(values: impl Iterator<Item = u64>) -> LatencySummary {
    let mut h = new_latency_histogram();
    for v in values {
        h.record(v).unwrap();
    }
    latency_summary(&h)
}

/// The samples of a run, in harness order (gap records first, then samples interleaved).
pub fn samples() -> Vec<RawSample> {
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

pub fn provenance() -> Provenance {
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
        features: vec![],
        git_sha: "abc1234000000000000000000000000000000000".into(),
        git_dirty: Some(false),
        git_dirty_count: 0,
        git_dirty_files: vec![],
        crate_versions: [("tokio".to_string(), "1.54.1".to_string())].into(),
        cargo_lock: None,
        external_tools: Default::default(),
        pinning: "none".into(),
        allocator: "system".into(),
        clock: "CLOCK_MONOTONIC".into(),
        clock_resolution_ns: Some(1),
        cpu_governor: "performance".into(),
        build: None,
        run: RunInfo {
            mode: "quick".into(),
            samples: 5,
            contenders: CONTENDERS.iter().map(|c| c.to_string()).collect(),
            workloads: vec![
                WorkloadInfo {
                    id: "burst".into(),
                    description: "Bursts of B tasks | from one producer.".into(),
                    timed_scope: "first submit until the last task ran".into(),
                    unit: "ns/task".into(),
                    params: vec!["b=100".into(), "b=1000".into()],
                },
                WorkloadInfo {
                    id: "ping".into(),
                    description: String::new(),
                    timed_scope: "one round trip".into(),
                    unit: "ns/task".into(),
                    params: vec!["n=1".into()],
                },
            ],
            gate: true,
            command_line: "tournament run --quick".into(),
            shuffle_seed: None,
            margin: None,
            flagship: None,
            processes: None,
        },
    }
}

pub fn write_run(dir: &Path, samples: &[RawSample]) {
    let mut text = String::new();
    for s in samples {
        text.push_str(&serde_json::to_string(s).unwrap());
        text.push('\n');
    }
    fs::write(dir.join("raw.jsonl"), text).unwrap();
    provenance().write_json(dir).unwrap();
}

pub fn read_csv(dir: &Path) -> Vec<SummaryRow> {
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    r.deserialize().map(|row| row.unwrap()).collect()
}

pub fn row<'a>(rows: &'a [SummaryRow], w: &str, p: &str, c: &str) -> &'a SummaryRow {
    rows.iter()
        .find(|r| r.workload == w && r.param == p && r.contender == c)
        .unwrap_or_else(|| panic!("no row {w} {p} {c}"))
}

pub fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}

/// `samples()` plus a declared gap for the one missing cell: a run that validates.
pub fn valid_samples() -> Vec<RawSample> {
    let mut v = samples();
    v.push(gap("burst", "b=1000", "tokio-ct", SampleStatus::Unsupported, "unsupported: test"));
    v
}

/// Writes a valid run into `dir` and regenerates its reports.
pub fn valid_run(dir: &Path) {
    write_run(dir, &valid_samples());
    tournament::report::regenerate(dir).expect("the valid fixture regenerates and validates");
}
