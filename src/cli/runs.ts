/**
 * `xft runs`: the run folders themselves.
 *   xft runs list [--profile P] [--runs-dir DIR]   every run as a table (src/runs/catalog.ts, `listRuns`)
 *   xft runs verify [--runs-dir DIR]   every run folder checked as reuse checks it (src/runs/artifacts.ts): run.json
 *                                      parses, a finished run's files match their recorded size and hash; the
 *                                      damaged ones are listed, exit 1 if any
 */
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { checkRunFolder, displayPath, RUN_FILE, RunFolderCheck } from "../runs/artifacts";
import { listRuns } from "../runs/catalog";
import { runsRoot } from "../runs/paths";

/** Every run folder under `root` (a folder with a run.json), checked; other folders (a pretrained base, a run that never finished a step) are not runs yet. */
export function verifyRuns(root: string): RunFolderCheck[] {
  if (!fs.existsSync(root)) throw new Error(`${root}: no runs folder here`);
  return fs.readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, e.name, RUN_FILE)))
    .map((e) => e.name).sort()
    .map((name) => checkRunFolder(path.join(root, name), name));
}

function verify(args: string[]): number {
  const { values } = parseArgs({ args, options: { "runs-dir": { type: "string" } } });
  const root = runsRoot(values["runs-dir"]);
  const checks = verifyRuns(root);
  const damaged = checks.filter((c) => c.problems.length > 0);
  for (const c of damaged) process.stdout.write(`${c.key}: ${c.problems.join("; ")}\n`);
  // Records from before artifacts were kept have nothing to compare: said, so that "0 damaged" is not over-read.
  const unrecorded = checks.filter((c) => c.record?.status === "done" && c.record.artifacts === undefined).length;
  const old = unrecorded > 0 ? ` (${unrecorded} finished before file records were kept: their files are not checked)` : "";
  process.stderr.write(`xft runs verify: ${checks.length} runs in ${displayPath(root)}, ${damaged.length} damaged${old}` +
    `${damaged.length > 0 ? "; retrain one with the same train/reproduce command and --fresh, or delete its folder" : ""}\n`);
  return damaged.length > 0 ? 1 : 0;
}

function list(args: string[]): number {
  const { values } = parseArgs({ args, options: { "runs-dir": { type: "string" }, profile: { type: "string" } } });
  const runs = listRuns({ runsDir: values["runs-dir"], profile: values.profile });
  process.stdout.write(runs.numRows() === 0 ? "no runs\n" : runs.toMarkdown() + "\n");
  return 0;
}

export async function runRuns(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "verify") return verify(rest);
  if (sub === "list") return list(rest);
  throw new Error(`runs takes list or verify, got ${sub === undefined ? "nothing" : `"${sub}"`}`);
}
