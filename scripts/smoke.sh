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
python3 - "$out/summary.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert rows, "summary.csv has no rows"
missing = [r for r in rows if not r.get("status")]
assert not missing, f"rows without a status: {missing}"
bad = [r for r in rows if r["status"] == "failed"]
assert not bad, "failed cells: " + "; ".join(f'{r["workload"]}/{r["param"]}/{r["contender"]}: {r["reason"]}' for r in bad)
print(f"smoke: {len(rows)} rows, statuses: {sorted({r['status'] for r in rows})}")
PY
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
