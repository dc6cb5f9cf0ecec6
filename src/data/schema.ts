/**
 * The one example schema every dataset is converted to, and its validator.
 * A JSONL file holds one Example per line; errors name the file, line and field so that a user
 * fixing their own dataset can go straight to the problem.
 */

export type Role = "system" | "user" | "assistant" | "premise" | "knowledge";
const ROLES: readonly Role[] = ["system", "user", "assistant", "premise", "knowledge"];

export interface Turn {
  role: Role;
  text: string;
}

export type Split = "train" | "test";
export const SPLITS: readonly Split[] = ["train", "test"];

export interface Example {
  /** Unique within the dataset. */
  id: string;
  /** Where the example comes from, e.g. "esnli". */
  source: string;
  /** What is rated; for e-SNLI "entailment". */
  dimension: string;
  /** Role-tagged turns before the response (e-SNLI: one premise turn). */
  context: Turn[];
  /** The text being classified (e-SNLI: the hypothesis). */
  response: string;
  /** Must be in labelSet. */
  label: string;
  /** Ordered label set (ordinal sets low -> high); the same on every row of a file. */
  labelSet: string[];
  /** Zero or more human or teacher explanations. */
  explanations: string[];
  split: Split;
}

const FIELDS: readonly (keyof Example)[] = ["id", "source", "dimension", "context", "response", "label", "labelSet", "explanations", "split"];

/** A row position: the file as the caller named it and the 1-based line number. */
export interface Where {
  file: string;
  line: number;
}

/** A bad row. The message reads `FILE:LINE: FIELD: problem`; FIELD is `(line)` when the row as a whole is bad. */
export class DataError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${field}: ${problem}`);
    this.name = "DataError";
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function listOf(items: readonly string[]): string {
  return `[${items.join(", ")}]`;
}

/** Field checks for one row; `fail` throws a DataError at this row. */
class RowChecker {
  constructor(private readonly where: Where) {}

  fail(field: string, problem: string): never {
    throw new DataError(this.where.file, this.where.line, field, problem);
  }

  string(value: unknown, field: string, nonEmpty: boolean): string {
    if (value === undefined) this.fail(field, "missing");
    if (typeof value !== "string") this.fail(field, `expected a string, got ${describe(value)}`);
    if (nonEmpty && value.trim() === "") this.fail(field, "must not be empty");
    return value;
  }

  array(value: unknown, field: string): unknown[] {
    if (value === undefined) this.fail(field, "missing");
    if (!Array.isArray(value)) this.fail(field, `expected an array, got ${describe(value)}`);
    return value;
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(field, `expected an object, got ${describe(value)}`);
    }
    return value as Record<string, unknown>;
  }
}

/**
 * Checks every field of one row and returns a clean Example (only the schema's fields).
 * Unknown fields are errors: a misspelt "explanation" would otherwise silently mean "no explanations".
 */
export function validateExample(obj: unknown, where: Where): Example {
  const check = new RowChecker(where);
  const row = check.object(obj, "(line)");
  for (const key of Object.keys(row)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      check.fail(key, `unknown field (expected ${listOf(FIELDS)})`);
    }
  }

  const id = check.string(row.id, "id", true);
  const source = check.string(row.source, "source", true);
  const dimension = check.string(row.dimension, "dimension", true);

  const context = check.array(row.context, "context").map((item, i): Turn => {
    const turn = check.object(item, `context[${i}]`);
    const role = check.string(turn.role, `context[${i}].role`, true);
    if (!(ROLES as readonly string[]).includes(role)) {
      check.fail(`context[${i}].role`, `"${role}" is not one of ${listOf(ROLES)}`);
    }
    const text = check.string(turn.text, `context[${i}].text`, true);
    return { role: role as Role, text };
  });

  const response = check.string(row.response, "response", true);

  const labelSet = check.array(row.labelSet, "labelSet").map((l, i) => check.string(l, `labelSet[${i}]`, true));
  if (labelSet.length === 0) check.fail("labelSet", "must not be empty");
  const duplicate = labelSet.find((l, i) => labelSet.indexOf(l) !== i);
  if (duplicate !== undefined) check.fail("labelSet", `"${duplicate}" occurs more than once`);

  const label = check.string(row.label, "label", true);
  if (!labelSet.includes(label)) check.fail("label", `"${label}" is not in labelSet ${listOf(labelSet)}`);

  const explanations = check.array(row.explanations, "explanations").map((e, i) => check.string(e, `explanations[${i}]`, true));

  const split = check.string(row.split, "split", true);
  if (!(SPLITS as readonly string[]).includes(split)) {
    check.fail("split", `"${split}" is not one of ${listOf(SPLITS)}`);
  }

  return { id, source, dimension, context, response, label, labelSet, explanations, split: split as Split };
}

/**
 * Validates the rows of one file in order, adding the checks that span rows: ids are unique and every
 * row has the labelSet of the first accepted row. A row that fails is not remembered, so skipping it
 * (non-strict loading) leaves the file's state as if it were absent.
 */
export class FileValidator {
  private readonly ids = new Map<string, number>();
  private labelSet: { labels: string[]; line: number } | undefined;

  constructor(readonly file: string) {}

  check(obj: unknown, line: number): Example {
    const example = validateExample(obj, { file: this.file, line });
    const fail = (field: string, problem: string): never => {
      throw new DataError(this.file, line, field, problem);
    };
    const firstLine = this.ids.get(example.id);
    if (firstLine !== undefined) fail("id", `"${example.id}" already used on line ${firstLine}`);
    if (this.labelSet && JSON.stringify(this.labelSet.labels) !== JSON.stringify(example.labelSet)) {
      fail("labelSet", `${listOf(example.labelSet)} differs from ${listOf(this.labelSet.labels)} on line ${this.labelSet.line}`);
    }
    this.ids.set(example.id, line);
    this.labelSet ??= { labels: example.labelSet, line };
    return example;
  }
}

/** Most labels a dataset may have: xft's tokenizer has one `<|label_k|>` token per label index (text/tokenizer.ts). */
export const MAX_LABELS = 16;
