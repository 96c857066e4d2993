//! `tournament run`: gate, then interleaved sampling of every selected cell, then the report
//! (which validates the folder).
//!
//! Robustness: every record is flushed as soon as it is measured; a contender that panics in a
//! sample (on the sampling thread) makes that sample `failed` with the panic message and the run
//! goes on; `--resume DIR` continues an interrupted run, skipping every gap record and sample
//! already in `DIR/raw.jsonl`. Progress goes to stderr: an indicatif bar with ETA on a terminal,
//! one plain line per sample (with ETA) otherwise.
//!
//! Order of samples: for each workload and parameter, sample index `s` is taken for every
//! contender before index `s + 1` (A B C A B C …), so the machine's speed drift — which moves
//! between plateaus within seconds on the reference VM (`docs/REFERENCE-MACHINE.md`) — hits every
//! contender alike.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use anyhow::{Context, bail};

use crate::contenders::{self, Contender};
use crate::env::{self, Provenance};
use crate::harness::SampleError;
use crate::record::{RAW_SCHEMA_VERSION, RawMetric, RawSample, SampleStatus};
use crate::report;
use crate::stats;
use crate::workloads::{self, Metric, Mode, Param, SampleOutcome, WORKLOADS, WorkloadSpec};

/// What to run.
pub struct RunPlan {
    /// Size of the run.
    pub mode: Mode,
    /// Samples per cell.
    pub samples: u32,
    /// Contenders, in display order.
    pub contenders: Vec<&'static Contender>,
    /// Workloads, in report order.
    pub workloads: Vec<&'static WorkloadSpec>,
    /// Output folder; `None` means `results/<run-id>`.
    pub out_dir: Option<PathBuf>,
    /// Continue the run already in `out_dir` (which must be set) instead of starting one:
    /// its env.json must describe the same plan and build; records already in its raw.jsonl
    /// are kept and not measured again.
    pub resume: bool,
    /// Run the correctness gate first (`--no-gate` turns it off; recorded in env.json).
    pub gate: bool,
    /// The command line, recorded in env.json.
    pub command_line: String,
}

/// Resolves comma-separated ids against a list of valid ids.
///
/// # Errors
/// An unknown id; the message lists every valid one.
pub fn select<T>(
    kind: &str,
    wanted: Option<&[String]>,
    all: Vec<&'static T>,
    id: impl Fn(&T) -> &'static str,
) -> Result<Vec<&'static T>, String> {
    let Some(wanted) = wanted else { return Ok(all) };
    let mut out = Vec::new();
    for w in wanted.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        match all.iter().find(|t| id(t) == w) {
            Some(t) if !out.iter().any(|o: &&T| id(o) == w) => out.push(*t),
            Some(_) => {}
            None => {
                let valid: Vec<_> = all.iter().map(|t| id(t)).collect();
                return Err(format!("unknown {kind} `{w}`; valid {kind}s: {}", valid.join(", ")));
            }
        }
    }
    if out.is_empty() {
        return Err(format!("no {kind} selected"));
    }
    Ok(out)
}

/// Selects contenders by id (`None` = all).
///
/// # Errors
/// An unknown id, with the list of valid ones.
pub fn select_contenders(wanted: Option<&[String]>) -> Result<Vec<&'static Contender>, String> {
    select("contender", wanted, contenders::all(), |c| c.id)
}

/// Selects workloads by id (`None` = all).
///
/// # Errors
/// An unknown id, with the list of valid ones.
pub fn select_workloads(wanted: Option<&[String]>) -> Result<Vec<&'static WorkloadSpec>, String> {
    select("workload", wanted, WORKLOADS.iter().collect(), |w| w.id)
}

/// Appends raw records to `raw.jsonl`, flushing each line so a crash loses nothing written.
struct RawWriter {
    out: BufWriter<File>,
}

impl RawWriter {
    fn create(path: &Path) -> anyhow::Result<Self> {
        let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { out: BufWriter::new(f) })
    }

    /// Opens an existing `raw.jsonl` for appending. Refuses a file whose last line is cut off
    /// (an interrupted write): appending after it would corrupt the next record too.
    fn append(path: &Path) -> anyhow::Result<Self> {
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {} to resume", path.display()))?;
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                bail!(
                    "{} ends with a partial line (an interrupted write); delete that last \
                     line, then resume",
                    path.display()
                );
            }
        }
        Ok(Self { out: BufWriter::new(f) })
    }

    fn write(&mut self, rec: &RawSample) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, rec)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(())
    }
}

/// Executes the plan and returns the run folder.
///
/// # Errors
/// The output folder exists with a `raw.jsonl` (without `resume`); with `resume`, the folder
/// holds no run, a corrupt one, or one whose env.json describes another plan or build; writing
/// fails; or the written folder fails validation (see `report::validate`). Failed (or
/// panicking) samples do not fail the run: they are recorded with their reason.
pub fn execute(plan: &RunPlan) -> anyhow::Result<PathBuf> {
    let (dir, prov, done_before) = if plan.resume {
        prepare_resume(plan)?
    } else {
        let prov = Provenance::capture(plan_info(plan))?;
        let dir = plan.out_dir.clone().unwrap_or_else(|| Path::new("results").join(&prov.run_id));
        if dir.join(report::RAW_JSONL).exists() {
            bail!(
                "{} already holds a run (raw.jsonl exists); choose another --out, or continue \
                 it with --resume {}",
                dir.display(),
                dir.display()
            );
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        prov.write_json(&dir)?;
        (dir, prov, Done::default())
    };
    eprintln!("run {} → {}", prov.run_id, dir.display());

    let disqualified = if plan.gate { gate_all(plan) } else { Vec::new() };
    let raw_path = dir.join(report::RAW_JSONL);
    let mut raw =
        if plan.resume { RawWriter::append(&raw_path)? } else { RawWriter::create(&raw_path)? };
    let cells = plan_cells(plan);
    let total: usize = cells
        .iter()
        .flat_map(|cell| {
            cell.measured.iter().flat_map(move |c| (0..plan.samples).map(move |s| (cell, c, s)))
        })
        .filter(|(cell, c, s)| !done_before.has_sample(cell, c.id, *s))
        .count();
    let mut progress = Progress::new(total as u64);

    for cell in &cells {
        let base = |contender: &str, sample: u32, status, reason: Option<String>| RawSample {
            schema: RAW_SCHEMA_VERSION,
            run_id: prov.run_id.clone(),
            workload: cell.workload.id.to_string(),
            param: cell.param.id.clone(),
            contender: contender.to_string(),
            sample,
            status,
            reason,
            tasks: 0,
            ops: None,
            wall_ns: 0,
            cpu_ns: 0,
            voluntary_switches: 0,
            wake_syscalls: None,
            latency: None,
            allocs: None,
            alloc_bytes: None,
            metrics: Vec::new(),
        };
        for (c, why) in &cell.gaps {
            if !done_before.has_gap(cell, c.id) {
                raw.write(&base(c.id, 0, SampleStatus::Unsupported, Some(why.clone())))?;
            }
        }
        let mut measured = Vec::new();
        for c in &cell.measured {
            match disqualified.iter().find(|(id, _)| id == &c.id) {
                Some((_, why)) => {
                    if !done_before.has_gap(cell, c.id) && !done_before.has_any_sample(cell, c.id) {
                        raw.write(&base(c.id, 0, SampleStatus::Disqualified, Some(why.clone())))?;
                    }
                }
                None => measured.push(*c),
            }
        }
        for s in 0..plan.samples {
            for c in &measured {
                if done_before.has_sample(cell, c.id, s) {
                    continue;
                }
                progress.start(&format!("{} {} {} #{s}", cell.workload.id, cell.param.id, c.id));
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    c.sample(cell.workload.id, &cell.param, &(c.config)())
                }));
                let mut rec = base(c.id, s, SampleStatus::Ok, None);
                let line = match outcome {
                    Ok(Ok(o)) => {
                        fill(&mut rec, &o);
                        sample_line(cell.workload, rec.primary_ns(), &o.metrics)
                    }
                    Ok(Err(SampleError(why))) => {
                        rec.status = SampleStatus::Failed;
                        rec.reason = Some(why.clone());
                        format!("FAILED: {why}")
                    }
                    Err(payload) => {
                        let why = format!("contender panicked: {}", panic_message(&*payload));
                        rec.status = SampleStatus::Failed;
                        rec.reason = Some(why.clone());
                        format!("FAILED: {why}")
                    }
                };
                raw.write(&rec)?;
                progress.finish_sample(
                    &format!("{} {} {} #{s}", cell.workload.id, cell.param.id, c.id),
                    &line,
                    rec.status != SampleStatus::Ok,
                );
            }
        }
    }
    drop(raw);
    progress.done();
    report::regenerate(&dir)?;
    eprintln!("wrote {}/{{raw.jsonl,summary.csv,SUMMARY.md,env.json,plots/}}", dir.display());
    Ok(dir)
}

/// The text of a panic payload (`&str` or `String`), else a placeholder.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Records already present in the `raw.jsonl` of a resumed run.
#[derive(Default)]
struct Done {
    /// (workload, param, contender, sample) of every ok or failed sample.
    samples: HashSet<(String, String, String, u32)>,
    /// (workload, param, contender) of every gap record.
    gaps: HashSet<(String, String, String)>,
}

impl Done {
    fn key(cell: &Cell, c: &str) -> (String, String, String) {
        (cell.workload.id.to_string(), cell.param.id.clone(), c.to_string())
    }
    fn has_sample(&self, cell: &Cell, c: &str, s: u32) -> bool {
        let (w, p, c) = Self::key(cell, c);
        self.samples.contains(&(w, p, c, s))
    }
    fn has_any_sample(&self, cell: &Cell, c: &str) -> bool {
        let (w, p, c) = Self::key(cell, c);
        self.samples.iter().any(|(a, b, d, _)| *a == w && *b == p && *d == c)
    }
    fn has_gap(&self, cell: &Cell, c: &str) -> bool {
        self.gaps.contains(&Self::key(cell, c))
    }
}

/// Checks that `plan.out_dir` holds a run of the same plan and build, and loads what it holds.
fn prepare_resume(plan: &RunPlan) -> anyhow::Result<(PathBuf, Provenance, Done)> {
    let Some(dir) = plan.out_dir.clone() else {
        bail!("--resume needs the run folder to continue");
    };
    let prov = Provenance::read_json(&dir)
        .with_context(|| format!("{} holds no resumable run", dir.display()))?;
    let mut want = plan_info(plan);
    want.command_line = prov.run.command_line.clone();
    // More samples per cell than the run started with extends it (how `make bench-ab`
    // alternates two builds in rounds); anything else about the plan must be identical.
    let extends = want.samples > prov.run.samples;
    let mut same_but_samples = want.clone();
    same_but_samples.samples = prov.run.samples;
    if prov.run != same_but_samples || want.samples < prov.run.samples {
        bail!(
            "{}/env.json records another plan (mode {} × {} samples, {} contenders, {} \
             workloads) than this command (mode {} × {} samples, {} contenders, {} workloads); \
             resume with the same options (or more --samples to extend the run)",
            dir.display(),
            prov.run.mode,
            prov.run.samples,
            prov.run.contenders.len(),
            prov.run.workloads.len(),
            want.mode,
            want.samples,
            want.contenders.len(),
            want.workloads.len()
        );
    }
    let now = Provenance::capture(want.clone())?;
    let differs: Vec<&str> = [
        ("git_sha", prov.git_sha == now.git_sha),
        ("git_dirty", prov.git_dirty == now.git_dirty),
        ("rustc", prov.rustc == now.rustc),
        ("profile", prov.profile == now.profile),
        ("hostname", prov.hostname == now.hostname),
        ("kernel", prov.kernel == now.kernel),
    ]
    .iter()
    .filter(|(_, same)| !same)
    .map(|(k, _)| *k)
    .collect();
    if !differs.is_empty() {
        bail!(
            "cannot resume {}: the build or machine changed since it started ({}); samples of \
             different builds must not share a run",
            dir.display(),
            differs.join(", ")
        );
    }
    let mut prov = prov;
    if extends {
        eprintln!(
            "extending {} from {} to {} samples per cell",
            dir.display(),
            prov.run.samples,
            want.samples
        );
        prov.run.samples = want.samples;
        prov.write_json(&dir)?;
    }
    let raw_path = dir.join(report::RAW_JSONL);
    let mut done = Done::default();
    if raw_path.exists() {
        for s in report::read_raw(&raw_path)? {
            if s.run_id != prov.run_id {
                bail!(
                    "{}: record of run {:?} in run {:?}",
                    raw_path.display(),
                    s.run_id,
                    prov.run_id
                );
            }
            let key = (s.workload, s.param, s.contender);
            match s.status {
                SampleStatus::Ok | SampleStatus::Failed => {
                    done.samples.insert((key.0, key.1, key.2, s.sample));
                }
                SampleStatus::Unsupported | SampleStatus::Disqualified => {
                    done.gaps.insert(key);
                }
            }
        }
    } else {
        File::create(&raw_path).with_context(|| format!("creating {}", raw_path.display()))?;
    }
    eprintln!(
        "resuming {}: {} samples and {} gap records already recorded",
        dir.display(),
        done.samples.len(),
        done.gaps.len()
    );
    Ok((dir, prov, done))
}

/// Progress on stderr: an indicatif bar with ETA on a terminal; otherwise one line per sample
/// with the elapsed time and an ETA (CI logs, redirected output).
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    started: Instant,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} samples, ETA {eta} — {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self { bar, total, done: 0, started: Instant::now() }
    }

    fn start(&mut self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        }
    }

    fn finish_sample(&mut self, what: &str, line: &str, failed: bool) {
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                if failed {
                    bar.println(format!("{what}: {line}"));
                }
            }
            None => {
                let el = self.started.elapsed();
                let eta = if self.done > 0 {
                    el.mul_f64((self.total - self.done) as f64 / self.done as f64)
                } else {
                    Duration::ZERO
                };
                eprintln!(
                    "[{}/{} {:>4}s, ETA {:>4}s] {what}: {line}",
                    self.done,
                    self.total,
                    el.as_secs(),
                    eta.as_secs()
                );
            }
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Copies a sample's measurements into its raw record.
fn fill(rec: &mut RawSample, o: &SampleOutcome) {
    rec.tasks = o.tasks;
    rec.ops = o.ops;
    rec.wall_ns = o.measured.wall_ns;
    rec.cpu_ns = o.measured.cpu_ns;
    rec.voluntary_switches = o.measured.voluntary_switches;
    rec.wake_syscalls = o.wake_syscalls;
    rec.latency = o.latency.as_ref().map(stats::latency_summary);
    rec.allocs = o.allocs;
    rec.alloc_bytes = o.alloc_bytes;
    // JSON has no NaN or infinity (serde_json would write `null`, which then fails to read
    // back as a number): a non-finite value is not a measurement and is left out.
    rec.metrics = o
        .metrics
        .iter()
        .filter(|m| m.value.is_finite())
        .map(|m| RawMetric { name: m.name.to_string(), unit: m.unit.to_string(), value: m.value })
        .collect();
}

/// One (workload, param) cell group: who is measured, who is a declared gap and why.
struct Cell {
    workload: &'static WorkloadSpec,
    param: Param,
    measured: Vec<&'static Contender>,
    gaps: Vec<(&'static Contender, String)>,
}

fn plan_cells(plan: &RunPlan) -> Vec<Cell> {
    let mut cells = Vec::new();
    for w in &plan.workloads {
        for param in (w.params)(plan.mode) {
            let (mut measured, mut gaps) = (Vec::new(), Vec::new());
            let unavailable = workloads::environment_gap(w.id);
            for c in &plan.contenders {
                let missing: Vec<_> =
                    w.requires.iter().filter(|cap| !c.capabilities.supports(**cap)).collect();
                if let Some(why) = &unavailable {
                    gaps.push((*c, why.clone()));
                } else if missing.is_empty() || c.native_server_for(w.id).is_some() {
                    measured.push(*c);
                } else {
                    let names: Vec<_> = missing.iter().map(|m| m.name()).collect();
                    gaps.push((*c, format!("unsupported: lacks {}", names.join(", "))));
                }
            }
            cells.push(Cell { workload: w, param, measured, gaps });
        }
    }
    cells
}

/// Runs the gate on every selected contender; returns the disqualified ones with the violation.
fn gate_all(plan: &RunPlan) -> Vec<(&'static str, String)> {
    // The gate's panic-isolation checks panic on purpose; the default hook would print each one
    // (with a backtrace) to stderr. A panic that matters comes back as the violation's text.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut out = Vec::new();
    for c in &plan.contenders {
        let t = Instant::now();
        match (c.gate)(c.id, &(c.config)()) {
            Ok(summary) => {
                eprintln!("gate {}: pass ({summary}, {:.1}s)", c.id, t.elapsed().as_secs_f64())
            }
            Err(v) => {
                eprintln!("gate {}: DISQUALIFIED: {v}", c.id);
                out.push((c.id, format!("failed the conformance gate: {v}")));
            }
        }
    }
    std::panic::set_hook(previous_hook);
    out
}

/// The plan as recorded in env.json.
fn plan_info(plan: &RunPlan) -> env::RunInfo {
    env::RunInfo {
        mode: plan.mode.name().to_string(),
        samples: plan.samples,
        contenders: plan.contenders.iter().map(|c| c.id.to_string()).collect(),
        workloads: plan
            .workloads
            .iter()
            .map(|w| env::WorkloadInfo {
                id: w.id.to_string(),
                description: w.description.to_string(),
                timed_scope: w.timed_scope.to_string(),
                unit: w.unit.to_string(),
                params: (w.params)(plan.mode).into_iter().map(|p| p.id).collect(),
            })
            .collect(),
        gate: plan.gate,
        command_line: plan.command_line.clone(),
    }
}

/// The progress line's value for an ok sample: the primary figure in the workload's own unit
/// (`ns/task`, `ns/message`, `ns/batch`, …), or a memory workload's headline metrics.
fn sample_line(workload: &WorkloadSpec, primary_ns: Option<f64>, metrics: &[Metric]) -> String {
    if crate::record::is_memory_workload(workload.id) {
        return memory_line(metrics);
    }
    match primary_ns {
        Some(x) => format!("{x:.1} {}", workload.unit),
        None => "no task ran".to_string(),
    }
}

/// The progress line of a memory (`footprint`) sample: its headline metrics with their units
/// (no time: the workload measures bytes).
fn memory_line(metrics: &[Metric]) -> String {
    let shown = [
        "queued_bytes_per_task",
        "retained_after_drain",
        "growth_high_water",
        "growth_bounded",
        "leak_residual",
        "leak_pass",
    ];
    let parts: Vec<String> = metrics
        .iter()
        .filter(|m| shown.contains(&m.name))
        .map(|m| format!("{} {} {}", m.name, m.value, m.unit))
        .collect();
    if parts.is_empty() {
        "memory not tracked (counting allocator not installed)".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str) -> &'static WorkloadSpec {
        WORKLOADS.iter().find(|w| w.id == id).unwrap_or_else(|| panic!("no workload {id}"))
    }

    #[test]
    fn the_progress_line_names_each_workloads_own_unit() {
        assert_eq!(sample_line(spec("echo"), Some(3_512.04), &[]), "3512.0 ns/message");
        assert_eq!(sample_line(spec("ping-pong"), Some(16.24), &[]), "16.2 ns/task");
        assert_eq!(sample_line(spec("batch-budget-latency"), Some(900.0), &[]), "900.0 ns/batch");
        assert_eq!(sample_line(spec("burst"), None, &[]), "no task ran");
    }

    #[test]
    fn a_memory_sample_shows_its_metrics_not_a_time() {
        let metrics = [Metric { name: "leak_residual", unit: "bytes", value: 0.0 }];
        assert_eq!(sample_line(spec("footprint"), Some(1.0), &metrics), "leak_residual 0 bytes");
        assert!(sample_line(spec("footprint"), None, &[]).starts_with("memory not tracked"));
    }
}
