//! `tournament`: run the event-loop tournament, regenerate reports, list what is registered.
//!
//! The whole command line lives in the library ([`tournament::cli`]), so a crate outside this
//! workspace can run it with contenders of its own (`docs/BRING-YOUR-OWN-LOOP.md`); this binary
//! runs it with the built-in registry. Exit codes: see [`tournament::cli`].

use std::process::ExitCode;

/// The system allocator, wrapped so the alloc-pressure workload can count allocations in its
/// untimed counting pass (outside a counting window it costs one relaxed load per allocation).
#[global_allocator]
static GLOBAL: tournament::alloc_count::CountingAllocator =
    tournament::alloc_count::CountingAllocator;

fn main() -> ExitCode {
    tournament::cli::main_with(Vec::new())
}
