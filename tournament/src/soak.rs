//! `tournament soak`: the conservation soak of `loop_conformance::soak` on several contenders at
//! once, with progress on stderr and a report written to `OUT/SOAK.md` (default
//! `results/soak/`).
//!
//! Each selected contender is soaked on its own thread for the whole duration, all of them side
//! by side: the machine is deliberately overloaded (each soak has its loop thread and its
//! producers), which is what a soak is for. It is a correctness run, never a timing run: its
//! rates are printed to show the volume, not to rank anything.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use loop_api::LoopConfig;
use loop_conformance::soak::{SoakSettings, SoakTotals};

use crate::contenders::Contender;
use crate::env::BuildInfo;

/// Soaks `L` (the [`crate::contenders::Contender::soak`] of an entry): `loop_conformance::soak`
/// with `progress` called after every round.
pub type SoakFn =
    fn(&LoopConfig, &SoakSettings, &AtomicBool, &mut dyn FnMut(&SoakTotals)) -> SoakTotals;

/// [`SoakFn`] for loop type `L`.
pub fn soak_loop<L: loop_api::EventLoop>(
    config: &LoopConfig,
    settings: &SoakSettings,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&SoakTotals),
) -> SoakTotals {
    loop_conformance::soak::soak::<L>(config, settings, stop, |t| progress(t))
}

/// How often progress is printed.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// The contenders a soak selects by default: every loop of `registry` (those with a soak
/// function: not the `floor` reference), our five and the peers, without the ablations (`main/*`:
/// the same code as their family under another configuration) and without those that cannot
/// run on this machine (e.g. `libuv` when the library is not installed).
pub fn default_selection(registry: &[&'static Contender]) -> Vec<&'static Contender> {
    registry
        .iter()
        .copied()
        .filter(|c| c.soak.is_some() && !c.id.contains('/') && c.unavailable().is_none())
        .collect()
}

/// Resident set size of the whole soak process, MiB, at two moments: after the first minute
/// (or the first progress line of a shorter soak) and at the end; so a reader sees whether
/// memory stayed bounded over the rounds (every round builds and drops fresh loops).
#[derive(Debug, Clone, Copy, Default)]
pub struct RssWitness {
    /// RSS when the first progress line was printed, MiB.
    pub early_mib: Option<f64>,
    /// RSS when every soak had finished, MiB.
    pub end_mib: Option<f64>,
}

fn rss_mib() -> Option<f64> {
    crate::workloads::footprint::rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0))
}

/// One contender's outcome.
#[derive(Debug, Clone)]
pub struct SoakOutcome {
    /// Contender id.
    pub id: String,
    /// Its totals.
    pub totals: SoakTotals,
    /// Whether it declares readiness (so the soak registered a pipe with it each round).
    pub readiness: bool,
}

/// Soaks every contender of `selected` side by side under `settings`, printing progress every
/// [`PROGRESS_EVERY`] to stderr. Returns one outcome per contender, in the given order.
///
/// # Errors
/// A contender without a soak function (a reference like `floor`, not a loop), or one that
/// cannot run here ([`Contender::unavailable`]).
pub fn soak_all(
    selected: &[&'static Contender],
    settings: &SoakSettings,
) -> Result<(Vec<SoakOutcome>, RssWitness), String> {
    let mut jobs = Vec::new();
    for c in selected {
        let f = c.soak.ok_or_else(|| format!("`{}` is not a loop and cannot be soaked", c.id))?;
        if let Some(why) = c.unavailable() {
            return Err(format!("`{}` cannot be soaked here: {why}", c.id));
        }
        jobs.push((*c, f));
    }
    let live: Arc<Mutex<Vec<SoakTotals>>> =
        Arc::new(Mutex::new(vec![SoakTotals::default(); jobs.len()]));
    let stop = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let early: Mutex<Option<(bool, Option<f64>)>> = Mutex::new(None);
    let outcomes = std::thread::scope(|s| {
        let printer = s.spawn(|| {
            let mut next = PROGRESS_EVERY;
            while !done.load(Ordering::Acquire) {
                if start.elapsed() >= next {
                    next += PROGRESS_EVERY;
                    // The first line's RSS, replaced once by the first line after a minute
                    // (start-up allocations are over by then).
                    let mut e = early.lock().unwrap_or_else(PoisonError::into_inner);
                    let minute = start.elapsed() >= Duration::from_secs(60);
                    if e.is_none() || (minute && !matches!(*e, Some((true, _)))) {
                        *e = Some((minute, rss_mib()));
                    }
                    drop(e);
                    let now = live.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    eprintln!(
                        "{}",
                        progress_line(
                            start.elapsed(),
                            settings.duration,
                            &jobs_ids(selected),
                            &now
                        )
                    );
                }
                // Parks for at most a second: progress is a courtesy, `done` ends it promptly.
                std::thread::park_timeout(Duration::from_secs(1));
            }
        });
        let handles: Vec<_> = jobs
            .iter()
            .enumerate()
            .map(|(i, (c, f))| {
                let (live, stop) = (Arc::clone(&live), &stop);
                let config = (c.config)();
                s.spawn(move || {
                    let mut report = |t: &SoakTotals| {
                        live.lock().unwrap_or_else(PoisonError::into_inner)[i] = t.clone();
                    };
                    f(&config, settings, stop, &mut report)
                })
            })
            .collect();
        let totals: Vec<SoakTotals> = handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    stop.store(true, Ordering::Relaxed);
                    SoakTotals {
                        failed_rounds: 1,
                        findings: vec!["the soak thread panicked".to_string()],
                        ..SoakTotals::default()
                    }
                })
            })
            .collect();
        done.store(true, Ordering::Release);
        printer.thread().unpark();
        totals
    });
    let rss = RssWitness {
        early_mib: early.lock().unwrap_or_else(PoisonError::into_inner).and_then(|(_, m)| m),
        end_mib: rss_mib(),
    };
    let outcomes = jobs
        .iter()
        .zip(outcomes)
        .map(|((c, _), totals)| SoakOutcome {
            id: c.id.to_string(),
            totals,
            readiness: c.capabilities.readiness,
        })
        .collect();
    Ok((outcomes, rss))
}

fn jobs_ids(selected: &[&Contender]) -> Vec<String> {
    selected.iter().map(|c| c.id.to_string()).collect()
}

/// `soak: 45/600 s · main 12.3M accepted, 0 lost · baseline …`.
fn progress_line(elapsed: Duration, total: Duration, ids: &[String], now: &[SoakTotals]) -> String {
    let mut line = format!("soak: {}/{} s", elapsed.as_secs(), total.as_secs());
    for (id, t) in ids.iter().zip(now) {
        let bad = t.lost
            + t.ran_twice
            + t.bad_drops
            + t.off_loop_thread
            + t.failed_rounds
            + t.unread_bytes
            + t.calls_after_unregister;
        let _ = write!(
            line,
            " · {id} {:.2}M accepted, {} rounds, {bad} findings",
            t.accepted as f64 / 1e6,
            t.rounds
        );
    }
    line
}

/// The report: provenance, settings, one row per contender, the findings, the verdict.
pub fn render_markdown(
    outcomes: &[SoakOutcome],
    rss: &RssWitness,
    settings: &SoakSettings,
    command: &str,
) -> String {
    let build = BuildInfo::current();
    let now = crate::env::utc_rfc3339(SystemTime::now());
    let mut md = String::new();
    let clean = outcomes.iter().all(|o| o.totals.clean());
    let _ = writeln!(md, "# Soak\n");
    let _ = writeln!(
        md,
        "**{}** — written by `{command}` at {now}; build `{}`{} ({} profile), CPU {}.\n",
        if clean { "Clean" } else { "NOT CLEAN" },
        &build.git_sha[..build.git_sha.len().min(10)],
        if build.git_dirty == Some(true) { "-dirty" } else { "" },
        build.profile,
        crate::env::cpu_model(),
    );
    let _ = writeln!(
        md,
        "Each contender ran `loop_conformance::soak` (crates/conformance/src/soak/) on its own \
         thread for {} s, all side by side: rounds of {} tasks from {} producer threads; from the \
         loop thread, one task in {} submits a follow-up, one schedules a microtask and one a \
         timer (where declared); rounds end in turn with a \
         drained shutdown, a shutdown racing the producers, and a close racing them. Every \
         closure is accounted for by id: accepted tasks and microtasks run exactly once on the \
         loop thread or are counted by `close`, timers still pending when a drain ends may be \
         dropped instead, rejected closures come back, every closure is dropped exactly once. \
         Where the loop declares readiness, each round also registers a pipe whose callback \
         drains it, the producers write a byte into it every {} tasks, and drained rounds check \
         that every byte is read, then unregister the fd and register it anew (the old callback \
         must never run again); \"fd callbacks\" counts the readiness calls (— where the loop \
         declares no readiness). Bound of every wait: {} s.\n",
        settings.duration.as_secs(),
        settings.tasks_per_round,
        settings.producers,
        loop_conformance::soak::FOLLOW_UP_EVERY,
        loop_conformance::soak::readiness::POKE_EVERY,
        settings.wait_bound.as_secs(),
    );
    let _ = writeln!(
        md,
        "| contender | wall s | rounds | accepted | rejected | ran | dropped by close | lost | ran twice | bad drops | off loop thread | failed rounds | fd callbacks | unread bytes | calls after unregister |"
    );
    let _ =
        writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for o in outcomes {
        let t = &o.totals;
        let _ = writeln!(
            md,
            "| `{}` | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            o.id,
            t.elapsed_ms as f64 / 1000.0,
            t.rounds,
            t.accepted,
            t.rejected,
            t.ran,
            t.dropped_by_close,
            t.lost,
            t.ran_twice,
            t.bad_drops,
            t.off_loop_thread,
            t.failed_rounds,
            if o.readiness { t.fd_callbacks.to_string() } else { "—".to_string() },
            t.unread_bytes,
            t.calls_after_unregister
        );
    }
    let mib = |m: Option<f64>| m.map_or("unknown".to_string(), |m| format!("{m:.1} MiB"));
    let _ = writeln!(
        md,
        "\nMemory: the process's RSS (all soaks together) was {} early in the soak and {} at \
         the end.",
        mib(rss.early_mib),
        mib(rss.end_mib)
    );
    let findings: Vec<String> = outcomes
        .iter()
        .flat_map(|o| o.totals.findings.iter().map(move |f| format!("- `{}` {f}", o.id)))
        .collect();
    let _ = writeln!(md, "\n## Findings\n");
    if findings.is_empty() {
        let _ = writeln!(md, "None.");
    } else {
        for f in findings {
            let _ = writeln!(md, "{f}");
        }
    }
    md
}

/// Writes `SOAK.md` into `out` (created if needed).
///
/// # Errors
/// The folder or file could not be written.
pub fn write_report(out: &Path, md: &str) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let path = out.join("SOAK.md");
    std::fs::write(&path, md).map_err(|e| format!("writing {}: {e}", path.display()))
}
