/**
 * JupyterLab itself, as a user meets it: `npm run lab` (scripts/lab.sh) serves the project, headless Chromium opens
 * notebook 00 (a copy, under build/test/jupyterlab), runs all cells and waits for the kernel. Every chart must be
 * drawn, no cell may have an error or a stderr output with an error in it. Then the first chart cell runs again
 * (the session has already sent plotly.js, so that output comes without it), the notebook is saved and exported:
 * the page must still draw every chart. Screenshots go beside the copy.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, test } from "node:test";
import { type Page } from "playwright-core";
import { withChromium } from "../../src/export/page-check";
import { missingNotebookTools, PROJECT_ROOT, runInProjectEnv, shellQuote } from "./helpers";

const LAB = path.join(PROJECT_ROOT, ".venv-lab", "bin", "jupyter-lab");
const DIR = path.join(PROJECT_ROOT, "build", "test", "jupyterlab");
const NOTEBOOK = path.join(DIR, "00-quickstart.ipynb");
const PORT = 18_888 + (process.pid % 1000);
const TOKEN = `xft-e2e-${process.pid}`;
const RUN_ALL_TIMEOUT_MS = 10 * 60_000;

/** The server, started once; stopped when the tests end. */
let server: ReturnType<typeof spawn> | undefined;
let serverLog = "";
after(() => server?.kill("SIGTERM"));

async function startLab(): Promise<void> {
  server = spawn(
    "bash",
    [
      "scripts/lab.sh",
      "--profile",
      "ci",
      "--no-browser",
      `--port=${PORT}`,
      "--ServerApp.port_retries=0",
      `--IdentityProvider.token=${TOKEN}`,
      "--LabApp.expose_app_in_browser=True",
    ],
    { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  server.stdout!.on("data", (d) => (serverLog += d));
  server.stderr!.on("data", (d) => (serverLog += d));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const status = await fetch(`http://127.0.0.1:${PORT}/api/status?token=${TOKEN}`).catch(() => undefined);
    if (status?.ok) return;
    if (server.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`JupyterLab did not answer on port ${PORT}:\n${serverLog}`);
}

// What runs in the page, as expressions over JupyterLab's application object (exposed by expose_app_in_browser).
const NOTEBOOK_PANEL = "window.jupyterapp.shell.currentWidget";
const KERNEL_IDLE = `(() => { const k = ${NOTEBOOK_PANEL}?.sessionContext?.session?.kernel; return k?.status === "idle"; })()`;
/** Every code cell has run (none queued or running: those have no execution count), and the kernel is idle. */
const ALL_RUN = `(() => {
  const panel = ${NOTEBOOK_PANEL};
  const cells = panel.content.widgets.filter((c) => c.model.type === "code");
  return panel.sessionContext.session.kernel.status === "idle" && cells.every((c) => c.model.executionCount !== null);
})()`;
/** Each output of the notebook as saved: [cell index, output_type, stream name, text, has a chart]. */
const OUTPUTS = `${NOTEBOOK_PANEL}.content.model.toJSON().cells.flatMap((cell, i) => (cell.outputs ?? []).map((o) => ({
  cell: i, type: o.output_type, name: o.name ?? null, text: [].concat(o.text ?? o.evalue ?? "").join(""),
  chart: Boolean(o.data && o.data["application/vnd.plotly.v1+json"]) })))`;
const CHARTS_DRAWN = `(() => {
  const divs = Array.from(document.querySelectorAll(".jp-OutputArea-output .plotly-graph-div"));
  return { total: divs.length, drawn: divs.filter((d) => d.querySelector(".main-svg")).length };
})()`;

interface Output {
  cell: number;
  type: string;
  name: string | null;
  text: string;
  chart: boolean;
}

async function run(page: Page, command: string): Promise<void> {
  await page.evaluate(`window.jupyterapp.commands.execute(${JSON.stringify(command)})`);
}

test(
  "npm run lab: notebook 00 runs all in JupyterLab, draws every chart, and still exports after a chart cell re-runs",
  { skip: missingNotebookTools() },
  async () => {
    assert.ok(fs.existsSync(LAB), `JupyterLab is not installed at ${LAB}: bash scripts/setup.sh installs it`);
    fs.rmSync(DIR, { recursive: true, force: true });
    fs.mkdirSync(DIR, { recursive: true });
    fs.copyFileSync(path.join(PROJECT_ROOT, "notebooks", "00-quickstart.ipynb"), NOTEBOOK);
    const started = Date.now();
    await startLab();
    await withChromium(async (browser) => {
      const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      // The page may talk to its own server only: no news feed, no CDN, nothing else.
      const outside: string[] = [];
      await context.route(
        (url) => !url.href.startsWith(`http://127.0.0.1:${PORT}/`),
        (route) => {
          outside.push(route.request().url());
          return route.abort();
        },
      );
      const page = await context.newPage();
      const url = `http://127.0.0.1:${PORT}/lab/tree/${path.relative(PROJECT_ROOT, NOTEBOOK)}?reset&token=${TOKEN}`;
      await page.goto(url);
      // The kernel of the notebook's own kernelspec (tslab) starts without a dialog.
      await page.waitForFunction(KERNEL_IDLE, undefined, { timeout: 120_000 });
      await run(page, "notebook:run-all-cells");
      await page.waitForFunction(ALL_RUN, undefined, { timeout: RUN_ALL_TIMEOUT_MS, polling: 500 });
      await page.screenshot({ path: path.join(DIR, "run-all.png"), fullPage: true });

      const outputs = await page.evaluate<Output[]>(OUTPUTS);
      const errors = outputs.filter((o) => o.type === "error" || (o.name === "stderr" && /error/i.test(o.text)));
      assert.deepEqual(errors, [], "no error output");
      const chartCells = [...new Set(outputs.filter((o) => o.chart).map((o) => o.cell))];
      assert.ok(chartCells.length >= 2, `notebook 00 draws its charts (${chartCells.length} chart cells)`);
      await page
        .waitForFunction(`${CHARTS_DRAWN}.drawn === ${outputs.filter((o) => o.chart).length}`, undefined, { timeout: 30_000 })
        .catch(async () => assert.fail(`charts drawn: ${JSON.stringify(await page.evaluate(CHARTS_DRAWN))}`));

      // The first chart cell again: this session sent plotly.js already, so its new output holds only the figure.
      await page.evaluate(`${NOTEBOOK_PANEL}.content.activeCellIndex = ${chartCells[0]}`);
      await run(page, "notebook:run-cell");
      await page.waitForFunction(ALL_RUN, undefined, { timeout: 120_000, polling: 500 });
      await run(page, "docmanager:save");
      await page.waitForFunction(`${NOTEBOOK_PANEL}.context.model.dirty === false`, undefined, { timeout: 30_000 });
      await page.screenshot({ path: path.join(DIR, "re-run-first-chart.png"), fullPage: true });
      assert.deepEqual(outside, [], "requests from the page beyond its server");
    });
    const saved = JSON.parse(fs.readFileSync(NOTEBOOK, "utf8"));
    assert.ok(
      saved.cells.some((c: { outputs?: unknown[] }) => (c.outputs ?? []).length > 0),
      "the saved copy has its outputs",
    );
    const exported = runInProjectEnv(`node bin/xft.cjs export-notebook --executed ${shellQuote(NOTEBOOK)}`);
    assert.equal(exported.code, 0, `${exported.stdout}${exported.stderr}`);
    assert.match(exported.stdout, /\(\d+ chart\(s\) drawn offline/);
    process.stdout.write(
      `# JupyterLab run all, re-run, save and export: ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${path.relative(PROJECT_ROOT, DIR)}\n`,
    );
  },
);
