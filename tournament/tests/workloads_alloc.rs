//! The counting global allocator and the `alloc-pressure` workload's counts, in a test binary
//! that installs the allocator (as the `tournament` binary does). One test only, since counting
//! is process-wide and concurrent tests would add their allocations.

use loop_api::LoopConfig;
use loop_baseline::BaselineLoop;
use tournament::alloc_count::{self, CountingAllocator};
use tournament::workloads::{Mode, find, run_sample};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn counting_allocator_counts_only_inside_windows_and_alloc_pressure_reports_per_task() {
    assert!(alloc_count::is_installed());

    // Exactly one allocation of 4 KiB (the vector's buffer), counted by size.
    let (v, c) = alloc_count::count(|| std::hint::black_box(Vec::<u8>::with_capacity(4096)));
    drop(v);
    assert_eq!((c.allocs, c.bytes), (1, 4096));
    // Nothing allocated inside: nothing counted.
    let ((), c) = alloc_count::count(|| ());
    assert_eq!(c.allocs, 0);

    let w = find("alloc-pressure").unwrap();
    for p in (w.params)(Mode::Smoke) {
        let out = run_sample::<BaselineLoop>(w.id, &p, &LoopConfig::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.id));
        assert_eq!(out.tasks, p.tasks);
        let allocs = out.allocs.expect("counted");
        let bytes = out.alloc_bytes.expect("counted");
        // Baseline boxes every task: at least one allocation per task, of at least 8 bytes.
        assert!(allocs >= p.tasks, "{}: {allocs} allocations for {} tasks", p.id, p.tasks);
        assert!(bytes >= 8 * p.tasks, "{}: {bytes} bytes", p.id);
        let per = out.metrics.iter().find(|m| m.name == "allocs_per_task").unwrap();
        assert_eq!(per.value, allocs as f64 / p.tasks as f64);
    }
}
