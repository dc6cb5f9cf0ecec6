/**
 * One-off conversion of the raw USR human ratings into data/usr/test.jsonl.gz, data/usr/ratings.jsonl and CARD.md.
 *
 *   node --import tsx scripts/convert-usr.ts [RAW_DIR]     (default RAW_DIR: ../shared/data/raw/usr)
 *
 * USR is for evaluation only (660 responses are too few to train on): every row is in the test split and
 * there is no train file. The schema holds one label; the per-annotator ratings on every USR dimension go
 * to ratings.jsonl, keyed by example id, for comparing teachers and trained raters with people.
 * Only this script reads the raw folder; the project reads data/usr/ at run time.
 */
import { writeFileSync, readFileSync } from "fs";
import { join, relative, resolve } from "path";
import { Example, Turn } from "../src/data/schema";
import {
  detokenize,
  groupLabelTable,
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

const DEFAULT_RAW_DIR = join(RAW_ROOT, "usr");
const OUT_DIR = join(PROJECT_ROOT, "data", "usr");
export const LABEL_SET = ["1", "2", "3", "4", "5"];
/** Raw files, their source name in our rows, and the corpus they sample. */
const CORPORA = [
  { file: "usr_topical_chat.json", source: "usr-topical", corpus: "Topical-Chat" },
  { file: "usr_persona_chat.json", source: "usr-persona", corpus: "PersonaChat" },
];
/** Our name of each USR rating -> its raw field and its scale. */
const RATINGS = {
  understandable: { field: "Understandable", min: 0, max: 1 },
  natural: { field: "Natural", min: 1, max: 3 },
  maintainsContext: { field: "Maintains Context", min: 1, max: 3 },
  engaging: { field: "Engaging", min: 1, max: 3 },
  usesKnowledge: { field: "Uses Knowledge", min: 0, max: 1 },
  overall: { field: "Overall", min: 1, max: 5 },
} as const;
type RatingName = keyof typeof RATINGS;
const RATING_NAMES = Object.keys(RATINGS) as RatingName[];
/** The ratings whose means ratings.jsonl also carries (the ones closest to the benchmark's dimensions). */
const MEAN_RATINGS: RatingName[] = ["natural", "maintainsContext", "overall"];

/** One line of data/usr/ratings.jsonl. */
export interface UsrRatings extends Record<RatingName, number[]> {
  id: string;
  source: string;
  system: string;
  annotators: string[];
  mean: Partial<Record<RatingName, number>>;
}

/** HTML entities that the Topical-Chat tokeniser split ("& ldquo;", "&rdquo ;"). */
const SPLIT_ENTITIES: Record<string, string> = { ldquo: '"', rdquo: '"', lsquo: "'", rsquo: "'", mdash: "—", ndash: "–" };

/**
 * Repairs what the e-SNLI detokeniser does not know: straight double quotes as separate tokens
 * (`" home grown "`, paired left to right when their number is even, else left alone), hyphenated words
 * split into tokens (`award - winning`), and split HTML entities. Then detokenises.
 */
export function cleanText(text: string): string {
  const tokens = text.replace(/\s+/g, " ").trim().split(" ");
  const quotes = tokens.filter((t) => t === '"').length;
  const joined: string[] = [];
  let open = false;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === '"' && quotes % 2 === 0) {
      open = !open;
      // An opening quote joins the next token, a closing one the previous.
      if (open && i + 1 < tokens.length) tokens[i + 1] = '"' + tokens[i + 1];
      else if (!open && joined.length > 0) joined[joined.length - 1] += '"';
      else joined.push(token);
    } else {
      joined.push(token);
    }
  }
  const repaired = joined
    .join(" ")
    .replace(/(\w) - (?=\w)/g, "$1-")
    .replace(/& ?([a-z]+) ?;/g, (entity, name: string) => SPLIT_ENTITIES[name] ?? entity);
  return detokenize(repaired);
}

/**
 * The context as turns: the knowledge (a Topical-Chat fact or the responder's PersonaChat persona) first,
 * then the dialogue turns, one per raw line, tagged user/assistant alternately so that the last one is the
 * user's and the response is the assistant's.
 */
export function contextTurns(context: string, fact: string): Turn[] {
  const lines = (text: string) =>
    text
      .split("\n")
      .map(cleanText)
      .filter((line) => line !== "");
  const dialogue = lines(context);
  const knowledge = lines(fact).join("\n");
  return [
    ...(knowledge === "" ? [] : [{ role: "knowledge" as const, text: knowledge }]),
    ...dialogue.map((text, i): Turn => ({ role: (dialogue.length - 1 - i) % 2 === 0 ? "user" : "assistant", text })),
  ];
}

/** The label: the mean Overall rating rounded to the nearest level (halves up; three raters never tie). */
export function overallLabel(overall: number[]): string {
  return String(Math.round(mean(overall)));
}

/** "Nucleus Decoding (p = 0.3)" -> "nucleus-decoding-p-0-3". */
function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

/** One raw dialogue context with its rated responses, checked. */
interface RawDialogue {
  context: string;
  fact: string;
  annotators: string[];
  responses: { system: string; response: string; ratings: Record<RatingName, number[]> }[];
}

/** Checks the fields this script reads, so that a changed raw format fails here with a clear message. */
function readDialogue(value: unknown, where: string): RawDialogue {
  const fail = (field: string, problem: string): never => {
    throw new Error(`${where}: ${field}: ${problem}`);
  };
  const obj = (v: unknown, field: string): Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(field, "expected an object");
  const str = (v: unknown, field: string): string => (typeof v === "string" ? v : fail(field, "expected a string"));
  const array = (v: unknown, field: string): unknown[] => (Array.isArray(v) ? v : fail(field, "expected an array"));

  const raw = obj(value, "(dialogue)");
  const annotators = array(raw.annotators, "annotators").map((a, k) => str(a, `annotators[${k}]`));
  const responses = array(raw.responses, "responses").map((item, k) => {
    const r = obj(item, `responses[${k}]`);
    const ratings = {} as Record<RatingName, number[]>;
    for (const name of RATING_NAMES) {
      const { field, min, max } = RATINGS[name];
      const at = `responses[${k}].${field}`;
      const values = array(r[field], at);
      if (values.length !== annotators.length) fail(at, `${values.length} ratings for ${annotators.length} annotators`);
      ratings[name] = values.map((x, a) =>
        typeof x === "number" && Number.isInteger(x) && x >= min && x <= max
          ? x
          : fail(`${at}[${a}]`, `${JSON.stringify(x)} is not an integer in ${min}-${max}`),
      );
    }
    return { system: str(r.model, `responses[${k}].model`), response: str(r.response, `responses[${k}].response`), ratings };
  });
  return { context: str(raw.context, "context"), fact: str(raw.fact, "fact"), annotators, responses };
}

interface Conversion {
  examples: Example[];
  ratings: UsrRatings[];
  contexts: Record<string, number>;
}

function convert(rawDir: string): Conversion {
  const result: Conversion = { examples: [], ratings: [], contexts: {} };
  for (const { file, source } of CORPORA) {
    const path = join(rawDir, file);
    const shown = relative(process.cwd(), path);
    const items: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (!Array.isArray(items)) throw new Error(`${shown}: expected a JSON array of dialogues`);
    result.contexts[source] = items.length;
    items.forEach((value, i) => {
      const where = `${shown}: dialogue ${i + 1}`;
      const dialogue = readDialogue(value, where);
      const context = contextTurns(dialogue.context, dialogue.fact);
      if (!context.some((t) => t.role === "user")) throw new Error(`${where}: context: no dialogue turns`);
      dialogue.responses.forEach(({ system, response, ratings }, k) => {
        const text = cleanText(response);
        if (text === "") throw new Error(`${where}: responses[${k}].response: empty`);
        const id = `${source}-${i + 1}-${slug(system)}`;
        result.examples.push({
          id,
          source,
          dimension: "overall",
          context,
          response: text,
          label: overallLabel(ratings.overall),
          labelSet: LABEL_SET,
          explanations: [],
          split: "test",
        });
        const means: Partial<Record<RatingName, number>> = {};
        for (const name of MEAN_RATINGS) means[name] = Number(mean(ratings[name]).toFixed(4));
        result.ratings.push({ id, source, system, annotators: dialogue.annotators, ...ratings, mean: means });
      });
    });
  }
  return result;
}

function card(c: Conversion, command: string): string {
  const bySource = CORPORA.map(({ source }) => c.examples.filter((e) => e.source === source));
  const ratingsOf = (ids: Set<string>) => c.ratings.filter((r) => ids.has(r.id));
  const systems = [...new Set(c.ratings.map((r) => `${r.source}\t${r.system}`))];
  const unanimous = c.ratings.filter((r) => new Set(r.overall).size === 1).length;
  const meanOf = (rs: UsrRatings[], name: RatingName) => mean(rs.map((r) => mean(r[name]))).toFixed(2);
  return [
    "# USR human ratings (data/usr) — evaluation only",
    "",
    "Responses of several dialogue systems (and people) to Topical-Chat and PersonaChat contexts, each rated by",
    "three annotators on six qualities. Used to check how well a teacher or a trained rater agrees with people,",
    'not for training: there is a test split and no train file (`loadDataset("usr", { allowTestOnly: true })`).',
    "",
    "## Source",
    '- USR: Mehri and Eskenazi, "USR: An Unsupervised and Reference Free Evaluation Metric for Dialog',
    '  Generation", ACL 2020 (original release: http://shikib.com/usr). Files from GitHub',
    "  `SmartDataAnalytics/proxy_indicators`, path `data/` (`usr_topical_chat.json`; `usr_percona_chat.json`,",
    "  so spelt there, copied as `usr_persona_chat.json`).",
    "- Contexts from Topical-Chat (Gopalakrishnan et al., Interspeech 2019) and PersonaChat (Zhang et al., ACL 2018).",
    "",
    "## License",
    "No license is stated by either repository; the ratings are shared by their authors for research. Topical-Chat",
    "is released under CDLA-Sharing 1.0 and PersonaChat through ParlAI (MIT) upstream (not verified here). Cite USR.",
    "",
    "## How labels were made",
    "- For each context the USR authors collected responses from several systems (Topical-Chat: Transformer",
    "  decoding variants of one model; PersonaChat: KV-MemNN, Seq2Seq, a language model), the original human",
    "  response and a newly written human one. Three annotators (from a pool of five for Topical-Chat and four",
    "  for PersonaChat, named in ratings.jsonl) rated each response: Understandable 0-1, Natural 1-3, Maintains",
    "  Context 1-3, Engaging 1-3, Uses Knowledge 0-1, Overall 1-5.",
    "- `label` = the mean of the three Overall ratings, rounded (three integer ratings never average to a half).",
    `  All three annotators gave the same Overall rating to ${unanimous} of ${c.ratings.length} responses (${percent(unanimous, c.ratings.length)}).`,
    "- There are no explanations.",
    "",
    "## Counts (all in the test split)",
    "",
    "| source | contexts | responses | mean Overall | mean Natural | mean Maintains Context |",
    "|---|---|---|---|---|---|",
    ...CORPORA.map(({ source }, k) => {
      const rs = ratingsOf(new Set(bySource[k].map((e) => e.id)));
      return tableRow([source, c.contexts[source], bySource[k].length, meanOf(rs, "overall"), meanOf(rs, "natural"), meanOf(rs, "maintainsContext")]);
    }),
    "",
    "Per system (one response per context):",
    "",
    "| source | system | responses | mean Overall |",
    "|---|---|---|---|",
    ...systems.map((key) => {
      const [source, system] = key.split("\t");
      const rs = c.ratings.filter((r) => r.source === source && r.system === system);
      return tableRow([source, system, rs.length, meanOf(rs, "overall")]);
    }),
    "",
    "## Labels (labelSet order: " + LABEL_SET.join(", ") + ")",
    "",
    ...groupLabelTable(LABEL_SET, [...CORPORA.map(({ source }, k): [string, Example[]] => [source, bySource[k]]), ["all", c.examples]], "source"),
    "",
    "## Texts",
    "",
    "| source | mean context turns (with the knowledge turn) | mean words per response |",
    "|---|---|---|",
    ...CORPORA.map(({ source }, k) =>
      tableRow([source, mean(bySource[k].map((e) => e.context.length)).toFixed(1), mean(bySource[k].map((e) => words(e.response))).toFixed(1)]),
    ),
    "",
    "## Schema mapping",
    "One row per (context, system): `id` = `<source>-<dialogue position in the raw file, from 1>-<system, slugged>`,",
    "`source` = `usr-topical` or `usr-persona`, `dimension` = `overall`, `context` = a `knowledge` turn (the",
    'Topical-Chat fact, or the responder\'s PersonaChat persona lines "your persona: ...") and then the dialogue',
    "turns, `user`/`assistant` alternately so that the last turn is the user's, `response` = the system's",
    "response, `label` as above, `labelSet` = [" + LABEL_SET.join(", ") + "], `explanations` = [], `split` = `test`.",
    "",
    "## ratings.jsonl",
    "One JSON object per line, in the order of test.jsonl.gz, with the same `id`:",
    "`{id, source, system, annotators: [3 names], understandable: [..], natural: [..], maintainsContext: [..],",
    "engaging: [..], usesKnowledge: [..], overall: [..], mean: {natural, maintainsContext, overall}}`. Every",
    "rating array holds one integer per annotator, in the order of `annotators`; `mean` is rounded to 4 decimals.",
    "",
    "## What was changed",
    "- Texts are lowercased and tokenised in the raw data; case is kept as given. Detokenised with",
    "  `detokenize` from `scripts/converter-shared.ts` (as e-SNLI), after `cleanText` in `scripts/convert-usr.ts`",
    '  joins straight double quotes to their words (`" home grown "` -> `"home grown"`, only where the quotes',
    "  in a text pair up), joins split hyphens (`award - winning` -> `award-winning`; also one dash, `til - the`",
    '  -> `til-the`) and decodes the split HTML entities of one Topical-Chat fact (`& ldquo;` -> `"`).',
    "- The raw context is one turn per line; empty lines are dropped.",
    "- Written as gzip-compressed JSONL (test only), every row checked with `src/data/schema.ts`; ratings.jsonl plain.",
    "",
    ...madeWith(command),
  ].join("\n");
}

function main(): void {
  const rawDir = resolve(process.argv[2] ?? DEFAULT_RAW_DIR);
  const c = convert(rawDir);
  writeSplits(OUT_DIR, { test: c.examples });
  writeFileSync(join(OUT_DIR, "ratings.jsonl"), c.ratings.map((r) => JSON.stringify(r) + "\n").join(""));
  writeFileSync(join(OUT_DIR, "CARD.md"), card(c, regenerateCommand("scripts/convert-usr.ts", process.argv[2])));
  for (const { source } of CORPORA) {
    console.log(`${source}: ${c.contexts[source]} contexts, ${c.examples.filter((e) => e.source === source).length} responses`);
  }
  console.log(`wrote ${relative(process.cwd(), OUT_DIR)}/test.jsonl.gz, ratings.jsonl and CARD.md`);
}

if (require.main === module) main();
