/**
 * A finished run checks itself before it is reused. Its run.json records the size and sha256 of each file the
 * run wrote (`artifacts`); reuse compares them with the files as they are now: the size always, the hash where
 * hashing is cheap. A truncated, deleted or overwritten file is then an error that names the run and the file,
 * where before it was reused silently (and its tables, or a probe of it, were wrong).
 *
 * Records written before `artifacts` existed have nothing to compare and are accepted as they are, so that
 * their runs stay reusable (a run's key never depends on this record).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { displayPath, readJsonFile } from "../util/read-file";

/** A run's record, in its folder. */
export const RUN_FILE = "run.json";

export interface ArtifactRecord {
  bytes: number;
  sha256: string;
}
/** File name in the run folder -> its size and hash when the run finished. */
export type Artifacts = Record<string, ArtifactRecord>;

/** Files larger than this are checked by size only: hashing a checkpoint-sized file on every reuse costs seconds. */
const HASH_LIMIT_BYTES = 64 * 2 ** 20;

const HASH_CHUNK_BYTES = 4 * 2 ** 20;

/** sha256 of a file, read in chunks so that a large model never sits in memory twice. */
function sha256File(file: string): string {
  const hash = crypto.createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const chunk = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0;) hash.update(chunk.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}

/** The size and hash of each named file in `dir`, as written: what run.json records. */
export function recordArtifacts(dir: string, names: readonly string[]): Artifacts {
  return Object.fromEntries(
    names.map((name) => {
      const file = path.join(dir, name);
      return [name, { bytes: fs.statSync(file).size, sha256: sha256File(file) }];
    }),
  );
}

/** Each recorded file that is missing or differs from its record, as "PATH: what is wrong"; none for old records. */
export function artifactProblems(dir: string, artifacts: Artifacts | undefined): string[] {
  const problems: string[] = [];
  for (const [name, want] of Object.entries(artifacts ?? {})) {
    const file = path.join(dir, name);
    const shown = displayPath(file);
    if (!fs.existsSync(file)) {
      problems.push(`${shown}: missing, the record says ${want.bytes} bytes`);
      continue;
    }
    const bytes = fs.statSync(file).size;
    if (bytes !== want.bytes) problems.push(`${shown}: ${bytes} bytes, the record says ${want.bytes}`);
    else if (bytes <= HASH_LIMIT_BYTES) {
      const sha256 = sha256File(file);
      if (sha256 !== want.sha256)
        problems.push(`${shown}: sha256 ${sha256.slice(0, 12)}, the record says ${want.sha256.slice(0, 12)} (same size, other bytes)`);
    }
  }
  return problems;
}

/** What the check reads of a run record (experiment.ts's RunRecord has more). */
export interface RecordedRun {
  status: string;
  artifacts?: Artifacts;
}

/** What a run folder holds as far as reuse is concerned: its record where it parses, and every problem found. */
export interface RunFolderCheck<R extends RecordedRun = RecordedRun> {
  key: string;
  dir: string;
  record?: R;
  problems: string[];
}

/**
 * Checks one run folder: run.json parses, and a finished run's recorded files match their records. A run that
 * stopped midway has no files to check yet (it resumes from its checkpoint).
 */
export function checkRunFolder<R extends RecordedRun = RecordedRun>(dir: string, key = path.basename(dir)): RunFolderCheck<R> {
  let record: R;
  try {
    record = readJsonFile<R>(path.join(dir, RUN_FILE), `run ${key}`);
  } catch (err) {
    return { key, dir, problems: [(err as Error).message.replace(`run ${key}: `, "")] };
  }
  const problems = record.status === "done" ? artifactProblems(dir, record.artifacts) : [];
  return { key, dir, record, problems };
}

/** The error for a damaged run: the key, every problem, and the way out. */
export function damagedRunError(check: Pick<RunFolderCheck, "key" | "problems">): Error {
  return new Error(`run ${check.key} is damaged: ${check.problems.join("; ")}; --fresh retrains it (xft runs verify lists every damaged run)`);
}

/** Every run folder under `root` (a folder with a run.json), checked; other folders (a pretrained base, a run that never finished a step) are not runs yet. */
export function checkRunsFolder(root: string): RunFolderCheck[] {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`${root}: no runs folder here`);
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, e.name, RUN_FILE)))
    .map((e) => e.name)
    .sort()
    .map((name) => checkRunFolder(path.join(root, name), name));
}
