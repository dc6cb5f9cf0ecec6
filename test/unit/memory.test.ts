/**
 * Memory of the backward pass: tfjs keeps the gradient of every intermediate tensor until gradients()
 * ends, which doubles a training step's peak; our patch of tfjs-core (patches/) releases each one once
 * its node has propagated it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { initBackend, tf } from "../../src/backend/engine";

test("the backward pass releases each intermediate gradient once it has been propagated", async () => {
  await initBackend({ quiet: true });
  const n = 1000;
  const depth = 50;
  const x = tf.variable(tf.ones([n]));
  // An identity whose gradient reads the engine's memory: it is the last node of the backward pass, when
  // every intermediate gradient would still be held without the patch.
  let bytesAtEnd = 0;
  const probe = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const t = args[0] as tf.Tensor;
    return {
      value: t.clone(),
      gradFunc: (dy: tf.Tensor) => {
        bytesAtEnd = tf.memory().numBytes;
        return dy.clone();
      },
    };
  });
  const chain = () => {
    let y: tf.Tensor = probe(x);
    for (let i = 0; i < depth; i++) y = y.neg(); // neg keeps nothing for its gradient
    return y.sum() as tf.Scalar;
  };
  const before = tf.memory().numBytes;
  const { value, grads } = tf.variableGrads(chain, [x]);
  const perTensor = 4 * n;
  assert.ok(bytesAtEnd - before < 10 * perTensor, `${(bytesAtEnd - before) / perTensor} tensors of [${n}] alive at the end of the backward pass`);
  assert.deepEqual(Array.from(grads[x.name].dataSync()), new Array(n).fill(1)); // (-1)^50
  tf.dispose([value, ...Object.values(grads), x]);
});
