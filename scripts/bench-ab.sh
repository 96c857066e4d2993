#!/usr/bin/env bash
# Same-machine A/B regression check (the CI regression gate; `make bench-ab REV=<git-rev>`).
#
# Builds REV (extracted with `git archive` into a temporary tree: the repository itself is not
# touched) and the current work tree, then measures both on this machine in ROUNDS rounds that
# each add SAMPLES_PER_ROUND samples per cell to each side (`tournament run --resume DIR
# --samples N` extends a run), so slow drift of a noisy VM hits both sides alike. The side that
# goes first alternates ABBA-wise (base,new | new,base | base,new | …): a first A/A with base
# always first counted 104 stable cells faster on the second side against 16 slower, an order
# effect that alternation cancels over every two rounds. The order actually run is written to
# OUT/ORDER.txt. Finally `tournament compare BASE NEW --interleaved SAMPLES_PER_ROUND` (paired by
# round; exit 1 on a regression) into
# OUT/COMPARE.md.
#
# When REV's tournament predates `--resume`, the two quick suites run back to back instead
# (said so in the output and in ORDER.txt): less robust to drift.
#
# Environment: ROUNDS (8; compare's paired interval over rounds needs at least 7), SAMPLES_PER_ROUND (2), MODE (--quick), THRESHOLD (5%),
# RUN_ARGS (extra `tournament run` flags for both sides, e.g. "--contenders main,baseline"),
# OUT (results/ab-<rev>-<time>), BASE_BIN and NEW_BIN (prebuilt `tournament` binaries to use
# instead of building REV and the tree, both run from the repository root; `make calibrate`
# uses them to measure a slowed build against a normal one).
#
# Timing runs need a quiet machine: run nothing else CPU-heavy meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: scripts/bench-ab.sh <git-rev>}
rounds=${ROUNDS:-8}
per=${SAMPLES_PER_ROUND:-2}
mode=${MODE:---quick}
threshold=${THRESHOLD:-5%}
sha=$(git rev-parse --verify "$rev^{commit}")
out=${OUT:-results/ab-${sha:0:7}-$(date -u +%Y%m%dT%H%M%SZ)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -n "${BASE_BIN:-}" ] || [ -n "${NEW_BIN:-}" ]; then
  : "${BASE_BIN:?BASE_BIN and NEW_BIN go together}" "${NEW_BIN:?BASE_BIN and NEW_BIN go together}"
  base_bin=$(realpath "$BASE_BIN")
  new_bin=$(realpath "$NEW_BIN")
  base_tree=$(pwd)
  echo "bench-ab: base $base_bin vs new $new_bin (prebuilt) → $out" >&2
else
  echo "bench-ab: base $rev ($sha) vs the current tree → $out" >&2
  mkdir -p "$tmp/base"
  git archive "$sha" | tar -x -C "$tmp/base"
  CARGO_TARGET_DIR="$tmp/target" cargo build --release --quiet -p tournament --manifest-path "$tmp/base/Cargo.toml"
  cargo build --release --quiet -p tournament
  base_bin="$tmp/target/release/tournament"
  new_bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release/tournament"
  # The base build runs from its own tree so env.json records its git state.
  base_tree="$tmp/base"
fi
mkdir -p "$out"
base_dir="$(cd "$out" && pwd)/base"
new_dir="$(cd "$out" && pwd)/new"
order="$out/ORDER.txt"
{
  echo "# bench-ab side order, one line per round (first side listed ran first)"
  echo "# base: $([ -n "${BASE_BIN:-}" ] && echo "$base_bin" || echo "$rev ($sha)"), new: $([ -n "${NEW_BIN:-}" ] && echo "$new_bin" || echo "the work tree")"
  echo "# mode $mode, $per samples per cell per round, RUN_ARGS: ${RUN_ARGS:-none}"
} >"$order"

run_side() { # side round samples
  local side=$1 r=$2 n=$3 bin dir tree where
  if [ "$side" = base ]; then bin=$base_bin dir=$base_dir tree=$base_tree; else bin=$new_bin dir=$new_dir tree=$(pwd); fi
  if [ "$r" -eq 1 ]; then where=(--out "$dir"); else where=(--resume "$dir"); fi
  echo "bench-ab: round $r/$rounds, $side, $n samples per cell" >&2
  # shellcheck disable=SC2086 # MODE and RUN_ARGS are lists of flags
  # Each round is one process per side (the unit compare pairs): a tournament that would split
  # a new run over several processes by default is told not to.
  local one_process=()
  if "$bin" run --help | grep -q -- '--processes'; then one_process=(--processes 1); fi
  (cd "$tree" && "$bin" run $mode --samples "$n" ${RUN_ARGS:-} "${one_process[@]}" "${where[@]}" >/dev/null)
}

if "$base_bin" run --help | grep -q -- '--resume'; then
  for ((r = 1; r <= rounds; r++)); do
    n=$((r * per))
    # ABBA: odd rounds base first, even rounds new first.
    if ((r % 2)); then sides=(base new); else sides=(new base); fi
    echo "round $r: ${sides[*]}" >>"$order"
    for side in "${sides[@]}"; do run_side "$side" "$r" "$n"; done
  done
else
  echo "bench-ab: $rev's tournament has no --resume: running the two suites back to back" >&2
  echo "back to back (no --resume in base): base new" >>"$order"
  # shellcheck disable=SC2086
  (cd "$base_tree" && "$base_bin" run $mode ${RUN_ARGS:-} --out "$base_dir" >/dev/null)
  # shellcheck disable=SC2086
  "$new_bin" run $mode ${RUN_ARGS:-} --out "$new_dir" >/dev/null
fi

# Rounds interleave the two sides: round r added samples r·per … r·per+per−1 to both, so the
# comparison pairs rounds (the samples of one round share a process on each side).
interleaved=()
if "$base_bin" run --help | grep -q -- '--resume'; then interleaved=(--interleaved "$per"); fi
"$new_bin" compare "$base_dir" "$new_dir" --threshold "$threshold" "${interleaved[@]}" --out "$out/COMPARE.md"
