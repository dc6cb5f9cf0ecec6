/**
 * Trained raters against people, on responses none of them saw: each conversation run of a grid (data/conv-*) reads
 * USR's 660 responses (data/usr: Topical-Chat and PersonaChat replies by several systems and by people, each rated by
 * three annotators) as rows of its own dimension. Its expected score is correlated (Spearman) with the annotators'
 * mean on the USR quality that matches the dimension (naturalness ~ Natural, on-topic ~ Maintains Context,
 * comprehensiveness ~ Uses Knowledge) and on Overall. The runs learned from the rubric teacher's labels; this asks
 * whether what they learned transfers to people's judgments, and whether training on explanations changes that.
 *
 * Each run's correlations are stored beside it (usr-transfer.json, with USR's data hash) and reused.
 */
import * as aq from "arquero";
import * as fs from "fs";
import * as path from "path";
import { loadDataset } from "../data/load";
import { armColumns, seedGroups, seedInterval, seedPairedDifferences } from "../eval/compare";
import type { HumanAgreementRow } from "../eval/human-agreement";
import { writeFileAtomic } from "../util/atomic-write";
import { readJsonFile } from "../util/read-file";
import { evaluateRun } from "./evaluate";
import type { RunOptions, RunRecord } from "./experiment";

const TRANSFER_DATASET = "usr";
const TRANSFER_FILE = "usr-transfer.json";
/** The USR quality each conversation dimension is compared with; Overall is compared for every dimension. */
const MATCHED_QUALITY: Readonly<Record<string, string>> = {
  naturalness: "natural",
  "on-topic": "maintainsContext",
  comprehensiveness: "usesKnowledge",
};
const OVERALL = "overall";

type Table = ReturnType<typeof aq.from>;

export interface HumanTransfer {
  /** One row per run and shown quality: its rho. */
  runs: Table;
  /** Per setting, arm and quality: rho as mean and 95% t-interval over seeds. */
  summary: Table;
  /** Per setting, non-label arm and quality: rho(arm) - rho(label), paired by seed, with its t-interval. */
  differences: Table;
}

interface StoredTransfer {
  dataset: string;
  hash: string;
  dimension: string;
  human: HumanAgreementRow[];
}

/** The run's correlations with USR's people: stored ones when USR has not changed, else evaluated and stored. */
async function transferOf(record: RunRecord, usrHash: string, opts: Pick<RunOptions, "runsDir">): Promise<HumanAgreementRow[]> {
  const file = path.join(record.dir, TRANSFER_FILE);
  const dimension = record.spec.dimension!;
  if (fs.existsSync(file)) {
    const stored = readJsonFile<StoredTransfer>(file);
    if (stored.hash === usrHash && stored.dimension === dimension) return stored.human;
  }
  const evaluation = await evaluateRun(record, TRANSFER_DATASET, { runsDir: opts.runsDir, asDimension: dimension });
  const human = evaluation.human!;
  writeFileAtomic(file, JSON.stringify({ dataset: TRANSFER_DATASET, hash: usrHash, dimension, human } satisfies StoredTransfer, null, 1) + "\n");
  return human;
}

/** The qualities a run of `dimension` is compared on: its matched one (where USR has it), then Overall. */
function shownQualities(dimension: string): string[] {
  return [...(MATCHED_QUALITY[dimension] ? [MATCHED_QUALITY[dimension]] : []), OVERALL];
}

/** The conversation runs among `records` (finished, of one dimension), each read on USR; the tables over seeds. */
export async function humanTransfer(
  records: readonly RunRecord[],
  opts: Pick<RunOptions, "runsDir"> & { onProgress?: (done: number, total: number) => void } = {},
): Promise<HumanTransfer> {
  const conversation = records.filter((r) => r.status === "done" && r.data.name.startsWith("conv-") && r.spec.dimension !== null);
  const usrHash = loadDataset(TRANSFER_DATASET, { allowTestOnly: true }).hash;
  const items: { record: RunRecord; quality: string; rho: number; n: number }[] = [];
  for (const [i, record] of conversation.entries()) {
    const human = await transferOf(record, usrHash, opts);
    for (const quality of shownQualities(record.spec.dimension!)) {
      const row = human.find((h) => h.quality === quality);
      if (!row)
        throw new Error(`run ${record.key}: ${TRANSFER_FILE} has no "${quality}" rating; USR rates ${human.map((h) => h.quality).join(", ")}`);
      items.push({ record, quality, rho: row.rho, n: row.n });
    }
    opts.onProgress?.(i + 1, conversation.length);
  }
  const qualities = [...new Set(items.map((it) => it.quality))];
  const ofQuality = (q: string) => items.filter((it) => it.quality === q);
  const runOf = (it: (typeof items)[number]) => it.record;
  const summary = qualities.flatMap((q) =>
    seedGroups(ofQuality(q), runOf).map((group) => {
      const { mean, lo, hi, nan } = seedInterval(group.map((it) => it.rho));
      // A t-interval over two or three seeds can reach past a correlation's range; it is cut to [-1, 1].
      const rho = { rho_mean: mean, rho_lo: Math.max(-1, lo), rho_hi: Math.min(1, hi) };
      return { ...armColumns(group[0].record.spec), quality: q, n_seeds: group.length, ...rho, constant_seeds: nan };
    }),
  );
  const differences = qualities.flatMap((q) => seedPairedDifferences(ofQuality(q), runOf, (it) => it.rho).map((row) => ({ ...row, quality: q })));
  return {
    runs: aq.from(items.map((it) => ({ ...armColumns(it.record.spec), seed: it.record.spec.seed, quality: it.quality, n: it.n, rho: it.rho }))),
    summary: aq.from(bySetting(summary)),
    // Beside the arm, as in the summary.
    differences: aq.from(bySetting(differences)).relocate("quality", { after: "expl_tokens" }),
  };
}

/** Rows of one setting together, its matched quality before Overall; within a quality, the order they came in (arms). */
function bySetting<R extends { dataset: string; dimension: string; quality: string }>(rows: R[]): R[] {
  const setting = (r: R) => `${r.dataset}\u0000${r.dimension}`;
  return [...rows].sort((a, b) => setting(a).localeCompare(setting(b)) || Number(a.quality === OVERALL) - Number(b.quality === OVERALL));
}
