#!/usr/bin/env bash
# make memcheck: the memory-safety lane in place of Miri (whose component cannot be installed
# here). Runs the unit and integration tests (conformance suite included) of every crate under
# crates/ whose own code has `unsafe` blocks — loop-main and loop-alt-two today; loop-conformance
# only wraps libc calls and runs inside their conformance tests — under valgrind memcheck, and
# writes each test binary's log plus a summary to $MEMCHECK_OUT (default results/memcheck/).
#
# Clean means: every test passes, memcheck reports 0 errors (invalid reads/writes, uses of
# uninitialised values, bad frees), and no memory is definitely or indirectly lost. Memory
# still reachable at exit (thread-locals, statics) is not an error. Suppressions, each with its
# reason, are in scripts/memcheck.supp.
#
# The conformance checks run at quick scale with their wait bounds multiplied by 20
# (LOOP_CONFORMANCE_SCALE / LOOP_CONFORMANCE_SLOWDOWN): memcheck runs code 20-50x slower, and a
# wait that is merely slow must not read as a hang. loom models (tests/loom_*.rs) are skipped:
# without --cfg loom they compile to nothing.
#
# Exit 0 clean, 1 not clean (the failing binaries are listed), 0 with SKIPPED when valgrind is
# absent.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${MEMCHECK_OUT:-results/memcheck}
jobs=${MEMCHECK_TEST_THREADS:-2}

if ! command -v valgrind >/dev/null 2>&1; then
  echo "memcheck: SKIPPED — valgrind is not installed (apt-get install valgrind)"
  exit 0
fi

# Less loop-conformance (FFI wrappers only, run inside the others' conformance tests).
mapfile -t pkgs < <(scripts/unsafe_packages.sh conformance)
echo "memcheck: crates with unsafe code: ${pkgs[*]}"

pkg_flags=()
for p in "${pkgs[@]}"; do pkg_flags+=(-p "$p"); done
# The test binaries (lib unit tests and integration tests), as cargo reports them.
# Lines "<package>/<target> <executable>"; examples (built by `cargo test` too) are left out.
mapfile -t exes < <(cargo test "${pkg_flags[@]}" --no-run --message-format=json 2>/dev/null \
  | grep -v '"kind":\["example"\]' \
  | sed -n 's/.*"package_id":"[^"]*#\([^@"]*\)@[^"]*".*"target":{[^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1\/\2 \3/p' \
  | grep -v '/loom_' | sort -u)
if [ "${#exes[@]}" -eq 0 ]; then
  echo "memcheck: no test binaries found (did the build fail?)" >&2
  exit 1
fi

rm -rf "$out/logs"
mkdir -p "$out/logs"
summary="$out/MEMCHECK.md"
vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
  --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
  --suppressions=scripts/memcheck.supp --gen-suppressions=all --num-callers=40
  --fair-sched=yes)
bad=()
rows=()
for line in "${exes[@]}"; do
  name=${line%% *}
  exe=${line#* }
  stem=${name//\//.}
  log="$out/logs/$stem.log"
  echo "memcheck: $stem ($exe)"
  start=$(date +%s)
  set +e
  LOOP_CONFORMANCE_SCALE=quick LOOP_CONFORMANCE_SLOWDOWN=20 \
    "${vg[@]}" --log-file="$log.valgrind" "$exe" --test-threads="$jobs" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  result=$(grep -E '^test result:' "$log" | tail -1 || true)
  errors=$(grep -Eo 'ERROR SUMMARY: [0-9]+ errors' "$log.valgrind" | tail -1 | grep -Eo '[0-9]+' || echo "?")
  definite=$(grep -Eo 'definitely lost: [0-9,]+ bytes' "$log.valgrind" | tail -1 | grep -Eo '[0-9,]+' || echo 0)
  indirect=$(grep -Eo 'indirectly lost: [0-9,]+ bytes' "$log.valgrind" | tail -1 | grep -Eo '[0-9,]+' || echo 0)
  suppressed=$(grep -Eo 'suppressed: [0-9,]+ bytes' "$log.valgrind" | tail -1 | grep -Eo '[0-9,]+' || echo 0)
  rows+=("| $stem | ${result#test result: } | $errors | $definite | $indirect | $suppressed | $rc | ${secs}s |")
  if [ "$rc" -ne 0 ]; then
    bad+=("$stem (exit $rc, $errors errors; $log.valgrind)")
  fi
done

{
  echo "# make memcheck — last result"
  echo
  echo "valgrind memcheck over the unit and integration tests of the crates with \`unsafe\` code"
  echo "(${pkgs[*]}); written by \`scripts/memcheck.sh\`. Conformance checks at quick scale, wait"
  echo "bounds x20. Errors exit the binary with 99; definitely or indirectly lost bytes are errors."
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates scripts 2>/dev/null || echo ' (+ uncommitted changes under crates/ or scripts/)')"
  echo "- $(valgrind --version), $(rustc --version)"
  echo "- suppressions: scripts/memcheck.supp"
  echo
  echo "| test binary | tests | memcheck errors | definitely lost | indirectly lost | suppressed | exit | time |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  if [ "${#bad[@]}" -eq 0 ]; then
    echo "**Clean.**"
  else
    echo "**Not clean:**"
    printf -- '- %s\n' "${bad[@]}"
  fi
} >"$summary"
cat "$summary"
[ "${#bad[@]}" -eq 0 ]
