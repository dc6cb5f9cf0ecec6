/**
 * A trained rater applied to new data: a finished run's model reads another dataset in the example schema (its test
 * split, or an evaluation-only dataset such as USR) exactly as the run read its own test set, and gives its metrics
 * and per-example label probabilities. Where people rated the dataset's responses (its ratings.jsonl: USR), also how
 * the run's expected score agrees with them (src/eval/human-agreement.ts). Notebooks call `evaluateRun`; `xft eval`
 * prints and writes the same.
 */
import * as aq from "arquero";
import { initBackend } from "../backend/engine";
import { readHumanRatings } from "../data/human-ratings";
import { loadDataset } from "../data/load";
import { humanAgreement, HumanAgreementRow } from "../eval/human-agreement";
import { RunMetrics, runMetrics } from "../eval/metrics";
import { disposeParams } from "../model/model";
import { loadRunModel, ofDimension, Prediction, readRunRecord, readTestSet, RunOptions, RunRecord, runFormat, testSetOf } from "./experiment";

export interface Evaluation {
  run: string;
  dataset: string;
  dimension: string | null;
  labelSet: string[];
  metrics: RunMetrics;
  predictions: Prediction[];
  /** Where the dataset carries people's ratings: Spearman's rho of the expected score with each rated quality. */
  human?: HumanAgreementRow[];
}

export interface EvaluateOptions extends Pick<RunOptions, "runsDir"> {
  /** Only this dimension's rows (a benchmark source rates three). */
  dimension?: string;
  /**
   * Read every row as a row of this dimension: a rater trained on one dimension (naturalness) applied to responses
   * that people rated on others (USR's Overall). The prompt names the dimension, so it must be the run's own.
   */
  asDimension?: string;
  onProgress?: (done: number, total: number) => void;
}

/** A run (its key, folder or record) on a dataset (a name under data/, or a path); its label set must be the run's. */
export async function evaluateRun(run: string | RunRecord, dataset: string, opts: EvaluateOptions = {}): Promise<Evaluation> {
  const record = typeof run === "string" ? readRunRecord(run, { runsDir: opts.runsDir }) : run;
  if (record.status !== "done") throw new Error(`run ${record.key} is not finished (status ${record.status}); train it first`);
  const data = loadDataset(dataset, { allowTestOnly: true });
  if (data.labelSet.join("\u0000") !== record.data.labelSet.join("\u0000")) {
    throw new Error(`dataset ${data.name} has labels ${data.labelSet.join(", ")}; run ${record.key} rates ${record.data.labelSet.join(", ")}`);
  }
  if (opts.asDimension !== undefined)
    data.test = ofDimension(data.test, opts.dimension, data.name).map((ex) => ({ ...ex, dimension: opts.asDimension! }));
  await initBackend();
  const fmt = runFormat(record);
  const test = testSetOf(data, opts.asDimension ?? opts.dimension, undefined, record.spec.condition, fmt, record.sequence);
  const { params, config } = loadRunModel(record);
  try {
    const { readout, rationales } = await readTestSet(
      params,
      config,
      test,
      record.spec.condition,
      fmt,
      record.sequence.maxExplTokens,
      opts.onProgress,
    );
    const predictions: Prediction[] = test.examples.map((ex, i) => ({
      id: ex.id,
      gold: readout.gold[i],
      predicted: readout.predicted[i],
      probs: Array.from(readout.probs.subarray(i * readout.k, (i + 1) * readout.k)),
      ...(rationales ? { rationale: fmt.decode(rationales[i]) } : {}),
    }));
    const ratings = readHumanRatings(data.dir);
    return {
      run: record.key,
      dataset: data.name,
      dimension: opts.dimension ?? null,
      labelSet: data.labelSet,
      metrics: runMetrics(readout.gold, readout.predicted, readout.probs, readout.k),
      predictions,
      ...(ratings ? { human: humanAgreement(predictions, data.labelSet, ratings) } : {}),
    };
  } finally {
    disposeParams(params);
  }
}

/** One row per example: its id, gold and predicted labels, and each label's probability (`p_<label>`). */
export function predictionTable(e: Evaluation): ReturnType<typeof aq.from> {
  return aq.from(
    e.predictions.map((p) => ({
      id: p.id,
      gold: e.labelSet[p.gold],
      predicted: e.labelSet[p.predicted],
      ...Object.fromEntries(e.labelSet.map((label, k) => [`p_${label}`, Number(p.probs[k].toFixed(6))])),
      ...(p.rationale !== undefined ? { rationale: p.rationale } : {}),
    })),
  );
}
