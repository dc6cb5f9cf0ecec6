/**
 * Every notebook in notebooks/ runs headless in a real tslab kernel with the `ci` profile, its HTML export
 * draws every chart in Chromium with the network blocked, and notebook-specific outputs are checked.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { SWIFTSHADER_ICD } from "../../src/backend/dawn";
import { datasetNames } from "../../src/data/load";
import { GRID_PROFILES, REAL_EXPLANATION_DATASETS } from "../../src/runs/grid";
import { PSEUDO_CONDITIONS } from "../../src/train/pseudo";
import { checkHtml, executeNotebook, exportHtml, missingNotebookTools, NotebookCell, NotebookOutput, PROJECT_ROOT, readOutputs } from "./helpers";

const PLOTLY = "application/vnd.plotly.v1+json";

/** The HTML of the table shown with this title (kernel-ext's `table` puts the title in front of the table). */
function shownTable(outputs: NotebookOutput[], title: string): string {
  const html = outputs.map((o) => String(o.data?.["text/html"] ?? "")).find((h) => h.includes(title));
  assert.ok(html, `a table titled "${title}" is shown`);
  return html;
}

function plotlyCount(outputs: NotebookOutput[]): number {
  return outputs.filter((o) => o.data?.[PLOTLY]).length;
}

/** What every notebook ends with: its wall time, and no error on the way. */
function assertTimedWithoutErrors(outputs: NotebookOutput[]): void {
  const timing = outputs.find((o) => o.name === "stdout" && o.text?.includes("notebook wall time"));
  assert.ok(timing, "the notebook says how long it took");
  assert.ok(!outputs.some((o) => o.name === "stderr" && /Error/.test(o.text ?? "")), "no error on stderr");
}

/** What each notebook must show, beyond running and drawing its charts. */
const EXPECTATIONS: Record<string, (cells: NotebookCell[]) => void> = {
  "00-quickstart.ipynb": (cells) => {
    const outputs = cells.flatMap((c) => c.outputs);
    const metrics = shownTable(outputs, "test metrics by condition");
    assert.match(metrics, />label</, "the accuracy table has the label condition");
    assert.match(metrics, />label\+expl</, "the accuracy table has the label+expl condition");
    assert.match(metrics, /accuracy/);
    assert.ok(plotlyCount(outputs) >= 2, "loss curves and accuracy chart are Plotly outputs");
    assertTimedWithoutErrors(outputs);
  },
  "01-data.ipynb": (cells) => {
    const outputs = cells.flatMap((c) => c.outputs);
    const sources = datasetNames(PROJECT_ROOT).filter((name) => name.startsWith("conv-"));
    assert.equal(sources.length, 6, "six benchmark sources");
    const labels = shownTable(outputs, "label distribution of the conversation benchmark");
    const agreement = shownTable(outputs, "agreement of the teacher's raters per source and dimension");
    for (const source of sources) {
      assert.ok(labels.includes(`>${source}<`), `the label table has ${source}`);
      assert.ok(agreement.includes(`>${source}<`), `the agreement table has ${source}`);
    }
    for (const dimension of ["naturalness", "comprehensiveness", "on-topic"]) assert.ok(agreement.includes(`>${dimension}<`), dimension);
    const lengths = shownTable(outputs, "explanation length in tokens");
    for (const dataset of ["esnli", "feedbackqa", "autoj"]) assert.ok(lengths.includes(`>${dataset}<`), `the length table has ${dataset}`);
    const people = shownTable(outputs, "teacher label against USR's mean human rating");
    assert.match(people, />Natural</);
    assert.match(people, />Maintains Context</);
    const pseudo = shownTable(outputs, "pseudo-explanation examples");
    for (const condition of ["label+expl", ...PSEUDO_CONDITIONS]) assert.ok(pseudo.includes(`>${condition}<`), `the examples show ${condition}`);
    assert.ok(plotlyCount(outputs) >= 5, "label shares (2), explanation lengths, agreement heatmap and teacher vs people are Plotly outputs");
    assert.ok(
      outputs.some((o) => o.name === "stdout" && o.text?.startsWith("profile ci:")),
      "the notebook says which profile ran",
    );
    assertTimedWithoutErrors(outputs);
  },
  "02-explanations-vs-labels.ipynb": (cells) => {
    const outputs = cells.flatMap((c) => c.outputs);
    const summary = shownTable(outputs, "test metrics per setting and condition");
    for (const dataset of [...(GRID_PROFILES.ci.sources as string[]), ...REAL_EXPLANATION_DATASETS]) {
      assert.ok(summary.includes(`>${dataset}<`), `the summary has ${dataset}`);
    }
    for (const column of ["accuracy_mean", "macro_f1_mean", "mae_mean", "qwk_mean", "ece_mean", "brier_mean"])
      assert.ok(summary.includes(column), column);
    const differences = shownTable(outputs, "label+expl minus label");
    assert.match(differences, />label\+expl</);
    assert.match(differences, /diff_lo/);
    const wins = shownTable(outputs, "settings where label+expl beats label");
    assert.match(wins, />label\+expl</);
    assert.ok(
      outputs.some((o) => o.name === "stdout" && /label\+expl: higher mean accuracy than label in \d+ of \d+ settings/.test(o.text ?? "")),
      "the wins are said in words",
    );
    assert.ok(plotlyCount(outputs) >= 2, "accuracy per setting and the forest plot are Plotly outputs");
    assertTimedWithoutErrors(outputs);
  },
  "03-pseudo-explanations.ipynb": (cells) => {
    const outputs = cells.flatMap((c) => c.outputs);
    const wins = shownTable(outputs, "settings where each condition beats label");
    for (const condition of ["label+expl", "expl+label", ...PSEUDO_CONDITIONS])
      assert.ok(wins.includes(`>${condition}<`), `the wins table has ${condition}`);
    const budgets = shownTable(outputs, "label+expl against label, by explanation budget");
    for (const budget of [0, 8, 16, 32]) assert.ok(budgets.includes(`>${budget}<`), `budget ${budget}`);
    assert.ok(
      outputs.some((o) => o.name === "stdout" && /expl\+label: higher mean accuracy than label in \d+ of \d+ settings/.test(o.text ?? "")),
      "label first against explanation first is said in words",
    );
    assert.ok(plotlyCount(outputs) >= 3, "differences, the budget curve and the order comparison are Plotly outputs");
    assertTimedWithoutErrors(outputs);
  },
  "04-inside-the-model.ipynb": (cells) => {
    const outputs = cells.flatMap((c) => c.outputs);
    const findings = shownTable(outputs, "the paper's internal findings");
    for (const quantity of ["intermediate_hidden_entropy", "output_entropy", "overconfidence"])
      assert.ok(findings.includes(`>${quantity}<`), quantity);
    for (const condition of ["label+expl", "expl+label", ...PSEUDO_CONDITIONS])
      assert.ok(findings.includes(`>${condition}<`), `the findings have ${condition}`);
    const sharpness = shownTable(outputs, "output sharpness and the first top-1 point");
    for (const measure of ["first_top1_point", "output_entropy", "output_max_prob"]) assert.ok(sharpness.includes(`>${measure}<`), measure);
    assert.ok(
      outputs.some(
        (o) =>
          o.name === "stdout" &&
          /label\+expl vs label, hidden-state entropy at the intermediate points: higher in \d+ of \d+ settings/.test(o.text ?? ""),
      ),
      "the first finding is said in words",
    );
    assert.ok(
      plotlyCount(outputs) >= 8,
      "three layer curves, one setting's curve, three lens heatmaps and the reliability diagram are Plotly outputs",
    );
    assertTimedWithoutErrors(outputs);
  },
  "05-base-and-lora.ipynb": (cells) => {
    const outputs = cells.flatMap((c) => c.outputs);
    const base = shownTable(outputs, "the base model");
    for (const column of ["parameters", "corpus_tokens", "tokens_seen", "held_out_perplexity", "wall_s"])
      assert.ok(base.includes(`>${column}<`), column);
    const effect = shownTable(outputs, "label+expl against label, per start");
    for (const start of ["scratch", "base", "base+lora"]) assert.ok(effect.includes(`>${start}<`), `the effect table has ${start}`);
    for (const start of ["scratch", "base", "base\\+lora"]) {
      assert.ok(
        outputs.some(
          (o) => o.name === "stdout" && new RegExp(`^${start}: label\\+expl beats label in \\d+ of \\d+ settings`, "m").test(o.text ?? ""),
        ),
        `${start} is said in words`,
      );
    }
    assert.ok(plotlyCount(outputs) >= 3, "the pretraining loss, label's accuracy by start and the differences by start are Plotly outputs");
    assertTimedWithoutErrors(outputs);
  },
  "06-bring-your-own-model.ipynb": (cells) => {
    const outputs = cells.flatMap((c) => c.outputs);
    const card = shownTable(outputs, "the checkpoint");
    for (const column of ["model", "kv_heads", "parameters", "tokenizer_vocabulary"]) assert.ok(card.includes(`>${column}<`), column);
    assert.match(card, />llama</, "the default checkpoint is the test set-up's tiny Llama");
    const reads = shownTable(outputs, "what the model reads");
    assert.match(reads, /Score:/, "the plain-text template, not special tokens");
    assert.ok(!reads.includes("&lt;|score|&gt;"));
    const metrics = shownTable(outputs, "test metrics by condition and seed");
    assert.match(metrics, />label\+expl</);
    assert.ok(plotlyCount(outputs) >= 4, "accuracy, loss curves and two probe curves are Plotly outputs");
    assertTimedWithoutErrors(outputs);
  },
};

const notebooks = fs
  .readdirSync(path.join(PROJECT_ROOT, "notebooks"))
  .filter((f) => f.endsWith(".ipynb"))
  .sort();

test("notebooks are committed without outputs", () => {
  for (const name of notebooks) {
    const nb = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "notebooks", name), "utf8"));
    for (const cell of nb.cells) assert.equal((cell.outputs ?? []).length, 0, `${name} has outputs`);
  }
});

describe("notebooks run with the ci profile", { skip: missingNotebookTools() }, () => {
  const outDir = path.join(PROJECT_ROOT, "build", "test", "notebooks");
  // Fresh runs: a reused run folder would not exercise training.
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), "xft-nb-runs-"));
  for (const name of notebooks) {
    test(name, () => {
      const executed = executeNotebook(`notebooks/${name}`, outDir, { XFT_PROFILE: "ci", XFT_RUNS_DIR: runsDir });
      const cells = readOutputs(executed);
      for (const cell of cells.filter((c) => c.cellType === "code")) {
        assert.notEqual(cell.executionCount, null, `${name}: cell ${cell.index} did not run`);
      }
      EXPECTATIONS[name]?.(cells);
      const figures = cells.flatMap((c) => c.outputs).filter((o) => o.data?.[PLOTLY]).length;
      checkHtml(exportHtml(executed), figures);
    });
  }
  // The quickstart once more on the webgpu backend, on SwiftShader where no GPU is at hand: the model's WGSL kernels,
  // tfjs's webgpu programs and the asynchronous reads the library does on every path a notebook takes.
  test("00-quickstart.ipynb on the webgpu backend", { skip: !fs.existsSync(SWIFTSHADER_ICD) && "no SwiftShader (Debian's chromium)" }, () => {
    const webgpuOut = path.join(outDir, "webgpu");
    const webgpuRuns = fs.mkdtempSync(path.join(os.tmpdir(), "xft-nb-webgpu-"));
    const executed = executeNotebook("notebooks/00-quickstart.ipynb", webgpuOut, {
      XFT_PROFILE: "ci",
      XFT_RUNS_DIR: webgpuRuns,
      XFT_BACKEND: "webgpu",
    });
    const cells = readOutputs(executed);
    EXPECTATIONS["00-quickstart.ipynb"](cells);
    const outputs = cells.flatMap((c) => c.outputs);
    assert.ok(
      outputs.some((o) => o.name === "stdout" && /notebook wall time .*backend webgpu\)/.test(o.text ?? "")),
      "the notebook ran on webgpu",
    );
    assert.ok(
      outputs.some((o) => /GPU.*swiftshader/i.test(String(o.data?.["text/html"] ?? ""))),
      "the banner names the adapter",
    );
    fs.rmSync(webgpuRuns, { recursive: true, force: true });
  });
  test("the supplement's index links every executed notebook, the config of every run they used and the exported model cards, and opens offline", () => {
    // Notebook 05's LoRA runs exported as scripts/main.sh exports them.
    const models = path.join(outDir, "models");
    fs.rmSync(models, { recursive: true, force: true });
    const exported = spawnSync(
      process.execPath,
      [
        "bin/xft.cjs",
        "export",
        "--grid",
        "--profile",
        "ci",
        "--part",
        "explanations",
        "--init",
        "base",
        "--adapter",
        "lora",
        "--runs-dir",
        runsDir,
        "--to",
        models,
      ],
      { cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, XFT_RUNS_DIR: runsDir, TF_CPP_MIN_LOG_LEVEL: "2" } },
    );
    assert.equal(exported.status, 0, exported.stderr);
    const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/write-supplement.ts", outDir], {
      cwd: PROJECT_ROOT,
      encoding: "utf8",
      env: { ...process.env, XFT_PROFILE: "ci", XFT_RUNS_DIR: runsDir, TF_CPP_MIN_LOG_LEVEL: "2" },
    });
    assert.equal(r.status, 0, r.stderr);
    const index = fs.readFileSync(path.join(outDir, "index.html"), "utf8");
    for (const name of notebooks) assert.ok(index.includes(`href="${name.replace(/\.ipynb$/, ".html")}"`), `the index links ${name}`);
    const runs = fs.readdirSync(runsDir).filter((key) => fs.existsSync(path.join(runsDir, key, "run.json")));
    assert.ok(runs.length > 0);
    for (const key of runs)
      assert.ok(
        fs.existsSync(path.join(outDir, "runs", `${key}.json`)) && index.includes(`href="runs/${key}.json"`),
        `run ${key} is in the supplement`,
      );
    assert.match(index, /<h2>Environment<\/h2>/);
    assert.ok(index.includes('href="models/README.md"'), "the index links the exported grid's card");
    const cards = fs.readdirSync(path.join(models, "runs"));
    assert.ok(cards.length > 0 && cards.every((key) => index.includes(`href="models/runs/${key}/README.md"`)), "every exported run's card is linked");
    checkHtml(path.join(outDir, "index.html"));
  });
});
