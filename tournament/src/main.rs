//! `tournament`: run the event-loop tournament, regenerate reports, list what is registered.
//!
//! Exit codes: 0 success; 1 a runtime failure (I/O, corrupt results); 2 bad usage (unknown flag,
//! contender or workload — the message lists the valid names).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tournament::contenders;
use tournament::report;
use tournament::run::{self, RunPlan};
use tournament::workloads::{Mode, WORKLOADS};

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
}

#[derive(Args)]
struct RunArgs {
    /// Quick parameters (the default): every cell in a few minutes.
    #[arg(long, conflicts_with_all = ["full", "smoke"])]
    quick: bool,
    /// Full parameters: 10× the tasks, more samples.
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
    /// Samples per cell (default: 10 quick, 20 full, 1 smoke). Cells with fewer than 5 ok samples
    /// are reported as too-few-samples, never ok.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    samples: Option<u32>,
    /// Output folder (default: results/<UTC timestamp>-<git sha>). Must not already hold a run.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the conformance gate (debugging only; recorded in env.json).
    #[arg(long)]
    no_gate: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run_cmd(args),
        Command::Report { dir } => match report::regenerate(&dir) {
            Ok(()) => {
                eprintln!("regenerated {}/summary.csv and SUMMARY.md", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, &format!("{e:#}")),
        },
        Command::List => {
            list();
            ExitCode::SUCCESS
        }
    }
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(code)
}

fn run_cmd(args: RunArgs) -> ExitCode {
    let mode = if args.full {
        Mode::Full
    } else if args.smoke {
        Mode::Smoke
    } else {
        Mode::Quick
    };
    let contenders = match run::select_contenders(args.contenders.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(2, &e),
    };
    let workloads = match run::select_workloads(args.workloads.as_deref()) {
        Ok(w) => w,
        Err(e) => return fail(2, &e),
    };
    let plan = RunPlan {
        mode,
        samples: args.samples.unwrap_or_else(|| mode.default_samples()),
        contenders,
        workloads,
        out_dir: args.out,
        gate: !args.no_gate,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
    };
    match run::execute(&plan) {
        Ok(dir) => {
            println!("{}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, &format!("{e:#}")),
    }
}

fn list() {
    println!("Contenders:");
    for c in contenders::all() {
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
