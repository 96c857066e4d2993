//! `tournament run`: gate, then interleaved sampling of every selected cell, then the report.
//!
//! Order of samples: for each workload and parameter, sample index `s` is taken for every
//! contender before index `s + 1` (A B C A B C …), so the machine's speed drift — which moves
//! between plateaus within seconds on the reference VM (`anchors.md` §1) — hits every contender
//! alike.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::contenders::{self, Contender};
use crate::env::{self, Provenance};
use crate::harness::SampleError;
use crate::record::{RAW_SCHEMA_VERSION, RawSample, SampleStatus};
use crate::report;
use crate::stats;
use crate::workloads::{Mode, Param, SampleOutcome, WORKLOADS, WorkloadSpec};

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
/// The output folder exists with a `raw.jsonl`, or writing fails. Failed samples do not fail the
/// run: they are recorded with their reason.
pub fn execute(plan: &RunPlan) -> anyhow::Result<PathBuf> {
    let prov = Provenance::capture(plan_info(plan))?;
    let dir = plan.out_dir.clone().unwrap_or_else(|| Path::new("results").join(&prov.run_id));
    if dir.join("raw.jsonl").exists() {
        bail!("{} already holds a run (raw.jsonl exists); choose another --out", dir.display());
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    prov.write_json(&dir)?;
    eprintln!("run {} → {}", prov.run_id, dir.display());

    let disqualified = if plan.gate { gate_all(plan) } else { Vec::new() };
    let mut raw = RawWriter::create(&dir.join("raw.jsonl"))?;
    let cells = plan_cells(plan);
    let total: usize =
        cells.iter().map(|c| c.measured.len()).sum::<usize>() * plan.samples as usize;
    let mut done = 0usize;
    let started = Instant::now();

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
        };
        for (c, why) in &cell.gaps {
            raw.write(&base(c.id, 0, SampleStatus::Unsupported, Some(why.clone())))?;
        }
        let measured: Vec<_> = cell
            .measured
            .iter()
            .filter(|c| {
                let dq = disqualified.iter().find(|(id, _)| id == &c.id);
                if let Some((_, why)) = dq {
                    let rec = base(c.id, 0, SampleStatus::Disqualified, Some(why.clone()));
                    return raw.write(&rec).map(|_| false).unwrap_or(false);
                }
                true
            })
            .collect();
        for s in 0..plan.samples {
            for c in &measured {
                let outcome = (c.run_sample)(cell.workload.id, &cell.param, &(c.config)());
                done += 1;
                let mut rec = base(c.id, s, SampleStatus::Ok, None);
                let line = match outcome {
                    Ok(o) => {
                        fill(&mut rec, &o);
                        format!("{:.1} ns/task", o.measured.wall_ns as f64 / o.tasks.max(1) as f64)
                    }
                    Err(SampleError(why)) => {
                        rec.status = SampleStatus::Failed;
                        rec.reason = Some(why.clone());
                        format!("FAILED: {why}")
                    }
                };
                raw.write(&rec)?;
                eprintln!(
                    "[{done}/{total} {:>4}s] {} {} {} #{s}: {line}",
                    started.elapsed().as_secs(),
                    cell.workload.id,
                    cell.param.id,
                    c.id
                );
            }
        }
    }
    drop(raw);
    report::regenerate(&dir)?;
    eprintln!("wrote {}/{{raw.jsonl,summary.csv,SUMMARY.md,env.json}}", dir.display());
    Ok(dir)
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
            for c in &plan.contenders {
                let missing: Vec<_> =
                    w.requires.iter().filter(|cap| !c.capabilities.supports(**cap)).collect();
                if missing.is_empty() {
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
