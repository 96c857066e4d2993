#!/usr/bin/env bash
# Prints, one per line, the package names of the crates under crates/ whose own source has
# `unsafe` blocks, less the crate folders named as arguments (e.g. `conformance`). The one list
# the memory-safety lanes (miri.sh, memcheck.sh, asan.sh) run over.
set -euo pipefail
cd "$(dirname "$0")/.."
for c in $(grep -rl --include='*.rs' -E '\bunsafe\b' crates/*/src 2>/dev/null | cut -d/ -f2 | sort -u); do
  for skip in "$@"; do [ "$c" = "$skip" ] && continue 2; done
  sed -n 's/^name = "\(.*\)"/\1/p' "crates/$c/Cargo.toml" | head -1
done
