/**
 * A saved notebook whose first chart output lost plotly.js (its cell re-run in a live session, which inlines the
 * library only once per session) still exports to a page that draws every chart offline (xft export-notebook).
 * Before the fix the page said "plotly.js is not on this page" for every chart.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { createFigureBundler, type PlotlyFigure } from "../../kernel-ext/plotly";
import { checkHtml, exportHtml, missingNotebookTools, PROJECT_ROOT, runInProjectEnv, shellQuote } from "./helpers";

/** A saved notebook of chart outputs (and any other display outputs), written under build/test/standalone-charts. */
function writeNotebook(name: string, outputs: Array<Record<string, unknown>>): string {
  const notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
    cells: outputs.map((data, i) => ({
      cell_type: "code",
      id: `c${i}`,
      metadata: {},
      execution_count: i + 1,
      source: [`show(chart${i})`],
      outputs: [{ output_type: "display_data", metadata: {}, data }],
    })),
  };
  const dir = path.join(PROJECT_ROOT, "build", "test", "standalone-charts");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.ipynb`);
  fs.rmSync(file.replace(/\.ipynb$/, ".html"), { force: true });
  fs.writeFileSync(file, JSON.stringify(notebook));
  return file;
}

test("a notebook whose first chart has no plotly.js exports to a page that draws every chart", { skip: missingNotebookTools() }, () => {
  const bundleFor = createFigureBundler();
  const figure = (title: string): PlotlyFigure => ({ data: [{ type: "scatter", x: [1, 2, 3], y: [3, 1, 2] }], layout: { title } });
  // As the session left it: the library went out with a chart that was drawn earlier and then replaced.
  const replaced = bundleFor(figure("drawn first, then replaced"));
  const charts = [bundleFor(figure("the re-run first chart")), bundleFor(figure("second")), bundleFor(figure("third"))];
  assert.ok(String(replaced["text/html"]).length > 1_000_000 && charts.every((c) => String(c["text/html"]).length < 10_000));
  const file = writeNotebook("rerun-first-chart", charts);
  checkHtml(exportHtml(file), 3);
  const saved = JSON.parse(fs.readFileSync(file, "utf8"));
  const sizes = saved.cells.map((c: { outputs: Array<{ data: Record<string, string> }> }) => String(c.outputs[0].data["text/html"]).length);
  assert.ok(sizes[0] > 1_000_000 && sizes[1] < 10_000 && sizes[2] < 10_000, `the one copy of plotly.js is in the first chart (${sizes})`);
});

test(
  "a page on which a chart cannot draw is refused: no HTML is written, and the error says which check failed",
  { skip: missingNotebookTools() },
  () => {
    const bundleFor = createFigureBundler();
    // A chart's container whose drawing code is lost (an output trimmed by hand, say): nothing can draw it.
    const file = writeNotebook("undrawable", [
      bundleFor({ data: [{ type: "bar", x: [1], y: [2] }] }),
      { "text/html": '<div class="plotly-graph-div"></div>' },
    ]);
    const r = runInProjectEnv(`node bin/xft.cjs export-notebook --executed ${shellQuote(file)}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /undrawable\.html is not written: .*1 of 2 chart\(s\) not drawn/);
    assert.equal(fs.existsSync(file.replace(/\.ipynb$/, ".html")), false);
    assert.deepEqual(
      fs.readdirSync(path.dirname(file)).filter((f) => f.startsWith(".export-")),
      [],
      "no staging folder is left",
    );
  },
);

test(
  "--pdf prints the checked page with its charts to a PDF beside it; the page loads nothing from this machine",
  { skip: missingNotebookTools() },
  () => {
    const bundleFor = createFigureBundler();
    const file = writeNotebook("printed", [bundleFor({ data: [{ type: "scatter", x: [1, 2], y: [2, 1] }], layout: { title: "printed" } })]);
    const r = runInProjectEnv(`node bin/xft.cjs export-notebook --executed --pdf ${shellQuote(file)}`);
    assert.equal(r.code, 0, r.stderr);
    const html = fs.readFileSync(file.replace(/\.ipynb$/, ".html"), "utf8");
    const loads = html.match(/<(?:script|link)\b[^>]*\b(?:src|href)="[^"]*"/g) ?? [];
    assert.deepEqual(loads, [], "no script or stylesheet from a machine path or the network");
    const pdf = fs.readFileSync(file.replace(/\.ipynb$/, ".pdf"));
    assert.equal(pdf.subarray(0, 5).toString(), "%PDF-");
    assert.ok(pdf.length > 10_000, `a page with a drawn chart (${pdf.length} bytes)`);
  },
);
