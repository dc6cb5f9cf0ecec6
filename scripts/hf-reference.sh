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
VENV_STAMP="$VENV/xft-pins.txt"
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

# 1. The venv, (re)installed only when its stamp does not list exactly these pins. A venv whose Python no longer
#    runs (e.g. the interpreter it was made from is gone) is made afresh.
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then rm -rf "$VENV"; fi
if [ "$(cat "$VENV_STAMP" 2>/dev/null)" != "$PINS" ]; then
  echo "hf-reference: installing $PINS into $VENV"
  log="$(mktemp)"
  start=$SECONDS
  # --retries 0: an unreachable index fails at once instead of retrying for every package.
  # shellcheck disable=SC2086  # PINS is a word list on purpose
  if { [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"; } >"$log" 2>&1 \
    && "$VENV/bin/python" -m pip install --retries 0 -q $PINS >>"$log" 2>&1; then
    echo "$PINS" >"$VENV_STAMP"
    echo "hf-reference: install took $((SECONDS - start))s"
    rm -f "$log"
  else
    reason="$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 || true)"
    rm -f "$log" "$VENV_STAMP"
    unavailable "pip install of the Hugging Face reference packages failed: ${reason:-no output}"
  fi
fi

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
