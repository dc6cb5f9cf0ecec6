/**
 * A notebook as a page that stands alone: executed with the chosen profile in the project's kernel
 * (scripts/run-notebooks.py), plotly.js put into its first chart output (kernel-ext/plotly.ts), rendered by Debian's
 * nbconvert, stripped of machine-specific scripts (notebook-page.ts), then opened in Chromium with nothing else
 * reachable (page-check.ts). A page on which a chart does not draw, or which loads anything from outside itself, is
 * refused: it is not written, and the error says why. With `pdf`, the drawn page is printed to PDF beside it.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { standaloneCharts } from "../../kernel-ext/plotly";
import { projectRoot } from "../data/load";
import { offlinePage } from "./notebook-page";
import { checkPage, pageCheckLine, withChromium } from "./page-check";

export interface NotebookExportOptions {
  /** Folder of the executed copies and their pages; default build/notebooks, or each notebook's own folder when `executed`. */
  out?: string;
  /** The notebooks are executed already (their outputs are the page): render them as they are. */
  executed?: boolean;
  /** XFT_PROFILE for the execution; default the environment's. */
  profile?: string;
  pdf?: boolean;
  /** One line per step done, for the terminal. */
  log?: (line: string) => void;
}

export interface ExportedNotebook {
  notebook: string;
  html: string;
  pdf?: string;
  charts: number;
  bytes: number;
  warnings: string[];
}

/**
 * Printed from the page as written, once its charts are drawn. Charts are drawn at the screen's width (page-check's
 * 1,200 px viewport), so the page is scaled to fit A4 rather than reflowed: a chart is never cut at the margin.
 */
const PDF_PAGE = { format: "A4", printBackground: true, scale: 0.6, margin: { top: "10mm", bottom: "10mm", left: "8mm", right: "8mm" } } as const;

/** A command in the project's Jupyter environment (scripts/env.sh: Debian's Python, the kernelspec, .jupyter/). */
function inProjectEnv(what: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync("bash", ["-c", `source scripts/env.sh && ${command} "$@"`, "xft", ...args], { cwd: projectRoot(), env, encoding: "utf8" });
  if (r.status !== 0) {
    const output = `${r.stdout}${r.stderr}`.trim().split("\n").slice(-30).join("\n");
    throw new Error(`${what} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${output}`);
  }
}

/** Executes `notebook` into `out` and returns the executed copy; a failed cell is an error naming it (the copy stays, to read). */
function execute(notebook: string, out: string, profile: string | undefined): string {
  const env = profile === undefined ? process.env : { ...process.env, XFT_PROFILE: profile };
  inProjectEnv(`executing ${notebook}`, "$PY scripts/run-notebooks.py --out", [path.resolve(out), path.resolve(notebook)], env);
  return path.join(out, path.basename(notebook));
}

/** nbconvert's page for an executed notebook, offline, in a staging folder beside `html`. */
function renderOffline(executed: string, html: string): { staged: string; charts: number; warnings: string[] } {
  const notebook = JSON.parse(fs.readFileSync(executed, "utf8"));
  const charts = standaloneCharts(notebook);
  if (charts > 0) fs.writeFileSync(executed, JSON.stringify(notebook, null, 1) + "\n");
  const stage = fs.mkdtempSync(path.join(path.dirname(html), ".export-"));
  const name = path.basename(html, ".html");
  inProjectEnv(`rendering ${executed}`, "/usr/bin/jupyter-nbconvert --to html --log-level=WARN", [
    "--output-dir",
    stage,
    "--output",
    name,
    path.resolve(executed),
  ]);
  const staged = path.join(stage, `${name}.html`);
  const page = offlinePage(fs.readFileSync(staged, "utf8"), notebook, html);
  fs.writeFileSync(staged, page.html);
  return { staged, charts, warnings: page.warnings };
}

/** Exports each notebook; stops at the first that fails, with the pages already written left in place. */
export async function exportNotebooks(notebooks: string[], opts: NotebookExportOptions = {}): Promise<ExportedNotebook[]> {
  const log = opts.log ?? (() => undefined);
  return withChromium(async (browser) => {
    const done: ExportedNotebook[] = [];
    for (const notebook of notebooks) {
      const out = opts.out ?? (opts.executed ? path.dirname(notebook) : path.join(projectRoot(), "build", "notebooks"));
      fs.mkdirSync(out, { recursive: true });
      const executed = opts.executed ? notebook : execute(notebook, out, opts.profile);
      if (!opts.executed) log(`executed ${executed}`);
      const html = path.join(out, path.basename(notebook).replace(/\.ipynb$/, "") + ".html");
      const { staged, charts, warnings } = renderOffline(executed, html);
      try {
        const check = await checkPage(browser, staged, { minCharts: charts });
        if (check.problems.length > 0) throw new Error(`${html} is not written: ${pageCheckLine(check)}`);
        fs.renameSync(staged, html);
      } finally {
        fs.rmSync(path.dirname(staged), { recursive: true, force: true });
      }
      const pdf = opts.pdf ? html.replace(/\.html$/, ".pdf") : undefined;
      if (pdf) await checkPage(browser, html, { after: (page) => page.pdf({ path: pdf, ...PDF_PAGE }) });
      const exported = { notebook, html, pdf, charts, bytes: fs.statSync(html).size, warnings };
      log(`html    ${html} (${charts} chart(s) drawn offline, ${(exported.bytes / 1e6).toFixed(1)} MB)${pdf ? `\npdf     ${pdf}` : ""}`);
      for (const w of warnings) log(`warning ${w}`);
      done.push(exported);
    }
    return done;
  });
}
