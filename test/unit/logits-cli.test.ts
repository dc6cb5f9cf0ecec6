/**
 * `xft logits` on every family's tiny transformers checkpoint prints the ids and the top next-token log-probabilities
 * that transformers computes for the same text (scripts/hf-reference.py writes them into reference.json), and a
 * bad reference is one clear line.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FIXTURES, fixtureDir, fixturesUnavailable } from "./hf-fixtures";
import { xft } from "../xft-cli";

interface NextTokenReference {
  text: string;
  ids: number[];
  top: Array<[number, number]>;
}

test("xft logits --json gives transformers' ids and top-20 log-probabilities on every family", { skip: fixturesUnavailable() }, () => {
  for (const name of FIXTURES) {
    const dir = fixtureDir(name);
    const ref = (JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { next_token: NextTokenReference }).next_token;
    const run = xft("logits", "--init", `hf:${dir}`, "--text", ref.text, "--json", "--backend", "cpu");
    assert.equal(run.status, 0, `${name}: ${run.stderr}`);
    const out = JSON.parse(run.stdout) as { ids: number[]; top: Array<[number, number]> };
    assert.deepEqual(out.ids, ref.ids, `${name}: token ids`);
    assert.equal(out.top.length, 20);
    // The same tokens in the same order where their log-probabilities are not within float32 noise of each other.
    out.top.forEach(([id, logprob], i) => {
      const [refId, refLogprob] = ref.top[i];
      assert.ok(Math.abs(logprob - refLogprob) < 1e-4, `${name}, rank ${i}: ${logprob} against ${refLogprob}`);
      if (id !== refId) assert.ok(Math.abs(logprob - ref.top.find(([j]) => j === id)![1]) < 1e-4, `${name}, rank ${i}: id ${id} against ${refId}`);
    });
  }
});

test("xft logits: a bad reference or an empty text is one clear line", () => {
  const missing = xft("logits", "--init", "hf:/nonexistent/model-folder", "--text", "x");
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^xft logits: .*nonexistent\/model-folder/m);
  const both = xft("logits", "--text", "x");
  assert.match(both.stderr, /give one of --init hf:DIR and --run KEY/);
  const empty = xft("logits", "--init", "hf:/x", "--text", "");
  assert.match(empty.stderr, /--text is empty/);
});
