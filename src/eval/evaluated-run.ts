/**
 * What the analysis reads of a finished run: its spec, its metrics and test predictions, and a few facts of its
 * training. src/runs' RunRecord has these fields (and more) and is passed in as it is; declaring them here keeps
 * the analysis free of the runs layer, which itself calls the analysis.
 */
import type { RunMetrics } from "./metrics";
import type { RunSpecRow } from "./run-identity";

/** One test example's readout. */
export interface Prediction {
  id: string;
  gold: number;
  predicted: number;
  probs: number[];
  /** `expl+label` only: the explanation the model generated before its label, decoded. */
  rationale?: string;
}

export interface EvaluatedRun {
  key: string;
  status: "done" | "stopped";
  spec: RunSpecRow;
  data: { labelSet: string[] };
  metrics?: RunMetrics;
  training: { steps: number; tokensPerSec: number; wallS: number };
  environment: { backend: string };
}
