/**
 * The grid on a real Slurm: a single-node cluster on this machine (scripts/slurm-local.sh: Debian's slurm-wlm and
 * munge, slurmctld and slurmd on localhost), the files of `xft reproduce --emit slurm` submitted as they are (a
 * 2-task array of the ci grid's explanations part, and its analysis job after it), and the tables they write
 * compared with those of one `xft reproduce` of the same part: byte for byte, runs.csv apart from its timings.
 * Where Slurm cannot start here (no root, no packages), the test skips and says why.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { runXft, XFT_BIN } from "../xft-cli";

const ROOT = path.resolve(__dirname, "../..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "xft-slurm-"));
const cluster = path.join(work, "cluster");
after(() => {
  spawnSync("bash", [path.join(ROOT, "scripts/slurm-local.sh"), "stop", cluster]);
  fs.rmSync(work, { recursive: true, force: true });
});

/** One thread per process on both sides: TensorFlow's sums depend on the thread count in their last bits. */
const ENV = {
  ...process.env,
  TF_CPP_MIN_LOG_LEVEL: "2",
  TF_NUM_INTRAOP_THREADS: "1",
  TF_NUM_INTEROP_THREADS: "1",
  SLURM_CONF: path.join(cluster, "slurm.conf"),
};
const GRID = ["reproduce", "--profile", "ci", "--part", "explanations"];
const TABLES = ["summary.csv", "differences.csv", "wins.csv", "human-transfer.csv", "human-transfer-differences.csv"];
const TIMINGS = ["tokens_per_s", "train_s"];

/** runs.csv without its timing columns. */
function runsTable(dir: string): string {
  const [header, ...rows] = fs.readFileSync(path.join(dir, "runs.csv"), "utf8").trimEnd().split("\n");
  const keep = header.split(",").map((c) => !TIMINGS.includes(c));
  return [header, ...rows]
    .map((line) =>
      line
        .split(",")
        .filter((_, i) => keep[i])
        .join(","),
    )
    .join("\n");
}

/** Waits until Slurm no longer lists the jobs (done, failed or cancelled), within `seconds`. */
async function waitForJobs(ids: string[], seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const q = spawnSync("squeue", ["-h", "-j", ids.join(","), "-o", "%i %T %r"], { encoding: "utf8", env: ENV });
    if (q.status === 0 && q.stdout.trim() === "") return;
    if (Date.now() > deadline) throw new Error(`Slurm jobs ${ids.join(", ")} not done after ${seconds} s:\n${q.stdout}${q.stderr}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** The one-process reproduction of the same part, in a process of its own while the cluster trains. */
function reference(): Promise<void> {
  const args = [XFT_BIN, ...GRID, "--runs-dir", path.join(work, "ref-runs"), "--out", path.join(work, "ref-results")];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: ENV, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`the reference reproduce failed (${code}): ${stderr.slice(-2000)}`))));
  });
}

test("the emitted Slurm array and its dependent analysis, on a real single-node Slurm, give a one-process grid's tables", async (t) => {
  const started = spawnSync("bash", [path.join(ROOT, "scripts/slurm-local.sh"), "start", cluster], { encoding: "utf8" });
  if (started.status === 3) {
    t.skip(`Slurm cannot run here: ${started.stderr.trim()}`);
    return;
  }
  assert.equal(started.status, 0, `scripts/slurm-local.sh start failed: ${started.stderr}`);
  const job = path.join(work, "job");
  const emitted = runXft(
    [...GRID, "--emit", "slurm", "--shards", "2", "--cpus-per-task", "1", "--runs-dir", path.join(work, "runs"), "--out", job],
    ENV,
  );
  assert.equal(emitted.status, 0, emitted.stderr);
  const submitted = spawnSync("bash", [path.join(job, "submit.sh")], { encoding: "utf8", env: ENV });
  assert.equal(submitted.status, 0, submitted.stderr);
  const ids = [...submitted.stdout.matchAll(/: (\d+)/g)].map((m) => m[1]);
  assert.equal(ids.length, 2, `two job ids from submit.sh: ${submitted.stdout}`);
  await Promise.all([reference(), waitForJobs(ids, 900)]);
  const logs = fs.readdirSync(path.join(job, "logs")).sort();
  assert.deepEqual(
    logs.map((l) => l.replace(/\d+/g, "N")),
    ["analysis-N.log", "train-N_N.log", "train-N_N.log"],
  );
  const analysisLog = fs.readFileSync(path.join(job, "logs", logs[0]), "utf8");
  for (const l of logs.slice(1)) assert.match(fs.readFileSync(path.join(job, "logs", l), "utf8"), /xft reproduce: 18 runs \(0 reused\)/, l);
  assert.match(analysisLog, /xft reproduce: 36 runs \(36 reused\)/, "the analysis retrains nothing");
  const results = path.join(job, "results");
  for (const table of TABLES) {
    assert.equal(fs.readFileSync(path.join(results, table), "utf8"), fs.readFileSync(path.join(work, "ref-results", table), "utf8"), table);
  }
  assert.equal(runsTable(results), runsTable(path.join(work, "ref-results")), "runs.csv apart from timings");
});
