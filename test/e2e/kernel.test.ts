/**
 * The notebook stack end to end: the tslab kernel speaks the Jupyter protocol (with its known gaps), reports errors
 * as errors, and the kernel-ext display helpers survive the whole path a notebook takes: executed headlessly, saved,
 * exported to HTML and opened offline in Chromium.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import {
  checkHtml,
  executeNotebook,
  exportHtml,
  missingNotebookTools,
  type NotebookCell,
  type NotebookOutput,
  PROJECT_ROOT,
  readOutputs,
  runInProjectEnv,
  shellQuote,
} from "./helpers";
import { createConverter } from "tslab/dist/converter";
import { validateExample } from "../../src/data/schema";

const FIXTURE = "test/fixtures/display-demo.ipynb";
const OUT_DIR = "build/test/display-demo";
const PLOTLY_MIME = "application/vnd.plotly.v1+json";
const skip = missingNotebookTools() ?? false;

function cellRunning(cells: NotebookCell[], code: string): NotebookCell {
  const cell = cells.find((c) => c.cellType === "code" && c.source.includes(code));
  assert.ok(cell, `no cell runs ${code}`);
  return cell;
}

function displays(cell: NotebookCell): NotebookOutput[] {
  return cell.outputs.filter((output) => output.output_type === "display_data");
}

describe("tslab kernel protocol", { skip }, () => {
  it("passes jupyter_kernel_test, tslab's known gaps as expected failures", () => {
    // Run as a script: `python -m unittest test/kernel/...` would import the standard library's `test` package.
    const result = runInProjectEnv("$PY test/kernel/test_tslab_kernel.py", { timeoutMs: 3 * 60_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stderr, /^OK \(skipped=\d+, expected failures=\d+\)$/m);
  });
});

describe("display helpers in an executed notebook", { skip }, () => {
  let cells: NotebookCell[];
  let executed: string;

  before(() => {
    fs.rmSync(path.join(PROJECT_ROOT, OUT_DIR), { recursive: true, force: true });
    // The banner in the fixture reads the profile from the kernel's environment.
    executed = executeNotebook(FIXTURE, OUT_DIR, { XFT_PROFILE: "e2e-profile" });
    cells = readOutputs(executed);
  });

  it("numbers every code cell", () => {
    const numbers = cells.filter((c) => c.cellType === "code").map((c) => c.executionCount);
    assert.deepEqual(numbers, [1, 2, 3, 4, 5, 6]);
  });

  it("shows each chart as one output with plotly JSON, HTML and text", () => {
    const charts = cells.flatMap(displays).filter((output) => output.data?.[PLOTLY_MIME] !== undefined);
    assert.equal(charts.length, 2);
    for (const chart of charts) {
      assert.deepEqual(Object.keys(chart.data ?? {}).sort(), [PLOTLY_MIME, "text/html", "text/plain"]);
      assert.ok(Array.isArray((chart.data?.[PLOTLY_MIME] as { data?: unknown }).data), "plotly JSON is an object");
    }
    const htmlSizes = charts.map((chart) => String(chart.data?.["text/html"]).length);
    assert.ok(htmlSizes[0]! > 1_000_000 && htmlSizes[1]! < 10_000, `plotly.js inlined once: ${htmlSizes}`);
  });

  it("shows the arquero table as HTML with formatted numbers", () => {
    const [output] = displays(cellRunning(cells, "table("));
    const html = String(output?.data?.["text/html"]);
    assert.match(html, /<table/);
    assert.ok(html.includes(">loss</th>") && html.includes(">2.718</td>"), html);
  });

  it("leaves one progress output, in its final state", () => {
    const outputs = cellRunning(cells, "progressBar(").outputs;
    assert.equal(outputs.length, 1, JSON.stringify(outputs));
    assert.match(String(outputs[0]?.data?.["text/plain"]), /^fixture steps \[#+\] 20\/20 \(100%\) · .* · finished$/);
    assert.match(String(outputs[0]?.data?.["text/html"]), /class="xft-progress"/);
  });

  it("shows the banner with the kernel's environment", () => {
    const [output] = displays(cellRunning(cells, "banner("));
    const text = String(output?.data?.["text/plain"]);
    assert.match(text, /^backend +cpu \(1 thread\)$/m);
    assert.match(text, /^profile +e2e-profile$/m, "XFT_PROFILE reaches the kernel");
    assert.match(text, /^tslab +1\.0\.22 \(TypeScript 5\.0\.4\)$/m);
  });

  it("exports to HTML whose charts draw with the network blocked", () => {
    const html = exportHtml(executed);
    const summary = checkHtml(html, 2);
    assert.match(summary, /2\/2 charts drawn, 0 request\(s\) refused/);
    assert.ok(fs.existsSync(path.join(PROJECT_ROOT, html.replace(/\.html$/, ".png"))), "screenshot written");
  });
});

describe("tslab kernel under a flood of outputs", { skip }, () => {
  it("finishes a cell that writes faster than the event loop turns, and runs the next cell", () => {
    // Unpatched tslab 1.0.22 throws zeromq's "Socket is busy writing" here and never finishes the cell.
    const executed = executeNotebook("test/fixtures/output-flood.ipynb", "build/test/output-flood", {}, 3 * 60_000);
    const cells = readOutputs(executed);
    // A PUB socket drops what exceeds its high-water mark, so not every line arrives; the cell must finish.
    const flood = cellRunning(cells, "flood sent");
    assert.notEqual(flood.executionCount, null);
    assert.ok(
      flood.outputs.some((o) => o.name === "stdout"),
      "some of the flood arrives",
    );
    assert.match(
      cellRunning(cells, "next cell ran")
        .outputs.map((o) => o.text ?? "")
        .join(""),
      /next cell ran/,
    );
  });
});

/** What test/kernel/run_cells.py reports for one cell: its execute_reply and its iopub outputs. */
interface CellRun {
  status: string;
  ename: string | null;
  evalue: string | null;
  traceback: string[] | null;
  outputs: Array<{ type: string; name?: string; text?: string; ename?: string; evalue?: string; traceback?: string[] }>;
}

/** Runs the cells in one fresh kernel as Run All does: every request sent at once, stop_on_error set. */
function runAll(sources: string[]): CellRun[] {
  const result = runInProjectEnv(`$PY test/kernel/run_cells.py ${sources.map(shellQuote).join(" ")}`, {
    timeoutMs: 5 * 60_000,
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return JSON.parse(result.stdout) as CellRun[];
}

function streamText(run: CellRun, name: "stdout" | "stderr"): string {
  return run.outputs
    .filter((o) => o.type === "stream" && o.name === name)
    .map((o) => o.text)
    .join("");
}

/** 1-based number of the only line of `file` (relative to the project) that contains `text`. */
function lineOf(file: string, text: string): number {
  const lines = fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8").split("\n");
  const found = lines.flatMap((line, i) => (line.includes(text) ? [i + 1] : []));
  assert.equal(found.length, 1, `${JSON.stringify(text)} in ${file}: lines ${found}`);
  return found[0]!;
}

describe("errors in a Run All", { skip }, () => {
  const where = { file: "mine.jsonl", line: 3 };
  // The library's own error for this row, computed here so that the test follows the validator's checks.
  const expected = (() => {
    try {
      validateExample({}, where);
    } catch (e) {
      return e as Error;
    }
    return assert.fail("validateExample({}) did not throw");
  })();
  let runs: CellRun[];

  before(() => {
    runs = runAll([
      'import { initBackend } from "./src/backend/engine";\nconst backend = await initBackend({ requested: "cpu" });',
      'import { validateExample } from "./src/data/schema";\n' + `const where = ${JSON.stringify(where)};\n` + "validateExample({}, where);",
      'console.log("the cell after the error ran");',
    ]);
  });

  it("writes the backend's informational line to stdout, where Jupyter does not draw it red", () => {
    const [backendCell] = runs;
    assert.equal(backendCell!.status, "ok", JSON.stringify(backendCell));
    assert.match(streamText(backendCell!, "stdout"), /^xft: backend cpu \(/m);
    assert.equal(streamText(backendCell!, "stderr"), "");
  });

  it("sends a library error as an error message whose traceback points at the .ts lines", () => {
    const failed = runs[1]!;
    assert.equal(failed.status, "error");
    assert.deepEqual([failed.ename, failed.evalue], [expected.name, expected.message]);
    const errors = failed.outputs.filter((o) => o.type === "error");
    assert.equal(errors.length, 1, JSON.stringify(failed.outputs));
    assert.deepEqual(errors[0], { type: "error", ename: failed.ename, evalue: failed.evalue, traceback: failed.traceback });
    assert.equal(streamText(failed, "stderr"), "", "no red stderr copy of the error");
    const traceback = failed.traceback!;
    assert.equal(traceback[0], `${expected.name}: ${expected.message}`);
    const throwLine = lineOf("src/data/schema.ts", "throw new DataError(this.where.file");
    assert.match(traceback[1]!, new RegExp(`^    at RowChecker\\.fail \\(src/data/schema\\.ts:${throwLine}:\\d+\\)$`));
    assert.match(traceback.at(-1)!, /^    at cell \[2\]:3:\d+$/, "the cell's own line 3");
    const compiled = traceback.filter((line) => /tslab|\.js:|node:|outDir/.test(line));
    assert.deepEqual(compiled, [], "no tslab, Node or compiled-JavaScript frames");
  });

  it("aborts the cells queued behind the failed one", () => {
    const later = runs[2]!;
    assert.equal(later.status, "aborted");
    assert.deepEqual(later.outputs, []);
  });
});

describe("tslab's compiler while project files change", () => {
  it("compiles a later cell against a module written after a cell failed to import it", async () => {
    // TypeScript's watch program schedules timers of its own when a file appears where a failed import looked;
    // unpatched tslab failed every later cell with "clearing unexpected tiemr" until the kernel restarted.
    const dir = path.join(PROJECT_ROOT, "build/test/kernel-late-module");
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const cell = 'import { late } from "./build/test/kernel-late-module/late";\nconst seen = late;';
    const converter = createConverter(); // compiles relative to the process's cwd, the project root
    try {
      assert.match(converter.convert("", cell).diagnostics[0]?.messageText ?? "", /Cannot find module/);
      fs.writeFileSync(path.join(dir, "late.ts"), "export const late = 42;\n");
      // The watchers poll: until one fires, the module is still missing for the compiler.
      let result = converter.convert("", cell);
      for (const deadline = Date.now() + 20_000; result.diagnostics.length > 0 && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        result = converter.convert("", cell);
      }
      assert.deepEqual(result.diagnostics, []);
      const late = result.sideOutputs?.find((output) => output.path === path.join(dir, "late.js"));
      assert.match(late?.data ?? "", /late = 42/);
    } finally {
      converter.close();
    }
  });
});

describe("a later cell's names for an earlier cell's variables", { skip }, () => {
  it("reads `{ profile }` as `{ profile: profile }`, and leaves a local of the same name alone", () => {
    // Unpatched tslab rewrote the name but not the shorthand: "ReferenceError: profile is not defined".
    const [, shorthand, shadowed] = runAll([
      'const profile = "ci";',
      "console.log(JSON.stringify({ profile, other: 1 }));",
      "function local() { const profile = 2; return { profile }; }\nconsole.log(JSON.stringify(local()));",
    ]);
    assert.equal(shorthand!.status, "ok", JSON.stringify(shorthand));
    assert.equal(streamText(shorthand!, "stdout"), '{"profile":"ci","other":1}\n');
    assert.equal(streamText(shadowed!, "stdout"), '{"profile":2}\n');
  });
});
