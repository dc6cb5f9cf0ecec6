#!/usr/bin/env bash
# The test command: type check, unit tests, and end-to-end tests that run the notebooks in a real kernel
# with the `ci` profile (Node's built-in runner; its closing lines count the tests).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export XFT_PROFILE=ci
# One test file at a time: the machine has 2 cores and the e2e tests train models.
if [ $# -eq 0 ]; then set -- test/unit/*.test.ts test/e2e/*.test.ts; fi
# Hugging Face reference checkpoints for the checkpoint-loader tests (a no-op when up to date).
bash scripts/hf-reference.sh || exit 1
exec node --import tsx --test --test-concurrency=1 "$@"
