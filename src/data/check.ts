/**
 * `xft data check` as `xft train` will see the data. Besides every bad row of each file, training requires of a
 * dataset as a whole: a test split, and a train split of at least one batch (an evaluation-only folder, a test file
 * and no train file, is fine to evaluate on and is not trained on); one labelSet across the splits; and at most
 * MAX_LABELS labels, one label token each. A dataset that passes the check does not fail training on its data.
 */
import { statSync } from "fs";
import { basename, dirname, resolve } from "path";
import { readExamples, splitFile } from "./load";
import { DataError, Example, Split, MAX_LABELS } from "./schema";

/** One file's rows: the valid ones and the bad ones. */
export interface FileRows {
  file: string;
  examples: Example[];
  skipped: DataError[];
}

/** The profile's settings that decide whether training can run on a dataset. */
export interface TrainingNeeds {
  profile: string;
  batchSize: number;
}

/** A dataset's rows by split; `train` undefined: an evaluation-only folder, which has no train file. */
export interface SplitRows {
  /** The file or folder, as problems name it. */
  where: string;
  train: Example[] | undefined;
  test: Example[];
}

export interface DataCheck {
  /** The dataset as training reads it: the single file, or the folder. */
  dataset: string;
  /** The files whose rows are reported, each with its valid and bad rows. */
  files: FileRows[];
  /** Problems of the dataset as a whole, one line each, naming the file or folder. */
  problems: string[];
  /** A folder with a test file and no train file: it can be evaluated on and train refuses it, by design. */
  evaluationOnly: boolean;
}

/** A dataset folder's own files; a file of another name is a single-file dataset whose rows carry their split. */
const SPLIT_FILE = /^(train|test)\.jsonl(\.gz)?$/;

/**
 * Checks a file or folder as `xft train --dataset` would load it. A folder's `train.jsonl[.gz]` or
 * `test.jsonl[.gz]` is checked as part of its folder, since that is the dataset training reads.
 */
export function checkData(target: string, needs: TrainingNeeds): DataCheck {
  if (statSync(target).isDirectory()) return checkFolder(target, needs);
  return SPLIT_FILE.test(basename(target)) ? checkFolder(dirname(target), needs, target) : checkSingleFile(target, needs);
}

/** A user's single JSONL file: both splits are in it, told apart by each row's `split`. */
function checkSingleFile(file: string, needs: TrainingNeeds): DataCheck {
  const rows = readRows(file);
  const ofSplit = (split: Split) => rows.examples.filter((e) => e.split === split);
  // An empty file is one problem, reported with its rows; its missing splits would say the same again.
  const empty = rows.examples.length + rows.skipped.length === 0;
  const problems = empty ? [] : trainingProblems({ where: file, train: ofSplit("train"), test: ofSplit("test") }, needs);
  return { dataset: file, files: [rows], problems, evaluationOnly: false };
}

/** A dataset folder; `only` names the one file of it whose rows are listed (the user asked about that file). */
function checkFolder(dir: string, needs: TrainingNeeds, only?: string): DataCheck {
  const trainFile = splitFile(dir, "train");
  const testFile = splitFile(dir, "test");
  const train = trainFile === undefined ? undefined : readRows(trainFile, "train");
  const test = testFile === undefined ? undefined : readRows(testFile, "test");
  const read = [train, test].filter((f): f is FileRows => f !== undefined);
  const listed = only === undefined ? read : read.filter((f) => resolve(f.file) === resolve(only));
  // Training reads the whole folder, so bad rows in the file not asked about fail it too.
  const unlisted = read
    .filter((f) => !listed.includes(f) && f.skipped.length > 0)
    .map((f) => `${f.file}: ${f.skipped.length} bad rows (xft data check ${f.file} lists them)`);
  const problems =
    test === undefined
      ? [`${dir}: holds no test.jsonl or test.jsonl.gz; xft train evaluates on the test split`]
      : trainingProblems({ where: dir, train: train?.examples, test: test.examples }, needs);
  return { dataset: dir, files: listed, problems: [...unlisted, ...problems], evaluationOnly: train === undefined && test !== undefined };
}

function readRows(file: string, split?: Split): FileRows {
  const { examples, skipped } = readExamples(file, { strict: false, split });
  return { file, examples, skipped };
}

/** Each reason `xft train` would refuse the dataset, as one line naming the file or folder; none when it would train. */
export function trainingProblems(rows: SplitRows, needs: TrainingNeeds): string[] {
  const { where, train, test } = rows;
  const problems: string[] = [];
  if (train !== undefined && train.length < needs.batchSize) problems.push(tooFewTrainRows(where, train.length, needs));
  if (test.length === 0) problems.push(`${where}: no test rows; xft train evaluates on the test split`);
  const trainLabels = train?.[0]?.labelSet;
  const testLabels = test[0]?.labelSet;
  if (trainLabels && testLabels && JSON.stringify(trainLabels) !== JSON.stringify(testLabels)) {
    problems.push(`${where}: train labelSet [${trainLabels.join(", ")}] differs from test labelSet [${testLabels.join(", ")}]`);
  }
  const labels = trainLabels ?? testLabels;
  if (labels && labels.length > MAX_LABELS) {
    problems.push(`${where}: ${labels.length} labels in labelSet; xft supports at most ${MAX_LABELS} (one label token each)`);
  }
  return problems;
}

/** The trainer draws whole batches, so fewer train rows than one batch cannot train at all. */
function tooFewTrainRows(where: string, rows: number, needs: TrainingNeeds): string {
  const batch = `one batch of ${needs.batchSize} (profile ${needs.profile})`;
  return rows === 0
    ? `${where}: no train rows; xft train needs at least ${batch}`
    : `${where}: ${rows} train rows, fewer than the ${batch} that xft train needs`;
}
