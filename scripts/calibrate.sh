#!/usr/bin/env bash
# Measures the measurement method itself (`make calibrate`): how often the tournament contradicts
# itself on identical builds, and how large a slowdown `compare` finds. Writes OUT
# (results/calibration/): the run folders, the comparisons and CALIBRATION.md, whose every number
# is computed here from those files (nothing is typed in).
#
# 1. A/A: two same-build `tournament run MODE AA_ARGS` runs back to back (aa-1, aa-2), then
#    `tournament compare aa-1 aa-2` (cells flagged as regressions are false positives) and
#    `tournament verdict-diff aa-1 aa-2` (share of main-vs-rival verdicts that differ; skipped,
#    saying so, when this build has no such subcommand).
# 2. Power: for each level in LEVELS (% of main's ping-pong median ns/task in aa-1, its smallest
#    param), the `slow-test` build run with SLOW_TEST_NS = that many ns per task (paid by main's
#    loop thread per task on ping-pong and burst only: `harness::slow_test_ns`;
#    one build, the delay read at process start) is measured
#    against the normal build in ROUNDS alternating (ABBA) rounds of SAMPLES_PER_ROUND samples per
#    cell (`scripts/bench-ab.sh` with prebuilt binaries), restricted by RUN_ARGS; from its
#    COMPARE.md: the share of the affected cells (main × those workloads) flagged as regressions
#    and the unaffected cells flagged; from raw.jsonl: the measured paired slowdown (median over
#    rounds of the per-sample ratio slowed/normal, samples of one index ran in the same round).
#    Both sides of a level run the *same* slowed binary, the base with SLOW_TEST_NS=0: the only
#    difference between them is the injected delay. (Against the normal build, each cell also
#    carried the two binaries' code-layout difference: at level 0, main's cells moved by −4.1%
#    to +3.2% and 4 of 96 unaffected cells were flagged as improvements, so a 5% delay measured
#    anything from +5.0% to +10.5%.) Level 0 is then the gate's own A/A: one binary against
#    itself, interleaved exactly like the other levels, so every cell it flags is a false
#    positive of the comparison CI uses (`make bench-ab`), as opposed to two runs taken one after
#    the other (step 1).
# 3. Two builds, no change in behaviour (BUILD_AA=1, the default): the normal build against the
#    slowed one at a zero delay, as the old level 0 was: what two binaries of the same source
#    that differ in layout only look like to the gate (`builds-aa/`).
#
# Environment (defaults finish in about 45 min on the 2-vCPU reference VM, builds included):
#   MODE (--quick), AA_ARGS (extra flags for the A/A runs; default none: the whole quick suite),
#   LEVELS ("0 2 5 10"), ROUNDS (150: the variance lives at the process level and compare pairs
#   by round, so rounds, not samples per round, narrow the paired interval: at 10 rounds the 98%
#   intervals of main's cells were ±6% to ±25%, at 40 ±5% to ±8%, at 100 (main alone) ±1% on
#   ping-pong and ±2–3% on burst; a round costs about 1.6 s with the default RUN_ARGS),
#   SAMPLES_PER_ROUND (2), THRESHOLD (5%),
#   RUN_ARGS ("--no-gate --contenders main,baseline,alt-two,std-mpsc
#             --workloads ping-pong,burst,multi-producer,ping-pong-latency,wakeup-running":
#             the conformance gate, which each round's process ran first, took most of a round's
#             time and measures nothing here; tokio-ct, at ~40x main's cost per task, most of
#             the rest),
#   BUILD_AA (1; 0 skips step 3),
#   SLOW_TARGET_DIR (target/slowed: the slowed builds never replace target/release's binary),
#   OUT (results/calibration; refused when it already holds results unless FORCE=1, which
#   deletes this script's files there first), SKIP_AA=1 (keep OUT's A/A results and measure
#   only LEVELS, replacing those levels' folders; the report covers every level in OUT).
# Flag --smoke: tiny settings to check the script end to end (smoke parameters, 2 rounds of 3
# samples, main and baseline on ping-pong and ping-pong-latency, output in a temporary folder
# unless OUT is set); its numbers mean nothing.
#
# Timing runs need a quiet machine: run nothing else CPU-heavy meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --smoke ]; then
  MODE=${MODE:---smoke} LEVELS=${LEVELS:-10} ROUNDS=${ROUNDS:-2} SAMPLES_PER_ROUND=${SAMPLES_PER_ROUND:-3}
  AA_ARGS=${AA_ARGS:---samples 5 --contenders main,baseline --workloads ping-pong,ping-pong-latency}
  RUN_ARGS=${RUN_ARGS:---contenders main,baseline --workloads ping-pong,ping-pong-latency}
  OUT=${OUT:-$(mktemp -d)/calibration}
elif [ -n "${1:-}" ]; then
  echo "usage: scripts/calibrate.sh [--smoke]" >&2
  exit 2
fi
mode=${MODE:---quick}
aa_args=${AA_ARGS:-}
levels=${LEVELS:-0 2 5 10}
rounds=${ROUNDS:-150}
per=${SAMPLES_PER_ROUND:-2}
threshold=${THRESHOLD:-5%}
run_args=${RUN_ARGS:---no-gate --contenders main,baseline,alt-two,std-mpsc --workloads ping-pong,burst,multi-producer,ping-pong-latency,wakeup-running}
slow_target=${SLOW_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/slowed}
out=${OUT:-results/calibration}

if [ "${SKIP_AA:-}" = 1 ]; then
  [ -d "$out/aa-1" ] && [ -s "$out/aa-compare.md" ] || { echo "calibrate: SKIP_AA=1 needs $out/aa-1 and aa-compare.md" >&2; exit 2; }
  for pct in $levels; do rm -rf "$out/power-${pct}pct"; done
  if [ "${BUILD_AA:-1}" = 1 ]; then rm -rf "$out/builds-aa"; fi
elif [ -e "$out/aa-1" ] || [ -e "$out/CALIBRATION.md" ]; then
  if [ "${FORCE:-}" = 1 ]; then
    rm -rf "$out"/aa-1 "$out"/aa-2 "$out"/aa-compare.md "$out"/aa-verdict-diff.txt "$out"/power-* "$out"/builds-aa \
      "$out"/CALIBRATION.md "$out"/settings.txt "$out"/phases.txt
  else
    echo "calibrate: $out already holds a calibration; FORCE=1 replaces it, OUT=<dir> writes elsewhere" >&2
    exit 2
  fi
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
phase() { echo "$1 $(($(date +%s) - start))" >>"$out/phases.txt"; echo "calibrate: $1 (+$(($(date +%s) - start)) s)" >&2; }
if [ "${SKIP_AA:-}" = 1 ]; then
  echo "--- levels $levels added $(date -u +%Y-%m-%dT%H:%M:%SZ), build $(git rev-parse --short HEAD) 0" >>"$out/phases.txt"
else
: >"$out/phases.txt"
{
  echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ -n "$(git status --porcelain -- . ':!results' 2>/dev/null)" ] && echo -dirty)"
  echo "mode=$mode"
  echo "aa_args=$aa_args"
  echo "levels=$levels"
  echo "rounds=$rounds"
  echo "samples_per_round=$per"
  echo "threshold=$threshold"
  echo "run_args=$run_args"
} >"$out/settings.txt"
fi

# The binaries are copied out of the shared target folders, so a rebuild by anyone else during
# the calibration cannot swap them.
phase "build normal"
cargo build --release --quiet -p tournament
normal="$tmp/tournament-normal"
cp "${CARGO_TARGET_DIR:-target}/release/tournament" "$normal"

if [ "${SKIP_AA:-}" != 1 ]; then
phase "A/A run 1"
# shellcheck disable=SC2086 # MODE and AA_ARGS are lists of flags
"$normal" run $mode $aa_args --out "$out/aa-1" >/dev/null
phase "A/A run 2"
# shellcheck disable=SC2086
"$normal" run $mode $aa_args --out "$out/aa-2" >/dev/null
phase "A/A compare"
rc=0
"$normal" compare "$out/aa-1" "$out/aa-2" --threshold "$threshold" --out "$out/aa-compare.md" >/dev/null || rc=$?
[ "$rc" -le 1 ] || { echo "calibrate: compare aa-1 aa-2 refused or failed (exit $rc)" >&2; exit 1; }
if "$normal" verdict-diff --help >/dev/null 2>&1; then
  "$normal" verdict-diff "$out/aa-1" "$out/aa-2" >"$out/aa-verdict-diff.txt"
else
  echo "skipped: this build's tournament has no verdict-diff subcommand" >"$out/aa-verdict-diff.txt"
  echo "calibrate: verdict-diff skipped: not in this build" >&2
fi
fi

# main's ping-pong median ns/task at its smallest param, from aa-1.
base_ns=$(python3 - "$out/aa-1/summary.csv" <<'PY'
import csv, re, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))
        if r["workload"] == "ping-pong" and r["contender"] == "main" and r.get("median_ns_per_task")]
if not rows:
    sys.exit("calibrate: aa-1/summary.csv has no median_ns_per_task for ping-pong × main")
key = lambda r: float(re.sub(r"[^0-9.]", "", r["param"]) or 0)
print(min(rows, key=key)["median_ns_per_task"])
PY
)
echo "calibrate: main ping-pong median in aa-1: $base_ns ns/task" >&2

# One slowed build serves every level: a slow-test build reads SLOW_TEST_NS when it starts.
phase "build slowed"
(unset SLOW_TEST_NS; CARGO_TARGET_DIR=$slow_target cargo build --release --quiet -p tournament --features slow-test)
slow="$tmp/tournament-slowed"
cp "$slow_target/release/tournament" "$slow"
unset SLOW_TEST_NS
# slowed_at NS: a launcher of the slowed binary with SLOW_TEST_NS=NS (bench-ab takes one
# binary per side; the delay is the only thing that differs between the sides of a level).
slowed_at() {
  local f="$tmp/tournament-slowed-at-$1"
  printf '#!/bin/sh\nSLOW_TEST_NS=%s exec "%s" "$@"\n' "$1" "$slow" >"$f"
  chmod +x "$f"
  echo "$f"
}
slow_zero=$(slowed_at 0)
ab() { # name base-binary new-binary
  local rc=0
  BASE_BIN=$2 NEW_BIN=$3 OUT="$out/$1" ROUNDS=$rounds SAMPLES_PER_ROUND=$per \
    MODE=$mode THRESHOLD=$threshold RUN_ARGS=$run_args scripts/bench-ab.sh HEAD >/dev/null || rc=$?
  [ -s "$out/$1/COMPARE.md" ] || { echo "calibrate: $1 failed (exit $rc)" >&2; exit 1; }
}
for pct in $levels; do
  ns=$(python3 -c "print(f'{$base_ns * $pct / 100:.3f}')")
  phase "power ${pct}% (SLOW_TEST_NS=$ns against 0, one binary)"
  ab "power-${pct}pct" "$slow_zero" "$(slowed_at "$ns")"
  echo "$ns" >"$out/power-${pct}pct/SLOW_TEST_NS.txt"
done
if [ "${BUILD_AA:-1}" = 1 ]; then
  phase "two builds, no change (normal vs slowed at 0)"
  ab builds-aa "$normal" "$slow_zero"
fi
# Every comparison is derived from raw samples, so the calibrating build re-derives them all
# (also those of levels measured by an earlier SKIP_AA=1 call): the numbers below always
# describe this build's `compare`.
phase "compare (every level, this build)"
"$normal" compare "$out/aa-1" "$out/aa-2" --threshold "$threshold" --out "$out/aa-compare.md" >/dev/null || true
"$normal" verdict-diff "$out/aa-1" "$out/aa-2" >"$out/aa-verdict-diff.txt"
for d in "$out"/power-*pct "$out"/builds-aa; do
  [ -d "$d/base" ] && [ -d "$d/new" ] || continue
  n=$(sed -n 's/.*, \([0-9][0-9]*\) samples per cell per round.*/\1/p' "$d/ORDER.txt")
  "$normal" compare "$d/base" "$d/new" --threshold "$threshold" --interleaved "${n:-1}" --out "$d/COMPARE.md" >/dev/null || true
  grep '^round ' "$d/ORDER.txt" | wc -l | tr -d ' ' >"$d/ROUNDS.txt"
done
phase "report"

python3 - "$out" "$base_ns" <<'PY'
import csv, collections, gzip, json, os, re, statistics, sys

out, base_ns = sys.argv[1], float(sys.argv[2])
# Every level measured into OUT (also by earlier SKIP_AA=1 invocations), in numeric order.
levels = sorted((m.group(1) for m in (re.fullmatch(r"power-([0-9.]+)pct", d) for d in os.listdir(out)) if m),
                key=float)
AFFECTED = {"ping-pong", "burst"}  # harness::SLOWED_WORKLOADS, contender main
ROW = re.compile(r"^\|\s*`([^`]+)`\s*·\s*`([^`]+)`\s*·\s*`([^`]+)`\s*\|(.*)\|\s*$")

def compare_cells(path):
    """(workload, param, contender) -> (verdict text, new/old ratio or None), from COMPARE.md."""
    cells = {}
    for line in open(path, encoding="utf-8"):
        m = ROW.match(line.rstrip("\n"))
        if not m:
            continue
        cols = [c.strip() for c in m.group(4).split("|")]
        ratio = None
        for c in cols:
            r = re.match(r"^([0-9.]+) \(", c)
            if r:
                ratio = float(r.group(1))
                break
        cells[m.group(1, 2, 3)] = (cols[-1], ratio)
    return cells

def flagged(verdict):
    return "REGRESSION" in verdict.upper() or "LOST" in verdict.upper()

def improved(verdict):
    return verdict.strip().lower() == "improvement"

def verdict_rows(run_dir):
    """(workload, param, other) -> row of the run's verdicts.csv."""
    return {(r["workload"], r["param"], r["other"]): r
            for r in csv.DictReader(open(os.path.join(run_dir, "verdicts.csv"), encoding="utf-8"))}

def judged(verdict):
    v = verdict.lower()
    return not any(w in v for w in ("not judged", "not measured", "added", "removed", "descriptive", "unit changed"))

def run_level(path):
    text = open(path, encoding="utf-8").read()
    return "run-level REGRESSION" in text

def sigma(path):
    m = re.search(r"σ_b = ([0-9.]+)", open(path, encoding="utf-8").read())
    return float(m.group(1)) if m else None

def samples(run_dir):
    """(workload, param, contender) -> {sample index: primary ns per task/op} (ok samples)."""
    cells = {}
    plain = os.path.join(run_dir, "raw.jsonl")
    # A committed (archived) run may hold raw.jsonl.gz instead: the same lines, gzip-compressed.
    raw = open(plain, encoding="utf-8") if os.path.exists(plain) else \
        gzip.open(plain + ".gz", "rt", encoding="utf-8")
    for line in raw:
        r = json.loads(line)
        if r.get("status") != "ok" or not r.get("wall_ns"):
            continue
        per = r.get("ops") or r.get("tasks")
        if not per:
            continue
        cells.setdefault((r["workload"], r["param"], r["contender"]), {})[r["sample"]] = r["wall_ns"] / per
    return cells

def paired(base, new, key):
    b, n = base.get(key, {}), new.get(key, {})
    ratios = [n[s] / b[s] for s in sorted(set(b) & set(n)) if b[s] > 0]
    return (statistics.median(ratios), len(ratios)) if ratios else (None, 0)

def pct(x, digits=1):
    return "—" if x is None else f"{x * 100:+.{digits}f}%"

def share(k, n):
    return f"{k}/{n} ({100 * k / n:.0f}%)" if n else "0/0"

settings = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(out, "settings.txt")) if "=" in l)
phases = [l.split() for l in open(os.path.join(out, "phases.txt"))]
md = []
w = md.append
w("# Calibration of the measurement method\n")
w(f"Written by `scripts/calibrate.sh` (`make calibrate`) from the files in this folder; every number "
  f"below is computed from them. Build `{settings['git']}`, started {settings['date_utc']}; "
  f"mode `{settings['mode']}`, compare threshold {settings['threshold']}.\n")

# --- A/A -----------------------------------------------------------------------------------
aa = compare_cells(os.path.join(out, "aa-compare.md"))
aa_judged = [k for k, (v, _) in aa.items() if judged(v)]
aa_flag = [k for k, (v, _) in aa.items() if flagged(v)]
aa_better = [k for k, (v, _) in aa.items() if improved(v)]
w("## A/A: two same-build runs back to back\n")
aa_procs = json.load(open(os.path.join(out, "aa-1", "env.json")))["run"].get("processes") or 1
w(f"`aa-1` and `aa-2`: `tournament run {settings['mode']} {settings['aa_args']}`".rstrip()
  + f", one after the other; each split over {aa_procs} successive process(es) (`run.processes` in env.json).\n")
w(f"- **compare false positives, runs one after the other** (`aa-compare.md`, unpaired): {len(aa_flag)} of "
  f"{len(aa_judged)} judged cells flagged as regressions ({100 * len(aa_flag) / max(len(aa_judged), 1):.1f}%) "
  f"and {len(aa_better)} as improvements ({100 * len(aa_better) / max(len(aa_judged), 1):.1f}%); {len(aa)} cells in all; "
  f"run-level sign test: {'REGRESSION (a false positive)' if run_level(os.path.join(out, 'aa-compare.md')) else 'no regression'}; "
  f"between-run spread σ_b = {sigma(os.path.join(out, 'aa-compare.md'))}.")
for k in aa_flag:
    w(f"  - flagged: `{k[0]}` · `{k[1]}` · `{k[2]}` ({aa[k][0]})")
vd = open(os.path.join(out, "aa-verdict-diff.txt"), encoding="utf-8").read().strip()
first = vd.splitlines()[0] if vd else "(empty)"
w(f"- **verdict agreement** (`aa-verdict-diff.txt`, `tournament verdict-diff aa-1 aa-2`): {first}")
va, vb = verdict_rows(os.path.join(out, "aa-1")), verdict_rows(os.path.join(out, "aa-2"))
for role, label in (("rival", "against the rival design families"), ("ablation", "against main's ablations")):
    ks = [k for k in set(va) & set(vb) if va[k]["role"] == role]
    diff = [k for k in ks if va[k]["verdict"] != vb[k]["verdict"]]
    if ks:
        w(f"  - {label}: the same verdict on {len(ks) - len(diff)} of {len(ks)} comparisons "
          f"({100 * (len(ks) - len(diff)) / len(ks):.1f}%)")
for name, rows in (("aa-1", va), ("aa-2", vb)):
    ks = [k for k in rows if rows[k]["role"] == "rival"]
    c = collections.Counter(rows[k]["verdict"] for k in ks)
    if ks:
        w(f"- **decided** in `{name}` (main vs the rival families): {len(ks) - c['undecided']} of {len(ks)} "
          f"comparisons carry a verdict other than undecided ({100 * (len(ks) - c['undecided']) / len(ks):.1f}%: "
          + ", ".join(f"{v} {n}" for v, n in sorted(c.items())) + ")")
w("")

# --- power ---------------------------------------------------------------------------------
w("## Power: graded injected slowdowns\n")
w(f"A `slow-test` build adds a calibrated busy-wait of SLOW_TEST_NS ns per task to `main`'s tasks, "
  f"paid on its loop thread, on ping-pong and burst only (the affected cells; `harness::slow_test_ns`). Levels "
  f"are percentages of `main`'s ping-pong median in `aa-1` ({base_ns:.3f} ns/task). Each level: "
  f"`scripts/bench-ab.sh` with the same slowed binary on both sides, SLOW_TEST_NS = 0 (base) against "
  f"the level's delay (new), so the delay is the only difference, in ABBA rounds (column *rounds*) of "
  f"{settings['samples_per_round']} samples per cell, `{settings['run_args']}`, compared with "
  f"`tournament compare --interleaved {settings['samples_per_round']}` (paired by round). Level 0 is "
  f"the gate's own A/A: one binary against itself, so every cell it flags is a false positive. *Measured "
  f"slowdown*: median over sample indices of the ratio new/base of the samples taken in the "
  f"same round, minus 1.\n")
w("| level | SLOW_TEST_NS | rounds | measured slowdown, main ping-pong | median measured slowdown, affected cells | affected cells flagged | unaffected cells flagged | run-level sign test |")
w("|---:|---:|---:|---:|---:|---:|---:|---|")
for lv in levels:
    d = os.path.join(out, f"power-{lv}pct")
    ns = open(os.path.join(d, "SLOW_TEST_NS.txt")).read().strip()
    cells = compare_cells(os.path.join(d, "COMPARE.md"))
    base, new = samples(os.path.join(d, "base")), samples(os.path.join(d, "new"))
    aff = [k for k in cells if k[2] == "main" and k[0] in AFFECTED]
    unaff = [k for k in cells if k not in aff and judged(cells[k][0])]
    aff_flag = [k for k in aff if flagged(cells[k][0])]
    unaff_flag = [k for k in unaff if flagged(cells[k][0])]
    pp = sorted((k for k in aff if k[0] == "ping-pong"), key=lambda k: k[1])
    pp_ratio = paired(base, new, pp[0])[0] if pp else None
    aff_ratios = [r for r in (paired(base, new, k)[0] for k in aff) if r is not None]
    med_aff = statistics.median(aff_ratios) if aff_ratios else None
    rounds_file = os.path.join(d, "ROUNDS.txt")
    nr = open(rounds_file).read().strip() if os.path.exists(rounds_file) else "?"
    w(f"| {lv}%{' (A/A of the gate)' if float(lv) == 0 else ''} | {ns} | {nr} | {pct(None if pp_ratio is None else pp_ratio - 1)} | "
      f"{pct(None if med_aff is None else med_aff - 1)} | {share(len(aff_flag), len(aff))} | "
      f"{share(len(unaff_flag), len(unaff))} | "
      f"{'REGRESSION' if run_level(os.path.join(d, 'COMPARE.md')) else 'no regression'} |")
w("")
w("Per level, per affected cell (paired slowdown and `compare`'s verdict):\n")
for lv in levels:
    d = os.path.join(out, f"power-{lv}pct")
    cells = compare_cells(os.path.join(d, "COMPARE.md"))
    base, new = samples(os.path.join(d, "base")), samples(os.path.join(d, "new"))
    aff = sorted(k for k in cells if k[2] == "main" and k[0] in AFFECTED)
    parts = []
    for k in aff:
        r, n = paired(base, new, k)
        parts.append(f"`{k[0]}` `{k[1]}` {pct(None if r is None else r - 1)} (n={n}): {cells[k][0]}")
    w(f"- {lv}%: " + "; ".join(parts))
w("")
bd = os.path.join(out, "builds-aa")
if os.path.exists(os.path.join(bd, "COMPARE.md")):
    cells = compare_cells(os.path.join(bd, "COMPARE.md"))
    base, new = samples(os.path.join(bd, "base")), samples(os.path.join(bd, "new"))
    jud = [k for k in cells if judged(cells[k][0])]
    reg = [k for k in jud if flagged(cells[k][0])]
    imp = [k for k in jud if improved(cells[k][0])]
    mains = sorted(k for k in cells if k[2] == "main" and k[0] in AFFECTED)
    moves = "; ".join(f"`{k[0]}` `{k[1]}` {pct(None if paired(base, new, k)[0] is None else paired(base, new, k)[0] - 1)}"
                      for k in mains)
    nr = open(os.path.join(bd, "ROUNDS.txt")).read().strip() if os.path.exists(os.path.join(bd, "ROUNDS.txt")) else "?"
    w("## Two builds of the same behaviour\n")
    w(f"`builds-aa`: the normal build (base) against the slowed build at SLOW_TEST_NS = 0 (new), "
      f"{nr} ABBA rounds like the levels: the binaries differ in code layout only, as any two builds do. "
      f"{share(len(reg), len(jud))} judged cells flagged as regressions, {share(len(imp), len(jud))} as "
      f"improvements; run-level sign test: "
      f"{'REGRESSION' if run_level(os.path.join(bd, 'COMPARE.md')) else 'no regression'}. "
      f"`main`'s paired change on the cells the levels slow: {moves}.\n")
w("## Phases\n")
w("| phase | started at (s) |\n|---|---:|")
for p in phases:
    w(f"| {' '.join(p[:-1])} | {p[-1]} |")
open(os.path.join(out, "CALIBRATION.md"), "w", encoding="utf-8").write("\n".join(md) + "\n")
print("\n".join(md))
PY
phase "done"
echo "calibrate: wrote $out/CALIBRATION.md" >&2
# Archive the run folders as committed run folders are kept: raw.jsonl.gz (gzip -n: no name or
# time stamp, so the same samples give the same bytes); every reader, `--resume` apart, takes it.
for raw in "$out"/aa-*/raw.jsonl "$out"/power-*/*/raw.jsonl "$out"/builds-aa/*/raw.jsonl; do
  if [ -f "$raw" ]; then gzip -n -9 -f "$raw"; fi
done
echo "calibrate: compressed the run folders' raw.jsonl" >&2
