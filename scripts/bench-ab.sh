#!/usr/bin/env bash
# Same-machine A/B regression check (the CI regression gate; `make bench-ab REV=<git-rev>`).
#
# Builds REV (extracted with `git archive` into a temporary tree: the repository itself is not
# touched) and the current work tree, then measures both on this machine, alternating between
# the two builds in ROUNDS rounds that each add SAMPLES_PER_ROUND samples per cell to each side
# (`tournament run --resume DIR --samples N` extends a run), so slow drift of a noisy VM hits
# both sides alike. Finally `tournament compare BASE NEW` (exit 1 on a regression).
#
# When REV's tournament predates `--resume`, the two quick suites run back to back instead
# (said so in the output): less robust to drift.
#
# Environment: ROUNDS (5), SAMPLES_PER_ROUND (2), MODE (--quick), THRESHOLD (5%),
# RUN_ARGS (extra `tournament run` flags for both sides, e.g. "--contenders main,baseline"),
# OUT (results/ab-<rev>-<time>).
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: scripts/bench-ab.sh <git-rev>}
rounds=${ROUNDS:-5}
per=${SAMPLES_PER_ROUND:-2}
mode=${MODE:---quick}
threshold=${THRESHOLD:-5%}
sha=$(git rev-parse --verify "$rev^{commit}")
out=${OUT:-results/ab-${sha:0:7}-$(date -u +%Y%m%dT%H%M%SZ)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "bench-ab: base $rev ($sha) vs the current tree → $out" >&2
mkdir -p "$tmp/base"
git archive "$sha" | tar -x -C "$tmp/base"
CARGO_TARGET_DIR="$tmp/target" cargo build --release --quiet -p tournament --manifest-path "$tmp/base/Cargo.toml"
cargo build --release --quiet -p tournament
base_bin="$tmp/target/release/tournament"
new_bin="$(pwd)/target/release/tournament"
mkdir -p "$out"
base_dir="$(cd "$out" && pwd)/base"
new_dir="$(cd "$out" && pwd)/new"

# shellcheck disable=SC2086 # RUN_ARGS is a list of flags
if "$base_bin" run --help | grep -q -- '--resume'; then
  for ((r = 1; r <= rounds; r++)); do
    n=$((r * per))
    for side in base new; do
      bin=${side}_bin; dir=${side}_dir
      if [ "$r" -eq 1 ]; then where=(--out "${!dir}"); else where=(--resume "${!dir}"); fi
      echo "bench-ab: round $r/$rounds, $side, $n samples per cell" >&2
      # The base build runs from its own tree so env.json records its git state.
      (cd "$([ "$side" = base ] && echo "$tmp/base" || pwd)" && "${!bin}" run $mode --samples "$n" ${RUN_ARGS:-} "${where[@]}" >/dev/null)
    done
  done
else
  echo "bench-ab: $rev's tournament has no --resume: running the two suites back to back" >&2
  (cd "$tmp/base" && "$base_bin" run $mode ${RUN_ARGS:-} --out "$base_dir" >/dev/null)
  "$new_bin" run $mode ${RUN_ARGS:-} --out "$new_dir" >/dev/null
fi

"$new_bin" compare "$base_dir" "$new_dir" --threshold "$threshold" --out "$out/COMPARE.md"
