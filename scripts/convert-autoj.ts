/**
 * One-off conversion of the raw Auto-J single-response data into data/autoj/{train,test}.jsonl.gz and CARD.md.
 *
 *   node --import tsx scripts/convert-autoj.ts [RAW_DIR]     (default RAW_DIR: ../shared/data/raw/autoj)
 *
 * Train: `single_traindata.jsonl` (GPT-4 critiques). Test: `testdata_critique.jsonl` (critiques written by
 * the Auto-J 13B model, the only critiques that file has). The critique, without its final rating, is the
 * explanation; the 1-10 rating, mapped to five levels, is the label.
 * Only this script reads the raw folder; the project reads data/autoj/ at run time.
 */
import { readFileSync, writeFileSync } from "fs";
import { join, relative, resolve } from "path";
import { Example, Split, SPLITS } from "../src/data/schema";
import { labelTable, mean, percent, PROJECT_ROOT, RAW_ROOT, regenerateCommand, tableRow, words, writeSplits, madeWith } from "./converter-shared";

const DEFAULT_RAW_DIR = join(RAW_ROOT, "autoj");
const OUT_DIR = join(PROJECT_ROOT, "data", "autoj");
const RAW_FILES: Record<Split, string> = { train: "single_traindata.jsonl", test: "testdata_critique.jsonl" };
export const LABEL_SET = ["1", "2", "3", "4", "5"];
/**
 * Highest 1-10 rating of levels 1-4; anything above the last is level 5. The raw ratings sit on 2-6
 * (few 1s, few above 6), so equal-width bins would leave levels 4-5 nearly empty; these bins give each
 * level a similar share of train: 1-2 -> 1, 3 -> 2, 4 -> 3, 5 -> 4, above 5 (5.5, 6, 6.5, 7-10) -> 5.
 */
const LEVEL_UPPER_BOUNDS = [2, 3, 4, 5];

/** The critique's closing `Rating: [[k]]` (sometimes followed by a full stop), with the space before it. */
const FINAL_RATING = /\s*Rating:\s*\[\[\s*(\d+(?:\.\d+)?)\s*\]\]\.?\s*$/;
/** A closing sentence about the rating itself ("Therefore, the response is rated as follows:"). */
const RATING_SENTENCE = /(^|\s)[A-Z][^.!?\n]*\b(?:rated|rating|ratings|scored?|grade[sd]?)\b[^.!?\n]*[.!?:]\s*$/;
/** What must not be left in an explanation: a rating in the judge's format, or a bare [[k]]. */
export const RATING_LEAK = /Rating:\s*\[\[|\[\[\s*\d+(?:\.\d+)?\s*\]\]/;

/** The five-level label of a 1-10 rating (see LEVEL_UPPER_BOUNDS). */
export function ratingLevel(rating: number): string {
  if (!(rating >= 1 && rating <= 10)) throw new Error(`rating ${rating} is outside 1-10`);
  return String(1 + LEVEL_UPPER_BOUNDS.filter((bound) => rating > bound).length);
}

export interface CritiqueParts {
  explanation: string;
  rating: number;
  /** The closing sentence about the rating that was cut, if there was one. */
  ratingSentence?: string;
}

/**
 * Splits a critique into the explanation and its rating: the final `Rating: [[k]]` is cut, and so is a
 * closing sentence that only announces or names the rating. Returns undefined when there is no final
 * rating (a critique cut off before it).
 */
export function splitCritique(critique: string): CritiqueParts | undefined {
  const final = FINAL_RATING.exec(critique);
  if (final === null) return undefined;
  const body = critique.slice(0, final.index).trimEnd();
  const sentence = RATING_SENTENCE.exec(body);
  const explanation = (sentence === null ? body : body.slice(0, sentence.index)).trim();
  if (RATING_LEAK.test(explanation)) throw new Error(`a rating is left in the explanation: ${JSON.stringify(explanation.slice(-200))}`);
  const parts: CritiqueParts = { explanation, rating: Number(final[1]) };
  if (sentence !== null) parts.ratingSentence = body.slice(sentence.index).trim();
  return parts;
}

/** Query and response of a training `usrmsg`: `[Query]: ... *** [Response]: ... *** [END DATA]`. */
export function parseUsrmsg(usrmsg: string): { query: string; response: string } {
  const queryMark = "[BEGIN DATA]\n***\n[Query]: ";
  const responseMark = "\n***\n[Response]: ";
  const endMark = "\n***\n[END DATA]";
  for (const mark of [queryMark, responseMark, endMark]) {
    const count = usrmsg.split(mark).length - 1;
    if (count !== 1) throw new Error(`usrmsg: ${JSON.stringify(mark)} occurs ${count} times, expected once`);
  }
  const q = usrmsg.indexOf(queryMark) + queryMark.length;
  const r = usrmsg.indexOf(responseMark);
  const end = usrmsg.indexOf(endMark);
  if (!(q <= r && r < end)) throw new Error("usrmsg: [Query], [Response] and [END DATA] are out of order");
  return { query: usrmsg.slice(q, r).trim(), response: usrmsg.slice(r + responseMark.length, end).trim() };
}

/** One raw line as this script needs it; `scoreField` is the train file's separate GPT-4 score. */
interface RawRecord {
  query: string;
  response: string;
  critique: string;
  scenario: string;
  scoreField?: number;
}

function field(obj: Record<string, unknown>, name: string, where: string): unknown {
  if (!(name in obj)) throw new Error(`${where}: ${name}: missing`);
  return obj[name];
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${what}: expected an object`);
  return value as Record<string, unknown>;
}

function stringField(obj: Record<string, unknown>, name: string, where: string): string {
  const value = field(obj, name, where);
  if (typeof value !== "string") throw new Error(`${where}: ${name}: expected a string`);
  return value;
}

function readRecord(split: Split, obj: Record<string, unknown>, where: string): RawRecord {
  const scenario = stringField(obj, "scenario", where);
  if (split === "train") {
    let parsed: { query: string; response: string };
    try {
      parsed = parseUsrmsg(stringField(obj, "usrmsg", where));
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
    const score = field(obj, "pred_score", where);
    if (typeof score !== "number") throw new Error(`${where}: pred_score: expected a number`);
    return { ...parsed, critique: stringField(obj, "target_output", where), scenario, scoreField: score };
  }
  const critiques = asObject(field(obj, "critiques", where), `${where}: critiques`);
  return {
    query: stringField(obj, "prompt", where).trim(),
    response: stringField(obj, "response", where).trim(),
    critique: stringField(critiques, "autoj", `${where}: critiques`),
    scenario,
  };
}

interface SplitResult {
  examples: Example[];
  rawRows: number;
  skippedNoRating: number;
  skippedEmpty: number;
  /** Raw 1-10 ratings of the kept rows. */
  ratings: number[];
  strippedSentences: number;
  scenarios: Set<string>;
}

function convertSplit(rawDir: string, split: Split): SplitResult {
  const path = join(rawDir, RAW_FILES[split]);
  const file = relative(process.cwd(), path);
  const lines = readFileSync(path, "utf8").split("\n");
  const result: SplitResult = {
    examples: [],
    rawRows: 0,
    skippedNoRating: 0,
    skippedEmpty: 0,
    ratings: [],
    strippedSentences: 0,
    scenarios: new Set(),
  };
  lines.forEach((text, i) => {
    if (text.trim() === "") return;
    result.rawRows++;
    const where = `${file}:${i + 1}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`${where}: not valid JSON: ${(e as Error).message}`);
    }
    const record = readRecord(split, asObject(parsed, where), where);
    const parts = splitCritique(record.critique);
    if (parts === undefined) {
      result.skippedNoRating++;
      return;
    }
    if (record.scoreField !== undefined && record.scoreField !== parts.rating) {
      throw new Error(`${where}: pred_score ${record.scoreField} differs from the critique's Rating: [[${parts.rating}]]`);
    }
    if (record.query === "" || record.response === "" || parts.explanation === "") {
      result.skippedEmpty++;
      return;
    }
    if (parts.ratingSentence !== undefined) result.strippedSentences++;
    result.ratings.push(parts.rating);
    result.scenarios.add(record.scenario);
    result.examples.push({
      id: `autoj-${split}-${i + 1}`,
      source: "autoj",
      dimension: "overall-quality",
      context: [{ role: "user", text: record.query }],
      response: record.response,
      label: ratingLevel(parts.rating),
      labelSet: LABEL_SET,
      explanations: [parts.explanation],
      split,
    });
  });
  return result;
}

/** "count (share)" of each distinct raw rating, ascending. */
function ratingDistribution(ratings: number[]): string {
  const distinct = [...new Set(ratings)].sort((a, b) => a - b);
  return distinct
    .map((r) => {
      const c = ratings.filter((x) => x === r).length;
      return `${r}: ${c} (${percent(c, ratings.length)})`;
    })
    .join(", ");
}

function card(results: Record<Split, SplitResult>, command: string): string {
  const n = (s: Split) => results[s].examples.length;
  const rows = { train: results.train.examples, test: results.test.examples };
  const trainQueries = new Set(rows.train.map((e) => e.context[0].text));
  const sharedQueries = new Set(rows.test.map((e) => e.context[0].text).filter((q) => trainQueries.has(q))).size;
  const pair = (e: Example) => JSON.stringify([e.context[0].text, e.response]);
  const trainPairs = new Set(rows.train.map(pair));
  const sharedPairs = rows.test.filter((e) => trainPairs.has(pair(e))).length;
  const bins = ["1-2", "3", "4", "5", "above 5 (5.5-10)"];
  return [
    "# Auto-J single-response critiques (data/autoj)",
    "",
    "How good is a chatbot's response to a real user query, overall? Each example has a written critique of the",
    "response (the explanation) and a 1-10 rating, mapped here to five levels.",
    "",
    "## Source",
    '- Auto-J: Li, Sun, Yuan, Fan, Zhao, Liu, "Generative Judge for Evaluating Alignment", ICLR 2024',
    "  (arXiv:2310.05470). Files from GitHub `GAIR-NLP/auto-j`: `data/training/single_traindata.jsonl` (train) and",
    "  `data/test/testdata_critique.jsonl` (test).",
    '- Queries and responses mostly from Chatbot Arena (Zheng et al., "Judging LLM-as-a-judge with MT-Bench and',
    '  Chatbot Arena", NeurIPS 2023, `lmsys/chatbot_arena_conversations`).',
    "",
    "## License",
    "The Auto-J repository states no license for its data. The critiques are outputs of GPT-4 (train) and of the",
    "Auto-J model (test, Llama 2 license); the Chatbot Arena conversations are released under CC BY 4.0 (prompts)",
    "and CC BY-NC 4.0 (outputs) upstream (as stated there, not verified here). Research use; cite Auto-J.",
    "",
    "## How labels and explanations were made",
    "- Train: GPT-4 wrote two independent critiques of each response (with and without hand-written scenario",
    "  criteria), which the Auto-J authors combined into one critique ending in `Rating: [[k]]`, k in 1-10.",
    "  The file also has `pred_score`; it equals the critique's rating on every kept row (checked), and the",
    "  label is taken from the critique's rating.",
    "- Test: the file holds one critique per response, written by the Auto-J 13B model (key `critiques.autoj`),",
    "  not by GPT-4, on the less preferred response of a human-labelled pair from Auto-J's test set (58",
    "  scenarios x 4). Its labels are the rating in that critique. Train and test labels therefore come from",
    "  different judges (GPT-4 vs. a 13B model trained to imitate it), and test responses are the weaker of two.",
    "",
    "## Label: 1-10 rating -> five levels",
    `Rule: ${bins.map((b, k) => `${b} -> ${k + 1}`).join(", ")} (\`ratingLevel\` in \`scripts/convert-autoj.ts\`).`,
    "The raw ratings crowd 2-6 with few above 6, so equal-width bins (1-2, 3-4, 5-6, 7-8, 9-10) would leave the",
    "top two levels almost empty; one level per rating from 3 to 5, with the sparse ends pooled, spreads the",
    "train examples over all five levels (no level above a third).",
    "",
    "Raw ratings of the kept rows:",
    "",
    ...SPLITS.map((s) => `- ${s}: ${ratingDistribution(results[s].ratings)}`),
    "",
    "## Labels (labelSet order: " + LABEL_SET.join(", ") + ")",
    "",
    ...labelTable(LABEL_SET, rows),
    "",
    "Test labels lean high and away from levels 1-2: its judge rated the weaker responses mostly 4-6. A",
    "classifier that always answers 5 gets the test share of level 5 as accuracy; report macro-F1 too.",
    "",
    "## Splits",
    "",
    "| ours | raw file | raw rows | kept | skipped: no final rating | skipped: empty query, response or critique | scenarios |",
    "|---|---|---|---|---|---|---|",
    ...SPLITS.map((s) => {
      const r = results[s];
      return tableRow([s, RAW_FILES[s], r.rawRows, n(s), r.skippedNoRating, r.skippedEmpty, r.scenarios.size]);
    }),
    "",
    `${sharedQueries} distinct test queries also occur in train (with other responses); ${sharedPairs} test (query, response)`,
    "pairs are also in train.",
    "",
    "## Explanations",
    "",
    "| split | examples | explanations per example | mean words per explanation | mean words per query | mean words per response |",
    "|---|---|---|---|---|---|",
    ...SPLITS.map((s) => {
      const ex = rows[s];
      return tableRow([
        s,
        n(s),
        "1",
        mean(ex.map((e) => words(e.explanations[0]))).toFixed(1),
        mean(ex.map((e) => words(e.context[0].text))).toFixed(1),
        mean(ex.map((e) => words(e.response))).toFixed(1),
      ]);
    }),
    "",
    "## Schema mapping",
    "`id` = `autoj-<train|test>-<line in the raw file, from 1>`, `source` = `autoj`, `dimension` = `overall-quality`,",
    "`context` = one `user` turn with the query, `response` = the response, `label` = the level of the rating,",
    "`labelSet` = [" + LABEL_SET.join(", ") + "], `explanations` = [the critique without its rating].",
    "",
    "## What was changed",
    "- Train query and response are cut out of the judge prompt `usrmsg` (`[Query]: ... *** [Response]: ... ***",
    "  [END DATA]`, each marker exactly once, checked) and trimmed; test query (`prompt`) and response are trimmed.",
    "- The explanation is the critique with its final `Rating: [[k]]` removed, and with a closing sentence that",
    '  only announces or names the rating removed too ("Therefore, the response is rated as follows:"; ' +
      `${results.train.strippedSentences + results.test.strippedSentences} critiques).`,
    "  No explanation contains `Rating: [[` or a bare `[[k]]` (checked here and in `test/unit/convert.test.ts`).",
    "  Paragraph breaks in critiques are kept.",
    "- Skipped: a critique with no final rating (cut off mid-text) and a row with an empty response (the",
    "  critique says the response is absent); counts above. The `scenario` field is not kept.",
    "- Written as gzip-compressed JSONL, every row checked with `src/data/schema.ts`.",
    "",
    ...madeWith(command),
  ].join("\n");
}

function main(): void {
  const rawDir = resolve(process.argv[2] ?? DEFAULT_RAW_DIR);
  const results: Record<Split, SplitResult> = { train: convertSplit(rawDir, "train"), test: convertSplit(rawDir, "test") };
  writeSplits(OUT_DIR, { train: results.train.examples, test: results.test.examples });
  for (const split of SPLITS) {
    const r = results[split];
    console.log(
      `${split} (${RAW_FILES[split]}): ${r.rawRows} raw rows, wrote ${r.examples.length}, skipped ${r.skippedNoRating} ` +
        `with no final rating and ${r.skippedEmpty} with an empty text`,
    );
  }
  writeFileSync(join(OUT_DIR, "CARD.md"), card(results, regenerateCommand("scripts/convert-autoj.ts", process.argv[2])));
  console.log(`wrote ${relative(process.cwd(), OUT_DIR)}/{train,test}.jsonl.gz and CARD.md`);
}

if (require.main === module) main();
