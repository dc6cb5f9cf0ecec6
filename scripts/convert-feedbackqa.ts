/**
 * One-off conversion of the raw FeedbackQA files into data/feedbackqa/{train,test}.jsonl.gz and CARD.md.
 *
 *   node --import tsx scripts/convert-feedbackqa.ts [RAW_DIR]     (default RAW_DIR: ../shared/data/raw/feedbackqa)
 *
 * One example per (item, rater): the question, the retrieved answer passage, that rater's rating and
 * that rater's explanation. FeedbackQA's own files split by website (only WHO has a train file), so the
 * split is ours: whole questions go to train or test, so that no question is seen in both.
 * Only this script reads the raw folder; the project reads data/feedbackqa/ at run time.
 */
import { createHash } from "crypto";
import { existsSync, readFileSync, writeFileSync } from "fs";
import { join, relative, resolve } from "path";
import { Example, Split, SPLITS } from "../src/data/schema";
import {
  explanationCounts,
  labelTable,
  mean,
  percent,
  PROJECT_ROOT,
  RAW_ROOT,
  regenerateCommand,
  tableRow,
  words,
  writeSplits,
  madeWith,
} from "./converter-shared";

const DEFAULT_RAW_DIR = join(RAW_ROOT, "feedbackqa");
const OUT_DIR = join(PROJECT_ROOT, "data", "feedbackqa");
/** The raw rating strings, low -> high (FeedbackQA's own order, `rating_map` in its reason_dataloader.py). */
export const LABEL_SET = ["Bad", "Could be Improved", "Acceptable", "Excellent"];
/** Websites (raw folders) and their files, in the order rows are written. */
const WEBSITES = ["WHO", "Australia", "CDC", "UK"];
const RAW_SPLITS = ["train", "valid", "test"];
/** Share of questions that go to train; the rest go to test. */
const TRAIN_SHARE = 2 / 3;
/** Part of the hashed key, so the split can be redrawn by changing it (and only by changing it). */
const SPLIT_SALT = "xft/feedbackqa/question-split/v1";

/** The fields of a raw item this script reads. */
interface RawItem {
  question: string;
  passage: { reference: { page_title: string; section_headers: string[]; section_content_html: string } };
  rating: string[];
  feedback: string[];
}

/** A raw record is bad: names the file, the record's position in its array (from 1) and the field. */
function recordError(file: string, record: number, field: string, problem: string): Error {
  return new Error(`${file}: record ${record}: ${field}: ${problem}`);
}

/** Checks the fields this script reads, so that a changed raw format fails here with a clear message. */
function checkItem(value: unknown, file: string, record: number): RawItem {
  const fail = (field: string, problem: string): never => {
    throw recordError(file, record, field, problem);
  };
  const obj = (v: unknown, field: string): Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(field, "expected an object");
  const str = (v: unknown, field: string): string => (typeof v === "string" ? v : fail(field, "expected a string"));
  const strings = (v: unknown, field: string): string[] =>
    Array.isArray(v) ? v.map((s, i) => str(s, `${field}[${i}]`)) : fail(field, "expected an array");

  const item = obj(value, "(record)");
  const reference = obj(obj(item.passage, "passage").reference, "passage.reference");
  const question = str(item.question, "question");
  if (question.trim() === "") fail("question", "must not be empty");
  const rating = strings(item.rating, "rating");
  const feedback = strings(item.feedback, "feedback");
  if (rating.length === 0) fail("rating", "no ratings");
  if (feedback.length !== rating.length) fail("feedback", `${feedback.length} explanations for ${rating.length} ratings`);
  rating.forEach((r, k) => {
    if (!LABEL_SET.includes(r)) fail(`rating[${k}]`, `"${r}" is not one of [${LABEL_SET.join(", ")}]`);
  });
  return {
    question,
    passage: {
      reference: {
        page_title: str(reference.page_title, "passage.reference.page_title"),
        section_headers: strings(reference.section_headers, "passage.reference.section_headers"),
        section_content_html: str(reference.section_content_html, "passage.reference.section_content_html"),
      },
    },
    rating,
    feedback,
  };
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

/**
 * Plain text of a scraped passage's HTML. The raw `section_content` is the same text hard-wrapped at
 * 80 columns with paragraph ends lost; from the HTML, each paragraph, heading and list item becomes one
 * line (list items as "- item"), and the hard wraps disappear. Unknown entities are kept as written.
 */
export function htmlToText(html: string): string {
  const text = html
    .replace(/\s+/g, " ")
    .replace(/<img\b[^>]*>/gi, "")
    .replace(/<li\b[^>]*>/gi, "\n- ")
    .replace(/<\/?(?:p|h[1-6]|ul|ol|li|br|hr|blockquote|div)\b[^>]*>/gi, "\n")
    .replace(/<[^>]*>/g, "")
    .replace(/&(#\d+|[a-z]+);/gi, (entity, name: string) =>
      name.startsWith("#") ? String.fromCodePoint(Number(name.slice(1))) : (ENTITIES[name.toLowerCase()] ?? entity),
    );
  return text
    .split("\n")
    .map((line) => line.replace(/ +/g, " ").trim())
    .filter((line) => line !== "" && line !== "-")
    .join("\n");
}

/**
 * The answer as a reader saw it: page title, section headings (for an FAQ entry the last heading is its
 * question), then the passage, one per line; the same parts FeedbackQA's own data loader joins. A heading
 * that repeats the page title is left out.
 */
export function answerText(reference: RawItem["passage"]["reference"]): string {
  const clean = (s: string) => s.replace(/\s+/g, " ").trim();
  const title = clean(reference.page_title);
  const headers = reference.section_headers.map(clean).filter((h) => h !== "" && h.toLowerCase() !== title.toLowerCase());
  return [title, ...headers, htmlToText(reference.section_content_html)].filter((part) => part !== "").join("\n");
}

/** The key questions are grouped by: case, punctuation and spacing do not make a new question. */
export function normalizeQuestion(question: string): string {
  return question
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/** A question's split: a salted sha256 of its normalised text, read as a number in [0, 1). */
export function questionSplit(question: string): Split {
  const digest = createHash("sha256")
    .update(`${SPLIT_SALT}\n${normalizeQuestion(question)}`)
    .digest();
  return digest.readUInt32BE(0) / 2 ** 32 < TRAIN_SHARE ? "train" : "test";
}

interface RawFileResult {
  file: string;
  records: number;
  ratings: number;
  examples: Record<Split, number>;
}

interface Conversion {
  rows: Record<Split, Example[]>;
  files: RawFileResult[];
  emptyExplanations: number;
  /** Items whose raters all gave the same rating, and all items. */
  unanimous: number;
  items: number;
  /** Normalised questions per split. */
  questions: Record<Split, Set<string>>;
}

function convert(rawDir: string): Conversion {
  const result: Conversion = {
    rows: { train: [], test: [] },
    files: [],
    emptyExplanations: 0,
    unanimous: 0,
    items: 0,
    questions: { train: new Set(), test: new Set() },
  };
  for (const website of WEBSITES) {
    for (const rawSplit of RAW_SPLITS) {
      const path = join(rawDir, website, `feedback_${rawSplit}.json`);
      if (!existsSync(path)) continue;
      const file = relative(process.cwd(), path);
      const records: unknown = JSON.parse(readFileSync(path, "utf8"));
      if (!Array.isArray(records)) throw new Error(`${file}: expected a JSON array of items`);
      const fileResult: RawFileResult = {
        file: `${website}/feedback_${rawSplit}.json`,
        records: records.length,
        ratings: 0,
        examples: { train: 0, test: 0 },
      };
      records.forEach((value, i) => {
        const item = checkItem(value, file, i + 1);
        const split = questionSplit(item.question);
        const question = item.question.replace(/\s+/g, " ").trim();
        const response = answerText(item.passage.reference);
        if (response === "") throw recordError(file, i + 1, "passage.reference", "no answer text");
        result.items++;
        if (new Set(item.rating).size === 1) result.unanimous++;
        result.questions[split].add(normalizeQuestion(item.question));
        item.rating.forEach((label, k) => {
          const explanation = item.feedback[k].replace(/\s+/g, " ").trim();
          if (explanation === "") result.emptyExplanations++;
          result.rows[split].push({
            id: `feedbackqa-${website}-${rawSplit}-${i + 1}-r${k + 1}`,
            source: "feedbackqa",
            dimension: "answer-quality",
            context: [{ role: "user", text: question }],
            response,
            label,
            labelSet: LABEL_SET,
            explanations: explanation === "" ? [] : [explanation],
            split,
          });
          fileResult.ratings++;
          fileResult.examples[split]++;
        });
      });
      result.files.push(fileResult);
    }
  }
  return result;
}

function card(c: Conversion, command: string): string {
  const n = (s: Split) => c.rows[s].length;
  const all = [...c.rows.train, ...c.rows.test];
  const stat = (s: Split) => {
    const explanations = c.rows[s].flatMap((e) => e.explanations);
    const responses = new Set(c.rows[s].map((e) => e.response));
    return {
      counts: explanationCounts(c.rows[s], 1),
      explanationWords: mean(explanations.map(words)),
      questionWords: mean(c.rows[s].map((e) => words(e.context[0].text))),
      responseWords: mean([...responses].map(words)),
    };
  };
  const stats = { train: stat("train"), test: stat("test") };
  return [
    "# FeedbackQA (data/feedbackqa)",
    "",
    "Is a retrieved answer good for the question? COVID-19 questions, an answer passage from an official",
    "FAQ or information page (WHO, Australian government, CDC, UK government), and a person's rating of the",
    "answer on four levels with a free-text explanation of the rating.",
    "",
    "## Source",
    '- FeedbackQA: Li, Sharma, Lu, Cheung, Reddy, "Using Interactive Feedback to Improve the Accuracy and',
    '  Explainability of Question Answering Systems Post-Deployment", Findings of ACL 2022.',
    "  Files from GitHub `McGill-NLP/feedbackqa`, path `experiments/feedbackQA_data/`",
    "  (`{WHO,Australia,CDC,UK}/feedback_{train,valid,test}.json`, where present).",
    "",
    "## License",
    "The GitHub repository states no license. The dataset's Hugging Face card (`McGill-NLP/feedbackQA`) lists",
    "Apache-2.0 (not checked against this copy). The passages are scraped from the WHO, CDC, UK and Australian",
    "government websites, whose terms apply to that text. Cite the paper when using this data.",
    "",
    "## How labels and explanations were made",
    "- The authors deployed a retrieval QA system to crowd-workers, who asked COVID-19 questions and, for each",
    "  retrieved answer passage, chose a rating (Excellent / Acceptable / Could be Improved / Bad) and wrote a",
    '  free-text explanation of it ("feedback"). Items in FeedbackQA\'s test files have three raters, the others two.',
    "- Labels are the raters' own ratings, one example per rater, so an item appears once per rater with its",
    "  own label and explanation. Raters of one item gave the same rating on " +
      `${c.unanimous} of ${c.items} items (${percent(c.unanimous, c.items)}).`,
    "",
    "## Splits",
    "FeedbackQA's files split by website (only WHO has a train file), so the split here is new: all examples",
    `of one question (normalised: lowercased, runs of non-letters/digits as one space) go to train when a`,
    `salted sha256 of the question, read as a number in [0, 1), is below ${TRAIN_SHARE.toFixed(4)}, else to test.`,
    "No question is in both splits (`test/unit/convert.test.ts` checks it). Questions do not repeat across",
    `websites. Distinct questions: train ${c.questions.train.size}, test ${c.questions.test.size}.`,
    "",
    "| raw file | items | (item, rater) pairs | to train | to test |",
    "|---|---|---|---|---|",
    ...c.files.map((f) => tableRow([f.file, f.records, f.ratings, f.examples.train, f.examples.test])),
    tableRow(["all", c.items, all.length, n("train"), n("test")]),
    "",
    "## Labels (labelSet order: " + LABEL_SET.join(", ") + ")",
    "",
    ...labelTable(LABEL_SET, c.rows),
    "",
    "## Explanations",
    "",
    "| split | examples | with 0 / 1 explanations | mean words per explanation | mean words per question | mean words per distinct answer |",
    "|---|---|---|---|---|---|",
    ...SPLITS.map((s) =>
      tableRow([
        s,
        n(s),
        stats[s].counts.join(" / "),
        stats[s].explanationWords.toFixed(1),
        stats[s].questionWords.toFixed(1),
        stats[s].responseWords.toFixed(1),
      ]),
    ),
    "",
    `Empty explanations in the raw data (dropped, the example kept with no explanation): ${c.emptyExplanations}.`,
    "Words are whitespace-separated tokens. Answers are long: a small model's sequence length cuts most of them.",
    "",
    "## Schema mapping",
    "One row per (item, rater): `id` = `feedbackqa-<website>-<raw file split>-<item position in the file, from 1>-r<rater, from 1>`,",
    "`source` = `feedbackqa`, `dimension` = `answer-quality`, `context` = one `user` turn with the question,",
    "`response` = the answer (below), `label` = the rater's rating in `labelSet` = [" + LABEL_SET.join(", ") + "],",
    "`explanations` = [the rater's explanation].",
    "",
    "## What was changed",
    "- The answer is assembled as FeedbackQA's own data loader does it (page title, section headings, passage,",
    "  one per line), with two differences: a heading equal to the page title is left out, and the passage is",
    "  taken from `section_content_html` rather than `section_content` (the same words hard-wrapped at 80",
    "  columns, paragraph ends lost): one line per paragraph, heading or list item (`- item`), inline markup",
    "  and images dropped, `&amp; &lt; &gt; &quot;` decoded (`htmlToText` in `scripts/convert-feedbackqa.ts`).",
    "- Questions and explanations: whitespace runs collapsed and trimmed. Nothing else is edited.",
    "- Ratings are kept exactly; any other rating string stops the conversion with the file and record.",
    "- Written as gzip-compressed JSONL, every row checked with `src/data/schema.ts`.",
    "",
    ...madeWith(command),
  ].join("\n");
}

function main(): void {
  const rawDir = resolve(process.argv[2] ?? DEFAULT_RAW_DIR);
  const c = convert(rawDir);
  writeSplits(OUT_DIR, c.rows);
  for (const f of c.files) {
    console.log(`${f.file}: ${f.records} items, ${f.ratings} ratings -> train ${f.examples.train}, test ${f.examples.test}`);
  }
  writeFileSync(join(OUT_DIR, "CARD.md"), card(c, regenerateCommand("scripts/convert-feedbackqa.ts", process.argv[2])));
  console.log(`wrote ${relative(process.cwd(), OUT_DIR)}/{train,test}.jsonl.gz (${c.rows.train.length} + ${c.rows.test.length} rows) and CARD.md`);
}

if (require.main === module) main();
