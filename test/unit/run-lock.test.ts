/**
 * One process per run (src/runs/run-lock.ts): a second taker waits for the lock, a stale lock of a dead process is
 * taken over, and two `xft train` processes on one run train it once, the second reusing the first's run.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { lockRun } from "../../src/runs/run-lock";

const ROOT = path.resolve(__dirname, "../..");

test("a second taker of a run's lock waits until the first releases it, and is told who holds it", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-lock-"));
  const first = await lockRun(dir, "k1");
  const told: string[] = [];
  let taken = false;
  const second = lockRun(dir, "k1", { pollMs: 20, onWait: (m) => told.push(m) }).then((lock) => {
    taken = true;
    return lock;
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(taken, false, "the lock is still held");
  assert.equal(told.length, 1);
  assert.match(told[0], new RegExp(`waiting for run k1: pid ${process.pid} on `));
  first.release();
  const lock = await second;
  assert.equal(JSON.parse(fs.readFileSync(lock.file, "utf8")).pid, process.pid);
  lock.release();
  assert.ok(!fs.existsSync(lock.file), "released: the lock file is gone");
  fs.rmSync(dir, { recursive: true });
});

test("a lock left by a process that died is taken over at once", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-lock-"));
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  const file = path.join(dir, "k2.lock");
  fs.writeFileSync(file, JSON.stringify({ pid: Number(dead.stdout), host: os.hostname(), started: "2026-01-01T00:00:00Z" }));
  const lock = await lockRun(dir, "k2", { onWait: () => assert.fail("a stale lock is not waited for") });
  assert.equal(JSON.parse(fs.readFileSync(file, "utf8")).pid, process.pid);
  lock.release();
  fs.rmSync(dir, { recursive: true });
});

function train(runsDir: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, "bin/xft.cjs"),
        "train",
        "--dataset",
        "esnli",
        "--condition",
        "label",
        "--seed",
        "3",
        "--profile",
        "ci",
        "--runs-dir",
        runsDir,
      ],
      { cwd: ROOT, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" } },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

test("two xft train processes on one run: one trains it, the other waits and reuses it, with the same result", async () => {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-lock-runs-"));
  const [a, b] = await Promise.all([train(runsDir), train(runsDir)]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(b.status, 0, b.stderr);
  const reusedBy = [a, b].filter((r) => /reused the finished run/.test(r.stderr));
  assert.equal(reusedBy.length, 1, "exactly one of the two reused the run");
  assert.match(reusedBy[0].stderr, /waiting for run [0-9a-f]{16}: pid \d+/);
  const [ra, rb] = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
  assert.equal(ra.dir, rb.dir);
  assert.equal(ra.accuracy, rb.accuracy);
  assert.deepEqual(
    fs.readdirSync(runsDir).filter((f) => f.endsWith(".lock")),
    [],
    "no lock is left behind",
  );
  fs.rmSync(runsDir, { recursive: true });
});
