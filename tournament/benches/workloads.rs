//! `cargo bench -p tournament`: every workload × parameter × contender through criterion, running
//! the very same workload code as `tournament run` (`Contender::sample`), so
//! `cargo bench -- --save-baseline NAME` and critcmp work as users expect. No workload logic
//! lives here.
//!
//! * Benchmarks are named `<workload>/<param>/<contender>` (group `<workload>/<param>`); filter as
//!   usual: `cargo bench -p tournament -- 'ping-pong/'`, `-- tokio`, or `--exact
//!   ping-pong/n=20000/main`. The filter is applied *before* anything runs: a filtered-out cell
//!   costs nothing, not even the probe sample that sizes criterion's throughput line.
//! * One criterion iteration is one whole sample (a fresh loop, untimed warm-up, the workload's
//!   timed scope); `iter_custom` returns the sum of the timed scopes only, so loop start-up,
//!   warm-up and shutdown never count. The throughput is set to the sample's tasks (or ops, for
//!   per-op units such as `ns/batch`), learnt from one probe sample of each selected cell, so
//!   criterion also prints elements per second. `--list` lists without running anything.
//! * Parameter sizes: smoke by default (the whole matrix takes minutes, not hours);
//!   `TOURNAMENT_BENCH_MODE=quick` or `full` selects the tournament's other sizes.
//! * Gaps are skipped with a note on stderr, as `tournament run` declares them: a contender
//!   lacking a capability the workload needs (unless it has a native server for it), and a
//!   workload whose external tool is missing (`http` without `wrk`). A failed sample panics with
//!   its reason: a number from a broken sample must never be reported. The correctness gate is
//!   `tournament run`'s job.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use regex::Regex;
use tournament::contenders;
use tournament::workloads::{self, Mode, WORKLOADS};

fn mode() -> Mode {
    match std::env::var("TOURNAMENT_BENCH_MODE").as_deref() {
        Ok("quick") => Mode::Quick,
        Ok("full") => Mode::Full,
        _ => Mode::Smoke,
    }
}

/// The benchmark filter criterion will apply, read from the same command line: the first
/// positional argument (a regex, or an exact id with `--exact`), `--ignored` rejecting all.
enum Filter {
    All,
    Regex(Regex),
    Exact(String),
    None,
}

/// Long options of criterion's command line that take a value (from criterion 0.8's argument
/// definitions); every other option is a flag.
const VALUED: &[&str] = &[
    "--color",
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

/// Short options of criterion's command line that take a value.
const VALUED_SHORT: &[&str] = &["-c", "-s", "-b"];

/// (filter, `--list` given).
fn parse_args(args: &[String]) -> (Filter, bool) {
    let (mut positional, mut exact, mut ignored, mut list) = (None, false, false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--exact" => exact = true,
            "--ignored" => ignored = true,
            "--list" => list = true,
            s if VALUED.contains(&s) || VALUED_SHORT.contains(&s) => {
                it.next();
            }
            s if s.starts_with('-') => {}
            s => {
                positional.get_or_insert_with(|| s.to_string());
            }
        }
    }
    let filter = match positional {
        _ if ignored => Filter::None,
        None => Filter::All,
        Some(f) if exact => Filter::Exact(f),
        // An invalid regex: let criterion report it, and probe nothing meanwhile.
        Some(f) => Regex::new(&f).map(Filter::Regex).unwrap_or(Filter::None),
    };
    (filter, list)
}

impl Filter {
    fn matches(&self, id: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Regex(r) => r.is_match(id),
            Filter::Exact(e) => e == id,
            Filter::None => false,
        }
    }
}

fn workloads_bench(c: &mut Criterion, filter: &Filter, list_only: bool) {
    let mode = mode();
    for w in WORKLOADS {
        if tournament::record::is_memory_workload(w.id) {
            continue; // measures bytes, not time: nothing for criterion to time
        }
        let gap = workloads::environment_gap(w.id);
        for p in (w.params)(mode) {
            let group_id = format!("{}/{}", w.id, p.id);
            let selected: Vec<_> = contenders::all()
                .into_iter()
                .filter(|con| filter.matches(&format!("{group_id}/{}", con.id)))
                .collect();
            if selected.is_empty() {
                continue;
            }
            if let Some(why) = &gap {
                eprintln!("skipping {group_id}: {why}");
                continue;
            }
            if !list_only {
                // echo-open: the reference capacity its offered loads are fractions of.
                workloads::prepare_cell(w.id, &p, &selected);
            }
            let mut group = c.benchmark_group(&group_id);
            group.sample_size(10).warm_up_time(Duration::from_millis(200));
            group.measurement_time(Duration::from_secs(1));
            for contender in selected {
                if let Some(why) = contender.unavailable() {
                    eprintln!("skipping {group_id}/{}: {why}", contender.id);
                    continue;
                }
                let lacks: Vec<_> = w
                    .requires
                    .iter()
                    .filter(|cap| !contender.capabilities.supports(**cap))
                    .collect();
                if !lacks.is_empty() && contender.native_server_for(w.id).is_none() {
                    let names: Vec<_> = lacks.iter().map(|m| m.name()).collect();
                    eprintln!("skipping {group_id}/{}: lacks {}", contender.id, names.join(", "));
                    continue;
                }
                let config = (contender.config)();
                let sample = || {
                    contender.sample(w.id, &p, &config).unwrap_or_else(|e| {
                        panic!("{group_id} {}: sample failed: {e}", contender.id)
                    })
                };
                // One probe sample (only for a selected cell, never when listing) to learn the
                // op count for the throughput line.
                let elements = if list_only {
                    p.tasks
                } else {
                    let probe = sample();
                    probe.ops.unwrap_or(probe.tasks)
                };
                group.throughput(Throughput::Elements(elements));
                group.bench_function(BenchmarkId::from_parameter(contender.id), |b| {
                    b.iter_custom(|iters| {
                        let mut timed = Duration::ZERO;
                        for _ in 0..iters {
                            timed += Duration::from_nanos(sample().measured.wall_ns);
                        }
                        timed
                    });
                });
            }
            group.finish();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (filter, list_only) = parse_args(&args);
    let mut c = Criterion::default().configure_from_args();
    workloads_bench(&mut c, &filter, list_only);
    c.final_summary();
}
