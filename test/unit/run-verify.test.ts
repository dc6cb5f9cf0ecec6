/**
 * A run folder checks itself before it is reused (src/runs/artifacts.ts): one tiny run is trained once, and each
 * case damages a copy of its folder, so that the suite trains only where a case retrains.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { initBackend } from "../../src/backend/engine";
import { checkRunsFolder } from "../../src/runs/artifacts";
import { checkRunFolder, recordArtifacts } from "../../src/runs/artifacts";
import { readPredictions, readRunRecord, runExperiment, RunRecord, RunSpec } from "../../src/runs/experiment";
import { GRID_PROFILES, runGrid } from "../../src/runs/grid";
import { xft } from "../xft-cli";

/** Two labels, shown in the response: a tiny model learns them in a few steps. */
function writeDataset(file: string): void {
  const labelSet = ["low", "high"];
  const rows = Array.from({ length: 40 }, (_, i) => {
    const label = labelSet[i % 2];
    return JSON.stringify({
      id: `v-${i}`,
      source: "verify-test",
      dimension: "clarity",
      context: [{ role: "user", text: `question ${i}` }],
      response: `this answer is ${label === "high" ? "clear and deep" : "vague and thin"}`,
      label,
      labelSet,
      explanations: [`it is ${label === "high" ? "clear" : "vague"}`],
      split: i < 28 ? "train" : "test",
    });
  });
  fs.writeFileSync(file, rows.join("\n") + "\n");
}

let tmp: string;
let spec: RunSpec;
/** The one trained run: its runs folder and record, never damaged itself. */
let pristineRuns: string;
let pristine: RunRecord;

before(async () => {
  await initBackend({ quiet: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xft-verify-"));
  const data = path.join(tmp, "mine.jsonl");
  writeDataset(data);
  spec = { dataset: data, condition: "label", seed: 1, profile: { ...GRID_PROFILES.ci.profile, epochs: 1 } };
  pristineRuns = path.join(tmp, "pristine");
  pristine = await runExperiment(spec, { runsDir: pristineRuns });
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let copies = 0;
/** A copy of the pristine runs folder with `damage` done to its run folder; returns the copy's runs folder and run folder. */
function damagedCopy(damage: (runDir: string) => void): { runsDir: string; runDir: string } {
  const runsDir = path.join(tmp, `copy-${copies++}`);
  fs.cpSync(pristineRuns, runsDir, { recursive: true });
  const runDir = path.join(runsDir, pristine.key);
  damage(runDir);
  return { runsDir, runDir };
}

const truncate = (file: string, bytes: number) => fs.truncateSync(file, bytes);

test("a finished run records the size and sha256 of predictions.json, model.safetensors and config.json, and reuse checks them", async () => {
  assert.deepEqual(Object.keys(pristine.artifacts ?? {}).sort(), ["config.json", "model.safetensors", "predictions.json"]);
  assert.deepEqual(pristine.artifacts, recordArtifacts(pristine.dir, Object.keys(pristine.artifacts!)));
  const again = await runExperiment(spec, { runsDir: pristineRuns });
  assert.equal(again.reused, true);
});

test("a truncated model.safetensors: reuse is an error naming the run, the file and both sizes", async () => {
  const recorded = pristine.artifacts!["model.safetensors"].bytes;
  const { runsDir } = damagedCopy((d) => truncate(path.join(d, "model.safetensors"), 4096));
  await assert.rejects(runExperiment(spec, { runsDir }), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(`^run ${pristine.key} is damaged: .*${pristine.key}/model\\.safetensors: 4096 bytes, the record says ${recorded}`),
    );
    assert.match(err.message, /--fresh retrains it/);
    return true;
  });
});

test("a deleted model.safetensors, garbage of the same size in predictions.json, and garbage run.json: each named", async () => {
  const deleted = damagedCopy((d) => fs.rmSync(path.join(d, "model.safetensors")));
  await assert.rejects(runExperiment(spec, { runsDir: deleted.runsDir }), /model\.safetensors: missing, the record says \d+ bytes/);

  const sameSize = damagedCopy((d) => {
    const file = path.join(d, "predictions.json");
    fs.writeFileSync(file, "g".repeat(fs.statSync(file).size));
  });
  await assert.rejects(
    runExperiment(spec, { runsDir: sameSize.runsDir }),
    /predictions\.json: sha256 [0-9a-f]{12}, the record says [0-9a-f]{12} \(same size, other bytes\)/,
  );

  const badRecord = damagedCopy((d) => fs.writeFileSync(path.join(d, "run.json"), "garbage\n"));
  await assert.rejects(
    runExperiment(spec, { runsDir: badRecord.runsDir }),
    new RegExp(`run ${pristine.key} is damaged: .*${pristine.key}/run\\.json is not valid JSON \\(Unexpected token`),
  );
  // The readers name the file and the run too, where before they said only "Unexpected token 'g'".
  assert.throws(() => readRunRecord(badRecord.runDir), new RegExp(`Error: run ${pristine.key}: .*run\\.json is not valid JSON`));
  assert.throws(
    () => readPredictions({ key: pristine.key, dir: sameSize.runDir }),
    new RegExp(`Error: run ${pristine.key}: .*predictions\\.json is not valid JSON`),
  );
});

test("a record from before artifacts were kept is reused as it is; the run key is unchanged", async () => {
  const { runsDir, runDir } = damagedCopy((d) => {
    const file = path.join(d, "run.json");
    const { artifacts: _artifacts, ...old } = JSON.parse(fs.readFileSync(file, "utf8")) as RunRecord;
    fs.writeFileSync(file, JSON.stringify(old, null, 1) + "\n");
  });
  const record = await runExperiment(spec, { runsDir });
  assert.equal(record.reused, true);
  assert.equal(record.key, pristine.key);
  assert.deepEqual(checkRunFolder(runDir).problems, []);
});

test("--fresh retrains a damaged run; retrainDamaged (probe --fresh) retrains it and reuses an intact one", async () => {
  const fresh = damagedCopy((d) => truncate(path.join(d, "model.safetensors"), 100));
  const retrained = await runExperiment(spec, { runsDir: fresh.runsDir, fresh: true });
  assert.equal(retrained.reused, false);
  assert.deepEqual(checkRunFolder(fresh.runDir).problems, []);
  // Training is deterministic: the retrained files are the pristine ones.
  assert.deepEqual(retrained.artifacts, pristine.artifacts);

  // The grid passes --fresh on to each run (xft reproduce --fresh).
  const grid = damagedCopy((d) => fs.rmSync(path.join(d, "predictions.json")));
  await assert.rejects(runGrid([spec], { runsDir: grid.runsDir }), /predictions\.json: missing/);
  const [regridded] = await runGrid([spec], { runsDir: grid.runsDir, fresh: true });
  assert.equal(regridded.reused, false);
  assert.deepEqual(checkRunFolder(grid.runDir).problems, []);

  const damaged = damagedCopy((d) => fs.writeFileSync(path.join(d, "run.json"), "garbage\n"));
  const repaired = await runExperiment(spec, { runsDir: damaged.runsDir, retrainDamaged: true });
  assert.equal(repaired.reused, false);
  assert.equal((await runExperiment(spec, { runsDir: damaged.runsDir, retrainDamaged: true })).reused, true);
});

test("xft runs verify lists exactly the damaged runs (exit 1), and a clean runs folder passes (exit 0)", () => {
  const runsDir = path.join(tmp, "mixed");
  const place = (name: string, damage: (d: string) => void) => {
    fs.cpSync(pristine.dir, path.join(runsDir, name), { recursive: true });
    damage(path.join(runsDir, name));
  };
  place("aaaaintact", () => {});
  place("bbbbtruncated", (d) => truncate(path.join(d, "model.safetensors"), 10));
  place("ccccgarbagepreds", (d) => fs.writeFileSync(path.join(d, "predictions.json"), "garbage"));
  place("ddddgarbagerecord", (d) => fs.writeFileSync(path.join(d, "run.json"), "garbage"));
  place("eeeedeleted", (d) => fs.rmSync(path.join(d, "model.safetensors")));
  fs.mkdirSync(path.join(runsDir, "pretrain"));

  const bad = checkRunsFolder(runsDir)
    .filter((c) => c.problems.length > 0)
    .map((c) => c.key);
  assert.deepEqual(bad, ["bbbbtruncated", "ccccgarbagepreds", "ddddgarbagerecord", "eeeedeleted"]);

  const r = xft("runs", "verify", "--runs-dir", runsDir);
  assert.equal(r.status, 1, r.stderr);
  assert.deepEqual(
    r.stdout
      .trim()
      .split("\n")
      .map((line) => line.split(":")[0]),
    bad,
  );
  assert.match(r.stdout, /bbbbtruncated: .*model\.safetensors: 10 bytes, the record says \d+/);
  assert.match(r.stderr, /5 runs in .*, 4 damaged/);

  const clean = xft("runs", "verify", "--runs-dir", pristineRuns);
  assert.equal(clean.status, 0, clean.stderr);
  assert.equal(clean.stdout, "");
  assert.match(clean.stderr, /1 runs in .*, 0 damaged/);
});
