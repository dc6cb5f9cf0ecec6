/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with global-norm gradient clipping, and the
 * learning-rate schedule: linear warm-up, then cosine decay to `minLr`.
 */
import { tf } from "../backend/engine";
import type { Params } from "../model/gpt";

export interface OptimizerConfig {
  lr: number;
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Clip the global gradient norm to this value (0: no clipping). */
  gradClip: number;
}

/** Learning rate at step `step` (1-based) of `totalSteps`. */
export function learningRate(c: OptimizerConfig, step: number, totalSteps: number): number {
  if (step <= c.warmupSteps) return (c.lr * step) / Math.max(1, c.warmupSteps);
  const progress = Math.min(1, (step - c.warmupSteps) / Math.max(1, totalSteps - c.warmupSteps));
  return c.minLr + 0.5 * (c.lr - c.minLr) * (1 + Math.cos(Math.PI * progress));
}

/** Weight decay applies to matrices only, not to gains and biases (as in nanoGPT). */
export function decays(shape: readonly number[]): boolean {
  return shape.length >= 2;
}

export class AdamW {
  readonly m: Record<string, tf.Variable> = {};
  readonly v: Record<string, tf.Variable> = {};
  /** Number of updates applied so far. */
  step = 0;

  constructor(readonly config: OptimizerConfig, private readonly params: Params) {
    for (const [name, p] of Object.entries(params)) {
      this.m[name] = tf.variable(tf.zerosLike(p), false);
      this.v[name] = tf.variable(tf.zerosLike(p), false);
    }
  }

  /**
   * Applies one update with learning rate `lr`. Returns the global gradient norm before clipping,
   * as a scalar tensor, so that reading it does not force a sync.
   */
  apply(grads: Record<string, tf.Tensor>, lr: number): tf.Scalar {
    const c = this.config;
    this.step += 1;
    const bc1 = 1 - c.beta1 ** this.step;
    const bc2 = 1 - c.beta2 ** this.step;
    return tf.tidy(() => {
      const names = Object.keys(grads);
      const norm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]))))) as tf.Scalar;
      // scale = min(1, clip / norm), computed on the device.
      const scale = c.gradClip > 0 ? tf.minimum(1, tf.div(c.gradClip, tf.maximum(norm, 1e-12))) : tf.scalar(1);
      for (const name of names) {
        const p = this.params[name];
        const g = grads[name].mul(scale);
        const m = this.m[name];
        const v = this.v[name];
        m.assign(m.mul(c.beta1).add(g.mul(1 - c.beta1)));
        v.assign(v.mul(c.beta2).add(g.square().mul(1 - c.beta2)));
        let update = m.div(bc1).div(v.div(bc2).sqrt().add(c.eps));
        if (c.weightDecay > 0 && decays(p.shape)) update = update.add(p.mul(c.weightDecay));
        p.assign(p.sub(update.mul(lr)));
      }
      return norm;
    });
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose();
  }
}
