/**
 * One-off conversion of the raw e-SNLI files into data/esnli/{train,test}.jsonl.gz and CARD.md.
 *
 *   node --import tsx scripts/convert-esnli.ts [RAW_DIR]     (default RAW_DIR: ../shared/data/raw/esnli)
 *
 * e-SNLI's train split is not available, so our train is its dev split and our test is its test split.
 * Only this script reads the raw folder; the project reads data/esnli/ at run time.
 */
import { readFileSync, writeFileSync } from "fs";
import { join, relative, resolve } from "path";
import { Example, Split } from "../src/data/schema";
import {
  detokenize,
  explanationCounts,
  labelTable,
  mean,
  PROJECT_ROOT,
  RAW_ROOT,
  regenerateCommand,
  tableRow,
  words,
  writeSplits,
  madeWith,
} from "./converter-shared";

const DEFAULT_RAW_DIR = join(RAW_ROOT, "esnli");
const OUT_DIR = join(PROJECT_ROOT, "data", "esnli");
const LABEL_SET = ["entailment", "neutral", "contradiction"];
/** Our split name -> e-SNLI's file suffix. */
const SPLIT_SOURCES: Record<Split, string> = { train: "dev", test: "test" };

/** Lines of a raw file; a missing final newline (the explanation files) is not a missing line. */
function readLines(path: string): string[] {
  const lines = readFileSync(path, "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

interface SplitResult {
  examples: Example[];
  rawRows: number;
  skippedLabel: number;
  skippedEmpty: number;
}

function convertSplit(rawDir: string, split: Split): SplitResult {
  const suffix = SPLIT_SOURCES[split];
  const column = (prefix: string) => readLines(join(rawDir, `${prefix}.${suffix}`));
  const premises = column("s1");
  const hypotheses = column("s2");
  const labels = column("labels");
  const explanationColumns = [1, 2, 3].map((k) => column(`preproc1_expl_${k}`));
  const aligned: [string, string[]][] = [
    ["s2", hypotheses],
    ["labels", labels],
    ...explanationColumns.map((col, k): [string, string[]] => [`preproc1_expl_${k + 1}`, col]),
  ];
  for (const [name, col] of aligned) {
    if (col.length !== premises.length) {
      throw new Error(`${name}.${suffix} has ${col.length} lines, s1.${suffix} has ${premises.length}; the files must be line-aligned`);
    }
  }

  const result: SplitResult = { examples: [], rawRows: premises.length, skippedLabel: 0, skippedEmpty: 0 };
  premises.forEach((rawPremise, i) => {
    const lineNo = i + 1;
    const label = labels[i].trim();
    const premise = detokenize(rawPremise);
    const hypothesis = detokenize(hypotheses[i]);
    if (!LABEL_SET.includes(label)) {
      result.skippedLabel++;
      return;
    }
    if (premise === "" || hypothesis === "") {
      result.skippedEmpty++;
      return;
    }
    result.examples.push({
      id: `esnli-${suffix}-${lineNo}`,
      source: "esnli",
      dimension: "entailment",
      context: [{ role: "premise", text: premise }],
      response: hypothesis,
      label,
      labelSet: LABEL_SET,
      explanations: explanationColumns.map((col) => detokenize(col[i])).filter((e) => e !== ""),
      split,
    });
  });
  return result;
}

function splitStats(r: SplitResult) {
  const perCount = explanationCounts(r.examples, 3);
  const explanations = r.examples.flatMap((e) => e.explanations);
  return {
    perCount,
    explanations: explanations.length,
    meanExplanationWords: mean(explanations.map(words)),
    meanPremiseWords: mean(r.examples.map((e) => words(e.context[0].text))),
    meanHypothesisWords: mean(r.examples.map((e) => words(e.response))),
    uniquePremises: new Set(r.examples.map((e) => e.context[0].text)).size,
  };
}

function card(results: Record<Split, SplitResult>, command: string): string {
  const stats = { train: splitStats(results.train), test: splitStats(results.test) };
  const splits: Split[] = ["train", "test"];
  const n = (s: Split) => results[s].examples.length;
  return [
    "# e-SNLI (data/esnli)",
    "",
    "Natural language inference with human explanations: given a premise, is the hypothesis entailed by it,",
    "neutral, or contradicted? Each pair comes with up to three free-text explanations written by people.",
    "",
    "## Source",
    '- e-SNLI: Camburu, Rocktäschel, Lukasiewicz, Blunsom, "e-SNLI: Natural Language Inference with Natural',
    '  Language Explanations", NeurIPS 2018. Files from GitHub `OanaMariaCamburu/e-SNLI`, path `dataset/eSNLI/`',
    "  (`s1.*` premise, `s2.*` hypothesis, `labels.*`, `preproc1_expl_{1,2,3}.*` explanations; line-aligned).",
    '- Built on SNLI: Bowman, Angeli, Potts, Manning, "A large annotated corpus for learning natural language',
    '  inference", EMNLP 2015.',
    "",
    "## License",
    "e-SNLI is released under the MIT license (its repository's LICENSE, Copyright 2019 Oana-Maria Camburu).",
    "The SNLI sentences it builds on are licensed CC BY-SA 4.0. Cite both papers when using this data.",
    "",
    "## How labels and explanations were made",
    "- Labels: SNLI's gold labels. Crowd-workers (Amazon Mechanical Turk) wrote a hypothesis of each class for an",
    "  image caption (the premise); in SNLI's dev and test splits four more workers labelled each pair, and the gold",
    '  label is the majority of the five (pairs with no majority, gold label "-", are not in e-SNLI).',
    "- Explanations: e-SNLI's crowd-workers saw premise, hypothesis and label and wrote why the label holds",
    "  (after highlighting the words that matter). The dev and test splits have three explanations per pair,",
    "  from different workers. The released `preproc1` files are tokenised and lowercased.",
    "",
    "## Splits",
    "The e-SNLI train split is not in the raw folder this was converted from, so:",
    "",
    "| ours | e-SNLI file suffix | raw rows | kept | skipped: unknown label | skipped: empty text |",
    "|---|---|---|---|---|---|",
    ...splits.map((s) => tableRow([s, SPLIT_SOURCES[s], results[s].rawRows, n(s), results[s].skippedLabel, results[s].skippedEmpty])),
    "",
    "Premises repeat (one caption has several hypotheses): " +
      splits.map((s) => `${s} ${stats[s].uniquePremises} distinct premises`).join(", ") +
      ".",
    "",
    "## Labels (labelSet order: " + LABEL_SET.join(", ") + ")",
    "",
    ...labelTable(LABEL_SET, { train: results.train.examples, test: results.test.examples }),
    "",
    "## Explanations",
    "",
    "| split | examples with 0 / 1 / 2 / 3 explanations | explanations | mean words per explanation | mean words per premise | mean words per hypothesis |",
    "|---|---|---|---|---|---|",
    ...splits.map((s) =>
      tableRow([
        s,
        stats[s].perCount.join(" / "),
        stats[s].explanations,
        stats[s].meanExplanationWords.toFixed(1),
        stats[s].meanPremiseWords.toFixed(1),
        stats[s].meanHypothesisWords.toFixed(1),
      ]),
    ),
    "",
    "Words are whitespace-separated tokens after detokenisation.",
    "",
    "## Schema mapping",
    "One row per premise/hypothesis pair: `id` = `esnli-<dev|test>-<line number in the raw files, from 1>`,",
    "`source` = `esnli`, `dimension` = `entailment`, `context` = one `premise` turn, `response` = the hypothesis,",
    "`label` in `labelSet` = [" + LABEL_SET.join(", ") + "], `explanations` = the non-empty ones of the three.",
    "",
    "## What was changed",
    "- Detokenisation of premise, hypothesis and explanations (`detokenize` in `scripts/converter-shared.ts`):",
    "  whitespace runs collapsed and trimmed; no space before `. , ; : ! ? % ) ] }` or the clitics",
    "  `n't 's 're 've 'd 'll 'm`; none after `( [ { $`; PTB quotes ``` `` ``` and `''` turned into `\"`; a lone `'`",
    '  after a word attached to it (closing quote or plural possessive). "can not" was left as written.',
    "  Case is kept as given (explanations stay lowercased, as released).",
    "- Rows with a label outside the label set or an empty premise/hypothesis are skipped (counts above);",
    "  empty explanations are dropped.",
    "- Written as gzip-compressed JSONL, every row checked with `src/data/schema.ts`.",
    "",
    ...madeWith(command),
  ].join("\n");
}

function main(): void {
  const rawDir = resolve(process.argv[2] ?? DEFAULT_RAW_DIR);
  const results: Record<Split, SplitResult> = { train: convertSplit(rawDir, "train"), test: convertSplit(rawDir, "test") };
  writeSplits(OUT_DIR, { train: results.train.examples, test: results.test.examples });
  for (const split of ["train", "test"] as Split[]) {
    const r = results[split];
    console.log(
      `${split} (e-SNLI ${SPLIT_SOURCES[split]}): ${r.rawRows} raw rows, wrote ${r.examples.length}, ` +
        `skipped ${r.skippedLabel} with an unknown label and ${r.skippedEmpty} with an empty premise/hypothesis`,
    );
  }
  writeFileSync(join(OUT_DIR, "CARD.md"), card(results, regenerateCommand("scripts/convert-esnli.ts", process.argv[2])));
  console.log(`wrote ${relative(process.cwd(), OUT_DIR)}/{train,test}.jsonl.gz and CARD.md`);
}

if (require.main === module) main();
