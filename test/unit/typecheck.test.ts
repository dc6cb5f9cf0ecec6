/** The whole project type-checks under `strict` (tsconfig.json); tslab itself does not check that. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";

test("tsc --noEmit under strict finds no errors", () => {
  const root = path.resolve(__dirname, "../..");
  const tsc = spawnSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--noEmit"], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});
