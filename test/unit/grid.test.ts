import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { initBackend } from "../../src/backend/engine";
import { readPredictions, RunSpec } from "../../src/runs/experiment";
import { EXPLANATION_BUDGETS, expandGrid, GRID_PROFILES, GridSpec, REAL_EXPLANATION_DATASETS, reproductionGrid, runGrid } from "../../src/runs/grid";
import { parseShard, shardOf } from "../../src/runs/cluster/shard";
import { analyzeGrid, writeResults } from "../../src/runs/results";
import { CONDITIONS } from "../../src/train/sequences";
import { xft } from "../xft-cli";

/** Two dimensions, two labels; the label shows in the response, so a model can learn it. */
function writeDataset(file: string): void {
  const labelSet = ["low", "high"];
  const rows = ["clarity", "depth"].flatMap((dimension) =>
    Array.from({ length: 48 }, (_, i) => {
      const label = labelSet[i % 2];
      return JSON.stringify({
        id: `${dimension}-${i}`,
        source: "grid-test",
        dimension,
        context: [{ role: "user", text: `question ${i} about ${dimension}` }],
        response: `this answer is ${label === "high" ? "clear and deep" : "vague and thin"}`,
        label,
        labelSet,
        explanations: [`it is ${label === "high" ? "clear" : "vague"}`],
        split: i < 32 ? "train" : "test",
      });
    }),
  );
  fs.writeFileSync(file, rows.join("\n") + "\n");
}

const tinyProfile = { ...GRID_PROFILES.ci.profile, maxTrain: 32, maxTest: 16, epochs: 1 };

test("the reproduction grid: every benchmark setting and real-explanation dataset, every condition, the budgets", () => {
  const grid = GRID_PROFILES.ci;
  const all = reproductionGrid("all", grid);
  const datasets = new Set(all.settings.map((s) => s.dataset));
  for (const d of [...(grid.sources as string[]), ...REAL_EXPLANATION_DATASETS]) assert.ok(datasets.has(d), d);
  assert.equal(all.settings.filter((s) => s.dataset === "conv-hh-chosen").length, 3, "three dimensions per source");
  const arms = all.arms.map((a) => `${a.condition}@${a.explTokens ?? "whole"}`);
  for (const c of CONDITIONS) assert.ok(arms.includes(`${c}@whole`), c);
  for (const b of EXPLANATION_BUDGETS) assert.ok(arms.includes(`label+expl@${b}`), `budget ${b}`);
  assert.equal(new Set(arms).size, arms.length, "no arm twice");
  assert.deepEqual(
    reproductionGrid("explanations", grid).arms.map((a) => a.condition),
    ["label", "label+expl"],
  );
  const notebook03 = reproductionGrid(["pseudo", "budget"], grid).arms.map((a) => `${a.condition}@${a.explTokens ?? "whole"}`);
  assert.equal(notebook03.filter((a) => a === "label@whole").length, 1, "parts that share an arm run it once");
  assert.equal(notebook03.length, CONDITIONS.length + EXPLANATION_BUDGETS.length);
  assert.equal(expandGrid(all).length, all.settings.length * all.arms.length * grid.seeds.length);
  assert.ok(GRID_PROFILES.quick.seeds.length >= 3 && GRID_PROFILES.full.seeds.length >= 5, "quick has 3 seeds or more, full 5 or more");
  assert.equal(GRID_PROFILES.quick.sources, "all");
});

test("shards: k/n parses, the shares are disjoint and together give the whole grid in order", () => {
  assert.deepEqual(parseShard("2/3"), { index: 2, count: 3 });
  for (const bad of ["0/3", "4/3", "1/0", "a/b", "2"]) assert.throws(() => parseShard(bad), /--shard takes k\/n/, bad);
  const runs = Array.from({ length: 10 }, (_, i) => i);
  const shares = [1, 2, 3].map((index) => shardOf(runs, { index, count: 3 }));
  assert.deepEqual(
    shares.flat().sort((a, b) => a - b),
    runs,
  );
  assert.deepEqual(shares[0], [0, 3, 6, 9]);
  assert.deepEqual(shardOf(runs), runs);
});

test("a grid runs per dimension, reuses finished runs, and two shards' run folders merge into the whole grid", async () => {
  await initBackend({ quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-grid-"));
  const data = path.join(dir, "mine.jsonl");
  writeDataset(data);
  const spec: GridSpec = {
    settings: [
      { dataset: data, dimension: "clarity" },
      { dataset: data, dimension: "depth" },
    ],
    arms: [{ condition: "label" }, { condition: "label+expl" }, { condition: "label+expl", explTokens: 2 }],
    seeds: [1, 2],
    profile: tinyProfile,
  };
  const specs = expandGrid(spec);
  assert.equal(specs.length, 12);
  const runsDir = path.join(dir, "runs");
  const progress: string[] = [];
  // Two "machines", each its share, into one runs folder.
  const finished: string[] = [];
  const first = await runGrid(shardOf(specs, parseShard("1/2")), {
    runsDir,
    onProgress: (p) => {
      if (p.finished) finished.push(p.text);
      else if (!p.event) progress.push(p.text);
    },
  });
  const second = await runGrid(shardOf(specs, parseShard("2/2")), { runsDir });
  assert.equal(first.length + second.length, 12);
  assert.match(progress[1], /^run 2\/6 .* seed \d; grid .* elapsed, .* left$/);
  assert.equal(finished.length, 6, "each run is reported once more when it ends");
  assert.match(finished[5], /^run 6\/6 .* seed \d: done; grid /);
  for (const r of [...first, ...second]) {
    assert.equal(r.status, "done");
    assert.ok(r.spec.dimension === "clarity" || r.spec.dimension === "depth");
    assert.equal(r.data.test, 16);
    assert.ok(
      readPredictions(r).every((p) => p.id.startsWith(`${r.spec.dimension}-`)),
      "a run tests on its own dimension only",
    );
  }
  const budgeted = first.concat(second).filter((r) => r.spec.explTokens === 2);
  assert.equal(budgeted.length, 4);
  assert.ok(budgeted.every((r) => r.sequence.maxExplTokens === 2));
  // The whole grid again: every run is reused, nothing retrains.
  const whole = await runGrid(specs, { runsDir });
  assert.ok(
    whole.every((r) => r.reused),
    "finished runs are reused",
  );
  assert.equal(new Set(whole.map((r) => r.key)).size, 12, "every (setting, arm, seed) has its own run folder");

  const results = analyzeGrid(whole);
  assert.equal(results.runs.numRows(), 12);
  assert.equal(results.summary.numRows(), 6, "2 settings x 3 arms");
  assert.equal(results.differences.numRows(), 4, "2 settings x 2 arms against label");
  assert.deepEqual(results.unpaired, []);
  const files = writeResults(path.join(dir, "results"), results, whole);
  for (const name of ["runs.csv", "summary.csv", "differences.csv", "wins.csv", "configs.json"]) {
    assert.ok(files.some((f) => f.endsWith(name)) && fs.statSync(path.join(dir, "results", name)).size > 0, name);
  }
  assert.match(fs.readFileSync(path.join(dir, "results", "wins.csv"), "utf8").split("\n")[0], /condition.*settings.*wins/);
  fs.rmSync(dir, { recursive: true });
});

test("a grid stops between steps when asked, and the same grid resumes to the same numbers", async () => {
  await initBackend({ quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-grid-"));
  const data = path.join(dir, "mine.jsonl");
  writeDataset(data);
  const specs: RunSpec[] = expandGrid({
    settings: [{ dataset: data, dimension: "clarity" }],
    arms: [{ condition: "label" }],
    seeds: [1, 2],
    profile: tinyProfile,
  });
  let steps = 0;
  const stopped = await runGrid(specs, { runsDir: path.join(dir, "a"), shouldStop: () => ++steps === 1 });
  assert.equal(stopped.length, 1, "the grid stops with the interrupted run");
  assert.equal(stopped[0].status, "stopped");
  const resumed = await runGrid(specs, { runsDir: path.join(dir, "a") });
  const fresh = await runGrid(specs, { runsDir: path.join(dir, "b") });
  assert.deepEqual(
    resumed.map((r) => r.metrics?.accuracy),
    fresh.map((r) => r.metrics?.accuracy),
  );
  assert.deepEqual(
    resumed.map((r) => r.training.losses.at(-1)),
    fresh.map((r) => r.training.losses.at(-1)),
  );
  fs.rmSync(dir, { recursive: true });
});

test("xft reproduce: a bad --part or --shard is a clear error", () => {
  const part = xft("reproduce", "--profile", "ci", "--part", "everything");
  assert.equal(part.status, 1);
  assert.match(part.stderr, /--part takes all, explanations, pseudo, budget \(or several, comma-separated\), got "everything"/);
  const shard = xft("reproduce", "--profile", "ci", "--shard", "3/2");
  assert.equal(shard.status, 1);
  assert.match(shard.stderr, /--shard takes k\/n/);
  const both = xft("reproduce", "--profile", "ci", "--jobs", "2", "--shard", "1/2");
  assert.equal(both.status, 1);
  assert.match(both.stderr, /give --jobs or --shard, not both/);
});
