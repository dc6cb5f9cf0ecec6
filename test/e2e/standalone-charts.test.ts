/**
 * A saved notebook whose first chart output lost plotly.js (its cell re-run in a live session, which inlines the
 * library only once per session) still exports to a page that draws every chart offline (scripts/export-html.sh,
 * scripts/standalone-charts.ts). Before the fix the page said "plotly.js is not on this page" for every chart.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { createFigureBundler, type PlotlyFigure } from "../../kernel-ext/plotly";
import { checkHtml, exportHtml, missingNotebookTools } from "./helpers";

const PROJECT_ROOT = path.resolve(__dirname, "../..");

test("a notebook whose first chart has no plotly.js exports to a page that draws every chart", { skip: missingNotebookTools() }, () => {
  const bundleFor = createFigureBundler();
  const figure = (title: string): PlotlyFigure => ({ data: [{ type: "scatter", x: [1, 2, 3], y: [3, 1, 2] }], layout: { title } });
  // As the session left it: the library went out with a chart that was drawn earlier and then replaced.
  const replaced = bundleFor(figure("drawn first, then replaced"));
  const charts = [bundleFor(figure("the re-run first chart")), bundleFor(figure("second")), bundleFor(figure("third"))];
  assert.ok(String(replaced["text/html"]).length > 1_000_000 && charts.every((c) => String(c["text/html"]).length < 10_000));
  const notebook = {
    nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
    cells: charts.map((data, i) => ({
      cell_type: "code", id: `c${i}`, metadata: {}, execution_count: i + 1, source: [`show(chart${i})`],
      outputs: [{ output_type: "display_data", metadata: {}, data }],
    })),
  };
  const dir = path.join(PROJECT_ROOT, "build", "test", "standalone-charts");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "rerun-first-chart.ipynb");
  fs.writeFileSync(file, JSON.stringify(notebook));
  checkHtml(exportHtml(file), 3);
  const saved = JSON.parse(fs.readFileSync(file, "utf8"));
  const sizes = saved.cells.map((c: { outputs: Array<{ data: Record<string, string> }> }) => String(c.outputs[0].data["text/html"]).length);
  assert.ok(sizes[0] > 1_000_000 && sizes[1] < 10_000 && sizes[2] < 10_000, `the one copy of plotly.js is in the first chart (${sizes})`);
});
