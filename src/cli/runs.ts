/**
 * `xft runs`: the run folders themselves.
 *   xft runs list [--profile P] [--runs-dir DIR]   every run as a table (src/runs/catalog.ts, `listRuns`)
 *   xft runs verify [--runs-dir DIR]   every run folder checked as reuse checks it (src/runs/artifacts.ts): run.json
 *                                      parses, a finished run's files match their recorded size and hash; the
 *                                      damaged ones are listed, exit 1 if any
 *   xft runs merge DIR... [--runs-dir DIR]   finished runs of other runs folders copied in (src/runs/merge.ts)
 */
import { checkRunsFolder } from "../runs/artifacts";
import { displayPath } from "../util/read-file";
import { listRuns } from "../runs/catalog";
import { mergeRuns } from "../runs/merge";
import { runsRoot } from "../runs/paths";
import { Command, parseOptions } from "./options";

const RUNS_DIR = { type: "string", help: "DIR (default $XFT_RUNS_DIR, else runs/)" } as const;
const LIST_OPTIONS = { profile: { type: "string", help: "ci|quick|full (only that profile's runs)" }, "runs-dir": RUNS_DIR } as const;

function verify(args: string[]): number {
  const { values } = parseOptions(args, { "runs-dir": RUNS_DIR });
  const root = runsRoot(values["runs-dir"]);
  const checks = checkRunsFolder(root);
  const damaged = checks.filter((c) => c.problems.length > 0);
  for (const c of damaged) process.stdout.write(`${c.key}: ${c.problems.join("; ")}\n`);
  // Records from before artifacts were kept have nothing to compare: said, so that "0 damaged" is not over-read.
  const unrecorded = checks.filter((c) => c.record?.status === "done" && c.record.artifacts === undefined).length;
  const old = unrecorded > 0 ? ` (${unrecorded} finished before file records were kept: their files are not checked)` : "";
  process.stderr.write(
    `xft runs verify: ${checks.length} runs in ${displayPath(root)}, ${damaged.length} damaged${old}` +
      `${damaged.length > 0 ? "; retrain one with the same train/reproduce command and --fresh, or delete its folder" : ""}\n`,
  );
  return damaged.length > 0 ? 1 : 0;
}

function list(args: string[]): number {
  const { values } = parseOptions(args, LIST_OPTIONS);
  const runs = listRuns({ runsDir: values["runs-dir"], profile: values.profile });
  process.stdout.write(runs.numRows() === 0 ? "no runs\n" : runs.toMarkdown() + "\n");
  return 0;
}

function merge(args: string[]): number {
  const { values, positionals } = parseOptions(args, { "runs-dir": RUNS_DIR }, true);
  if (positionals.length === 0) throw new Error("usage: xft runs merge DIR... [--runs-dir TARGET]");
  const target = runsRoot(values["runs-dir"]);
  const report = mergeRuns(positionals, target);
  for (const line of report.environments) process.stdout.write(`${line}\n`);
  if (report.environments.length > 1) {
    process.stderr.write("xft runs merge: the runs come from several environments; the same seed gives the same numbers only within one\n");
  }
  const unfinished =
    report.unfinished.length > 0 ? `, ${report.unfinished.length} unfinished left out (${report.unfinished.map(displayPath).join(", ")})` : "";
  process.stderr.write(
    `xft runs merge: ${report.copied.length} runs copied into ${displayPath(target)}, ${report.identical.length} already there${unfinished}; ` +
      "xft reproduce with the same profile and part now analyses the merged grid\n",
  );
  return 0;
}

export const RUNS_COMMANDS: Record<string, Command> = {
  list: { summary: "every run as a table: key, profile, start, spec and metrics", options: LIST_OPTIONS, run: list },
  verify: {
    summary:
      "every run folder checked as reuse checks it (run.json parses, each file the run wrote has its recorded size " +
      "and sha256); lists the damaged runs, exit 1 if any",
    options: { "runs-dir": RUNS_DIR },
    run: verify,
  },
  merge: {
    positionals: "DIR...",
    summary:
      "finished runs from other runs folders (a grid's shards from several machines) copied into this one; every run " +
      "checked first (files, key, dataset); a key found twice with other files is refused, and then nothing is copied",
    options: { "runs-dir": RUNS_DIR },
    run: merge,
  },
};
