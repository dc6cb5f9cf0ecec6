/**
 * Every notebook in notebooks/ runs headless in a real tslab kernel with the `ci` profile, its HTML export
 * draws every chart in Chromium with the network blocked, and notebook-specific outputs are checked.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { checkHtml, executeNotebook, exportHtml, missingNotebookTools, NotebookCell, PROJECT_ROOT, readOutputs } from "./helpers";

const PLOTLY = "application/vnd.plotly.v1+json";

/** What each notebook must show, beyond running and drawing its charts. */
const EXPECTATIONS: Record<string, (cells: NotebookCell[]) => void> = {
  "00-quickstart.ipynb": (cells) => {
    const outputs = cells.flatMap((c) => c.outputs);
    const html = outputs.map((o) => String(o.data?.["text/html"] ?? ""));
    const metrics = html.find((h) => h.includes("test metrics by condition"));
    assert.ok(metrics, "the accuracy table is shown");
    assert.match(metrics, />label</, "the accuracy table has the label condition");
    assert.match(metrics, />label\+expl</, "the accuracy table has the label+expl condition");
    assert.match(metrics, /accuracy/);
    assert.ok(outputs.filter((o) => o.data?.[PLOTLY]).length >= 2, "loss curves and accuracy chart are Plotly outputs");
    const timing = outputs.find((o) => o.name === "stdout" && o.text?.includes("notebook wall time"));
    assert.ok(timing, "the notebook says how long it took");
    assert.ok(!outputs.some((o) => o.name === "stderr" && /Error/.test(o.text ?? "")), "no error on stderr");
  },
};

const notebooks = fs.readdirSync(path.join(PROJECT_ROOT, "notebooks")).filter((f) => f.endsWith(".ipynb")).sort();

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
});
