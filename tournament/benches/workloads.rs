//! `cargo bench -p tournament`: every workload × parameter × contender through criterion, running
//! the very same workload code as `tournament run` (`Contender::run_sample`), so
//! `cargo bench -- --save-baseline NAME` and critcmp work as users expect. No workload logic
//! lives here.
//!
//! * Groups are named `<workload>/<param>`, benchmarks `<contender>`; filter as usual
//!   (`cargo bench -p tournament -- 'ping-pong/'` or `-- tokio`).
//! * One criterion iteration is one whole sample (a fresh loop, untimed warm-up, the workload's
//!   timed scope); `iter_custom` returns the sum of the timed scopes only, so loop start-up,
//!   warm-up and shutdown never count. The throughput is set to the sample's tasks (or ops, for
//!   per-op units such as `ns/batch`), so criterion also prints elements per second.
//! * Parameter sizes: smoke by default (the whole matrix takes minutes, not hours);
//!   `TOURNAMENT_BENCH_MODE=quick` or `full` selects the tournament's other sizes.
//! * Declared capability gaps are skipped. A failed sample panics with its reason: a number from
//!   a broken sample must never be reported. The correctness gate is `tournament run`'s job.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tournament::contenders;
use tournament::workloads::{Mode, WORKLOADS};

fn mode() -> Mode {
    match std::env::var("TOURNAMENT_BENCH_MODE").as_deref() {
        Ok("quick") => Mode::Quick,
        Ok("full") => Mode::Full,
        _ => Mode::Smoke,
    }
}

fn workloads(c: &mut Criterion) {
    let mode = mode();
    for w in WORKLOADS {
        if tournament::record::is_memory_workload(w.id) {
            continue; // measures bytes, not time: nothing for criterion to time
        }
        for p in (w.params)(mode) {
            let mut group = c.benchmark_group(format!("{}/{}", w.id, p.id));
            group.sample_size(10).warm_up_time(Duration::from_millis(200));
            group.measurement_time(Duration::from_secs(1));
            for contender in contenders::all() {
                if w.requires.iter().any(|cap| !contender.capabilities.supports(*cap)) {
                    continue;
                }
                let config = (contender.config)();
                // One probe sample, also to learn the op count for the throughput line.
                let probe = (contender.run_sample)(w.id, &p, &config).unwrap_or_else(|e| {
                    panic!("{} {} {}: sample failed: {e}", w.id, p.id, contender.id)
                });
                group.throughput(Throughput::Elements(probe.ops.unwrap_or(probe.tasks)));
                group.bench_function(BenchmarkId::from_parameter(contender.id), |b| {
                    b.iter_custom(|iters| {
                        let mut timed = Duration::ZERO;
                        for _ in 0..iters {
                            let out =
                                (contender.run_sample)(w.id, &p, &config).unwrap_or_else(|e| {
                                    panic!("{} {} {}: sample failed: {e}", w.id, p.id, contender.id)
                                });
                            timed += Duration::from_nanos(out.measured.wall_ns);
                        }
                        timed
                    });
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, workloads);
criterion_main!(benches);
