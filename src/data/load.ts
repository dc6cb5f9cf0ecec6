/**
 * Reads Example JSONL files (plain or gzip) and assembles them into datasets: a shipped dataset by
 * name (`<root>/data/<name>/{train,test}.jsonl[.gz]`), a folder holding such files, or a user's single
 * JSONL file whose rows carry their own split. A folder with a test file and no train file is an
 * evaluation-only dataset (USR: human ratings to compare raters with, too few to train on).
 */
import { createHash } from "crypto";
import { existsSync, readdirSync, statSync } from "fs";
import { basename, dirname, join, resolve } from "path";
import { displayPath, readMaybeGzipped } from "../util/read-file";
import { DataError, Example, FileValidator, Split } from "./schema";

export interface ReadOptions {
  /** Throw the first bad row (default), or skip bad rows and return them. */
  strict?: boolean;
  /** The split every row must have: the file is a dataset folder's train or test file. */
  split?: Split;
}

export interface ReadResult {
  examples: Example[];
  /** Rows left out in non-strict mode; the caller reports how many. */
  skipped: DataError[];
}

export interface Dataset {
  name: string;
  /** Folder the files were read from. */
  dir: string;
  train: Example[];
  test: Example[];
  labelSet: string[];
  /** sha256 hex over the uncompressed bytes of the train file, then the test file (same content, same hash, however compressed). */
  hash: string;
  skipped: DataError[];
}

export interface LoadOptions extends ReadOptions {
  /** Project root whose data/ folder holds the named datasets; default XFT_ROOT or the working directory. */
  root?: string;
  /** Accept an evaluation-only folder (a test file, no train file); its `train` is then empty. Off for training. */
  allowTestOnly?: boolean;
}

const EXTENSIONS = [".jsonl", ".jsonl.gz"];

export function projectRoot(): string {
  return process.env.XFT_ROOT ?? process.cwd();
}

/** Fails on the first byte that is not UTF-8; the BOM is kept so that only the file's first line drops it. */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The lines of a file's bytes (split at \n, a \r before it dropped), each still as bytes. */
function byteLines(content: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  for (let start = 0; start <= content.length;) {
    const nl = content.indexOf(0x0a, start);
    const end = nl === -1 ? content.length : nl;
    lines.push(content.subarray(start, end > start && content[end - 1] === 0x0d ? end - 1 : end));
    start = end + 1;
  }
  return lines;
}

/**
 * One line's text. Invalid UTF-8 is a bad row, not silently U+FFFD: decoding each line on its own gives the
 * exact line, and the message gives the byte where the bad sequence starts.
 */
function decodeLine(bytes: Buffer, file: string, line: number): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    const start = badSequenceStart(bytes);
    const shown = [...bytes.subarray(start, start + 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new DataError(file, line, "(line)", `not valid UTF-8 at byte ${start + 1} of the line (bytes ${shown})`);
  }
}

/**
 * The offset of the first invalid sequence in bytes that do not decode. The longest prefix that decodes in
 * streaming mode (where a sequence cut at the end is not yet an error) ends at the byte that broke the rule;
 * when that byte cut short a multi-byte sequence, the sequence's lead byte is where the problem starts.
 */
function badSequenceStart(bytes: Uint8Array): number {
  let good = 0;
  for (let bad = bytes.length; bad - good > 1;) {
    const mid = (good + bad) >> 1;
    if (decodesAsPrefix(bytes.subarray(0, mid))) good = mid;
    else bad = mid;
  }
  let lead = good - 1;
  while (lead >= 0 && good - lead <= 3 && (bytes[lead] & 0xc0) === 0x80) lead--;
  return lead >= 0 && lead + utf8SequenceLength(bytes[lead]) > good ? lead : good;
}

/** How many bytes the sequence a lead byte starts has (1 for ASCII and for bytes that cannot lead). */
function utf8SequenceLength(lead: number): number {
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  return 1;
}

/** Whether `bytes` are UTF-8 up to, perhaps, a sequence cut at their end. */
function decodesAsPrefix(bytes: Uint8Array): boolean {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    decoder.decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** Parses and validates the rows of one file's content; `expectSplit` also requires every row's split. */
function parseRows(content: Buffer, file: string, strict: boolean, expectSplit?: Split): ReadResult {
  const validator = new FileValidator(file);
  const examples: Example[] = [];
  const skipped: DataError[] = [];
  byteLines(content).forEach((bytes, i) => {
    const line = i + 1;
    try {
      const decoded = decodeLine(bytes, file, line);
      const text = line === 1 ? decoded.replace(/^\uFEFF/, "") : decoded;
      if (text.trim() === "") return;
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (e) {
        throw new DataError(file, line, "(line)", `not valid JSON: ${(e as Error).message}`);
      }
      const example = validator.check(obj, line);
      if (expectSplit !== undefined && example.split !== expectSplit) {
        throw new DataError(file, line, "split", `"${example.split}" in the ${expectSplit} file`);
      }
      examples.push(example);
    } catch (e) {
      if (strict || !(e instanceof DataError)) throw e;
      skipped.push(e);
    }
  });
  return { examples, skipped };
}

/** Reads one JSONL file (`.jsonl` or `.jsonl.gz`); empty lines are ignored. */
export function readExamples(path: string, opts: ReadOptions = {}): ReadResult {
  return parseRows(readMaybeGzipped(path), path, opts.strict ?? true, opts.split);
}

/** The train or test file of a dataset folder, or undefined when there is none. */
export function splitFile(dir: string, split: Split): string | undefined {
  const found = EXTENSIONS.map((ext) => join(dir, split + ext)).filter((p) => existsSync(p));
  if (found.length > 1) throw new Error(`${dir} holds both ${found.map((p) => basename(p)).join(" and ")}; keep one`);
  return found[0];
}

/** Whether a folder holds a train or a test file. */
function isDatasetFolder(dir: string): boolean {
  return splitFile(dir, "train") !== undefined || splitFile(dir, "test") !== undefined;
}

/** Names of the datasets under `<root>/data`: its folders that hold a train or a test file. */
export function datasetNames(root: string = projectRoot()): string[] {
  const dataDir = join(root, "data");
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && isDatasetFolder(join(dataDir, d.name)))
    .map((d) => d.name)
    .sort();
}

/** A name has no path separator and no JSONL extension; anything else is taken as a path. */
function isPath(nameOrPath: string): boolean {
  return /[\\/]/.test(nameOrPath) || nameOrPath === "." || nameOrPath === ".." || EXTENSIONS.some((ext) => nameOrPath.endsWith(ext));
}

/** The labelSet train and test share; `train` undefined: an evaluation-only dataset, the test rows' labelSet. */
function sameLabelSet(train: Example[] | undefined, test: Example[], where: string): string[] {
  if (train !== undefined && train.length === 0) throw new Error(`${where}: no train rows`);
  if (test.length === 0) throw new Error(`${where}: no test rows`);
  const labelSet = (train ?? test)[0].labelSet;
  if (JSON.stringify(labelSet) !== JSON.stringify(test[0].labelSet)) {
    throw new Error(`${where}: train labelSet [${labelSet.join(", ")}] differs from test labelSet [${test[0].labelSet.join(", ")}]`);
  }
  return labelSet;
}

function loadFolder(dir: string, name: string, strict: boolean, allowTestOnly: boolean): Dataset {
  const files = { train: splitFile(dir, "train"), test: splitFile(dir, "test") };
  if (files.test === undefined) throw new Error(`${displayPath(dir)} holds no test.jsonl or test.jsonl.gz`);
  if (files.train === undefined && !allowTestOnly) {
    throw new Error(
      `${displayPath(dir)} holds no train.jsonl or train.jsonl.gz: it is an evaluation-only dataset (a test split only) and cannot be trained on`,
    );
  }
  const hash = createHash("sha256");
  const read = (split: Split, path: string): ReadResult => {
    const content = readMaybeGzipped(path);
    hash.update(content);
    return parseRows(content, displayPath(path), strict, split);
  };
  const train = files.train === undefined ? undefined : read("train", files.train);
  const test = read("test", files.test);
  return {
    name,
    dir,
    train: train?.examples ?? [],
    test: test.examples,
    labelSet: sameLabelSet(train?.examples, test.examples, displayPath(dir)),
    hash: hash.digest("hex"),
    skipped: [...(train?.skipped ?? []), ...test.skipped],
  };
}

function loadSingleFile(path: string, strict: boolean): Dataset {
  const content = readMaybeGzipped(path);
  const { examples, skipped } = parseRows(content, displayPath(path), strict);
  const train = examples.filter((e) => e.split === "train");
  const test = examples.filter((e) => e.split === "test");
  return {
    name: basename(path).replace(/\.jsonl(\.gz)?$/, ""),
    dir: dirname(path),
    train,
    test,
    labelSet: sameLabelSet(train, test, displayPath(path)),
    hash: createHash("sha256").update(content).digest("hex"),
    skipped,
  };
}

/**
 * Loads a dataset by name (`"esnli"` -> `<root>/data/esnli/`), or from a path: a folder with
 * train/test files, or a single `.jsonl[.gz]` file whose rows are split by their `split` field.
 * Train and test must share one labelSet. A folder without a train file loads only with `allowTestOnly`.
 */
export function loadDataset(nameOrPath: string, opts: LoadOptions = {}): Dataset {
  const strict = opts.strict ?? true;
  const allowTestOnly = opts.allowTestOnly ?? false;
  if (isPath(nameOrPath)) {
    const path = resolve(nameOrPath);
    if (!existsSync(path)) throw new Error(`no such file or folder: ${nameOrPath}`);
    return statSync(path).isDirectory() ? loadFolder(path, basename(path), strict, allowTestOnly) : loadSingleFile(path, strict);
  }
  const root = opts.root ?? projectRoot();
  const dir = join(root, "data", nameOrPath);
  if (!existsSync(dir) || !isDatasetFolder(dir)) {
    const names = datasetNames(root);
    throw new Error(
      `unknown dataset "${nameOrPath}"; available in ${displayPath(join(root, "data"))}: ` +
        (names.length > 0 ? names.join(", ") : "none") +
        ` (or give a path to a folder or a .jsonl/.jsonl.gz file)`,
    );
  }
  return loadFolder(dir, nameOrPath, strict, allowTestOnly);
}
