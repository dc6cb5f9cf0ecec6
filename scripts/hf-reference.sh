#!/usr/bin/env bash
# Test set-up step: builds the Hugging Face reference checkpoints and numbers (scripts/hf-reference.py) into
# build/hf-fixtures/, which the TypeScript checkpoint-loader tests compare against. Idempotent: a second run with the
# same script, pins and corpus does nothing.
#
# The Python side lives in its own venv (.venv-hf, git-ignored) with pinned versions, so the reference numbers do
# not drift with whatever transformers a machine happens to have. If those packages cannot be installed (no
# reachable pip index), it writes build/hf-fixtures/UNAVAILABLE with the reason and exits 0: the tests read that
# file and skip. Any other failure (the Python script itself) exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

PINS="torch==2.13.0 transformers==5.18.0 peft==0.21.0 tokenizers==0.23.2 safetensors==0.8.0"
VENV=.venv-hf
OUT=build/hf-fixtures
SCRIPT=scripts/hf-reference.py
CORPUS=data/esnli/train.jsonl.gz  # the tokenizer's training text, so it is part of the fixtures' inputs too
PYTHON="${XFT_HF_PYTHON:-python3}"  # pyenv's 3.11 here (not Debian's /usr/bin/python3, which serves Jupyter)

# What the fixtures depend on: the script, the pins and the corpus.
want_stamp="$( { sha256sum "$SCRIPT" "$CORPUS"; echo "$PINS"; } | sha256sum | cut -d' ' -f1)"
if [ -f "$OUT/STAMP" ] && [ "$(cat "$OUT/STAMP")" = "$want_stamp" ] && [ ! -e "$OUT/UNAVAILABLE" ]; then
  echo "hf-reference: fixtures up to date ($OUT)"
  exit 0
fi

unavailable() {  # $1: one-line reason
  rm -rf "$OUT"
  mkdir -p "$OUT"
  echo "$1" >"$OUT/UNAVAILABLE"
  echo "hf-reference: UNAVAILABLE: $1 (tests that need the fixtures will skip)"
  exit 0
}

# 1. The venv, (re)installed only when it does not hold exactly these pins.
source scripts/pinned-venv.sh
pinned_venv "$VENV" "$PINS" "$PYTHON" || unavailable "pip install of the Hugging Face reference packages failed: ${PINNED_VENV_FAILURE:-no output}"

# 2. The fixtures, built into a fresh folder and moved into place only when complete (which also drops a stale
#    UNAVAILABLE), so the tests never see a half-written set.
echo "hf-reference: building fixtures into $OUT"
start=$SECONDS
tmp="$OUT.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$VENV/bin/python" "$SCRIPT" "$tmp"
echo "$want_stamp" >"$tmp/STAMP"
rm -rf "$OUT"
mv "$tmp" "$OUT"
echo "hf-reference: fixtures built in $((SECONDS - start))s ($(du -sh "$OUT" | cut -f1))"
