/** The TypeScript sources are as Prettier writes them (.prettierrc.json); `npm run format` rewrites them so. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "../..");

test("every TypeScript file is formatted by Prettier (npm run format fixes it)", () => {
  const r = spawnSync(
    process.execPath,
    [path.join(ROOT, "node_modules/prettier/bin/prettier.cjs"), "--list-different", "{src,kernel-ext,test,scripts}/**/*.ts"],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(r.stderr, "");
  assert.deepEqual(r.stdout.split("\n").filter(Boolean), [], "files that npm run format would change");
});
