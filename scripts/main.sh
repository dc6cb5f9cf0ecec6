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
# The grids of notebooks 02-05 first, in one job per core (two 1-thread jobs train about 1.8x the runs of one
# 2-thread process here); the notebooks then reuse those runs. XFT_JOBS overrides the number of jobs.
jobs="${XFT_JOBS:-$(nproc)}"
npx xft reproduce --profile "$XFT_PROFILE" --jobs "$jobs" > "$out/reproduce.txt"
# Notebook 05's runs from the pretrained base (shipped for quick, pretrained here otherwise), fully and with LoRA.
npx xft pretrain --profile "$XFT_PROFILE" > "$out/pretrain.txt"
for adapter in none lora; do
  npx xft reproduce --profile "$XFT_PROFILE" --part explanations --init base --adapter "$adapter" --jobs "$jobs" > "$out/reproduce-base-$adapter.txt"
done
# Notebook 05's LoRA runs as PEFT adapters on the exported base, with their model cards (the supplement links them).
npx xft export --grid --profile "$XFT_PROFILE" --part explanations --init base --adapter lora --to "$out/models" > "$out/export.txt"
# Notebook 06's default checkpoint (XFT_MODEL unset): the tiny random Llama of the parity tests' set-up.
[ -n "${XFT_MODEL:-}" ] || bash scripts/hf-reference.sh
$PY scripts/run-notebooks.py --out "$out" notebooks/*.ipynb
npx xft export-notebook --executed "$out"/*.ipynb
node --import tsx scripts/write-supplement.ts "$out"
echo "main: done in $(( $(date +%s) - started )) s; open $out/index.html"
