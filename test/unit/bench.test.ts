import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { flopsPerToken, median, REFERENCE_CONFIGS } from "../../src/bench/bench";

test("FLOPs per token: 6 x params + 12 x layers x seq x d", () => {
  const a = REFERENCE_CONFIGS.find((c) => c.name === "A")!;
  // Config A has 236,288 parameters (the PyTorch reference counts the same model).
  assert.equal(flopsPerToken(a), 6 * 236_288 + 12 * 2 * 128 * 64);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});

test("xft bench runs a tiny config in its own process and reports every figure", () => {
  const root = path.resolve(__dirname, "../..");
  const r = spawnSync(process.execPath, [path.join(root, "bin/xft.cjs"), "bench", "--custom", "1,16,2,16,64,2", "--repeats", "2",
    "--seconds", "0.05", "--warmup", "1", "--warmup-seconds", "0", "--json"], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(out.matmulGflops1024 > 0);
  const [c] = out.configs;
  assert.equal(c.config.name, "custom");
  assert.equal(c.repeatTokensPerSec.length, 2);
  for (const key of ["tokensPerSec", "gflops", "peakRssMiB", "readoutExamplesPerSec"]) assert.ok(c[key] > 0, key);
  for (const phase of ["step", "forward", "backward"]) assert.ok(c.ms[phase] > 0, phase);
});
