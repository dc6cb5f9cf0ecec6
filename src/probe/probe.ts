/**
 * The probe: one forward pass per batch with the hook points it needs recorded (one activation cache, as in
 * TransformerLens), and from that cache each sequence's activations at its last token, the label-decision
 * position. The measures of src/probe/measures.ts are computed from those snapshots; the model itself is
 * only read.
 *
 * Residual points, in order: the embedding, then per block the stream after its attention (`L.mid`) and
 * after its MLP (`L.post`). With sublayer resolution a one-layer model still has an intermediate point.
 *
 * Memory bound: a batch's cache holds (2L + 1) residual tensors [B, T, d] and L attention patterns
 * [B, H, T, T] in float32; the batch size is the largest (at most `maxBatch`) whose cache, at the model's
 * maxLen, fits in `memoryBytes`. The forward pass's own temporaries come on top, as in evaluation.
 */
import { assertBackendHealthy, tf } from "../backend/engine";
import { labelDistribution, labelLogitsOf, labelScoring, singleTokenLabels, tokenLogProbs } from "../eval/readout";
import { finalNorm, flatPositions, forward, ModelConfig, Params } from "../model/model";
import { makeBatch } from "../train/sequences";
import { yieldToEventLoop } from "../util/event-loop";
import type { DecisionSnapshot } from "./measures";

export interface ResidualPoint {
  hook: string;
  label: string;
}

export function residualPoints(config: ModelConfig): ResidualPoint[] {
  const points: ResidualPoint[] = [{ hook: "hook_embed", label: "embed" }];
  for (let l = 0; l < config.layers; l++) {
    points.push({ hook: `blocks.${l}.hook_resid_mid`, label: `${l}.mid` }, { hook: `blocks.${l}.hook_resid_post`, label: `${l}.post` });
  }
  return points;
}

export function attentionHooks(config: ModelConfig): string[] {
  return Array.from({ length: config.layers }, (_, l) => `blocks.${l}.attn.hook_pattern`);
}

/** Bytes of one sequence's activation cache at length T. */
export function cacheBytesPerSequence(config: ModelConfig, T: number): number {
  return 4 * ((2 * config.layers + 1) * T * config.dModel + config.layers * config.heads * T * T);
}

export const DEFAULT_PROBE_MEMORY = 256 * 2 ** 20;

export interface ProbeOptions {
  padId: number;
  /** Bound on one batch's activation cache (default 256 MiB). */
  memoryBytes?: number;
  /** Largest batch (default 64, as the readout's). */
  maxBatch?: number;
  onProgress?: (done: number, total: number) => void;
}

export function probeBatchSize(config: ModelConfig, opts: Pick<ProbeOptions, "memoryBytes" | "maxBatch">): number {
  const fits = Math.floor((opts.memoryBytes ?? DEFAULT_PROBE_MEMORY) / cacheBytesPerSequence(config, config.maxLen));
  return Math.max(1, Math.min(opts.maxBatch ?? 64, fits));
}

/**
 * One batch's read-back values as snapshots: `values` holds the P residual points, then the P lens readings (label
 * rows, turned into distributions by `toDistribution` where labels span several tokens), then the attention rows.
 */
function batchSnapshots(
  values: Float32Array[],
  P: number,
  positions: readonly number[],
  dims: { d: number; k: number; H: number; T: number },
  toDistribution?: (v: Float32Array) => Float32Array,
): DecisionSnapshot[] {
  const { d, k, H, T } = dims;
  const lensValues = values.slice(P, 2 * P).map((v) => (toDistribution ? toDistribution(v) : v));
  return positions.map((position, b) => {
    const n = position + 1;
    return {
      residual: values.slice(0, P).map((v) => v.slice(b * d, (b + 1) * d)),
      lens: lensValues.map((v) => v.slice(b * k, (b + 1) * k)),
      // Each head's row up to the decision position (the rest is masked to exactly 0).
      attention: values.slice(2 * P).map((v) => {
        const row = new Float32Array(H * n);
        for (let h = 0; h < H; h++) row.set(v.subarray(b * H * T + h * T, b * H * T + h * T + n), h * n);
        return row;
      }),
      heads: H,
    };
  });
}

/**
 * Snapshots at the last token of each sequence (token ids, each at most the model's maxLen long): the
 * residual stream at every point, the attention rows of every block, and the logit-lens label distribution
 * at every point. Labels of several tokens are scored as the readout scores them (src/eval/readout.ts): one row
 * per (sequence, label), each label token's log-probability read through the lens at its own position; the
 * residual and attention snapshots come from the first row, whose prefix is the sequence.
 */
export async function probeSequences(
  params: Params,
  config: ModelConfig,
  sequences: readonly number[][],
  labels: readonly number[][],
  opts: ProbeOptions,
): Promise<DecisionSnapshot[]> {
  const points = residualPoints(config);
  const patterns = attentionHooks(config);
  const single = singleTokenLabels(labels);
  const k = labels.length;
  const rowsPerSequence = single ? 1 : k;
  const batchSize = Math.max(1, Math.floor(probeBatchSize(config, opts) / rowsPerSequence));
  const d = config.dModel;
  const H = config.heads;
  const snapshots: DecisionSnapshot[] = [];
  for (let start = 0; start < sequences.length; start += batchSize) {
    const seqs = sequences.slice(start, start + batchSize);
    seqs.forEach((s, j) => {
      if (s.length === 0) throw new Error(`probe: sequence ${start + j} is empty`);
    });
    const scoring = single ? undefined : labelScoring(seqs, labels);
    const rows = scoring?.rows ?? seqs;
    const batch = makeBatch(
      rows.map((tokens) => ({ tokens, promptLen: tokens.length, label: 0 })),
      opts.padId,
      config.maxLen,
      false,
    );
    const B = batch.rows;
    const T = batch.length;
    const positions = seqs.map((s) => s.length - 1);
    const picked = tf.tidy(() => {
      const inputs = tf.tensor2d(batch.inputs, [B, T], "int32");
      const { hidden, cache } = forward(params, config, inputs, { hooks: [...points.map((p) => p.hook), ...patterns] });
      try {
        const flat = (name: string, width: number) => cache.get(name)!.reshape([B * T, width]);
        const idx = flatPositions(
          T,
          positions.map((_, b) => b * rowsPerSequence),
          positions,
        );
        const residual = points.map((p) => tf.gather(flat(p.hook, d), idx) as tf.Tensor2D);
        // The lens reads every point as the model reads its last one: the final norm, then the head.
        const lensOf = (h: tf.Tensor) => finalNorm(params, config, h) as tf.Tensor2D;
        const lens = scoring
          ? points.map((p) =>
              tokenLogProbs(params, lensOf(tf.gather(flat(p.hook, d), flatPositions(T, scoring.rowOf, scoring.positions))), scoring.targets),
            )
          : residual.map((h) => tf.softmax(labelLogitsOf(params, lensOf(h), single!)));
        // Pattern [B, H, T, T] -> rows [B * T, H * T]: the decision row of every head, side by side.
        const attention = patterns.map((name) =>
          tf.gather(
            cache
              .get(name)!
              .transpose([0, 2, 1, 3])
              .reshape([B * T, H * T]),
            idx,
          ),
        );
        return [...residual, ...lens, ...attention];
      } finally {
        hidden.dispose();
        for (const t of cache.values()) t.dispose();
      }
    });
    const values = await Promise.all(picked.map((t) => t.data() as Promise<Float32Array>));
    picked.forEach((t) => t.dispose());
    assertBackendHealthy();
    snapshots.push(...batchSnapshots(values, points.length, positions, { d, k, H, T }, scoring && ((v) => labelDistribution(v, scoring, k))));
    opts.onProgress?.(Math.min(start + batchSize, sequences.length), sequences.length);
    await yieldToEventLoop();
  }
  return snapshots;
}
