#!/usr/bin/env bash
# Instruction-count lane (`make instructions`): runs the loop-thread hot paths under valgrind's
# callgrind, whose instruction counts (Ir) do not depend on CPU frequency, VM steal or other
# tenants, so they can be compared across runs and machines of the same architecture where
# wall-clock timings cannot.
#
# Only the timed scopes are counted: callgrind starts with instrumentation off
# (`--instr-atstart=no`) and every `TimedScope` of the harness switches it on at its start and
# off at its end with callgrind client requests (`harness::callgrind`, x86-64 only; elsewhere the
# whole process is counted and SUMMARY.txt says so). Start-up, the environment probe, loop
# creation, warm-up, shutdown, the report and the plots are not in the counts; every thread's
# instructions inside a timed window are (loop thread and harness thread alike).
#
# Each contender × workload runs a smoke-sized sample (1 sample, no gate) of workloads that stay
# on the loop thread: tasks submitting the next task (`chain-handoff`: submit + drain),
# microtasks (`microtask-roundtrip`) and timers (`timer-lateness`: schedule + fire). Ir/op
# divides by the sample's operations (hops, round trips, timers: its `ops`, else `tasks`).
# Callgrind runs threads one at a time, so counts repeat closely but not exactly where a spin
# (the harness's 50 µs spin before it parks, a loop's spin before sleep) depends on time; with
# REPEAT=n each cell is measured n times and the spread (max − min) / min is printed.
#
# Writes OUT (results/instructions-<time>/): callgrind.out.<contender>.<workload>[.<i>] and
# SUMMARY.txt; skips with a message, exit 0, when valgrind is not installed.
# Environment: CONTENDERS (main,baseline,alt-one,alt-two,alt-three), WORKLOADS (above), REPEAT (1),
# OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1; then
  echo "instructions: skipped: valgrind is not installed (apt-get install valgrind)" >&2
  exit 0
fi
contenders=${CONTENDERS:-main,baseline,alt-one,alt-two,alt-three}
workloads=${WORKLOADS:-chain-handoff,microtask-roundtrip,timer-lateness}
repeat=${REPEAT:-1}
out=${OUT:-results/instructions-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
cargo build --release --quiet -p tournament
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A private copy, so a rebuild by anyone else meanwhile cannot swap the binary.
bin="$tmp/tournament"
cp "${CARGO_TARGET_DIR:-target}/release/tournament" "$bin"
scope="timed scopes only (callgrind --instr-atstart=no + client requests)"
[ "$(uname -m)" = x86_64 ] || scope="WHOLE PROCESS: the client requests exist on x86-64 only"
{
  echo "# Instruction counts (callgrind Ir), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# counted: $scope; smoke parameters, 1 sample, no gate; $(valgrind --version); repeats: $repeat (Ir: the least of them)"
  printf '%-20s %-22s %14s %10s %14s %8s\n' contender workload Ir ops Ir/op spread
} >"$out/SUMMARY.txt"
IFS=, read -ra clist <<<"$contenders"
IFS=, read -ra wlist <<<"$workloads"
for c in "${clist[@]}"; do
  for w in "${wlist[@]}"; do
    # Ablation ids contain '/', which cannot be part of a file name.
    name="${c//\//_}.$w"
    irs=()
    ops=
    for ((i = 1; i <= repeat; i++)); do
      f="$out/callgrind.out.$name"
      [ "$repeat" -eq 1 ] || f="$f.$i"
      rm -rf "$tmp/run"
      valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$f" -q \
        "$bin" run --smoke --no-gate --samples 1 --contenders "$c" --workloads "$w" \
        --out "$tmp/run" >/dev/null 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
      irs+=("$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$f" | head -1)")
      ops=$(python3 -c '
import json, sys
n = sum((r.get("ops") or r.get("tasks") or 0) for r in map(json.loads, open(sys.argv[1])) if r.get("status") == "ok")
print(n)' "$tmp/run/raw.jsonl")
    done
    python3 - "$c" "$w" "$ops" "${irs[@]}" >>"$out/SUMMARY.txt" <<'PY'
import sys
c, w, ops, irs = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(x) for x in sys.argv[4:]]
ir = min(irs)
spread = f"{(max(irs) - min(irs)) / min(irs) * 100:.2f}%" if len(irs) > 1 and min(irs) else "—"
per = f"{ir / ops:.1f}" if ops else "—"
print(f"{c:<20} {w:<22} {ir:>14} {ops:>10} {per:>14} {spread:>8}")
PY
  done
done
cat "$out/SUMMARY.txt"
echo "instructions: per-function detail: callgrind_annotate $out/callgrind.out.<contender>.<workload>" >&2
