/**
 * Faults of a whole grid, against a grid that ran alone and was never killed: its results tables, byte for byte
 * (runs.csv apart: it holds each run's wall time and tokens/s).
 * - kill -9 of a whole `xft reproduce --jobs 2` (the parent and both job processes) at a seeded moment of its training, then
 *   the same command again;
 * - two `xft reproduce` at once on one runs folder: they share the work (each run trained once, by one of them).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { Rng } from "../../src/util/rng";

const ROOT = path.resolve(__dirname, "../..");
const ENV = { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" };
const work = fs.mkdtempSync(path.join(os.tmpdir(), "xft-kill-grid-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));

const RUNS = 36;
/** The grid's command, its runs in `runs` (default: its own) and its tables in OUT/`name`/results. */
const grid = (name: string, runs = name, jobs = "2") => [
  path.join(ROOT, "bin/xft.cjs"),
  "reproduce",
  "--profile",
  "ci",
  "--part",
  "explanations",
  "--jobs",
  jobs,
  "--runs-dir",
  path.join(work, runs, "runs"),
  "--out",
  path.join(work, name, "results"),
];

function finish(name: string): void {
  const r = spawnSync(process.execPath, grid(name), { cwd: ROOT, encoding: "utf8", env: ENV });
  assert.equal(r.status, 0, r.stderr);
}

const TABLES = ["summary.csv", "differences.csv", "wins.csv"];
const tables = (name: string) => Object.fromEntries(TABLES.map((t) => [t, fs.readFileSync(path.join(work, name, "results", t), "utf8")]));
/** The lone, never-killed grid's tables, computed once for both tests. */
let referenceTables: Record<string, string> | undefined;
function reference(): Record<string, string> {
  if (!referenceTables) {
    finish("reference");
    referenceTables = tables("reference");
  }
  return referenceTables;
}
const locksLeft = (runs: string) => fs.readdirSync(path.join(work, runs, "runs")).filter((f) => f.endsWith(".lock"));

test("xft reproduce --jobs 2 killed with SIGKILL, jobs and all, resumes to the tables of a grid never killed", async () => {
  reference();
  // A moment inside the training, whatever the machine's speed: once a seeded number of runs (5 to 30 of 36) is
  // finished, as a timer would land; the analysis after training (USR evaluations, tables) is not the fault tested.
  const target = 5 + Math.floor(26 * new Rng(3).next());
  const runsDir = path.join(work, "killed", "runs");
  const finished = () =>
    fs.existsSync(runsDir) ? fs.readdirSync(runsDir).filter((k) => fs.existsSync(path.join(runsDir, k, "predictions.json"))).length : 0;
  let killed = false;
  await new Promise<void>((resolve) => {
    // Its own process group, so that one kill reaches the jobs it spawned too, as a killed terminal session would.
    const child = spawn(process.execPath, grid("killed"), { cwd: ROOT, env: ENV, stdio: "ignore", detached: true });
    const poll = setInterval(() => {
      if (finished() < target) return;
      killed = true;
      clearInterval(poll);
      process.kill(-child.pid!, "SIGKILL");
    }, 20);
    child.on("close", () => {
      clearInterval(poll);
      resolve();
    });
  });
  const moment = `${target} runs`;
  assert.ok(killed, `the grid ended before ${moment} had finished`);
  const finishedBeforeResume = finished();
  assert.ok(finishedBeforeResume < RUNS, `${finishedBeforeResume} of ${RUNS} runs had finished when it was killed`);
  // The locks the killed jobs held name dead processes: the rerun takes them over.
  finish("killed");
  assert.deepEqual(tables("killed"), reference(), `killed after ${moment}, then resumed`);
  assert.deepEqual(locksLeft("killed"), [], "no lock is left");
});

test("two xft reproduce at once on one runs folder share the grid: each run is trained once, and both tables equal a lone grid's", async () => {
  // One job each (the grid in its own process), so that the two meet run by run at the locks.
  const both = await Promise.all(
    ["shared-a", "shared-b"].map(
      (name) =>
        new Promise<{ status: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, grid(name, "shared", "1"), { cwd: ROOT, env: ENV, stdio: ["ignore", "ignore", "pipe"] });
          let stderr = "";
          child.stderr.on("data", (d) => (stderr += d));
          child.on("close", (status) => resolve({ status, stderr }));
        }),
    ),
  );
  for (const r of both) assert.equal(r.status, 0, r.stderr);
  const reused = both.map((r) => Number(/xft reproduce: 36 runs \((\d+) reused\)/.exec(r.stderr)?.[1] ?? NaN));
  assert.equal(RUNS - reused[0] + (RUNS - reused[1]), RUNS, `trained by each: ${reused.map((n) => RUNS - n).join(" and ")}`);
  assert.ok(
    both.some((r) => /waiting for run [0-9a-f]{16}/.test(r.stderr)),
    "one waited at a lock the other held",
  );
  assert.deepEqual(tables("shared-a"), reference());
  assert.deepEqual(tables("shared-b"), reference());
  assert.deepEqual(locksLeft("shared"), [], "no lock is left");
});
