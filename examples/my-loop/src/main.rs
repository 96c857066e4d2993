//! The `tournament` command line with `my-loop` added: every subcommand and flag of the
//! built-in binary, e.g. `cargo run --release -p example-loop -- run --quick --contenders
//! my-loop,baseline,tokio-ct`.

use std::process::ExitCode;

/// Lets the `alloc-pressure` and `footprint` workloads count heap allocations.
#[global_allocator]
static GLOBAL: tournament::alloc_count::CountingAllocator =
    tournament::alloc_count::CountingAllocator;

fn main() -> ExitCode {
    tournament::cli::main_with(vec![example_loop::contender()])
}
