/**
 * A SIGINT stops training that was given no stop callback (a notebook cell, whose kernel interrupt is a SIGINT):
 * the run stops after its step with its checkpoint, a grid stops after that run, and the same call resumes.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { initBackend } from "../../src/backend/engine";
import { runExperiment } from "../../src/runs/experiment";
import { expandGrid, GridSpec, gridProfile, runGrid, settingsOf } from "../../src/runs/grid";
import { interruptedSince } from "../../src/util/interrupt";

const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-interrupt-"));
after(() => fs.rmSync(runsDir, { recursive: true, force: true }));

test("interruptedSince is true once a SIGINT arrives after it was taken, and only then", () => {
  const before = interruptedSince();
  assert.equal(before(), false);
  process.emit("SIGINT");
  assert.equal(before(), true);
  assert.equal(interruptedSince()(), false, "a stop taken after the interrupt has not seen it");
});

test("a SIGINT during a grid stops its run after the step, with a checkpoint, and ends the grid; the same call resumes", async () => {
  await initBackend({ quiet: true });
  const grid: GridSpec = { settings: settingsOf(["esnli"]), arms: [{ condition: "label" }], seeds: [1, 2], profile: gridProfile("ci").profile };
  let interrupted = false;
  const stopped = await runGrid(expandGrid(grid), {
    runsDir,
    onProgress: (p) => {
      if (!interrupted && p.event?.phase === "train" && p.event.done >= 2) {
        interrupted = true;
        process.emit("SIGINT");
      }
    },
  });
  assert.equal(stopped.length, 1, "the grid ends with the interrupted run");
  assert.equal(stopped[0].status, "stopped");
  assert.ok(fs.existsSync(path.join(stopped[0].dir, "checkpoint.safetensors")), "the stopped run kept its checkpoint");
  const resumed = await runExperiment(expandGrid(grid)[0], { runsDir });
  assert.equal(resumed.status, "done");
  assert.ok(resumed.training.resumedFromStep >= 2, `resumed from step ${resumed.training.resumedFromStep}`);
});
