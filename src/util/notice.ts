/**
 * Informational lines for the person running xft ("xft: backend tensorflow (...)"). From the command line they go
 * to stderr, since stdout carries results (JSON metrics) that a pipe may read. Inside a notebook kernel they go to
 * stdout: Jupyter draws stderr red, and a line drawn as an error that is none teaches readers to ignore red.
 */

/** tslab's module that holds the running cell's display writer; set only inside a tslab kernel. */
const TSLAB_JUPYTER = "tslab/dist/jupyter";

/** Whether this process is a tslab kernel running a cell. */
export function insideTslabKernel(): boolean {
  // Peek at the module cache instead of importing the module: importing it would load the TypeScript compiler into
  // every command-line process. A kernel has loaded it, and it is the same file that a require from here resolves.
  let file: string;
  try {
    file = require.resolve(TSLAB_JUPYTER);
  } catch {
    return false;
  }
  const jupyter = require.cache[file]?.exports as { lastWriteDisplayData?: unknown } | undefined;
  return jupyter?.lastWriteDisplayData != null;
}

/** Writes one informational line: stdout in a notebook kernel, stderr elsewhere. */
export function notice(line: string): void {
  (insideTslabKernel() ? process.stdout : process.stderr).write(`${line}\n`);
}
