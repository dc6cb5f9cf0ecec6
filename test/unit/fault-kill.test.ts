/**
 * kill -9 at random (seeded) moments of `xft train` and `xft pretrain` (start-up, training, evaluation, writing),
 * then the same command again: it must finish with byte-identical weights and predictions to a run that was never
 * killed, taking over the lock that the killed process left behind.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { Rng } from "../../src/util/rng";

const ROOT = path.resolve(__dirname, "../..");
const ENV = { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" };
const work = fs.mkdtempSync(path.join(os.tmpdir(), "xft-kill-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));

const xftArgs = (args: string[]) => [path.join(ROOT, "bin/xft.cjs"), ...args];

function finish(args: string[]): { dir: string } {
  const r = spawnSync(process.execPath, xftArgs(args), { cwd: ROOT, encoding: "utf8", env: ENV });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { dir: string };
}

/** Starts the command and kills it with SIGKILL after `ms` (if it is still running then). */
function killAfter(args: string[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, xftArgs(args), { cwd: ROOT, env: ENV, stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const sha = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** The files that are the result, by name, as hashes. */
function hashes(dir: string, files: string[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f, sha(path.join(dir, f))]));
}

async function killAndResume(name: string, args: (runsDir: string) => string[], files: string[], points: number, seed: number): Promise<void> {
  const reference = finish(args(path.join(work, `${name}-reference`)));
  const want = hashes(reference.dir, files);
  const rng = new Rng(seed);
  for (let k = 0; k < points; k++) {
    const runsDir = path.join(work, `${name}-${k}`);
    const ms = 800 + rng.int(6000);
    await killAfter(args(runsDir), ms);
    const resumed = finish(args(runsDir));
    assert.deepEqual(hashes(resumed.dir, files), want, `${name} killed after ${ms} ms, then resumed`);
    assert.deepEqual(
      fs.readdirSync(path.dirname(resumed.dir)).filter((f) => f.endsWith(".lock")),
      [],
      "no lock is left",
    );
  }
}

test("xft train killed with SIGKILL at 4 random moments resumes to the same weights and predictions", async () => {
  await killAndResume(
    "train",
    (runsDir) => ["train", "--dataset", "esnli", "--condition", "label+expl", "--seed", "5", "--profile", "ci", "--runs-dir", runsDir],
    ["model.safetensors", "predictions.json"],
    4,
    1,
  );
});

test("xft pretrain killed with SIGKILL at 2 random moments resumes to the same base", async () => {
  await killAndResume("pretrain", (out) => ["pretrain", "--profile", "ci", "--out", path.join(out, "base")], ["model.safetensors.gz"], 2, 2);
});
