/**
 * Probing a finished run: its model and test set are rebuilt from the run folder, each test example is
 * run up to its label-decision position (the <|score|> token; for `expl+label`, the end of the rationale
 * the model generates, regenerated greedily as the run's readout did), and the measures of
 * src/probe/measures.ts are stored beside the run in probe.json, which later calls reuse.
 *
 * The probe checks itself against the run: the lens distribution at the last residual point is the readout,
 * so it must match predictions.json; a mismatch (another decision position, a changed model) is an error.
 */
import * as fs from "fs";
import * as path from "path";
import { initBackend } from "../backend/engine";
import { argmax } from "../eval/readout";
import { disposeParams } from "../model/model";
import { writeFileAtomic } from "../util/atomic-write";
import { artifactProblems, damagedRunError } from "../runs/artifacts";
import { loadRunModel, readPredictions, readTestSet, recordTestSet, RunRecord, runFormat } from "../runs/experiment";
import { isRationaleFirst } from "../train/sequences";
import { DecisionSnapshot, EXAMPLE_MEASURES, ExampleMeasureName, LAYER_MEASURES, LayerMeasureName } from "./measures";
import { attentionHooks, DEFAULT_PROBE_MEMORY, probeBatchSize, probeSequences, residualPoints } from "./probe";
import { readJsonFile } from "../util/read-file";

export const PROBE_FILE = "probe.json";
/** Bumped when a measure's definition changes, so that stored probes are recomputed rather than mixed. */
const PROBE_VERSION = 1;
/** Largest |lens - readout| allowed: float32 differences between backends and predictions.json's 6 decimals. */
const READOUT_TOLERANCE = 1e-3;

export interface RunProbe {
  version: number;
  key: string;
  /** Residual point labels (embed, 0.mid, 0.post, ...) and block labels (0, 1, ...). */
  points: string[];
  blocks: string[];
  examples: number;
  /** Per layer measure, its mean over the test examples at every point (or block). */
  layers: Record<LayerMeasureName, number[]>;
  /** Per example measure, its mean over the test examples. */
  means: Record<ExampleMeasureName, number>;
  /** Per point: the share of examples whose lens top-1 is already the final prediction, and is the gold label. */
  lensAgreement: number[];
  lensAccuracy: number[];
  /** Per point, the mean lens distribution over the K labels (the logit-lens heatmap). */
  lensMeanProbs: number[][];
  /** How many examples first have the final prediction as top-1 at each point. */
  firstTop1Counts: number[];
  /** Per example, every measure: for ad hoc analysis. */
  perExample: Array<{ id: string; gold: number; predicted: number } & Record<LayerMeasureName, number[]> & Record<ExampleMeasureName, number>>;
  readoutMaxAbsDiff: number;
  batchSize: number;
  memoryBytes: number;
  wallS: number;
}

/** A finished run with its probe: what the probe comparisons (compare.ts) read. */
export interface ProbedRun {
  record: RunRecord;
  probe: RunProbe;
}

export interface ProbeRunOptions {
  /** Recompute even if probe.json exists. */
  fresh?: boolean;
  memoryBytes?: number;
  onProgress?: (done: number, total: number) => void;
}

/** The stored probe of a run, if it has a current one. */
export function storedProbe(record: Pick<RunRecord, "dir">): RunProbe | undefined {
  const file = path.join(record.dir, PROBE_FILE);
  if (!fs.existsSync(file)) return undefined;
  const probe = readJsonFile<RunProbe>(file, `run ${path.basename(record.dir)}`);
  return probe.version === PROBE_VERSION ? probe : undefined;
}

export async function probeRun(record: RunRecord, opts: ProbeRunOptions = {}): Promise<RunProbe> {
  if (record.status !== "done") throw new Error(`run ${record.key} is not finished (status ${record.status}); train it before probing`);
  const stored = opts.fresh ? undefined : storedProbe(record);
  if (stored) return stored;
  // A probe of a truncated or overwritten run would be stored and reused as if it were the run's.
  const problems = artifactProblems(record.dir, record.artifacts);
  if (problems.length > 0) throw damagedRunError({ key: record.key, problems });
  await initBackend();
  const started = Date.now();
  const fmt = runFormat(record);
  const test = recordTestSet(record, fmt);
  const predictions = readPredictions(record);
  const { params, config } = loadRunModel(record);
  try {
    let sequences = test.encoded.map((e) => e.tokens.slice(0, e.promptLen));
    if (isRationaleFirst(record.spec.condition)) {
      // The decision position is where the run's readout read the label: after the rationale and its close.
      const { rationales } = await readTestSet(params, config, test, record.spec.condition, fmt, record.sequence.maxExplTokens);
      sequences = sequences.map((s, i) => [...s, ...fmt.rationaleOpen, ...rationales![i], ...fmt.rationaleClose]);
    }
    const snapshots = await probeSequences(params, config, sequences, test.labels, {
      padId: fmt.padId,
      memoryBytes: opts.memoryBytes,
      onProgress: opts.onProgress,
    });
    assertFiniteSnapshots(
      snapshots,
      record.key,
      residualPoints(config).map((p) => p.label),
    );
    const readoutMaxAbsDiff = maxReadoutDifference(
      snapshots,
      predictions.map((p) => p.probs),
      record.key,
    );
    const probe = summarizeSnapshots(snapshots, {
      key: record.key,
      points: residualPoints(config).map((p) => p.label),
      blocks: attentionHooks(config).map((_, l) => String(l)),
      ids: test.examples.map((e) => e.id),
      gold: test.encoded.map((e) => e.label),
    });
    const result: RunProbe = {
      ...probe,
      readoutMaxAbsDiff,
      batchSize: probeBatchSize(config, opts),
      memoryBytes: opts.memoryBytes ?? DEFAULT_PROBE_MEMORY,
      wallS: (Date.now() - started) / 1000,
    };
    writeFileAtomic(path.join(record.dir, PROBE_FILE), JSON.stringify(result) + "\n");
    return result;
  } finally {
    disposeParams(params);
  }
}

/**
 * Every value the measures read is finite. The measures would not say so themselves: entropy skips NaN (0),
 * argmax never picks it, so a NaN model gave entropy 0, agreement 1 and a stored probe.
 */
export function assertFiniteSnapshots(snapshots: readonly DecisionSnapshot[], key: string, points: readonly string[]): void {
  const parts: Array<[string, (s: DecisionSnapshot) => Float32Array[], (j: number) => string]> = [
    ["residual stream", (s) => s.residual, (j) => `point ${points[j] ?? j}`],
    ["attention", (s) => s.attention, (j) => `block ${j}`],
    ["logit lens", (s) => s.lens, (j) => `point ${points[j] ?? j}`],
  ];
  snapshots.forEach((s, i) => {
    for (const [measure, valuesOf, where] of parts) {
      valuesOf(s).forEach((values, j) => {
        const bad = values.findIndex((x) => !Number.isFinite(x));
        if (bad >= 0)
          throw new Error(
            `run ${key}, example ${i}: the ${measure} at ${where(j)} has a non-finite value (${values[bad]}); the run's model is not finite`,
          );
      });
    }
  });
}

/** Largest |probe - predictions.json| over every example and label; NaN on either side is a failure, never a 0. */
export function maxReadoutDifference(snapshots: readonly DecisionSnapshot[], stored: readonly number[][], key: string): number {
  if (snapshots.length !== stored.length) throw new Error(`run ${key}: probed ${snapshots.length} examples, predictions.json has ${stored.length}`);
  let worst = 0;
  snapshots.forEach((s, i) => {
    const final = s.lens[s.lens.length - 1];
    if (final.length !== stored[i].length) throw new Error(`run ${key}, example ${i}: ${final.length} labels probed, ${stored[i].length} stored`);
    final.forEach((p, c) => {
      // A NaN stored by JSON.stringify comes back as null, and p - null is p: only a number is compared.
      const diff = typeof stored[i][c] === "number" ? Math.abs(p - stored[i][c]) : NaN;
      // Math.max(worst, NaN) is NaN, and NaN > tolerance is false: a NaN has to be caught by name.
      if (!Number.isFinite(diff))
        throw new Error(
          `run ${key}, example ${i}, label ${c}: the probe's probability ${p} against the stored ${stored[i][c]} is not a finite difference`,
        );
      worst = Math.max(worst, diff);
    });
  });
  if (worst > READOUT_TOLERANCE) {
    throw new Error(
      `run ${key}: the probe's final label distribution differs from the run's predictions by ${worst.toExponential(2)} ` +
        `(tolerance ${READOUT_TOLERANCE}); the decision position or the model is not the run's`,
    );
  }
  return worst;
}

/** Probes every run (stored probes are reused), one after the other; `onProgress` gets the run's position. */
export async function probeRuns(
  records: readonly RunRecord[],
  opts: Omit<ProbeRunOptions, "onProgress"> & { onProgress?: (run: number, runs: number, record: RunRecord) => void } = {},
): Promise<ProbedRun[]> {
  const out: ProbedRun[] = [];
  for (const [i, record] of records.entries()) {
    opts.onProgress?.(i + 1, records.length, record);
    out.push({ record, probe: await probeRun(record, { fresh: opts.fresh, memoryBytes: opts.memoryBytes }) });
  }
  return out;
}

const round = (x: number) => Number(x.toFixed(5));

/** Means and per-example values of every measure over a run's snapshots. */
function summarizeSnapshots(
  snapshots: readonly DecisionSnapshot[],
  meta: { key: string; points: string[]; blocks: string[]; ids: string[]; gold: number[] },
): Omit<RunProbe, "readoutMaxAbsDiff" | "batchSize" | "memoryBytes" | "wallS"> {
  const n = snapshots.length;
  if (n === 0) throw new Error(`run ${meta.key}: no test examples to probe`);
  const P = meta.points.length;
  const layerNames = Object.keys(LAYER_MEASURES) as LayerMeasureName[];
  const exampleNames = Object.keys(EXAMPLE_MEASURES) as ExampleMeasureName[];
  const perExample = snapshots.map((s, i) => {
    const row: Record<string, unknown> = { id: meta.ids[i], gold: meta.gold[i], predicted: argmax(s.lens[P - 1]) };
    for (const name of layerNames) row[name] = LAYER_MEASURES[name].of(s).map(round);
    for (const name of exampleNames) row[name] = round(EXAMPLE_MEASURES[name](s));
    return row as RunProbe["perExample"][number];
  });
  const meanOf = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const layers = Object.fromEntries(
    layerNames.map((name) => {
      const width = LAYER_MEASURES[name].over === "residual" ? P : meta.blocks.length;
      return [name, Array.from({ length: width }, (_, j) => meanOf(perExample.map((e) => e[name][j])))];
    }),
  ) as Record<LayerMeasureName, number[]>;
  const means = Object.fromEntries(exampleNames.map((name) => [name, meanOf(perExample.map((e) => e[name]))])) as Record<ExampleMeasureName, number>;
  const k = snapshots[0].lens[0].length;
  const firstTop1Counts = new Array<number>(P).fill(0);
  for (const e of perExample) firstTop1Counts[e.first_top1_point] += 1;
  return {
    version: PROBE_VERSION,
    key: meta.key,
    points: meta.points,
    blocks: meta.blocks,
    examples: n,
    layers,
    means,
    lensAgreement: meta.points.map((_, j) => meanOf(snapshots.map((s, i) => (argmax(s.lens[j]) === perExample[i].predicted ? 1 : 0)))),
    lensAccuracy: meta.points.map((_, j) => meanOf(snapshots.map((s, i) => (argmax(s.lens[j]) === meta.gold[i] ? 1 : 0)))),
    lensMeanProbs: meta.points.map((_, j) => Array.from({ length: k }, (_, c) => meanOf(snapshots.map((s) => s.lens[j][c])))),
    firstTop1Counts,
    perExample,
  };
}
