#!/usr/bin/env bash
# Tiny tournament run into a temporary folder; fails unless summary.csv and SUMMARY.md exist and
# every summary row has a status, the reports regenerate byte-identically and the folder
# validates. Used by `make smoke` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)/smoke
trap 'rm -rf "$(dirname "$out")"' EXIT
cargo run --release --quiet -p tournament -- run --smoke --samples 1 --out "$out"
for f in raw.jsonl summary.csv SUMMARY.md env.json; do
  [ -s "$out/$f" ] || { echo "smoke: $out/$f missing or empty" >&2; exit 1; }
done
# Every summary row has a status and none failed. A small RFC 4180 field splitter (quoted fields
# may hold commas, e.g. `"growth-n=1000000,b=10000"`); the header names the columns.
awk '
  function split_csv(line, f,    n, i, c, q, cur) {
    n = 0; cur = ""; q = 0
    for (i = 1; i <= length(line); i++) {
      c = substr(line, i, 1)
      if (q) { if (c == "\"") { if (substr(line, i + 1, 1) == "\"") { cur = cur c; i++ } else q = 0 } else cur = cur c }
      else if (c == "\"") q = 1
      else if (c == ",") { f[++n] = cur; cur = "" }
      else cur = cur c
    }
    f[++n] = cur
    return n
  }
  NR == 1 { n = split_csv($0, h); for (i = 1; i <= n; i++) col[h[i]] = i
            if (!col["status"]) { print "smoke: summary.csv has no status column"; exit 2 } next }
  { split_csv($0, f); rows++; st = f[col["status"]]
    if (st == "") { print "smoke: row without a status: " $0; bad = 1 }
    else if (st == "failed") { print "smoke: failed cell: " f[1] "/" f[2] "/" f[3] ": " f[col["reason"]]; bad = 1 }
    seen[st] = 1 }
  END { if (!rows) { print "smoke: summary.csv has no rows"; exit 1 }
        if (bad) exit 1
        n = 0; for (s in seen) list[++n] = s
        for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j-1] > list[j]; j--) { t = list[j]; list[j] = list[j-1]; list[j-1] = t }
        line = ""; for (i = 1; i <= n; i++) line = line (i > 1 ? ", " : "") list[i]
        printf "smoke: %d rows, statuses: %s\n", rows, line }
' "$out/summary.csv"
# The report must regenerate byte-identically from raw.jsonl.
cp "$out/summary.csv" "$out/summary.first.csv"
cp "$out/SUMMARY.md" "$out/SUMMARY.first.md"
cargo run --release --quiet -p tournament -- report "$out"
cmp "$out/summary.csv" "$out/summary.first.csv"
cmp "$out/SUMMARY.md" "$out/SUMMARY.first.md"
rm "$out/summary.first.csv" "$out/SUMMARY.first.md"
# And it validates (percentiles, CIs, coverage of the plan, units, ratios, recomputation).
cargo run --release --quiet -p tournament -- validate "$out"
echo "smoke: ok"
