/**
 * Training as a notebook shows it: progress bars that end at 100% when the work is done, and a live loss chart
 * (live-chart.ts) that a reused run or base fills at once with its stored curve. One call per cell:
 * - `liveRuns()`: runs one after the other (notebook 00), a bar each, their curves on one chart;
 * - `livePretrain(name, train)`: a base's pretraining (notebook 05);
 * - `gridProgress(title, { chart })`: runGrid's onProgress (notebooks 02-05).
 */
import { describeArm } from "../src/eval/run-identity";
import type { RunRecord } from "../src/runs/experiment";
import type { GridProgress } from "../src/runs/grid";
import type { PretrainResult } from "../src/runs/pretrain";
import { pretrainLossFigure, trainingLossFigure } from "../src/viz/figures";
import { liveLossChart, type LiveLossChart } from "./live-chart";
import { type ProgressBar, progressBar } from "./progress";

/** A progress event as runExperiment and pretrain report it: a step's loss while training, none while evaluating. */
export interface TrainingEvent {
  done: number;
  total: number;
  text: string;
  step?: number;
  loss?: number;
}

export type TrainingCallback = (e: TrainingEvent) => void;

/** Each event moves the bar; a training step's loss is a point of `curve` on the chart. */
function watchTraining(bar: ProgressBar, chart: LiveLossChart, curve: string): TrainingCallback {
  return (e) => {
    bar.update(e.done, e.total, e.text);
    if (e.step !== undefined && e.loss !== undefined) chart.add(curve, { step: e.step, loss: e.loss });
  };
}

/** The bar's last word on a run: full for a finished or reused run, where it stopped for a stopped one. */
function closeRunBar(bar: ProgressBar, record: RunRecord): void {
  bar.update(record.training.steps, record.train.steps);
  if (record.reused) bar.close(`reused finished run ${record.key}`);
  else if (record.status === "stopped") bar.close(`stopped after step ${record.training.steps}: run the cell again to resume`);
  else bar.close(`${record.training.steps} steps, ${Math.round(record.training.tokensPerSec)} tokens/s`);
}

export interface LiveRuns {
  /**
   * Trains (or reuses) one run: `train` gets the onProgress to hand to runExperiment. The run gets a bar of its own
   * and its curve on the chart under `name`; when it ends, its whole stored curve replaces the live one.
   */
  run(name: string, train: (onProgress: TrainingCallback) => Promise<RunRecord>): Promise<RunRecord>;
  /** Draws the chart's final state: every run's full curve. */
  close(): void;
}

/** One loss chart for runs trained one after the other, above their bars. */
export function liveRuns(title?: string): LiveRuns {
  const chart = liveLossChart((curves) => trainingLossFigure(curves, title));
  return {
    async run(name, train) {
      const bar = progressBar(name);
      const record = await train(watchTraining(bar, chart, name));
      chart.set(name, record.training.losses);
      closeRunBar(bar, record);
      return record;
    },
    close: () => chart.close(),
  };
}

/**
 * Pretrains (or reuses) a base: `train` gets the onProgress to hand to pretrain. A bar and the loss chart while it
 * trains; at the end the chart is the base card's curve with its held-out loss.
 */
export async function livePretrain(name: string, train: (onProgress: TrainingCallback) => Promise<PretrainResult>): Promise<PretrainResult> {
  const bar = progressBar(name);
  const chart = liveLossChart((curves) => pretrainLossFigure({ losses: curves[0]?.losses ?? [] }));
  const result = await train(watchTraining(bar, chart, "training loss"));
  const card = result.card;
  if (!card) {
    chart.close();
    bar.close("stopped: run the cell again to resume from its checkpoint");
    return result;
  }
  chart.close(pretrainLossFigure(card));
  bar.update(card.train.steps, card.train.steps);
  bar.close(result.reused ? `reused the base in ${result.dir}` : `pretrained in ${Math.round(card.wallS)} s`);
  return result;
}

/**
 * runGrid's onProgress: one bar over the grid's runs, which ends at 100% when its last run is finished or reused (a
 * stopped grid's bar stays where it stopped). With `chart`, a live chart of the latest run of each condition.
 */
export function gridProgress(title: string, opts: { chart?: boolean } = {}): (p: GridProgress) => void {
  const bar = progressBar(title);
  const chart = opts.chart ? liveLossChart((curves) => trainingLossFigure(curves, `${title}: training loss, latest run per condition`)) : undefined;
  let reused = 0;
  return (p) => {
    // A run's curve is its arm's, so that the conditions of a setting overlay.
    const curve = describeArm(p.spec);
    if (p.finished) {
      chart?.set(curve, p.finished.training.losses);
      if (p.finished.reused) reused += 1;
      const done = p.finished.status === "done" ? p.run : p.run - 1;
      bar.update(done, p.runs, p.text);
      if (done < p.runs) return;
      bar.close(`${p.runs} runs, ${reused} reused from runs/`);
      chart?.close();
      return;
    }
    // A run's first report: its condition's curve starts over.
    if (!p.event) chart?.set(curve, []);
    else if (p.event.phase === "train") chart?.add(curve, { step: p.event.step, loss: p.event.loss });
    bar.update(p.run - 1, p.runs, p.text);
  };
}
