/**
 * `xft export`: a full run of xft's own GPT (as gpt2), a LoRA run on a tiny Llama checkpoint (as a PEFT adapter) and
 * the same run merged load in transformers (and PEFT), whose logits on a right-padded batch equal xft's within 1e-4
 * relative at every real position, and whose tokenizer gives xft's ids (scripts/check-export.py, in .venv-hf).
 * Mutations (GPT-2's Conv1D weights transposed, the LoRA update scaled by 2) must break that. A bad or unfinished
 * run is one clear error with nothing written.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { initBackend, tf } from "../../src/backend/engine";
import type { GptConfig } from "../../src/model/config";
import { disposeParams, forward, logitsAt, ModelConfig, Params } from "../../src/model/model";
import { startArgs } from "../../src/cli/start-options";
import { exportGrid } from "../../src/export/grid-export";
import { baseParams, checkBase, readBaseCard } from "../../src/runs/base";
import { expandGrid, GridSpec, gridProfile, runGrid, settingsOf } from "../../src/runs/grid";
import { loadSafetensors, saveSafetensors } from "../../src/model/safetensors";
import { loadRunModel, readRunRecord, RunRecord } from "../../src/runs/experiment";
import { HfTokenizer } from "../../src/text/hf-tokenizer";
import { XftTokenizer } from "../../src/text/tokenizer";
import { fixtureDir, fixturesUnavailable } from "./hf-fixtures";
import { xft } from "../xft-cli";

const ROOT = path.resolve(__dirname, "../..");
const PYTHON = path.join(ROOT, ".venv-hf", "bin", "python");
const TOLERANCE = 1e-4;
const skip = fixturesUnavailable();
const work = fs.mkdtempSync(path.join(os.tmpdir(), "xft-export-"));
const runsDir = path.join(work, "runs");
after(() => fs.rmSync(work, { recursive: true, force: true }));

function train(...args: string[]): RunRecord {
  const run = xft("train", "--dataset", "esnli", "--condition", "label", "--profile", "ci", "--runs-dir", runsDir, ...args);
  assert.equal(run.status, 0, run.stderr);
  return readRunRecord((JSON.parse(run.stdout) as { dir: string }).dir);
}

function exportRun(record: RunRecord, name: string, ...extra: string[]): string {
  const out = path.join(work, name);
  const run = xft("export", "--run", record.dir, "--to", out, ...extra);
  assert.equal(run.status, 0, run.stderr);
  return out;
}

/** A right-padded batch: two rows of different lengths. */
interface Batch {
  ids: number[][];
  mask: number[][];
}

function paddedBatch(pad: number, vocab: number): Batch {
  const long = Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % vocab);
  const short = Array.from({ length: 7 }, (_, i) => (i * 53 + 11) % vocab);
  return {
    ids: [long, [...short, ...Array(long.length - short.length).fill(pad)]],
    mask: [long.map(() => 1), [...short.map(() => 1), ...Array(long.length - short.length).fill(0)]],
  };
}

/** xft's logits [B][T][V] for the batch from a model's weights, which it disposes. */
async function logitsOf(params: Params, config: ModelConfig, batch: Batch): Promise<number[][][]> {
  try {
    const [B, T] = [batch.ids.length, batch.ids[0].length];
    const ids = tf.tensor2d(batch.ids.flat(), [B, T], "int32");
    const { hidden } = forward(params, config, ids);
    const logits = logitsAt(params, hidden, tf.range(0, B * T, 1, "int32") as tf.Tensor1D);
    const rows = (await logits.array()) as number[][];
    tf.dispose([ids, hidden, logits]);
    return Array.from({ length: B }, (_, b) => rows.slice(b * T, (b + 1) * T));
  } finally {
    disposeParams(params);
  }
}

/** xft's logits [B][T][V] for the batch, from the run as xft loads it. */
async function xftLogits(record: RunRecord, batch: Batch): Promise<number[][][]> {
  const { params, config } = loadRunModel(record);
  return logitsOf(params, config, batch);
}

interface PyRequest {
  dir: string;
  adapter?: boolean;
  ids: number[][];
  attention_mask: number[][];
  texts?: string[];
}
interface PyResult {
  logits: number[][][];
  text_ids: number[][];
}

/** transformers' (and PEFT's) view of each export, in one Python process. */
function python(requests: PyRequest[]): PyResult[] {
  const file = path.join(work, `requests-${Date.now()}.json`);
  fs.writeFileSync(file, JSON.stringify(requests));
  const run = spawnSync(PYTHON, [path.join(ROOT, "scripts", "check-export.py"), file], { encoding: "utf8", maxBuffer: 1 << 30 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as PyResult[];
}

/** Largest |ours - theirs| over the real positions, relative to the largest |theirs| there. */
function relDiff(ours: number[][][], theirs: number[][][], mask: number[][]): number {
  let diff = 0;
  let scale = 0;
  mask.forEach((row, b) =>
    row.forEach((m, t) => {
      if (m !== 1) return;
      theirs[b][t].forEach((v, i) => {
        diff = Math.max(diff, Math.abs(ours[b][t][i] - v));
        scale = Math.max(scale, Math.abs(v));
      });
    }),
  );
  return diff / scale;
}

function request(dir: string, batch: Batch, extra: Partial<PyRequest> = {}): PyRequest {
  return { dir, ids: batch.ids, attention_mask: batch.mask, ...extra };
}

/** A copy of an export folder with one safetensors file's tensors changed. */
function mutated(
  dir: string,
  name: string,
  file: string,
  change: (tensorName: string, shape: number[], data: Float32Array) => Float32Array | undefined,
): string {
  const copy = path.join(work, name);
  fs.cpSync(dir, copy, { recursive: true });
  const { tensors } = loadSafetensors(path.join(copy, file));
  let changed = 0;
  for (const [tensorName, t] of tensors) {
    const data = change(tensorName, t.shape, t.data as Float32Array);
    if (data) {
      tensors.set(tensorName, { shape: t.shape, data });
      changed++;
    }
  }
  assert.ok(changed > 0, `the mutation of ${file} changed nothing`);
  saveSafetensors(path.join(copy, file), tensors, { format: "pt" });
  return copy;
}

const TEXTS = ["The cat sat on the mat.", "Premise: A man plays a guitar.\nScore: entailment", "  spaces,\tand numbers 12345!"];

let gptRun: RunRecord;
let loraRun: RunRecord;
before(async () => {
  if (skip) return;
  await initBackend({ quiet: true });
  gptRun = train();
  loraRun = train("--init", `hf:${fixtureDir("llama-gqa")}`, "--adapter", "lora");
});

test(
  "a full run of xft's GPT exports as gpt2: transformers' logits and tokenizer equal xft's; transposed Conv1D weights fail",
  { skip },
  async () => {
    const out = exportRun(gptRun, "full");
    for (const f of [
      "config.json",
      "model.safetensors",
      "tokenizer.json",
      "tokenizer_config.json",
      "special_tokens_map.json",
      "generation_config.json",
      "README.md",
    ]) {
      assert.ok(fs.existsSync(path.join(out, f)), `export has ${f}`);
    }
    const config = JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8"));
    assert.equal(config.model_type, "gpt2");
    const tok = XftTokenizer.load();
    const batch = paddedBatch(tok.special("<|pad|>"), gptRun.model.vocabSize);
    // GPT-2's only square Conv1D weights are the attention output projections; transposing them is what a
    // converter that forgot that Conv1D stores [in, out] would do to them.
    const noConv1d = mutated(out, "full-transposed", "model.safetensors", (name, shape, data) => {
      if (!/attn\.c_proj\.weight$/.test(name)) return undefined;
      const t = new Float32Array(data.length);
      for (let r = 0; r < shape[0]; r++) for (let c = 0; c < shape[1]; c++) t[c * shape[0] + r] = data[r * shape[1] + c];
      return t;
    });
    const [good, bad] = python([request(out, batch, { texts: TEXTS }), request(noConv1d, batch)]);
    const ours = await xftLogits(gptRun, batch);
    const diff = relDiff(ours, good.logits, batch.mask);
    console.log(`full gpt2 export: logits max relative difference ${diff.toExponential(2)}`);
    assert.ok(diff < TOLERANCE, `logits differ by ${diff}`);
    assert.deepEqual(
      good.text_ids,
      TEXTS.map((t) => tok.encode(t)),
      "AutoTokenizer gives xft's ids",
    );
    const badDiff = relDiff(ours, bad.logits, batch.mask);
    assert.ok(badDiff > 100 * TOLERANCE, `transposed Conv1D weights must break parity (differ by ${badDiff})`);
    const card = fs.readFileSync(path.join(out, "README.md"), "utf8");
    assert.match(card, /^---\nlibrary_name: "transformers"\n/);
    assert.match(card, /npx xft train --dataset esnli --condition label --seed 1 --profile ci/);
    assert.match(card, new RegExp(`\\| ${gptRun.metrics!.n} \\| ${gptRun.metrics!.accuracy.toFixed(3)} \\|`));
  },
);

test("a LoRA run on a tiny Llama exports as a PEFT adapter and merged; both equal xft's logits; a LoRA scale x2 fails", { skip }, async () => {
  const adapterOut = exportRun(loraRun, "adapter");
  const mergedOut = exportRun(loraRun, "merged", "--merged");
  const adapterConfig = JSON.parse(fs.readFileSync(path.join(adapterOut, "adapter_config.json"), "utf8"));
  assert.equal(adapterConfig.peft_type, "LORA");
  assert.equal(adapterConfig.r, loraRun.adapter!.rank);
  assert.equal(adapterConfig.fan_in_fan_out, false);
  assert.deepEqual(adapterConfig.target_modules, ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]);
  const { tensors } = loadSafetensors(path.join(adapterOut, "adapter_model.safetensors"));
  assert.deepEqual(tensors.get("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight")!.shape, [loraRun.adapter!.rank, 32]);
  assert.deepEqual(tensors.get("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight")!.shape, [16, loraRun.adapter!.rank]);
  const doubled = mutated(adapterOut, "adapter-doubled", "adapter_model.safetensors", (name, _shape, data) =>
    name.endsWith("lora_B.weight") ? data.map((v) => 2 * v) : undefined,
  );
  const tok = HfTokenizer.load(fixtureDir("llama-gqa"));
  const batch = paddedBatch(tok.padId ?? 0, loraRun.model.vocabSize);
  const [adapter, merged, bad, base] = python([
    request(adapterOut, batch, { adapter: true, texts: TEXTS }),
    request(mergedOut, batch, { texts: TEXTS }),
    request(doubled, batch, { adapter: true }),
    request(fixtureDir("llama-gqa"), batch),
  ]);
  const ours = await xftLogits(loraRun, batch);
  const adapterDiff = relDiff(ours, adapter.logits, batch.mask);
  const mergedDiff = relDiff(ours, merged.logits, batch.mask);
  console.log(`llama LoRA export: PEFT adapter ${adapterDiff.toExponential(2)}, merged ${mergedDiff.toExponential(2)} max relative difference`);
  assert.ok(adapterDiff < TOLERANCE, `PEFT adapter logits differ by ${adapterDiff}`);
  assert.ok(mergedDiff < TOLERANCE, `merged logits differ by ${mergedDiff}`);
  const expected = TEXTS.map((t) => tok.encode(t, { addSpecialTokens: true }));
  assert.deepEqual(adapter.text_ids, expected, "the adapter folder's tokenizer is the checkpoint's");
  assert.deepEqual(merged.text_ids, expected);
  // The adapter must move the logits well past the tolerance, or the scale mutation below would prove nothing.
  const adapterEffect = relDiff(ours, base.logits, batch.mask);
  assert.ok(adapterEffect > 10 * TOLERANCE, `the trained adapter changes the logits by only ${adapterEffect}`);
  const badDiff = relDiff(ours, bad.logits, batch.mask);
  assert.ok(badDiff > 5 * TOLERANCE, `a LoRA scale x2 must break parity (differs by ${badDiff})`);
  const card = fs.readFileSync(path.join(adapterOut, "README.md"), "utf8");
  assert.match(card, /library_name: "peft"/);
  assert.match(card, /--adapter lora --lora-rank 8/);
});

test(
  "xft export: a bad --run, an unfinished run, an existing folder and --merged on a full run are clear errors with nothing written",
  { skip },
  () => {
    const bad = xft("export", "--run", "no-such-run", "--runs-dir", runsDir, "--to", path.join(work, "bad"));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /no run "no-such-run"/);
    assert.ok(!fs.existsSync(path.join(work, "bad")));
    const stopped = path.join(work, "stopped-run");
    fs.cpSync(gptRun.dir, stopped, { recursive: true });
    const record = JSON.parse(fs.readFileSync(path.join(stopped, "run.json"), "utf8"));
    fs.writeFileSync(path.join(stopped, "run.json"), JSON.stringify({ ...record, status: "stopped", metrics: undefined }));
    const unfinished = xft("export", "--run", stopped, "--to", path.join(work, "unfinished"));
    assert.equal(unfinished.status, 1);
    assert.match(unfinished.stderr, /is not finished \(status stopped/);
    assert.ok(!fs.existsSync(path.join(work, "unfinished")));
    const existing = xft("export", "--run", gptRun.dir, "--to", work);
    assert.match(existing.stderr, /already exists/);
    const merged = xft("export", "--run", gptRun.dir, "--merged", "--to", path.join(work, "merged-full"));
    assert.match(merged.stderr, /--merged is for LoRA runs/);
    assert.deepEqual(
      fs.readdirSync(work).filter((f) => f.includes(".partial-")),
      [],
      "no staging folder is left behind",
    );
  },
);

test("xft logits --init hf:OUT on an exported run gives the numbers of --run on the run itself", { skip }, () => {
  const out = exportRun(gptRun, "full-for-logits");
  const text = "Premise: A dog runs.\nScore:";
  const read = (...from: string[]) => {
    const run = xft("logits", ...from, "--text", text, "--json", "--top", "10");
    assert.equal(run.status, 0, run.stderr);
    return JSON.parse(run.stdout) as { ids: number[]; top: [number, number][] };
  };
  const exported = read("--init", `hf:${out}`);
  const own = read("--run", gptRun.dir);
  assert.deepEqual(exported.ids, own.ids, "the exported tokenizer gives the run's ids");
  assert.deepEqual(
    exported.top.map(([id]) => id),
    own.top.map(([id]) => id),
  );
  const scale = Math.max(...own.top.map(([, lp]) => Math.abs(lp)));
  exported.top.forEach(([, lp], i) => assert.ok(Math.abs(lp - own.top[i][1]) <= TOLERANCE * scale, `log-prob ${i}: ${lp} vs ${own.top[i][1]}`));
});

test(
  "xft export --grid: LoRA runs on xft's base as PEFT adapters on the exported gpt2 base, equal to xft's logits; an index card; an unfinished grid writes nothing",
  { skip },
  async () => {
    const baseDir = path.join(work, "base-ci");
    const made = xft("pretrain", "--profile", "ci", "--out", baseDir);
    assert.equal(made.status, 0, made.stderr);
    const grid: GridSpec = {
      settings: settingsOf(["esnli"]),
      arms: [{ condition: "label" }, { condition: "label+expl" }],
      seeds: [1, 2],
      profile: gridProfile("ci").profile,
      start: { init: "base", base: baseDir, adapter: "lora" },
    };
    const records = await runGrid(expandGrid(grid), { runsDir });
    const out = path.join(work, "grid");
    const gridRequest = { grid, part: "explanations", startArgs: startArgs(grid.start!), runsDir };
    const result = await exportGrid(gridRequest, out);
    assert.deepEqual({ runs: result.runs, base: result.base }, { runs: 4, base: path.join(out, "base") });
    assert.deepEqual(fs.readdirSync(path.join(out, "runs")).sort(), records.map((r) => r.key).sort());
    for (const f of ["summary.csv", "differences.csv", "wins.csv", "runs.csv", "configs.json"])
      assert.ok(fs.existsSync(path.join(out, "results", f)), f);
    const index = fs.readFileSync(path.join(out, "README.md"), "utf8");
    for (const r of records) assert.ok(index.includes(`[${r.key}](runs/${r.key}/README.md)`), `the index links ${r.key}`);
    assert.match(index, /npx xft reproduce --profile ci --part explanations --init base --base \S+ --adapter lora/);

    // The base export and one adapter on it, in transformers and PEFT, against xft.
    const tok = XftTokenizer.load();
    const run = records[0];
    const batch = paddedBatch(tok.special("<|pad|>"), run.model.vocabSize);
    const adapterConfig = JSON.parse(fs.readFileSync(path.join(out, "runs", run.key, "adapter_config.json"), "utf8"));
    assert.equal(adapterConfig.base_model_name_or_path, path.join(out, "base"));
    assert.deepEqual(adapterConfig.target_modules, ["c_attn", "c_fc", "c_proj"]);
    const [base, adapter] = python([request(path.join(out, "base"), batch), request(path.join(out, "runs", run.key), batch, { adapter: true })]);
    const { parameters: _p, ...baseModel } = readBaseCard(baseDir).model;
    const baseOurs = await logitsOf(
      baseParams(checkBase(baseDir, baseModel as GptConfig, tok.hash), baseModel as GptConfig),
      baseModel as GptConfig,
      batch,
    );
    const runOurs = await xftLogits(run, batch);
    const baseDiff = relDiff(baseOurs, base.logits, batch.mask);
    const adapterDiff = relDiff(runOurs, adapter.logits, batch.mask);
    console.log(`grid export: base (gpt2) ${baseDiff.toExponential(2)}, PEFT adapter on it ${adapterDiff.toExponential(2)} max relative difference`);
    assert.ok(baseDiff < TOLERANCE, `base logits differ by ${baseDiff}`);
    assert.ok(adapterDiff < TOLERANCE, `adapter logits differ by ${adapterDiff}`);
    assert.ok(relDiff(runOurs, base.logits, batch.mask) > 10 * TOLERANCE, "the adapter moves the logits, so the adapter check means something");

    // Each run's card gives its arm over the grid's seeds: the mean of the two seeds' accuracies.
    const label = records.filter((r) => r.spec.condition === "label");
    const mean = (label[0].metrics!.accuracy + label[1].metrics!.accuracy) / 2;
    const card = fs.readFileSync(path.join(out, "runs", label[0].key, "README.md"), "utf8");
    assert.match(card, /## Test results of this arm over the grid's 2 seeds/);
    assert.ok(card.includes(`| 2 | ${mean.toFixed(3)} [`), `the card's arm mean is ${mean.toFixed(3)}`);

    const unfinished = path.join(work, "grid-unfinished");
    await assert.rejects(exportGrid({ ...gridRequest, grid: { ...grid, seeds: [1, 2, 3] } }, unfinished), /2 of 6 runs of the grid are not finished/);
    assert.ok(!fs.existsSync(unfinished));
  },
);
