/**
 * `xft runs merge DIR...`: finished runs from other machines' runs folders (the shards of a grid) copied into one.
 * Everything is checked before anything is copied, so that a refused merge leaves the target as it was:
 * - every run folder as reuse checks it (run.json parses; each file has its recorded size and hash);
 * - its folder name is its key, and its dataset is the one this clone has (same hash): a run of another version
 *   of the data has another key, which this clone's grid would never find;
 * - a key found twice (in two sources, or in a source and the target) must be the same run: the same files by
 *   their recorded hashes. Otherwise it is a conflicting duplicate, and the merge is refused with both places and
 *   both environments named.
 * Unfinished runs are left out (a grid resumes them where they are). Runs of several environments (backend,
 * TensorFlow, xft versions) are merged, and said: the same seed gives the same numbers only within one.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { datasetNames } from "../data/load";
import { checkRunFolder, checkRunsFolder, RUN_FILE, RunFolderCheck } from "./artifacts";
import { cachedDataset, RunRecord } from "./experiment";

export interface MergeReport {
  /** Keys copied into the target (or replacing an unfinished run there). */
  copied: string[];
  /** Keys found identical where they were already (in the target, or in an earlier source). */
  identical: string[];
  /** "DIR/key" of runs left out because they are not finished. */
  unfinished: string[];
  /** The numeric environments of the merged grid's runs, with their counts (one line each). */
  environments: string[];
}

interface Candidate {
  key: string;
  dir: string;
  record: RunRecord;
  fingerprint: string;
}

/** What makes two runs of one key the same run: their recorded files (old records: the predictions' bytes). */
function fingerprint(dir: string, record: RunRecord): string {
  if (record.artifacts) return JSON.stringify(Object.entries(record.artifacts).sort(([a], [b]) => (a < b ? -1 : 1)));
  return crypto
    .createHash("sha256")
    .update(fs.readFileSync(path.join(dir, "predictions.json")))
    .digest("hex");
}

/** The part of a run's environment that decides its numbers. */
function numericEnvironment(r: RunRecord): string {
  const e = r.environment;
  return `${e.backend} (tfjs ${e.tfjsVersion}${e.tensorflowVersion ? `, TensorFlow ${e.tensorflowVersion}` : ""}, ${e.tfOps ?? "tfjs"} ops, ${e.attention} attention), xft ${e.xftVersion}`;
}

function describe(c: Candidate): string {
  return `${c.dir} (${numericEnvironment(c.record)}, ${c.record.environment.cpuModel ?? "unknown CPU"})`;
}

/** The problems that refuse one finished run, before any comparison with others. */
function ownProblems(check: RunFolderCheck<RunRecord>, knownData: Set<string>): string[] {
  const record = check.record!;
  if (record.key !== check.key) return [`${check.dir}: the folder is named ${check.key} but its run.json is run ${record.key}`];
  const name = record.data.name;
  if (!knownData.has(name)) return [];
  const here = cachedDataset(name).hash;
  if (record.data.hash === here) return [];
  return [
    `${check.dir}: trained on another version of dataset ${name} (hash ${record.data.hash.slice(0, 12)}, this clone's ${here.slice(0, 12)}); this clone's grid would not use it`,
  ];
}

/** The finished runs of the sources, checked, each key once; every problem found, across all sources. */
function candidates(sources: readonly string[], problems: string[], report: MergeReport): Map<string, Candidate> {
  const knownData = new Set(datasetNames());
  const byKey = new Map<string, Candidate>();
  for (const source of sources) {
    for (const check of checkRunsFolder(source) as RunFolderCheck<RunRecord>[]) {
      if (check.problems.length > 0) {
        problems.push(`${check.dir}: damaged: ${check.problems.join("; ")}`);
        continue;
      }
      if (check.record!.status !== "done") {
        report.unfinished.push(check.dir);
        continue;
      }
      const own = ownProblems(check, knownData);
      problems.push(...own);
      if (own.length > 0) continue;
      const c: Candidate = { key: check.key, dir: check.dir, record: check.record!, fingerprint: fingerprint(check.dir, check.record!) };
      const seen = byKey.get(c.key);
      if (!seen) byKey.set(c.key, c);
      else if (seen.fingerprint === c.fingerprint) report.identical.push(c.key);
      else problems.push(conflict(c.key, seen, c));
    }
  }
  return byKey;
}

function conflict(key: string, a: Candidate, b: Candidate): string {
  return `run ${key} differs between ${describe(a)} and ${describe(b)}: the same key with other files; keep one of them (delete the other folder) and merge again`;
}

/** The runs to copy: those the target lacks, or has unfinished; a finished one there must be the same run. */
function toCopy(byKey: Map<string, Candidate>, target: string, problems: string[], report: MergeReport): Candidate[] {
  const copies: Candidate[] = [];
  for (const c of byKey.values()) {
    const there = path.join(target, c.key);
    if (fs.existsSync(path.join(target, `${c.key}.lock`))) {
      problems.push(`run ${c.key} is being trained in ${target} now (${c.key}.lock); merge when it has finished`);
      continue;
    }
    if (!fs.existsSync(path.join(there, RUN_FILE))) {
      copies.push(c);
      continue;
    }
    const check = checkRunFolder<RunRecord>(there, c.key);
    if (check.problems.length > 0) problems.push(`${there}: damaged: ${check.problems.join("; ")}`);
    else if (check.record!.status !== "done") copies.push(c);
    else if (fingerprint(there, check.record!) === c.fingerprint) report.identical.push(c.key);
    else problems.push(conflict(c.key, { ...c, dir: there, record: check.record! }, c));
  }
  return copies;
}

/** A run folder copied in whole: into a temporary folder beside its place, then renamed into it. */
function copyRun(c: Candidate, target: string): void {
  const final = path.join(target, c.key);
  const staging = path.join(target, `.merge-${c.key}-${process.pid}`);
  fs.rmSync(staging, { recursive: true, force: true });
  fs.cpSync(c.dir, staging, { recursive: true });
  const copied = checkRunFolder(staging, c.key);
  if (copied.problems.length > 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(`copying ${c.dir} to ${target} failed: ${copied.problems.join("; ")}`);
  }
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(staging, final);
}

/** Merges the sources' finished runs into `target` (created if absent); refuses, copying nothing, on any problem. */
export function mergeRuns(sources: readonly string[], target: string): MergeReport {
  if (sources.length === 0) throw new Error("xft runs merge takes one or more runs folders");
  const resolved = path.resolve(target);
  const same = sources.filter((s) => path.resolve(s) === resolved);
  if (same.length > 0) throw new Error(`${same[0]} is the target runs folder itself; merge other folders into it`);
  const report: MergeReport = { copied: [], identical: [], unfinished: [], environments: [] };
  const problems: string[] = [];
  const byKey = candidates(sources, problems, report);
  fs.mkdirSync(resolved, { recursive: true });
  const copies = toCopy(byKey, resolved, problems, report);
  if (problems.length > 0) throw new Error(`xft runs merge: nothing merged; ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
  for (const c of copies) {
    copyRun(c, resolved);
    report.copied.push(c.key);
  }
  const counts = new Map<string, number>();
  for (const check of checkRunsFolder(resolved) as RunFolderCheck<RunRecord>[]) {
    if (check.record?.status !== "done") continue;
    const env = numericEnvironment(check.record);
    counts.set(env, (counts.get(env) ?? 0) + 1);
  }
  report.environments = [...counts].map(([env, n]) => `${n} runs: ${env}`);
  return report;
}
