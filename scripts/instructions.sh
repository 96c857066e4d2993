#!/usr/bin/env bash
# Instruction-count lane (`make instructions`): runs the loop-thread hot paths under valgrind's
# callgrind, whose instruction counts (Ir) do not depend on CPU frequency, VM steal or other
# tenants, so they can be compared across runs and machines of the same architecture where
# wall-clock timings cannot.
#
# Each contender runs a smoke-sized sample of workloads that stay on the loop thread: tasks
# submitting the next task (`chain-handoff`: submit + drain) and microtasks
# (`microtask-roundtrip`), plus timers (`timer-lateness`: schedule + fire). Callgrind runs
# threads one at a time, so the counts are stable run to run except where a loop's spin/park
# decision depends on timing (reported as is; repeat to see the spread).
#
# Writes results/instructions-<time>/ (callgrind.out.<contender> and SUMMARY.txt); skips with a
# message, exit 0, when valgrind is not installed.
# Environment: CONTENDERS (main,baseline,alt-one,alt-two,alt-three), WORKLOADS (above), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1; then
  echo "instructions: skipped: valgrind is not installed (apt-get install valgrind)" >&2
  exit 0
fi
contenders=${CONTENDERS:-main,baseline,alt-one,alt-two,alt-three}
workloads=${WORKLOADS:-chain-handoff,microtask-roundtrip,timer-lateness}
out=${OUT:-results/instructions-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
cargo build --release --quiet -p tournament
bin=target/release/tournament
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo "# Instruction counts (callgrind Ir), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# workloads: $workloads (smoke parameters, 1 sample, no gate); $(valgrind --version)"
  printf '%-20s %16s\n' contender Ir
} >"$out/SUMMARY.txt"
IFS=, read -ra list <<<"$contenders"
for c in "${list[@]}"; do
  # Ablation ids contain '/', which cannot be part of a file name.
  f="$out/callgrind.out.${c//\//_}"
  valgrind --tool=callgrind --callgrind-out-file="$f" -q \
    "$bin" run --smoke --no-gate --samples 1 --contenders "$c" --workloads "$workloads" \
    --out "$tmp/${c//\//_}" >/dev/null 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
  ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$f" | head -1)
  printf '%-20s %16s\n' "$c" "$ir" >>"$out/SUMMARY.txt"
done
cat "$out/SUMMARY.txt"
echo "instructions: per-function detail: callgrind_annotate $out/callgrind.out.<contender>" >&2
