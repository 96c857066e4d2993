//! Environment capture (provenance), `docs/MEASUREMENT.md` rule 8.
//!
//! [`Provenance::capture`] runs once at the start of a run and is written to `env.json` next to
//! `raw.jsonl`; reports read it back to print where and how the numbers were measured, and
//! comparisons use it to refuse (or label as descriptive) joins between runs measured under
//! different conditions. Every probe is best-effort: a value that cannot be determined is
//! recorded as `"unknown"` (or `None`), never guessed, and never fails the capture.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Version of the `env.json` schema. Bump on incompatible change.
pub const ENV_SCHEMA_VERSION: u32 = 1;

/// File name of the provenance record inside a run folder.
pub const ENV_FILE: &str = "env.json";

/// Crates whose resolved versions are recorded (peers and the libraries measurements rely on),
/// read from the workspace's `Cargo.lock`. Absent ones are simply not recorded.
pub const RECORDED_CRATES: &[&str] = &[
    "tokio",
    "crossbeam-channel",
    "crossbeam-queue",
    "crossbeam-utils",
    "calloop",
    "async-executor",
    "mio",
    "parking_lot",
    "libc",
    "hdrhistogram",
    "rand_chacha",
];

/// What a workload measures, filled in by the runner from the workload registry so that reports
/// can describe workloads without access to the registry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WorkloadInfo {
    /// Stable workload id (as in `raw.jsonl`).
    pub id: String,
    /// One-sentence description.
    pub description: String,
    /// What the timed region covers (e.g. "submit of all N tasks until the last has run").
    pub timed_scope: String,
    /// What one "task" of `ns/task` is for this workload.
    pub unit: String,
    /// Parameter ids run in this mode, in run order.
    pub params: Vec<String>,
}

/// The run's options as chosen on the command line, filled in by the runner.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run mode name (e.g. `smoke`, `quick`, `full`).
    pub mode: String,
    /// Samples per cell requested.
    pub samples: u32,
    /// Selected contender ids, in run order.
    pub contenders: Vec<String>,
    /// Selected workloads, in run order.
    pub workloads: Vec<WorkloadInfo>,
    /// Whether the conformance gate ran before timing (false only when debugging).
    pub gate: bool,
    /// The full command line.
    pub command_line: String,
    /// Seed of the per-round shuffle of contender order (`run` draws one unless `--seed` is
    /// given; `--resume` reuses it). `None` in runs recorded before the shuffle existed, whose
    /// contenders ran in registry order in every round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle_seed: Option<u64>,
    /// Practical margin of the verdicts (`--margin`, a fraction: 0.03 = 3%); `None` in runs
    /// recorded before verdicts existed, which are judged with the default
    /// (`verdict::DEFAULT_MARGIN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// The contender the verdicts are about (`--flagship`); `None` means `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagship: Option<String>,
    /// How many successive processes the samples were split over (`run --processes`); `None`
    /// in runs recorded before it was written here (one process unless the command line says
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<u32>,
}

/// Where and how a run was measured (`env.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// [`ENV_SCHEMA_VERSION`] at the time of writing.
    pub schema: u32,
    /// The run id ([`run_id`]); every record of the run's `raw.jsonl` carries the same one.
    pub run_id: String,
    /// Capture time (run start), UTC, RFC 3339 with second precision, e.g. `2026-11-20T23:59:59Z`.
    pub started_utc: String,
    /// Host name (`gethostname`).
    pub hostname: String,
    /// CPU model (`/proc/cpuinfo` "model name", else "Hardware"/"Processor"/"cpu model").
    pub cpu_model: String,
    /// Logical CPUs online (`sysconf(_SC_NPROCESSORS_ONLN)`), `None` if unknown.
    pub logical_cores: Option<u64>,
    /// CPUs this process may use (`std::thread::available_parallelism`: affinity mask and cgroup
    /// quota), `None` if unknown. Differs from `logical_cores` in a restricted container.
    pub available_parallelism: Option<u64>,
    /// Virtualisation or container: `none`, `kvm`, `docker`, ... or `unknown`.
    pub virtualization: String,
    /// How `virtualization` was determined (which probe answered).
    pub virtualization_source: String,
    /// Operating system (`std::env::consts::OS`).
    pub os: String,
    /// CPU architecture the binary was built for (`std::env::consts::ARCH`).
    pub arch: String,
    /// Kernel release (`uname -r`, via `libc::uname`).
    pub kernel: String,
    /// The rustc that compiled this binary (`rustc -V` at build time, [`BuildInfo::rustc`]).
    /// Runs recorded before build-time provenance existed hold `rustc -V` of the toolchain on
    /// `PATH` when the run started.
    pub rustc: String,
    /// Build profile of this binary: `release` (no debug assertions) or `debug`.
    pub profile: String,
    /// Cargo features of the `tournament` build that change what is measured:
    /// `slow-test=<ns>ns` (a deliberately slowed build and its delay per task, see
    /// `harness::slow_test_ns`; `slow-test` alone in runs recorded before the delay was
    /// calibrated). Empty for a normal build;
    /// absent in env.json files written before the field existed.
    #[serde(default)]
    pub features: Vec<String>,
    /// `git rev-parse HEAD` of the workspace the run started in, or `unknown` (the commit the
    /// binary was compiled at is [`BuildInfo::git_sha`]).
    pub git_sha: String,
    /// Whether that work tree differed from HEAD when the run started (`git status --porcelain`,
    /// ignoring `results/`); `None` when git could not tell. The compiled sources' own flag is
    /// [`BuildInfo::git_dirty`].
    pub git_dirty: Option<bool>,
    /// Number of lines of `git status --porcelain` (changed or untracked paths; untracked
    /// folders count once), 0 when clean or unknown.
    pub git_dirty_count: u64,
    /// The first [`MAX_DIRTY_FILES`] of those lines.
    pub git_dirty_files: Vec<String>,
    /// Locked versions of [`RECORDED_CRATES`] the binary was compiled with (several versions
    /// joined with `, `), from [`BuildInfo::dependencies`]; runs recorded before build-time
    /// provenance read them from the `Cargo.lock` found at run time.
    pub crate_versions: BTreeMap<String, String>,
    /// The `Cargo.lock` the versions come from: the workspace's lock at build time.
    pub cargo_lock: Option<String>,
    /// External programs and libraries a workload or peer uses, by name, with the version line
    /// each printed (`wrk -v`, up to its copyright notice; libuv's `uv_version_string`), or
    /// `not found` when it is not installed.
    /// Absent in env.json files written before the field existed.
    #[serde(default)]
    pub external_tools: BTreeMap<String, String>,
    /// Thread pinning: `none` (switched off with `TOURNAMENT_PIN=0` or `run --no-pin`, or not
    /// possible here), else where the loop, harness and producer threads were pinned
    /// (`harness::pinning_description`, rule in `harness::Placement`).
    pub pinning: String,
    /// Global allocator: the system allocator (`system`).
    pub allocator: String,
    /// The clock timed scopes use.
    pub clock: String,
    /// `clock_getres(CLOCK_MONOTONIC)`, ns; `None` if the call failed.
    pub clock_resolution_ns: Option<u64>,
    /// CPU frequency governor(s) at run start, from
    /// `/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor` (distinct values joined with `, `,
    /// e.g. `performance`), or `unavailable (no cpufreq)` where the kernel exposes none (common
    /// in VMs). Absent in env.json files written before the field existed.
    #[serde(default)]
    pub cpu_governor: String,
    /// How the binary was built ([`BuildInfo`]); `None` in env.json files written before
    /// build-time provenance existed.
    #[serde(default)]
    pub build: Option<BuildInfo>,
    /// The run's options, filled in by the runner.
    pub run: RunInfo,
}

/// Facts captured when the binary was compiled (`tournament/build.rs`, with the `built`
/// crate): what built it, how, and from which sources. Recorded in `env.json` (`build`), so a
/// run describes the binary that measured, not whatever toolchain or checkout is around when it
/// runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// `rustc -V` of the compiler that built the binary, e.g. `rustc 1.95.0 (59807616e 2026-04-14)`.
    pub rustc: String,
    /// Target triple compiled for, e.g. `x86_64-unknown-linux-gnu`.
    pub target: String,
    /// Host triple of the build.
    pub host: String,
    /// Cargo profile: `release` (also used by `cargo bench`, whose profile builds in the same
    /// directory with the same settings here), `dev` (also `cargo test`), or a custom profile.
    pub profile: String,
    /// `opt-level` actually used (cargo's `OPT_LEVEL`: `0`–`3`, `s`, `z`).
    pub opt_level: String,
    /// `lto` of the profile (`false`, `thin`, `fat`, `true`, `off`), from the workspace
    /// manifest or its `CARGO_PROFILE_<NAME>_LTO` override, else cargo's default (`false`).
    pub lto: String,
    /// `codegen-units` of the profile, from the manifest or its override, else cargo's default.
    pub codegen_units: String,
    /// Whether debug info was generated (cargo's `DEBUG`).
    pub debuginfo: bool,
    /// Whether debug assertions were on (`cfg!(debug_assertions)`).
    pub debug_assertions: bool,
    /// `RUSTFLAGS` the crate was compiled with (space-separated), empty if none.
    pub rustflags: String,
    /// Cargo features enabled on the `tournament` crate (lowercase).
    pub features: Vec<String>,
    /// `git rev-parse HEAD` when the build script last ran, or `unknown`.
    pub git_sha: String,
    /// Whether the sources compiled into the binary (the crates' `src/` and manifests,
    /// `Cargo.lock`) differed from `git_sha`; `None` if git could not tell.
    pub git_dirty: Option<bool>,
    /// `git status --porcelain` lines of those sources (at most 50).
    pub git_dirty_files: Vec<String>,
    /// Locked version of every direct dependency of a workspace crate (several versions joined
    /// with `, `).
    pub dependencies: BTreeMap<String, String>,
}

/// The generated constants of `tournament/build.rs` (`built.rs` from the `built` crate, and
/// `build_extra.rs`).
#[allow(dead_code, missing_docs, clippy::all, clippy::pedantic)]
mod build_facts {
    include!(concat!(env!("OUT_DIR"), "/built.rs"));
    include!(concat!(env!("OUT_DIR"), "/build_extra.rs"));
}

impl BuildInfo {
    /// The facts compiled into this binary.
    pub fn current() -> BuildInfo {
        use build_facts as b;
        let profile = match b::PROFILE_DIR {
            "debug" => "dev",
            other => other,
        };
        BuildInfo {
            rustc: b::RUSTC_VERSION.to_string(),
            target: b::TARGET.to_string(),
            host: b::HOST.to_string(),
            profile: profile.to_string(),
            opt_level: b::OPT_LEVEL.to_string(),
            lto: b::LTO.to_string(),
            codegen_units: b::CODEGEN_UNITS.to_string(),
            debuginfo: b::DEBUG,
            debug_assertions: cfg!(debug_assertions),
            rustflags: b::RUSTFLAGS.to_string(),
            features: b::FEATURES_LOWERCASE.iter().map(|f| f.to_string()).collect(),
            git_sha: b::GIT_SHA.to_string(),
            git_dirty: b::GIT_DIRTY,
            git_dirty_files: b::GIT_DIRTY_FILES.iter().map(|f| f.to_string()).collect(),
            dependencies: b::DEPENDENCIES
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// The measurement-relevant Cargo features this binary was built with.
fn build_features() -> Vec<String> {
    let mut f = Vec::new();
    if let Some(slow) = crate::harness::slow_test_feature() {
        f.push(slow); // `slow-test=<ns>ns`: the injected delay per task (harness::slow_test_ns)
    }
    f
}

/// At most this many `git status --porcelain` lines are kept in [`Provenance::git_dirty_files`].
pub const MAX_DIRTY_FILES: usize = 50;

impl Provenance {
    /// Captures the environment now and derives the run id from the current time and git state.
    ///
    /// Probes that fail record `unknown`/`None` rather than failing; the `Result` is kept for
    /// future probes that must succeed. The workspace (for git and `Cargo.lock`) is found by
    /// walking up from the current directory to the first folder holding a `Cargo.lock`, falling
    /// back to this crate's build-time workspace.
    ///
    /// # Errors
    /// None at present.
    pub fn capture(run: RunInfo) -> anyhow::Result<Provenance> {
        let now = SystemTime::now();
        let root = workspace_root();
        let (git_sha, git_dirty, dirty_lines) = git_state(root.as_deref());
        let short = if git_sha == "unknown" { "unknown" } else { &git_sha[..git_sha.len().min(7)] };
        let (virtualization, virtualization_source) = virtualization();
        let build = BuildInfo::current();
        let crate_versions = build
            .dependencies
            .iter()
            .filter(|(k, _)| RECORDED_CRATES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Provenance {
            schema: ENV_SCHEMA_VERSION,
            run_id: run_id(now, short, git_dirty.unwrap_or(false)),
            started_utc: utc_rfc3339(now),
            hostname: hostname(),
            cpu_model: cpu_model(),
            // SAFETY: sysconf has no memory-safety preconditions.
            logical_cores: u64::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).ok(),
            available_parallelism: std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u64),
            virtualization,
            virtualization_source,
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            kernel: kernel_release(),
            rustc: build.rustc.clone(),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" }.to_string(),
            features: build_features(),
            git_sha,
            git_dirty,
            git_dirty_count: dirty_lines.len() as u64,
            git_dirty_files: dirty_lines.into_iter().take(MAX_DIRTY_FILES).collect(),
            crate_versions,
            cargo_lock: Some(build_facts::CARGO_LOCK.to_string()),
            external_tools: external_tools(),
            pinning: crate::harness::pinning_description(),
            allocator: "system".to_string(),
            clock: "CLOCK_MONOTONIC (std::time::Instant)".to_string(),
            clock_resolution_ns: clock_resolution_ns(),
            cpu_governor: cpu_governor(),
            build: Some(build),
            run,
        })
    }

    /// Writes `dir/env.json` (pretty-printed JSON, trailing newline).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_json(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(ENV_FILE);
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads `dir/env.json`.
    ///
    /// # Errors
    /// The file is missing or unreadable, is not valid JSON for this schema, or has an unknown
    /// schema version.
    pub fn read_json(dir: &Path) -> anyhow::Result<Provenance> {
        let path = dir.join(ENV_FILE);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        match value.get("schema").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(ENV_SCHEMA_VERSION) => {}
            Some(v) => anyhow::bail!(
                "{} has schema version {v}; this build reads version {ENV_SCHEMA_VERSION}",
                path.display()
            ),
            None => anyhow::bail!("{} has no numeric \"schema\" field", path.display()),
        }
        serde_json::from_value(value).with_context(|| format!("{} is malformed", path.display()))
    }
}

/// The run id: UTC time as `YYYYMMDDTHHMMSSZ`, `-`, the first 7 characters of `git_short_sha`,
/// and `-dirty` when the tree was dirty, e.g. `20261120T235959Z-abc1234-dirty`. Times before the
/// Unix epoch are clamped to it.
pub fn run_id(now: SystemTime, git_short_sha: &str, dirty: bool) -> String {
    let (y, mo, d, h, mi, s) = utc_fields(now);
    let sha: String = git_short_sha.chars().take(7).collect();
    let dirty = if dirty { "-dirty" } else { "" };
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z-{sha}{dirty}")
}

/// `now` as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds).
pub fn utc_rfc3339(now: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc_fields(now);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// (year, month, day, hour, minute, second) in UTC.
fn utc_fields(now: SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
}

/// Proleptic Gregorian (year, month 1–12, day 1–31) of the day `z` days after 1970-01-01.
///
/// Howard Hinnant's `civil_from_days`, from "chrono-Compatible Low-Level Date Algorithms"
/// (<http://howardhinnant.github.io/date_algorithms.html#civil_from_days>): shift the epoch to
/// 0000-03-01 so leap days fall at the end of the year, split into 400-year eras of 146,097
/// days, then derive year-of-era, day-of-year and a March-based month.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Trimmed stdout of a successful command, `None` on any failure or empty output.
fn command_stdout(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// [`Provenance::external_tools`]: the version of `wrk` (the `http` workload's load generator),
/// the same executable the workload runs (`workloads::net::wrk::find`), and of the system libuv
/// the `libuv` peer loads (`contenders::libuv_sys::version`).
fn external_tools() -> BTreeMap<String, String> {
    // `wrk -v` prints its version line and usage, then exits with status 1: read stdout anyway.
    let wrk = crate::workloads::net::wrk::find()
        .and_then(|path| Command::new(path).arg("-v").output().ok())
        .and_then(|out| wrk_version_line(&String::from_utf8_lossy(&out.stdout)))
        .unwrap_or_else(|| "not found".to_string());
    // The system libuv the `libuv` peer loads at run time (`uv_version_string`).
    let libuv = crate::contenders::libuv_sys::version()
        .map_or_else(|| "not found".to_string(), |v| format!("libuv {v}"));
    BTreeMap::from([("wrk".to_string(), wrk), ("libuv".to_string(), libuv)])
}

/// The version part of `wrk -v`'s first line (`wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012
/// Will Glozer` → `wrk debian/4.1.0-3+b2 [epoll]`); `None` if the output does not start with
/// `wrk`.
fn wrk_version_line(stdout: &str) -> Option<String> {
    let first = stdout.lines().next()?.trim();
    if !first.starts_with("wrk") {
        return None;
    }
    let version = first.split(" Copyright").next().unwrap_or(first).trim();
    Some(version.to_string())
}

/// The first ancestor of the current directory holding a `Cargo.lock`, else the workspace this
/// crate was built in (`CARGO_MANIFEST_DIR/..`) if it holds one, else the current directory.
fn workspace_root() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    if let Some(found) = cwd.as_deref().and_then(|c| find_up(c, "Cargo.lock")) {
        return Some(found);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR"));
    find_up(built, "Cargo.lock").or(cwd)
}

/// The first of `start` and its ancestors that contains `name`.
fn find_up(start: &Path, name: &str) -> Option<PathBuf> {
    start.ancestors().find(|d| d.join(name).is_file()).map(Path::to_path_buf)
}

/// (HEAD sha or `unknown`, dirty flag, porcelain lines). `results/` is excluded from the dirty
/// check: earlier runs' output folders do not change what is measured. Uses
/// `--no-optional-locks` so the probe never writes to the repository.
fn git_state(root: Option<&Path>) -> (String, Option<bool>, Vec<String>) {
    let Some(sha) = command_stdout("git", &["rev-parse", "HEAD"], root) else {
        return ("unknown".to_string(), None, Vec::new());
    };
    let status = Command::new("git")
        .args(["--no-optional-locks", "status", "--porcelain", "--", ".", ":(exclude)results"])
        .current_dir(root.unwrap_or(Path::new(".")))
        .output()
        .ok()
        .filter(|o| o.status.success());
    match status {
        Some(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let lines: Vec<String> =
                text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
            let dirty = !lines.is_empty();
            (sha, Some(dirty), lines)
        }
        None => (sha, None, Vec::new()),
    }
}

/// [`Provenance::cpu_governor`]: the distinct `scaling_governor` values of the online CPUs.
fn cpu_governor() -> String {
    let mut found: Vec<String> = Vec::new();
    let Ok(cpus) = fs::read_dir("/sys/devices/system/cpu") else {
        return "unavailable (no /sys/devices/system/cpu)".to_string();
    };
    let mut paths: Vec<PathBuf> = cpus
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.strip_prefix("cpu")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    paths.sort();
    for p in paths {
        if let Ok(g) = fs::read_to_string(p.join("cpufreq/scaling_governor")) {
            let g = g.trim().to_string();
            if !g.is_empty() && !found.contains(&g) {
                found.push(g);
            }
        }
    }
    if found.is_empty() { "unavailable (no cpufreq)".to_string() } else { found.join(", ") }
}

/// A `key : value` field of `/proc/cpuinfo` (first occurrence).
fn cpuinfo_field(cpuinfo: &str, key: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_string())
    })
}

/// The CPU model name (`/proc/cpuinfo`'s `model name`), or `unknown`.
pub fn cpu_model() -> String {
    let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    ["model name", "Hardware", "Processor", "cpu model", "uarch"]
        .iter()
        .find_map(|k| cpuinfo_field(&info, k))
        .unwrap_or_else(|| "unknown".to_string())
}

/// (virtualisation, which probe said so): `systemd-detect-virt` (VMs and containers); else the
/// container marker files `/.dockerenv` / `/run/.containerenv`; else the `hypervisor` CPU flag
/// in `/proc/cpuinfo`; else a known hypervisor vendor in `/sys/class/dmi/id/sys_vendor`.
fn virtualization() -> (String, String) {
    // `systemd-detect-virt` prints "none" and exits 1 on bare metal; both are answers.
    if let Ok(out) = Command::new("systemd-detect-virt").output() {
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !s.is_empty() {
            return (s, "systemd-detect-virt".to_string());
        }
    }
    if Path::new("/.dockerenv").exists() {
        return ("docker".to_string(), "/.dockerenv".to_string());
    }
    if Path::new("/run/.containerenv").exists() {
        return ("podman".to_string(), "/run/.containerenv".to_string());
    }
    let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo_field(&info, "flags").unwrap_or_default();
    if flags.split_whitespace().any(|f| f == "hypervisor") {
        return ("vm (hypervisor type unknown)".to_string(), "/proc/cpuinfo flags".to_string());
    }
    let source = "/sys/class/dmi/id/sys_vendor".to_string();
    if let Ok(vendor) = fs::read_to_string(&source) {
        let vendor = vendor.trim();
        let known = [
            ("QEMU", "qemu"),
            ("VMware", "vmware"),
            ("innotek", "oracle"),
            ("Xen", "xen"),
            ("Amazon EC2", "amazon"),
            ("Google", "google"),
            ("Parallels", "parallels"),
            ("Microsoft Corporation", "microsoft (possibly hyper-v)"),
        ];
        if let Some((_, v)) = known.iter().find(|(k, _)| vendor.starts_with(k)) {
            return (v.to_string(), format!("{source}: {vendor}"));
        }
        if !vendor.is_empty() {
            return ("none detected".to_string(), format!("{source}: {vendor}"));
        }
    }
    ("unknown".to_string(), "no probe answered".to_string())
}

/// A NUL-terminated C char buffer as a `String` (lossy).
fn c_chars(buf: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn kernel_release() -> String {
    // SAFETY: `utsname` is plain old data; all-zero bytes are a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable `utsname` for the duration of the call.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return "unknown".to_string();
    }
    let r = c_chars(&uts.release);
    if r.is_empty() { "unknown".to_string() } else { r }
}

fn hostname() -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: `buf` is writable for `buf.len()` bytes; the last byte stays 0 (we pass len − 1),
    // so the result is NUL-terminated even if the name was truncated.
    if unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len() - 1) } != 0 {
        return "unknown".to_string();
    }
    // SAFETY: `buf` is NUL-terminated (see above) and lives for this call.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
    if name.is_empty() { "unknown".to_string() } else { name }
}

fn clock_resolution_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    Some(secs * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn civil_from_days_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_453), (2025, 12, 31));
    }

    #[test]
    fn run_id_format() {
        // 2026-11-20T23:59:59Z
        let t = UNIX_EPOCH + Duration::from_secs(1_795_219_199);
        assert_eq!(run_id(t, "abc1234def", false), "20261120T235959Z-abc1234");
        assert_eq!(run_id(t, "abc1234", true), "20261120T235959Z-abc1234-dirty");
        assert_eq!(utc_rfc3339(t), "2026-11-20T23:59:59Z");
    }

    #[test]
    fn capture_round_trips_through_env_json() {
        let run = RunInfo { mode: "smoke".into(), samples: 3, ..RunInfo::default() };
        let p = Provenance::capture(run.clone()).unwrap();
        assert_eq!(p.run, run);
        assert_eq!(p.schema, ENV_SCHEMA_VERSION);
        // YYYYMMDDTHHMMSSZ-<sha7 or "unknown">[-dirty]
        assert_eq!(p.run_id.as_bytes()[8], b'T');
        assert_eq!(&p.run_id[15..17], "Z-");
        assert!(p.started_utc.ends_with('Z'));
        assert!(!p.kernel.is_empty() && !p.hostname.is_empty());
        assert_eq!(p.profile, if cfg!(debug_assertions) { "debug" } else { "release" });
        let dir = tempfile::tempdir().unwrap();
        p.write_json(dir.path()).unwrap();
        assert_eq!(Provenance::read_json(dir.path()).unwrap(), p);
        let text = fs::read_to_string(dir.path().join(ENV_FILE)).unwrap();
        fs::write(dir.path().join(ENV_FILE), text.replace("\"schema\": 1", "\"schema\": 99"))
            .unwrap();
        let err = Provenance::read_json(dir.path()).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }

    #[test]
    fn wrk_version_is_the_first_line_up_to_the_copyright() {
        let out = "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer\nUsage: wrk <options> <url>\n";
        assert_eq!(wrk_version_line(out).as_deref(), Some("wrk debian/4.1.0-3+b2 [epoll]"));
        assert_eq!(wrk_version_line("wrk 4.2.0\n").as_deref(), Some("wrk 4.2.0"));
        assert_eq!(wrk_version_line("bash: wrk: command not found\n"), None);
        assert_eq!(wrk_version_line(""), None);
    }

    #[test]
    fn build_info_describes_this_build() {
        let b = BuildInfo::current();
        assert!(b.rustc.starts_with("rustc "), "{}", b.rustc);
        assert!(b.target.contains("linux"), "{}", b.target);
        assert_eq!(b.debug_assertions, cfg!(debug_assertions));
        // Tests build in the dev-like directory with the workspace's `[profile.test]` opt-level.
        assert_eq!(b.profile, if cfg!(debug_assertions) { "dev" } else { "release" });
        assert!(!b.opt_level.is_empty() && !b.lto.is_empty() && !b.codegen_units.is_empty());
        // Direct dependencies of the workspace crates, with the versions Cargo.lock pins.
        for dep in ["tokio", "mio", "hdrhistogram", "serde_json"] {
            let v = b.dependencies.get(dep).unwrap_or_else(|| panic!("{dep} missing: {b:?}"));
            assert!(v.chars().next().is_some_and(|c| c.is_ascii_digit()), "{dep} {v}");
        }
        assert!(
            !b.dependencies.contains_key("tournament") && !b.dependencies.contains_key("loop-api")
        );
        let lock = fs::read_to_string(build_facts::CARGO_LOCK).unwrap();
        let tokio = &b.dependencies["tokio"];
        assert!(lock.contains(&format!("name = \"tokio\"\nversion = \"{tokio}\"")), "{tokio}");
        if b.git_sha != "unknown" {
            assert_eq!(b.git_sha.len(), 40, "{}", b.git_sha);
            assert!(b.git_dirty.is_some());
        }
        let p = Provenance::capture(RunInfo::default()).unwrap();
        assert_eq!(p.rustc, b.rustc);
        assert_eq!(p.crate_versions.get("tokio"), Some(tokio));
        assert!(!p.cpu_governor.is_empty());
    }
}
