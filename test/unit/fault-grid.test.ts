/**
 * kill -9 of a whole `xft reproduce --jobs 2` (the parent and both job processes) at a random (seeded) moment, then
 * the same command again: the grid's results tables equal those of a grid that was never killed, byte for byte
 * (runs.csv apart: it holds each run's wall time and tokens/s).
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

const grid = (name: string) => [path.join(ROOT, "bin/xft.cjs"), "reproduce", "--profile", "ci", "--part", "explanations", "--jobs", "2",
  "--runs-dir", path.join(work, name, "runs"), "--out", path.join(work, name, "results")];

function finish(name: string): void {
  const r = spawnSync(process.execPath, grid(name), { cwd: ROOT, encoding: "utf8", env: ENV });
  assert.equal(r.status, 0, r.stderr);
}

const TABLES = ["summary.csv", "differences.csv", "wins.csv"];
const tables = (name: string) => Object.fromEntries(TABLES.map((t) => [t, fs.readFileSync(path.join(work, name, "results", t), "utf8")]));

test("xft reproduce --jobs 2 killed with SIGKILL, jobs and all, resumes to the tables of a grid never killed", async () => {
  const started = Date.now();
  finish("reference");
  // A moment inside the grid's own duration here: 20% to 80% of the way through.
  const ms = Math.round((Date.now() - started) * (0.2 + 0.6 * new Rng(3).next()));
  let killed = false;
  await new Promise<void>((resolve) => {
    // Its own process group, so that one kill reaches the jobs it spawned too, as a killed terminal session would.
    const child = spawn(process.execPath, grid("killed"), { cwd: ROOT, env: ENV, stdio: "ignore", detached: true });
    const timer = setTimeout(() => {
      killed = true;
      process.kill(-child.pid!, "SIGKILL");
    }, ms);
    child.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  assert.ok(killed, `the grid was still running ${ms} ms in`);
  const finishedBeforeResume = fs.readdirSync(path.join(work, "killed", "runs")).filter((k) => fs.existsSync(path.join(work, "killed", "runs", k, "predictions.json"))).length;
  assert.ok(finishedBeforeResume < 36, `${finishedBeforeResume} of 36 runs had finished when it was killed`);
  // The locks the killed jobs held name dead processes: the rerun takes them over.
  finish("killed");
  assert.deepEqual(tables("killed"), tables("reference"), `killed after ${ms} ms, then resumed`);
  assert.deepEqual(fs.readdirSync(path.join(work, "killed", "runs")).filter((f) => f.endsWith(".lock")), [], "no lock is left");
});
