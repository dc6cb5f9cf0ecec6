/**
 * Kernel > Interrupt during training in a cell (a SIGINT to the real tslab kernel) stops the training after its step
 * with a checkpoint, as Ctrl-C does on the command line, and the same cell run again resumes the run from there
 * (test/kernel/interrupt_training.py drives the kernel). Before, tslab abandoned the cell but training went on.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { missingNotebookTools, PROJECT_ROOT, runInProjectEnv } from "./helpers";

test("a kernel interrupt stops training in a cell with a checkpoint; running the cell again resumes it", { skip: missingNotebookTools() }, () => {
  const runsDir = path.join(PROJECT_ROOT, "build", "test", "kernel-interrupt");
  fs.rmSync(runsDir, { recursive: true, force: true });
  const r = runInProjectEnv(`$PY test/kernel/interrupt_training.py ${runsDir}`, { timeoutMs: 10 * 60_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const result = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.deepEqual(result.reply, { status: "error", evalue: "Interrupted asynchronously" }, "the cell ends at once, as an interrupted cell");
  // The training notices the interrupt at its next step; a step of the ci model takes milliseconds.
  assert.ok(result.stopped_at < result.interrupted_at + 10, `interrupted at step ${result.interrupted_at}, stopped at ${result.stopped_at}`);
  assert.equal(result.status, "stopped");
  assert.ok(result.folder.includes("checkpoint.safetensors"), `the run folder holds ${result.folder.join(", ")}`);
  assert.deepEqual(result.second_reply, { status: "ok", evalue: null });
  assert.deepEqual(result.second, { status: "done", steps: 1000, resumedFromStep: result.stopped_at });
});
