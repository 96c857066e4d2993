//! A counting global allocator (placeholder; implemented with the alloc-pressure workload).
