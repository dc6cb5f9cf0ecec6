#!/usr/bin/env bash
# The main job: set up, execute every notebook (profile quick unless XFT_PROFILE says otherwise), and write
# the HTML supplement to build/supplement/ (index.html links every notebook, the run configs, the environment).
# Finished runs in runs/ are reused, so a second call only re-renders.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
export XFT_PROFILE="${XFT_PROFILE:-quick}"
out=build/supplement
rm -rf "$out" && mkdir -p "$out"
started=$(date +%s)
$PY scripts/run-notebooks.py --out "$out" notebooks/*.ipynb
bash scripts/export-html.sh "$out"/*.ipynb
node --import tsx scripts/write-supplement.ts "$out"
echo "main: done in $(( $(date +%s) - started )) s; open $out/index.html"
