/**
 * Helpers for end-to-end tests that drive the notebook tooling: each runs a command from the project root with
 * scripts/env.sh sourced (Jupyter paths inside the project, $PY = Debian's python), as scripts/test.sh would.
 * Relative paths are relative to the project root.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** Debian's tools the notebook tests need; the kernel itself comes from node_modules. */
const NOTEBOOK_TOOLS = ["/usr/bin/python3", "/usr/bin/jupyter-nbconvert", "/usr/bin/chromium"];
const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const NOTEBOOK_TIMEOUT_MS = 30 * 60_000;

export interface CommandResult {
  /** Exit status; -1 when the command was killed (timeout or signal). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Why notebook tests cannot run on this machine, or undefined when they can. For `describe(…, { skip })`. */
export function missingNotebookTools(): string | undefined {
  const missing = NOTEBOOK_TOOLS.filter((tool) => !fs.existsSync(tool));
  return missing.length > 0 ? `notebook tools not installed: ${missing.join(", ")} (run scripts/setup.sh)` : undefined;
}

export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Runs `cmd` in bash from the project root after `source scripts/env.sh`; never throws. */
export function runInProjectEnv(cmd: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): CommandResult {
  const result = spawnSync("bash", ["-c", `source scripts/env.sh && ${cmd}`], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...opts.env },
    encoding: "utf8",
    timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    // An executed notebook's failure report can quote large outputs.
    maxBuffer: 256 * 2 ** 20,
  });
  const killed = result.status === null ? `\n[killed: ${result.error?.message ?? result.signal}]` : "";
  return { code: result.status ?? -1, stdout: result.stdout ?? "", stderr: (result.stderr ?? "") + killed };
}

function runOrThrow(what: string, cmd: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): string {
  const result = runInProjectEnv(cmd, opts);
  if (result.code !== 0) {
    throw new Error(`${what} failed (exit ${result.code}): ${cmd}\n${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}

/**
 * Executes a notebook with scripts/run-notebooks.py (tslab kernel, cwd = project root) and returns the path of the
 * executed copy in `outDir`. `env` is added to the kernel's environment. Throws with the runner's report (the
 * failing cell's source and stderr) if a cell fails.
 */
export function executeNotebook(
  notebookPath: string,
  outDir: string,
  env: Record<string, string> = {},
  timeoutMs: number = NOTEBOOK_TIMEOUT_MS,
): string {
  runOrThrow(`executing ${notebookPath}`, `$PY scripts/run-notebooks.py --out ${shellQuote(outDir)} ${shellQuote(notebookPath)}`, { env, timeoutMs });
  return path.join(outDir, path.basename(notebookPath));
}

/**
 * Exports an executed notebook to HTML next to it (`xft export-notebook --executed`, which refuses a page on which a
 * chart does not draw offline) and returns the HTML path.
 */
export function exportHtml(ipynbPath: string): string {
  runOrThrow(`exporting ${ipynbPath}`, `node bin/xft.cjs export-notebook --executed ${shellQuote(ipynbPath)}`);
  return ipynbPath.replace(/\.ipynb$/, ".html");
}

/**
 * Opens the page in headless Chromium with nothing outside it reachable (scripts/check-pages.ts) and requires every
 * chart to draw and at least `minCharts` charts. Returns the checker's summary; throws with it on failure.
 */
export function checkHtml(htmlPath: string, minCharts = 0): string {
  return runOrThrow(`checking ${htmlPath}`, `node --import tsx scripts/check-pages.ts --min-charts ${minCharts} ${shellQuote(htmlPath)}`);
}

/** One notebook output, with multi-line text (stored as string arrays in .ipynb) joined into one string. */
export interface NotebookOutput {
  output_type: string;
  /** Stream outputs: "stdout" or "stderr". */
  name?: string;
  text?: string;
  /** Rich outputs: mime type → text (joined), or the JSON object for JSON mime types. */
  data?: Record<string, unknown>;
}

export interface NotebookCell {
  index: number;
  cellType: string;
  source: string;
  /** The number run-notebooks.py gave a code cell; null when it did not run. */
  executionCount: number | null;
  /** Empty for markdown cells. */
  outputs: NotebookOutput[];
}

function joinLines(value: unknown): unknown {
  return Array.isArray(value) && value.every((line) => typeof line === "string") ? value.join("") : value;
}

/** The cells of a notebook file with their outputs, in notebook order. */
export function readOutputs(ipynbPath: string): NotebookCell[] {
  const notebook = JSON.parse(fs.readFileSync(path.resolve(PROJECT_ROOT, ipynbPath), "utf8")) as {
    cells: Array<{
      cell_type: string;
      source: string | string[];
      execution_count?: number | null;
      outputs?: Array<Record<string, unknown>>;
    }>;
  };
  return notebook.cells.map((cell, index) => ({
    index,
    cellType: cell.cell_type,
    source: joinLines(cell.source) as string,
    executionCount: cell.execution_count ?? null,
    outputs: (cell.outputs ?? []).map((output) => {
      const data = output.data as Record<string, unknown> | undefined;
      return {
        output_type: output.output_type as string,
        name: output.name as string | undefined,
        text: joinLines(output.text) as string | undefined,
        data: data && Object.fromEntries(Object.entries(data).map(([mime, value]) => [mime, joinLines(value)])),
      };
    }),
  }));
}
