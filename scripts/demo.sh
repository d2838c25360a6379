#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv, measure sample_images/ with the shipped model,
# then run a whole demo study (generated from the real sample scans) through
# batch -> export -> reliability -> report. Everything is written under out/ (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out}"
bash scripts/setup.sh
mt=.venv/bin/musclethick
mkdir -p "$out"

echo "== 1. measure sample_images/ (shipped model) -> $out/results.csv, overlays"
$mt measure sample_images --out "$out/results.csv" --boundaries "$out/boundaries.json" \
  --overlays "$out/overlays" --overwrite

echo "== 2. demo study from the real sample scans -> $out/demo"
rm -rf "$out/demo"
.venv/bin/python scripts/make_demo_study.py "$out/demo" --subjects 6

echo "== 3. batch-measure the study into a SQLite store (resumable, all cores)"
$mt batch "$out/demo/study" --protocol "$out/demo/protocol.toml" \
  --allocation "$out/demo/allocation.csv" --store "$out/demo/study.sqlite"

echo "== 4. export tables per subject, leg and week"
$mt export "$out/demo/study.sqlite" --format xlsx --out "$out/demo/tables.xlsx"
$mt export "$out/demo/study.sqlite" --format csv --out "$out/demo/tables"

echo "== 5. reliability of repeated images within a session"
$mt reliability "$out/demo/study.sqlite" --out "$out/demo/reliability.csv"

echo "== 6. the study's report: overview, QC, trajectories, FAIL vs RIR (mixed model + paired check)"
$mt report "$out/demo/study.sqlite" --out "$out/demo/report.html" --figures "$out/demo/figures" \
  --overwrite

echo "Done: $out/results.csv, $out/overlays/, $out/demo/tables.xlsx, $out/demo/tables/, $out/demo/reliability.csv, $out/demo/report.html (open it in a browser)"
