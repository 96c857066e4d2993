//! The `tournament` command line as a library: [`main_with`] runs it with contenders of your own
//! added to the built-in registry, so a crate outside this workspace can benchmark its loop with
//! every flag, report and exit code of the `tournament` binary (whose `main` is
//! `cli::main_with(Vec::new())`). See `docs/BRING-YOUR-OWN-LOOP.md`.
//!
//! ```no_run
//! # use loop_api::EventLoop;
//! # fn demo<MyLoop: EventLoop>() -> std::process::ExitCode {
//! tournament::cli::main_with(vec![tournament::contender::<MyLoop>(
//!     "my-loop",
//!     "mine: one sentence saying what it is",
//! )])
//! # }
//! ```
//!
//! Exit codes: 0 success; 1 a runtime failure (I/O, corrupt results) or, for `validate`,
//! violations; 2 bad usage (unknown flag, contender or workload — the message lists the valid
//! names — or an invalid extra contender id); 3 `run --strict` when a cell failed, was
//! disqualified or is missing. `compare`: 0 no regression, 1 regression (or a lost cell), 2
//! refused (provenance differs without `--descriptive`) or bad usage / unreadable run folder.
//!
//! The binary calling [`main_with`] should install the counting allocator
//! ([`crate::alloc_count::CountingAllocator`]) as its `#[global_allocator]`: without it the
//! `alloc-pressure` and `footprint` workloads measure time but count no heap (`run` says so).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::contenders::{self, Contender};
use crate::report;
use crate::run::{self, RunPlan};
use crate::workloads::{Mode, WORKLOADS};

#[derive(Parser)]
#[command(name = "tournament", version, about = "Measures event-loop contenders side by side")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gate, then measure every selected contender on every selected workload, interleaved, and
    /// write results/<run-id>/{raw.jsonl,summary.csv,SUMMARY.md,env.json}.
    Run(RunArgs),
    /// Regenerate summary.csv and SUMMARY.md of a run folder from its raw.jsonl and env.json.
    Report {
        /// The run folder.
        dir: PathBuf,
    },
    /// List contenders (with capabilities) and workloads (with parameters and timed scope).
    List,
    /// Check a run folder: summary.csv and SUMMARY.md recomputable from raw.jsonl, percentiles
    /// non-decreasing, CIs containing medians, every planned cell present or a declared gap,
    /// units consistent. Exit 1 listing every violation.
    Validate {
        /// The run folder.
        dir: PathBuf,
    },
    /// Compare two runs cell by cell (ratio of medians with a bootstrap CI) and report
    /// regressions as markdown on stdout. Exit 0 none, 1 regression, 2 refused or bad input.
    Compare {
        /// The baseline run folder.
        old: PathBuf,
        /// The run folder to judge.
        new: PathBuf,
        /// Smallest slowdown that counts as a regression, e.g. `5%`.
        #[arg(long, default_value = "5%", value_parser = crate::compare::parse_threshold)]
        threshold: f64,
        /// Compare even when provenance differs: ratios only, labelled descriptive, no verdict.
        #[arg(long)]
        descriptive: bool,
        /// The two runs were measured in the same rounds of N samples per side (`make bench-ab`
        /// passes its SAMPLES_PER_ROUND; bare `--interleaved` means 1): pair them by round.
        /// Never for runs taken one after the other.
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        interleaved: Option<u32>,
        /// Also write the markdown to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// How many of the flagship's verdicts two runs (e.g. an A/A pair of the same build) agree
    /// on: prints the share that differ, every differing comparison, and the cells' spread and
    /// how often their medians moved beyond both CIs, by spread band. Exit 0, or 1 on bad input.
    VerdictDiff {
        /// The first run folder.
        a: PathBuf,
        /// The second run folder.
        b: PathBuf,
    },
    /// Descriptive cross-host table of several runs, with each host's provenance (stdout).
    Merge {
        /// Run folders (one per host).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Also write the markdown to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write DIR/README.md indexing the run folders under DIR (normally results/).
    Index {
        /// The folder holding run folders.
        dir: PathBuf,
    },
    /// Conservation soak (a correctness run, not a timing run): every selected loop is hammered
    /// side by side for the duration, round after round (producers, reentrant submits, racing
    /// shutdown and close), every closure accounted for by id. Writes OUT/SOAK.md. Exit 0 clean,
    /// 1 a finding (lost, run twice, leaked, off-thread, a hang), 2 bad input.
    Soak(SoakArgs),
    /// The `echo` workload's client (spawned by it; runnable by hand against any echo server):
    /// connect C connections, print a `ready` JSON line, wait for `go` on stdin, send M 64-byte
    /// messages per connection verifying every echoed byte, print a `result` JSON line.
    EchoClient(crate::workloads::net::client::ClientArgs),
}

#[derive(Args)]
struct SoakArgs {
    /// Comma-separated contender ids (default: every loop, ours and the peers, no ablations).
    #[arg(long, value_delimiter = ',')]
    contenders: Option<Vec<String>>,
    /// Wall time, seconds (each contender soaks this long, all at once).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    seconds: u64,
    /// Producer threads per round and contender.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    producers: u64,
    /// Tasks the producers submit per round (before follow-ups).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(2..=10_000_000))]
    tasks_per_round: u64,
    /// Output folder for SOAK.md.
    #[arg(long, default_value = "results/soak")]
    out: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    /// Quick parameters (the default): every cell in a few minutes.
    #[arg(long, conflicts_with_all = ["full", "smoke"])]
    quick: bool,
    /// Full parameters: 4× the quick tasks, 15 samples per cell.
    #[arg(long, conflicts_with = "smoke")]
    full: bool,
    /// Tiny parameters for CI smoke runs (1 sample unless --samples).
    #[arg(long)]
    smoke: bool,
    /// Comma-separated contender ids (default: all). See `tournament list`.
    #[arg(long, value_delimiter = ',')]
    contenders: Option<Vec<String>>,
    /// Comma-separated workload ids (default: all). See `tournament list`.
    #[arg(long, value_delimiter = ',')]
    workloads: Option<Vec<String>>,
    /// Samples per cell (default: 10 quick, 15 full, 1 smoke). Cells with fewer than 5 ok samples
    /// are reported as too-few-samples, never ok.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    samples: Option<u32>,
    /// Output folder (default: results/<UTC timestamp>-<git sha>). Must not already hold a run.
    #[arg(long, conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue an interrupted run in DIR (same options as it was started with): cells and
    /// samples already in DIR/raw.jsonl are skipped.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Skip the conformance gate (debugging only; recorded in env.json).
    #[arg(long)]
    no_gate: bool,
    /// Do not pin threads to CPUs (default: the loop thread on one CPU, the harness thread on
    /// another; recorded in env.json `pinning`). Same as TOURNAMENT_PIN=0.
    #[arg(long)]
    no_pin: bool,
    /// Exit with status 3 when any cell failed, was disqualified or is missing (after writing
    /// the whole report): what CI uses instead of parsing summary.csv.
    #[arg(long)]
    strict: bool,
    /// Practical margin of the verdicts: a paired ratio whose CI lies wholly within ±margin of
    /// 1 is *equivalent*, wholly beyond it *faster*/*slower* (recorded in env.json).
    #[arg(long, default_value = "3%", value_parser = crate::compare::parse_threshold)]
    margin: f64,
    /// The contender the verdicts are about (recorded in env.json). Default: `main` when it is
    /// selected, else the first selected contender.
    #[arg(long)]
    flagship: Option<String>,
    /// Seed of the per-round shuffle of contender order (default: drawn; recorded in env.json).
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Split the samples over N successive processes (each one extends the run with
    /// `--resume`), so effects that last a whole process — memory layout, thread placement, the
    /// speed plateau it started on — vary between rounds instead of biasing every sample of the
    /// run alike (repetition at the level where the variance lives; T. Kalibera and R. Jones,
    /// "Rigorous benchmarking in reasonable time", ISMM 2013). Default: 5 in quick and full
    /// runs, 1 in smoke runs and with `--resume` (recorded in env.json as `run.processes`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    processes: Option<u32>,
}

/// Parses a seed in decimal or `0x` hexadecimal.
fn parse_seed(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("not a 64-bit seed ({e}): {s:?}"))
}

/// Runs the command line of this process (`std::env::args_os`) with the built-in contenders plus
/// `extra`, and returns the exit status to return from `main`.
///
/// `extra` contenders are built with [`crate::contender`] (or [`contenders::entry`]); they are
/// listed after the built-in ones, selectable by id (`--contenders my-loop,baseline`), gated
/// and measured exactly like them. `run --processes N` starts this same binary again for the
/// later rounds, so it must be the binary that registers the same `extra`.
///
/// Prints clap's usage message and returns 2 (0 for `--help`/`--version`) on bad arguments;
/// returns 2 with a message when an extra id is empty, holds a comma or whitespace, or repeats
/// an id already registered. Never calls `std::process::exit`.
pub fn main_with(extra: Vec<Contender>) -> ExitCode {
    main_with_args(std::env::args_os(), extra)
}

/// [`main_with`] on an explicit command line: `args` starts with the program name, as
/// `std::env::args_os` does (e.g. `["tournament", "run", "--smoke"]`). For tests and embedders
/// that run the tournament in-process; the command line is recorded in the run's `env.json`.
pub fn main_with_args<I, T>(args: I, extra: Vec<Contender>) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            // What `Cli::parse` does, without exiting the process: help/version on stdout with
            // status 0, usage errors on stderr with status 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let registry = match registry(extra) {
        Ok(r) => r,
        Err(e) => return fail(2, &e),
    };
    let command_line =
        args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
    match cli.command {
        Command::Run(args) => run_cmd(args, registry, command_line),
        Command::Report { dir } => match report::regenerate(&dir) {
            Ok(outcome) => {
                eprintln!(
                    "regenerated {}/{{summary.csv,verdicts.csv,SUMMARY.md,plots/}}",
                    dir.display()
                );
                eprint!("{}", outcome.headline);
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, &format!("{e:#}")),
        },
        Command::List => {
            list(&registry);
            ExitCode::SUCCESS
        }
        Command::Validate { dir } => validate_cmd(&dir),
        Command::Compare { old, new, threshold, descriptive, interleaved, out } => {
            let opts = crate::compare::Options {
                threshold,
                descriptive,
                interleaved: interleaved.is_some(),
                samples_per_round: interleaved.unwrap_or(1),
            };
            compare_cmd(&old, &new, &opts, out.as_deref())
        }
        Command::VerdictDiff { a, b } => verdict_diff_cmd(&a, &b),
        Command::Merge { dirs, out } => match crate::merge::merge_dirs(&dirs) {
            Ok(md) => emit(&md, out.as_deref()).unwrap_or_else(|e| fail(1, &e)),
            Err(e) => fail(1, &format!("{e:#}")),
        },
        Command::Soak(args) => soak_cmd(args, registry, &command_line),
        Command::EchoClient(args) => ExitCode::from(crate::workloads::net::client::main(args)),
        Command::Index { dir } => match crate::index::write_index(&dir) {
            Ok(()) => {
                eprintln!("wrote {}/README.md", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, &format!("{e:#}")),
        },
    }
}

/// The built-in contenders ([`contenders::all`]) followed by `extra`, leaked to `'static` (they
/// live as long as the process, like the built-in registry).
///
/// # Errors
/// An extra id that is empty, holds a comma or whitespace (ids are comma-separated on the
/// command line and stored in CSV cells), or repeats a registered id.
pub fn registry(extra: Vec<Contender>) -> Result<Vec<&'static Contender>, String> {
    let mut all = contenders::all();
    for c in extra {
        if c.id.is_empty() || c.id.contains(|ch: char| ch == ',' || ch.is_whitespace()) {
            return Err(format!(
                "contender id {:?} is invalid: ids are non-empty, without commas or whitespace",
                c.id
            ));
        }
        if all.iter().any(|o| o.id == c.id) {
            return Err(format!("contender id {:?} is registered twice", c.id));
        }
        all.push(Box::leak(Box::new(c)));
    }
    Ok(all)
}

/// The workloads whose heap counts need [`crate::alloc_count::CountingAllocator`] installed.
const HEAP_COUNTING_WORKLOADS: [&str; 2] = ["alloc-pressure", "footprint"];

/// Prints `md` to stdout and, when asked, writes it to `out`.
fn emit(md: &str, out: Option<&std::path::Path>) -> Result<ExitCode, String> {
    print!("{md}");
    if let Some(out) = out {
        std::fs::write(out, md).map_err(|e| format!("writing {}: {e}", out.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn validate_cmd(dir: &std::path::Path) -> ExitCode {
    match report::validate::validate_dir(dir) {
        Ok(v) if v.is_empty() => {
            eprintln!("{}: valid", dir.display());
            ExitCode::SUCCESS
        }
        Ok(v) => {
            eprintln!("{}: {} violation(s):", dir.display(), v.len());
            eprintln!("{}", report::validate::format_violations(&v));
            ExitCode::from(1)
        }
        Err(e) => fail(1, &format!("{e:#}")),
    }
}

fn compare_cmd(
    old: &std::path::Path,
    new: &std::path::Path,
    opts: &crate::compare::Options,
    out: Option<&std::path::Path>,
) -> ExitCode {
    use crate::compare;
    match compare::compare_dirs_with(old, new, opts) {
        Ok(c) => {
            let md = compare::render_markdown(&c);
            if let Err(e) = emit(&md, out) {
                return fail(2, &e);
            }
            if c.failures() > 0 {
                eprintln!("compare: {} regression(s) or lost cell(s)", c.failures());
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(2, &e.to_string()),
    }
}

fn verdict_diff_cmd(a: &std::path::Path, b: &std::path::Path) -> ExitCode {
    use crate::{calibration, raw, summarize, verdict};
    let load = |d: &std::path::Path| -> anyhow::Result<_> {
        let (samples, prov) = raw::load_run(d)?;
        let rows = summarize::summarize_for(&samples, Some(&prov));
        let (flagship, margin) = verdict::settings(&prov);
        let comps = verdict::compare_all(&samples, &rows, &flagship, margin);
        Ok((rows, comps))
    };
    let ((ra, ca), (rb, cb)) = match (load(a), load(b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return fail(1, &format!("{e:#}")),
    };
    let ag = verdict::agreement(&ca, &cb);
    println!(
        "verdicts differ on {} of {} common comparisons ({:.1}%); {} unmatched",
        ag.common - ag.same,
        ag.common,
        100.0 * ag.differ_share(),
        ag.unmatched
    );
    for (w, p, o, x, y) in &ag.differ {
        println!("  {w} {p} vs {o}: {} → {}", x.as_str(), y.as_str());
    }
    println!("\n{}", calibration::render_spread(&ra, &rb));
    ExitCode::SUCCESS
}

fn soak_cmd(args: SoakArgs, registry: Vec<&'static Contender>, command_line: &str) -> ExitCode {
    let selected = match &args.contenders {
        None => crate::soak::default_selection(&registry),
        Some(wanted) => match run::select("contender", Some(wanted), registry, |c| c.id) {
            Ok(s) => s,
            Err(e) => return fail(2, &e),
        },
    };
    let settings = loop_conformance::soak::SoakSettings {
        duration: std::time::Duration::from_secs(args.seconds),
        producers: args.producers as usize,
        tasks_per_round: args.tasks_per_round as usize,
        ..Default::default()
    };
    let ids: Vec<&str> = selected.iter().map(|c| c.id).collect();
    eprintln!(
        "soak: {} for {} s side by side, progress every {} s",
        ids.join(", "),
        args.seconds,
        crate::soak::PROGRESS_EVERY.as_secs()
    );
    let (outcomes, rss) = match crate::soak::soak_all(&selected, &settings) {
        Ok(o) => o,
        Err(e) => return fail(2, &e),
    };
    let md = crate::soak::render_markdown(&outcomes, &rss, &settings, command_line);
    if let Err(e) = crate::soak::write_report(&args.out, &md) {
        return fail(1, &e);
    }
    for o in &outcomes {
        eprintln!("soak: {}: {}", o.id, o.totals);
    }
    eprintln!("soak: wrote {}", args.out.join("SOAK.md").display());
    if outcomes.iter().all(|o| o.totals.clean()) {
        ExitCode::SUCCESS
    } else {
        fail(1, "the soak found defects; see the findings in SOAK.md")
    }
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(code)
}

fn run_cmd(args: RunArgs, registry: Vec<&'static Contender>, command_line: String) -> ExitCode {
    // The socket workloads spawn their client as `<this executable> echo-client`: every binary
    // built on this module has that subcommand, whatever its file is called (a renamed copy, a
    // `main_with` binary of another crate).
    if let Ok(exe) = std::env::current_exe() {
        crate::workloads::net::set_client_program(exe);
    }
    if args.no_pin {
        crate::harness::set_pinning(false);
    }
    let mode = if args.full {
        Mode::Full
    } else if args.smoke {
        Mode::Smoke
    } else {
        Mode::Quick
    };
    let contenders = match run::select("contender", args.contenders.as_deref(), registry, |c| c.id)
    {
        Ok(c) => c,
        Err(e) => return fail(2, &e),
    };
    let workloads = match run::select_workloads(args.workloads.as_deref()) {
        Ok(w) => w,
        Err(e) => return fail(2, &e),
    };
    if workloads.iter().any(|w| HEAP_COUNTING_WORKLOADS.contains(&w.id))
        && !crate::alloc_count::is_installed()
    {
        eprintln!(
            "note: this binary's global allocator is not tournament::alloc_count::CountingAllocator: \
             {} report time but no heap counts",
            HEAP_COUNTING_WORKLOADS.join(" and ")
        );
    }
    let flagship = match args.flagship {
        Some(f) if !contenders.iter().any(|c| c.id == f) => {
            return fail(
                2,
                &format!(
                    "--flagship {f:?} is not among the selected contenders; valid: {}",
                    contenders.iter().map(|c| c.id).collect::<Vec<_>>().join(", ")
                ),
            );
        }
        Some(f) => f,
        None if contenders.iter().any(|c| c.id == crate::verdict::FLAGSHIP) => {
            crate::verdict::FLAGSHIP.to_string()
        }
        None => contenders.first().map(|c| c.id.to_string()).unwrap_or_default(),
    };
    let plan = RunPlan {
        mode,
        samples: args.samples.unwrap_or_else(|| mode.default_samples()),
        contenders,
        workloads,
        resume: args.resume.is_some(),
        out_dir: args.resume.or(args.out),
        gate: !args.no_gate,
        command_line,
        seed: args.seed,
        margin: args.margin,
        flagship,
        processes: 1,
    };
    let no_gate = args.no_gate;
    let no_pin = args.no_pin;
    if args.processes.is_some_and(|p| p > 1) && plan.resume {
        return fail(2, "--processes splits a new run; resume with --processes 1");
    }
    let requested =
        args.processes.unwrap_or(if plan.resume { 1 } else { mode.default_processes() });
    let processes = requested.min(plan.samples).max(1);
    let total = plan.samples;
    let mut plan = plan;
    plan.samples = total.div_ceil(processes);
    plan.processes = processes;
    let result = run::execute(&plan).and_then(|(dir, outcome)| {
        if processes == 1 {
            return Ok((dir, outcome));
        }
        for k in 2..=processes {
            let upto = (u64::from(total) * u64::from(k)).div_ceil(u64::from(processes));
            extend_in_child(&common_flags(mode, &plan, no_gate, no_pin), &dir, upto, k, processes)?;
        }
        Ok((dir.clone(), report::regenerate(&dir)?))
    });
    match result {
        Ok((dir, outcome)) => {
            if std::env::var_os(CHILD_ENV).is_none() {
                eprint!("\n{}", outcome.headline);
            }
            println!("{}", dir.display());
            if args.strict && !outcome.failed_cells.is_empty() {
                eprintln!(
                    "--strict: {} cell(s) failed, were disqualified or are missing:",
                    outcome.failed_cells.len()
                );
                for c in &outcome.failed_cells {
                    eprintln!("  {c}");
                }
                return ExitCode::from(3);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, &format!("{e:#}")),
    }
}

/// Set in the environment of the child processes of `--processes`: the parent prints the
/// headline once, at the end.
const CHILD_ENV: &str = "TOURNAMENT_RUN_CHILD";

/// Extends the run in `dir` to `upto` samples per cell in a child process of this binary (one
/// step of `--processes`).
fn extend_in_child(
    flags: &[String],
    dir: &std::path::Path,
    upto: u64,
    k: u32,
    of: u32,
) -> anyhow::Result<()> {
    use anyhow::Context;
    eprintln!("process {k}/{of}: extending {} to {upto} samples per cell", dir.display());
    let exe = std::env::current_exe().context("locating this binary to start the next process")?;
    // Started from a thread with the run's whole CPU mask, not from this (pinned) harness
    // thread, whose single CPU the child would inherit (`harness::with_allowed_cpus`).
    let status = crate::harness::with_allowed_cpus(|| {
        std::process::Command::new(exe)
            .arg("run")
            .args(flags)
            .args(["--samples", &upto.to_string(), "--resume"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .env(CHILD_ENV, "1")
            .status()
    })
    .context("widening the CPU mask to start the next process")?
    .context("starting the next process of the run")?;
    anyhow::ensure!(status.success(), "process {k}/{of} of the run failed ({status})");
    Ok(())
}

/// The flags a child process needs to resume this run with the same plan.
fn common_flags(mode: Mode, plan: &RunPlan, no_gate: bool, no_pin: bool) -> Vec<String> {
    let mut f = vec![format!("--{}", mode.name())];
    f.push("--contenders".into());
    f.push(plan.contenders.iter().map(|c| c.id).collect::<Vec<_>>().join(","));
    f.push("--workloads".into());
    f.push(plan.workloads.iter().map(|w| w.id).collect::<Vec<_>>().join(","));
    if no_gate {
        f.push("--no-gate".into());
    }
    if no_pin {
        f.push("--no-pin".into());
    }
    f
}

fn list(registry: &[&'static Contender]) {
    println!("Contenders:");
    for c in registry {
        let caps = c.capabilities;
        let flag = |b: bool| if b { "yes" } else { "no" };
        println!("  {:<16} {}", c.id, c.description);
        println!(
            "  {:<16} internal-priority={} microtasks={} timers={} readiness={} batch-budget={} \
             spin={} inline={} wake-accounting={}",
            "",
            flag(caps.internal_priority),
            flag(caps.microtasks),
            flag(caps.timers),
            flag(caps.readiness),
            flag(caps.batch_budget),
            flag(caps.spin_before_sleep),
            flag(caps.inline_tasks),
            flag(caps.wake_accounting),
        );
    }
    println!("\nWorkloads:");
    for w in WORKLOADS {
        println!("  {:<18} {} [{}]", w.id, w.description, w.unit);
        println!("  {:<18} timed scope: {}", "", w.timed_scope);
        for mode in [Mode::Smoke, Mode::Quick, Mode::Full] {
            let params: Vec<_> = (w.params)(mode)
                .into_iter()
                .map(|p| format!("{} ({} tasks)", p.id, p.tasks))
                .collect();
            println!("  {:<18} {:<5}: {}", "", mode.name(), params.join(", "));
        }
        if !w.requires.is_empty() {
            let req: Vec<_> = w.requires.iter().map(|r| r.name()).collect();
            println!("  {:<18} requires: {}", "", req.join(", "));
        }
    }
}
