#!/usr/bin/env bash
# Runs the unit tests of the crates that contain `unsafe` under Miri, when the nightly toolchain
# has the miri component. Miri cannot be installed on machines without access to the Rust
# toolchain server, so its absence is reported and skipped (exit 0), never silently.
set -euo pipefail
cd "$(dirname "$0")/.."
# Crates whose own code contains unsafe blocks (FFI-only crates such as the tournament's getrusage
# call are excluded: Miri cannot execute foreign calls).
pkgs=$(scripts/unsafe_packages.sh)
if [ -z "$pkgs" ]; then
  echo "miri: no crate under crates/ contains unsafe code; nothing to run"
  exit 0
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "miri: SKIPPED — the nightly toolchain has no miri component here (rustup component add miri --toolchain nightly needs the toolchain server). Crates that would run: ${pkgs//$'\n'/ }"
  exit 0
fi
for pkg in $pkgs; do
  echo "miri: $pkg"
  cargo +nightly miri test -p "$pkg" --lib
done
