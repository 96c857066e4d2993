#!/usr/bin/env bash
# Runs the unit tests of the crates that contain `unsafe` under Miri, when the nightly toolchain
# has the miri component. Miri cannot be installed on machines without access to the Rust
# toolchain server, so its absence is reported and skipped (exit 0), never silently.
set -euo pipefail
cd "$(dirname "$0")/.."
# Crates whose own code contains unsafe blocks (FFI-only crates such as the tournament's getrusage
# call are excluded: Miri cannot execute foreign calls).
crates=$(grep -rl --include='*.rs' -E '\bunsafe\b' crates/*/src 2>/dev/null | cut -d/ -f2 | sort -u || true)
if [ -z "$crates" ]; then
  echo "miri: no crate under crates/ contains unsafe code; nothing to run"
  exit 0
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "miri: SKIPPED — the nightly toolchain has no miri component here (rustup component add miri --toolchain nightly needs the toolchain server). Crates that would run: $crates"
  exit 0
fi
for c in $crates; do
  pkg=$(sed -n 's/^name = "\(.*\)"/\1/p' "crates/$c/Cargo.toml" | head -1)
  echo "miri: $pkg"
  cargo +nightly miri test -p "$pkg" --lib
done
