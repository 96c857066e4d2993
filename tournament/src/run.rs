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

use std::fs::{self, File};
use std::io::IsTerminal;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use anyhow::{Context, bail};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::contenders::{self, Contender};
use crate::env::{self, Provenance};
use crate::harness::SampleError;
use crate::raw::{self, RawWriter, ResumeIndex};
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
    /// Seed of the per-round shuffle of contender order (`--seed`); `None` draws one from the
    /// clock. Recorded in env.json (`run.shuffle_seed`) either way.
    pub seed: Option<u64>,
    /// Practical margin of the verdicts, a fraction (0.03 = 3%); recorded in env.json.
    pub margin: f64,
    /// The contender the verdicts are about; recorded in env.json.
    pub flagship: String,
    /// How many successive processes the run's samples are split over (`--processes`); this
    /// process measures the first share. Recorded in env.json (`run.processes`).
    pub processes: u32,
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

/// Executes the plan and returns the run folder with the report's outcome (headline, failed
/// cells).
///
/// # Errors
/// The output folder exists with a `raw.jsonl` (without `resume`); with `resume`, the folder
/// holds no run, a corrupt one, or one whose env.json describes another plan or build; writing
/// fails; or the written folder fails validation (see `report::validate`). Failed (or
/// panicking) samples do not fail the run: they are recorded with their reason.
pub fn execute(plan: &RunPlan) -> anyhow::Result<(PathBuf, report::Outcome)> {
    let (dir, prov, done_before) = if plan.resume {
        prepare_resume(plan)?
    } else {
        let mut info = plan_info(plan);
        info.shuffle_seed = Some(plan.seed.unwrap_or_else(draw_seed));
        let prov = Provenance::capture(info)?;
        let dir = plan.out_dir.clone().unwrap_or_else(|| Path::new("results").join(&prov.run_id));
        if raw::has_raw(&dir) {
            bail!(
                "{} already holds a run (raw.jsonl or raw.jsonl.gz exists); choose another --out, or continue \
                 it with --resume {}",
                dir.display(),
                dir.display()
            );
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        prov.write_json(&dir)?;
        (dir, prov, ResumeIndex::default())
    };
    eprintln!("run {} → {}", prov.run_id, dir.display());

    let disqualified = if plan.gate { gate_all(plan) } else { Vec::new() };
    let raw_path = dir.join(raw::RAW_JSONL);
    let mut raw =
        if plan.resume { RawWriter::append(&raw_path)? } else { RawWriter::create(&raw_path)? };
    let cells = plan_cells(plan);
    let total: usize = cells
        .iter()
        .flat_map(|cell| {
            cell.measured.iter().flat_map(move |c| (0..plan.samples).map(move |s| (cell, c, s)))
        })
        .filter(|(cell, c, s)| !done_before.has_sample(cell.workload.id, &cell.param.id, c.id, *s))
        .count();
    let mut progress = Progress::new(total as u64);

    let seed = prov.run.shuffle_seed;
    for (cell_index, cell) in cells.iter().enumerate() {
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
            if !done_before.has_gap(cell.workload.id, &cell.param.id, c.id) {
                raw.write(&base(c.id, 0, SampleStatus::Unsupported, Some(why.clone())))?;
            }
        }
        let mut measured = Vec::new();
        for c in &cell.measured {
            match disqualified.iter().find(|(id, _)| id == &c.id) {
                Some((_, why)) => {
                    let (w, p) = (cell.workload.id, cell.param.id.as_str());
                    if !done_before.has_gap(w, p, c.id) && !done_before.has_any_sample(w, p, c.id) {
                        raw.write(&base(c.id, 0, SampleStatus::Disqualified, Some(why.clone())))?;
                    }
                }
                None => measured.push(*c),
            }
        }
        workloads::prepare_cell(cell.workload.id, &cell.param, &measured);
        for s in 0..plan.samples {
            for &c in round_order(&measured, seed, cell_index, s) {
                if done_before.has_sample(cell.workload.id, &cell.param.id, c.id, s) {
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
    let outcome = report::regenerate(&dir)?;
    eprintln!(
        "wrote {}/{{raw.jsonl,summary.csv,verdicts.csv,SUMMARY.md,env.json,plots/}}",
        dir.display()
    );
    Ok((dir, outcome))
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

/// Checks that `plan.out_dir` holds a run of the same plan and build, and loads what it holds.
fn prepare_resume(plan: &RunPlan) -> anyhow::Result<(PathBuf, Provenance, ResumeIndex)> {
    let Some(dir) = plan.out_dir.clone() else {
        bail!("--resume needs the run folder to continue");
    };
    let prov = Provenance::read_json(&dir)
        .with_context(|| format!("{} holds no resumable run", dir.display()))?;
    let mut want = plan_info(plan);
    want.command_line = prov.run.command_line.clone();
    // The order of contenders within a round follows the run's own seed, whatever this
    // command would have drawn.
    want.shuffle_seed = prov.run.shuffle_seed;
    want.margin = prov.run.margin;
    want.flagship = prov.run.flagship.clone();
    // A child of `--processes` (or `make bench-ab`) extends the run in its own process.
    want.processes = prov.run.processes;
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
        // The same placement of threads on CPUs (a process started from a pinned thread
        // inherits that one CPU and could not separate the loop from its producers).
        ("pinning", prov.pinning == now.pinning),
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
    // The records are read (and a corrupt file refused) before anything is written: a resume
    // that fails leaves the folder exactly as it found it.
    let raw_path = dir.join(raw::RAW_JSONL);
    if !raw_path.exists() && dir.join(raw::RAW_JSONL_GZ).exists() {
        bail!(
            "cannot resume {}: it is an archived run (raw.jsonl.gz); `gunzip {}` first to \
             append to it",
            dir.display(),
            dir.join(raw::RAW_JSONL_GZ).display()
        );
    }
    let done = if raw_path.exists() {
        let lines = raw::read_raw_lines(&raw_path)?;
        if let Some((n, s)) = lines.iter().find(|(_, s)| s.run_id != prov.run_id) {
            bail!(
                "{}:{n}: record of run {:?} in run {:?}",
                raw_path.display(),
                s.run_id,
                prov.run_id
            );
        }
        let records: Vec<_> = lines.into_iter().map(|(_, s)| s).collect();
        ResumeIndex::new(&records)
    } else {
        File::create(&raw_path).with_context(|| format!("creating {}", raw_path.display()))?;
        ResumeIndex::default()
    };
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
    eprintln!(
        "resuming {}: {} samples and {} gap records already recorded",
        dir.display(),
        done.sample_count(),
        done.gap_count()
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
                if !c.applies_to(w.id) {
                    gaps.push((
                        *c,
                        format!("not applicable: {} is not defined for {}", c.id, w.id),
                    ));
                } else if let Some(why) = unavailable.clone().or_else(|| c.unavailable()) {
                    gaps.push((*c, why));
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

/// A fresh shuffle seed from the clock and the process id (reproducibility comes from recording
/// it in env.json, not from choosing it).
fn draw_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // SplitMix64's finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom number
    // generators", OOPSLA 2014) spreads the bits of clock and pid over the whole word.
    let mut z = nanos ^ (u64::from(std::process::id()) << 32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The order in which the contenders of cell `cell_index` take their sample `round`: a
/// Fisher–Yates shuffle (Knuth, TAOCP vol. 2, Algorithm 3.4.2 P) driven by a `ChaCha8Rng`
/// seeded with `seed` on stream `cell_index × 2³² + round`, so no contender always runs right
/// after the same one, and the order is reproducible from env.json alone. `None` (a run recorded
/// before the shuffle existed) keeps the registry order.
pub fn round_order<T>(items: &[T], seed: Option<u64>, cell_index: usize, round: u32) -> Vec<&T> {
    let mut out: Vec<&T> = items.iter().collect();
    let Some(seed) = seed else { return out };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((cell_index as u64) << 32) | u64::from(round));
    for i in (1..out.len()).rev() {
        // Lemire's multiply-shift onto 0..=i (bias below (i+1)/2⁶⁴).
        let j = ((u128::from(rng.next_u64()) * (i as u128 + 1)) >> 64) as usize;
        out.swap(i, j);
    }
    out
}

/// Runs the gate on every selected contender; returns the disqualified ones with the violation.
fn gate_all(plan: &RunPlan) -> Vec<(&'static str, String)> {
    // The gate's panic-isolation checks panic on purpose; the default hook would print each one
    // (with a backtrace) to stderr. A panic that matters comes back as the violation's text.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut out = Vec::new();
    for c in &plan.contenders {
        if let Some(why) = c.unavailable() {
            // Not installed: every cell of it is a declared gap (plan_cells), nothing to gate.
            eprintln!("gate {}: skipped: {why}", c.id);
            continue;
        }
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
        shuffle_seed: plan.seed,
        margin: Some(plan.margin),
        flagship: Some(plan.flagship.clone()),
        processes: Some(plan.processes),
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
    fn round_order_is_a_seeded_permutation_with_no_fixed_neighbour() {
        let ids = ["a", "b", "c", "d", "e"];
        assert_eq!(round_order(&ids, None, 3, 7), ids.iter().collect::<Vec<_>>());
        let mut follows = std::collections::HashSet::new();
        let mut orders = std::collections::HashSet::new();
        for round in 0..40 {
            let o = round_order(&ids, Some(42), 1, round);
            let mut sorted: Vec<&&str> = o.clone();
            sorted.sort();
            assert_eq!(sorted, ids.iter().collect::<Vec<_>>(), "not a permutation");
            assert_eq!(o, round_order(&ids, Some(42), 1, round), "not reproducible");
            for w in o.windows(2) {
                follows.insert((*w[0], *w[1]));
            }
            orders.insert(o);
        }
        // Over 40 rounds every contender ran right after every other one.
        assert_eq!(follows.len(), ids.len() * (ids.len() - 1));
        assert!(orders.len() > 20);
        assert_ne!(round_order(&ids, Some(42), 1, 0), round_order(&ids, Some(43), 1, 0));
    }

    #[test]
    fn a_memory_sample_shows_its_metrics_not_a_time() {
        let metrics = [Metric { name: "leak_residual", unit: "bytes", value: 0.0 }];
        assert_eq!(sample_line(spec("footprint"), Some(1.0), &metrics), "leak_residual 0 bytes");
        assert!(sample_line(spec("footprint"), None, &[]).starts_with("memory not tracked"));
    }
}
