//! Placeholder; replaced by the baseline implementation.
