/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with global-norm gradient clipping, and the
 * learning-rate schedule: linear warm-up, then cosine decay to `minLr`.
 *
 * The update runs on all parameters at once, as one flat vector: a small model's step is bound by the
 * cost per op (about 15 us on tfjs-node), and a per-tensor update would cost a dozen ops per tensor. Where the
 * backend has fused ops (backend/fused-ops.ts: one TensorFlow op on native, WGSL kernels on webgpu) it runs on them,
 * the same maths.
 */
import { tf } from "../backend/engine";
import { fusedOps } from "../backend/fused-ops";
import type { Params } from "../model/model";

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

/** Whether `t` is the only tfjs tensor on its data: tf.clone, and tf.variable of a tensor, share the data they come from. */
function holdsDataAlone(t: tf.Tensor): boolean {
  return (tf.backend() as unknown as { refCount(dataId: object): number }).refCount(t.dataId) === 1;
}

/**
 * Whether the fused op may write params[i]'s update over it (sparing a second copy of the model beside the first):
 * the variable gives its old value up to the new one it is assigned, so it may where nothing else holds that data:
 * no other tfjs tensor shares it (tf.clone, or a tensor kept after tf.variable was made of it) and the variable is
 * not listed twice. A tensor that TensorFlow made on the same buffer is not seen (tfjs-node's reshape is TensorFlow's
 * Reshape, which aliases its input): the model makes those only inside the gradient computation, whose tensors
 * variableGrads has disposed of before the update; one held across a step would show the new values.
 */
function ownsItsData(params: tf.Variable[], i: number): boolean {
  return holdsDataAlone(params[i]) && params.indexOf(params[i]) === i && params.lastIndexOf(params[i]) === i;
}

export class AdamW {
  /** First and second moments of all parameters, flat, in the order of `names`. */
  readonly m: tf.Variable;
  readonly v: tf.Variable;
  readonly names: string[];
  /** Number of updates applied so far. */
  step = 0;
  private readonly sizes: number[];
  /**
   * 1 where the parameter decays, 0 elsewhere: per parameter (the fused op's), and per value (the tfjs ops', made on
   * their first step only: a float per parameter, as large as the model, that the fused op never reads).
   */
  private readonly decayFlags: tf.Tensor1D;
  private decayMask?: tf.Tensor1D;

  constructor(
    readonly config: OptimizerConfig,
    private readonly params: Params,
  ) {
    this.names = Object.keys(params);
    this.sizes = this.names.map((n) => params[n].size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    // Built in a tidy so that the zeros they start from are released with the variables.
    this.m = tf.tidy(() => tf.variable(tf.zeros([total]), false));
    this.v = tf.tidy(() => tf.variable(tf.zeros([total]), false));
    this.decayFlags = tf.tensor1d(this.names.map((n) => (decays(params[n].shape) ? 1 : 0)));
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
    const fused = fusedOps();
    if (fused) {
      return tf.tidy(() => {
        const params = this.names.map((n) => this.params[n]);
        const out = fused.adamW(
          params,
          this.names.map((n) => grads[n]),
          this.m,
          this.v,
          {
            lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            weightDecay: c.weightDecay,
            biasCorrection1: bc1,
            biasCorrection2: bc2,
            gradClip: c.gradClip,
          },
          this.decayFlags,
          params.map((_, i) => ownsItsData(params, i)),
        );
        this.names.forEach((n, i) => this.params[n].assign(out.params[i]));
        // The moments may come back as the same tensors, updated in place (webgpu).
        if (out.m !== this.m) this.m.assign(out.m);
        if (out.v !== this.v) this.v.assign(out.v);
        return out.norm;
      });
    }
    return tf.tidy(() => {
      const flat = (xs: tf.Tensor[]) => tf.concat(xs.map((x) => x.reshape([-1])));
      const g = flat(this.names.map((n) => grads[n]));
      const norm = tf.sqrt(tf.sum(tf.square(g))) as tf.Scalar;
      // scale = min(1, clip / norm), computed on the device.
      const clipped = c.gradClip > 0 ? g.mul(tf.minimum(1, tf.div(c.gradClip, tf.maximum(norm, 1e-12)))) : g;
      this.m.assign(this.m.mul(c.beta1).add(clipped.mul(1 - c.beta1)));
      this.v.assign(this.v.mul(c.beta2).add(clipped.square().mul(1 - c.beta2)));
      const p = flat(this.names.map((n) => this.params[n]));
      let update = this.m.div(this.v.div(bc2).sqrt().add(c.eps)).mul(1 / bc1);
      if (c.weightDecay > 0) update = update.add(p.mul(this.valueDecayMask()).mul(c.weightDecay));
      const next = tf.split(p.sub(update.mul(lr)), this.sizes);
      this.names.forEach((n, i) => this.params[n].assign(next[i].reshape(this.params[n].shape)));
      return norm;
    });
  }

  private valueDecayMask(): tf.Tensor1D {
    if (!this.decayMask) {
      const mask = new Float32Array(this.m.size);
      let at = 0;
      this.names.forEach((n, i) => {
        if (decays(this.params[n].shape)) mask.fill(1, at, at + this.sizes[i]);
        at += this.sizes[i];
      });
      this.decayMask = tf.keep(tf.tensor1d(mask));
    }
    return this.decayMask;
  }

  dispose(): void {
    tf.dispose([this.m, this.v, this.decayFlags, ...(this.decayMask ? [this.decayMask] : [])]);
  }
}
