/**
 * The grid on a cluster scheduler (src/runs/cluster/, src/runs/merge.ts): `--shard auto` from each scheduler's
 * variables, the emitted Slurm and Kubernetes files (the Kubernetes Jobs validated against the batch/v1 schema), and
 * `xft runs merge` with its refusals. A real Slurm runs the emitted files in test/e2e/slurm.test.ts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { Job } from "kubernetes-models/batch/v1/Job";
import { parse } from "yaml";

import { mergeRuns } from "../../src/runs/merge";
import { parseShard, shardFromScheduler } from "../../src/runs/cluster/shard";
import { runXft, xft } from "../xft-cli";

const ENV = { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" };
const GRID = ["reproduce", "--profile", "ci", "--part", "explanations"];
const work = fs.mkdtempSync(path.join(os.tmpdir(), "xft-cluster-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));

test("--shard auto reads a Slurm array task and a Kubernetes completion index", () => {
  assert.deepEqual(shardFromScheduler({ SLURM_ARRAY_TASK_ID: "0", SLURM_ARRAY_TASK_COUNT: "4" }), { index: 1, count: 4 });
  assert.deepEqual(shardFromScheduler({ SLURM_ARRAY_TASK_ID: "3", SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_MAX: "4" }), { index: 3, count: 4 });
  const full = {
    SLURM_ARRAY_TASK_ID: "7",
    SLURM_ARRAY_TASK_MIN: "0",
    SLURM_ARRAY_TASK_MAX: "7",
    SLURM_ARRAY_TASK_COUNT: "8",
    SLURM_ARRAY_TASK_STEP: "1",
  };
  assert.deepEqual(shardFromScheduler(full), { index: 8, count: 8 });
  assert.deepEqual(shardFromScheduler({ JOB_COMPLETION_INDEX: "2", XFT_SHARD_COUNT: "3" }), { index: 3, count: 3 });
  assert.deepEqual(parseShard("auto", { JOB_COMPLETION_INDEX: "0", XFT_SHARD_COUNT: "2" }), { index: 1, count: 2 });
  assert.deepEqual(parseShard("2/5", {}), { index: 2, count: 5 });
});

test("--shard auto: a missing, bad or out-of-range index is an error that names the variable", () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /none is set: SLURM_ARRAY_TASK_ID .* JOB_COMPLETION_INDEX/],
    [{ SLURM_ARRAY_TASK_ID: "x1", SLURM_ARRAY_TASK_COUNT: "2" }, /SLURM_ARRAY_TASK_ID must be a non-negative integer, got "x1"/],
    [{ SLURM_ARRAY_TASK_ID: "1" }, /neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN\/MAX/],
    [{ SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "2" }, /shard 3 of 2/],
    [{ SLURM_ARRAY_TASK_ID: "4", SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_MAX: "8", SLURM_ARRAY_TASK_STEP: "2" }, /steps by 2/],
    [{ SLURM_ARRAY_TASK_ID: "4", SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_MAX: "8", SLURM_ARRAY_TASK_COUNT: "3" }, /has 3 tasks, not 9/],
    [{ JOB_COMPLETION_INDEX: "1" }, /XFT_SHARD_COUNT is not/],
    [{ JOB_COMPLETION_INDEX: "3", XFT_SHARD_COUNT: "3" }, /shard 4 of 3/],
    [{ JOB_COMPLETION_INDEX: "-1", XFT_SHARD_COUNT: "3" }, /JOB_COMPLETION_INDEX must be a non-negative integer/],
  ];
  for (const [env, message] of cases) assert.throws(() => shardFromScheduler(env), message, JSON.stringify(env));
});

test("--emit slurm writes an array with its resources and a dependent analysis job, all valid bash", () => {
  const out = path.join(work, "slurm");
  const r = xft(...GRID, "--emit", "slurm", "--shards", "3", "--out", out, "--runs-dir", path.join(work, "none"));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /shard 3\/3: 12 runs, \d+ steps, about .*, [\d.]+ core-hours/);
  for (const f of ["train.sbatch", "analyse.sbatch", "submit.sh"]) {
    const syntax = spawnSync("bash", ["-n", path.join(out, f)], { encoding: "utf8" });
    assert.equal(syntax.status, 0, `${f}: ${syntax.stderr}`);
  }
  const train = fs.readFileSync(path.join(out, "train.sbatch"), "utf8");
  for (const directive of [/--array=0-2\n/, /--cpus-per-task=2\n/, /--mem=\d+M\n/, /--time=\d+-\d\d:\d\d:00\n/, /--output=.*train-%A_%a\.log/]) {
    assert.match(train, new RegExp(`#SBATCH ${directive.source}`));
  }
  assert.match(train, /reproduce --profile ci --part explanations --shard auto --train-only --runs-dir /);
  const analyse = fs.readFileSync(path.join(out, "analyse.sbatch"), "utf8");
  assert.match(analyse, new RegExp(`reproduce --profile ci --part explanations --runs-dir \\S+ --out ${out}/results`));
  assert.doesNotMatch(analyse, /--shard|--array/);
  assert.match(fs.readFileSync(path.join(out, "submit.sh"), "utf8"), /sbatch --parsable --dependency=afterok:\$train "\$here\/analyse\.sbatch"/);
});

test("--emit k8s writes an Indexed Job and an analysis Job that the batch/v1 schema accepts", () => {
  const out = path.join(work, "k8s");
  const r = xft(...GRID, "--emit", "k8s", "--shards", "4", "--out", out, "--image", "registry.example/xft:1");
  assert.equal(r.status, 0, r.stderr);
  const train = parse(fs.readFileSync(path.join(out, "train-job.yaml"), "utf8"));
  const analysis = parse(fs.readFileSync(path.join(out, "analysis-job.yaml"), "utf8"));
  for (const manifest of [train, analysis]) new Job(manifest).validate();
  assert.equal(train.spec.completionMode, "Indexed");
  assert.equal(train.spec.completions, 4);
  const c = train.spec.template.spec.containers[0];
  assert.equal(c.image, "registry.example/xft:1");
  assert.deepEqual(
    c.env.find((e: { name: string }) => e.name === "XFT_SHARD_COUNT"),
    { name: "XFT_SHARD_COUNT", value: "4" },
  );
  assert.ok(c.command.includes("auto") && c.command.includes("--train-only"));
  assert.match(c.resources.limits.memory, /^\d+Mi$/);
  assert.ok(train.spec.template.spec.volumes[0].persistentVolumeClaim.claimName);
  assert.ok(!analysis.spec.completionMode && !analysis.spec.template.spec.containers[0].command.includes("--shard"));
  assert.match(fs.readFileSync(path.join(out, "submit.sh"), "utf8"), /kubectl wait --for=condition=complete job\/xft-ci-explanations-train/);
  // The schema can fail: a count as a string, a missing container image.
  assert.throws(() => new Job({ ...train, spec: { ...train.spec, completions: "4" } }).validate(), /completions must be integer/);
  const noImage = structuredClone(train);
  delete noImage.spec.template.spec.containers[0].name;
  assert.throws(() => new Job(noImage).validate(), /name/);
});

test("--emit: wrong or clashing options are clear errors", () => {
  for (const [args, message] of [
    [["--emit", "pbs", "--shards", "2"], /--emit takes slurm or k8s, got "pbs"/],
    [["--emit", "slurm"], /--emit needs --shards N/],
    [["--emit", "slurm", "--shards", "0"], /takes a positive integer, got "0"/],
    [["--emit", "slurm", "--shards", "2", "--jobs", "2"], /leave out --jobs/],
    [["--emit", "slurm", "--shards", "2", "--image", "x"], /--image and --claim are for --emit k8s/],
    [["--shards", "2"], /--shards go with --emit/],
    [["--shard", "auto"], /--shard auto reads the scheduler's environment/],
  ] as const) {
    const env = Object.fromEntries(Object.entries(ENV).filter(([k]) => !k.startsWith("SLURM_") && k !== "JOB_COMPLETION_INDEX"));
    const r = runXft([...GRID, ...args], env);
    assert.notEqual(r.status, 0, args.join(" "));
    assert.match(r.stderr, message, args.join(" "));
  }
});

/** Two finished ci runs (seeds 1 and 2) in a runs folder of their own, trained once and copied for each case. */
let trained: string | undefined;
function runsFolder(name: string): string {
  if (!trained) {
    trained = path.join(work, "trained");
    for (const seed of ["1", "2"]) {
      const r = xft("train", "--profile", "ci", "--dataset", "esnli", "--condition", "label", "--seed", seed, "--runs-dir", trained);
      assert.equal(r.status, 0, r.stderr);
    }
  }
  const dir = path.join(work, name);
  fs.cpSync(trained, dir, { recursive: true });
  return dir;
}
const keysIn = (dir: string) => fs.readdirSync(dir).filter((k) => fs.existsSync(path.join(dir, k, "run.json")));
const recordOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, "run.json"), "utf8"));
const writeRecord = (dir: string, r: unknown) => fs.writeFileSync(path.join(dir, "run.json"), JSON.stringify(r));

test("xft runs merge copies finished runs, takes identical ones as merged, leaves unfinished ones out", () => {
  const a = runsFolder("merge-a");
  const [first, second] = keysIn(a).sort();
  const b = path.join(work, "merge-b");
  fs.mkdirSync(b);
  fs.renameSync(path.join(a, second), path.join(b, second));
  const unfinished = path.join(b, "0123456789abcdef");
  fs.mkdirSync(unfinished);
  writeRecord(unfinished, { ...recordOf(path.join(b, second)), key: "0123456789abcdef", status: "running" });
  const target = path.join(work, "merge-target");
  const report = mergeRuns([a, b], target);
  assert.deepEqual(report.copied.sort(), [first, second]);
  assert.deepEqual(report.unfinished, [unfinished]);
  assert.equal(report.environments.length, 1);
  assert.match(report.environments[0], /^2 runs: tensorflow|^2 runs: wasm|^2 runs: cpu/);
  assert.deepEqual(keysIn(target).sort(), [first, second]);
  const again = mergeRuns([a, b], target);
  assert.deepEqual([again.copied, again.identical.sort()], [[], [first, second]]);
  // The CLI says the same.
  const r = xft("runs", "merge", a, b, "--runs-dir", target);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /0 runs copied into .*, 2 already there, 1 unfinished left out/);
});

test("xft runs merge refuses a conflicting duplicate, a damaged run, a renamed folder and other data, and then copies nothing", () => {
  const a = runsFolder("refuse-a");
  const [key] = keysIn(a).sort();
  const target = path.join(work, "refuse-target");
  mergeRuns([a], target);
  const before = keysIn(target).sort();
  const cases: Array<[string, (dir: string) => void, RegExp]> = [
    [
      "conflict",
      (dir) => {
        // Other predictions, recorded as such: a sound run, but not the same run as the target's.
        const file = path.join(dir, key, "predictions.json");
        const other = Buffer.from(fs.readFileSync(file, "utf8").replace(/"predicted":\s*(\d)/, (_, d) => `"predicted": ${(Number(d) + 1) % 3}`));
        fs.writeFileSync(file, other);
        const record = recordOf(path.join(dir, key));
        record.artifacts["predictions.json"] = { bytes: other.length, sha256: crypto.createHash("sha256").update(other).digest("hex") };
        writeRecord(path.join(dir, key), record);
      },
      new RegExp(`run ${key} differs between .* and .*: the same key with other files`),
    ],
    ["damaged", (dir) => fs.truncateSync(path.join(dir, key, "predictions.json"), 3), /damaged: .*predictions\.json: 3 bytes/],
    ["renamed", (dir) => fs.renameSync(path.join(dir, key), path.join(dir, "feedfacefeedface")), /named feedfacefeedface but its run\.json is run/],
    [
      "other data",
      (dir) =>
        writeRecord(path.join(dir, key), {
          ...recordOf(path.join(dir, key)),
          data: { ...recordOf(path.join(dir, key)).data, hash: "ab".repeat(32) },
        }),
      /another version of dataset esnli/,
    ],
  ];
  for (const [name, damage, message] of cases) {
    const source = runsFolder(`refuse-${name.replace(" ", "-")}`);
    damage(source);
    assert.throws(
      () => mergeRuns([source], target),
      (err: Error) => /nothing merged/.test(err.message) && message.test(err.message),
      name,
    );
    assert.deepEqual(keysIn(target).sort(), before, `${name}: the target is as it was`);
  }
  assert.throws(() => mergeRuns([target], target), /is the target runs folder itself/);
  assert.throws(() => mergeRuns([path.join(work, "nowhere")], target), /no runs folder here/);
});
