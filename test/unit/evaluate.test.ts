/**
 * A trained rater on new data (src/runs/evaluate.ts): applied to its own test set it gives exactly the run's stored
 * predictions and metrics; a dataset with other labels is a clear error.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { disposeParams } from "../../src/model/model";
import { listRuns, loadRun } from "../../src/runs/catalog";
import { evaluateRun, predictionTable } from "../../src/runs/evaluate";
import { readPredictions, runExperiment } from "../../src/runs/experiment";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-eval-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeDataset(file: string, labelSet: string[]): void {
  const rows = Array.from({ length: 48 }, (_, i) =>
    JSON.stringify({
      id: `r${i}`,
      source: "eval-test",
      dimension: "quality",
      context: [{ role: "user", text: `question ${i}` }],
      response: `this answer is ${i % 2 ? "great" : "poor"}`,
      label: labelSet[i % 2],
      labelSet,
      explanations: [`it is ${i % 2 ? "great" : "poor"}`],
      split: i < 32 ? "train" : "test",
    }),
  );
  fs.writeFileSync(file, rows.join("\n") + "\n");
}

test("evaluateRun on the run's own test set gives its stored predictions and metrics; other labels are an error", async () => {
  const data = path.join(dir, "mine.jsonl");
  writeDataset(data, ["low", "high"]);
  const record = await runExperiment({ dataset: data, condition: "label", seed: 1, profile: "ci" }, { runsDir: path.join(dir, "runs") });
  const e = await evaluateRun(record.key, data, { runsDir: path.join(dir, "runs") });
  assert.equal(e.metrics.accuracy, record.metrics!.accuracy);
  assert.equal(e.metrics.n, 16);
  const stored = readPredictions(record);
  e.predictions.forEach((p, i) => {
    assert.equal(p.predicted, stored[i].predicted);
    p.probs.forEach((q, k) => assert.ok(Math.abs(q - stored[i].probs[k]) < 1e-6));
  });
  assert.deepEqual(predictionTable(e).columnNames(), ["id", "gold", "predicted", "p_low", "p_high"]);
  const other = path.join(dir, "other.jsonl");
  writeDataset(other, ["bad", "good"]);
  await assert.rejects(evaluateRun(record, other), /has labels bad, good; run [0-9a-f]+ rates low, high/);
  // The catalogue: one row per run, and the run's model ready to use.
  const runs = listRuns({ runsDir: path.join(dir, "runs") });
  assert.deepEqual(runs.array("key"), [record.key]);
  assert.equal(runs.get("accuracy", 0), record.metrics!.accuracy);
  assert.equal(listRuns({ runsDir: path.join(dir, "runs"), profile: "quick" }).numRows(), 0);
  const loaded = loadRun(record.key, { runsDir: path.join(dir, "runs") });
  assert.equal(loaded.format.kind, "xft");
  assert.equal(loaded.config.layers, record.model.layers);
  disposeParams(loaded.params);
});
