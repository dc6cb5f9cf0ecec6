#!/usr/bin/env bash
# Builds xft's native kernels with the machine's g++ for its own CPU (-march=native: they are built where they run;
# XFT_MARCH=haswell builds the AVX2 code of an older CPU instead, to time or test it on a newer one):
# - build/native/xft_kernels.node: causal attention (src/backend/native/causal_attention.cc), a Node-API addon on
#   Node's headers only, used by every backend;
# - build/native/xft_tf_ops.node: matrix products, GELU, LayerNorm, attention, the head's cross-entropy and AdamW as TensorFlow ops
#   (src/backend/native/tf_ops.cc), on the TensorFlow C API that the native backend was built with
#   (scripts/native-tf.sh), for that backend only.
# No node-gyp: one file each. Exits 0 with a note when something is missing: the model then runs those parts as tfjs
# ops (src/backend/attention-kernel.ts, tf-ops.ts), slower but the same maths.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node's headers: npm's nodedir when set, else beside the node binary (Debian: /usr/include/node).
headers=${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}/include/node
if ! command -v g++ >/dev/null || [ ! -f "$headers/node_api.h" ]; then
  echo "native-kernels: no g++ or no Node headers ($headers); the model and optimizer run as tfjs ops"; exit 0
fi
mkdir -p build/native
# -ffast-math lets the compiler vectorise the sums; finite-math stays on (the scores use -inf nowhere, but a NaN in
# the input must stay a NaN so that a diverged run is caught).
build() {  # name source extra-flags...
  local out=build/native/$1.node src=$2
  shift 2
  g++ -std=c++17 -O3 -march=${XFT_MARCH:-native} -ffast-math -fno-finite-math-only -shared -fPIC -pthread \
    -I"$headers" -DNODE_GYP_MODULE_NAME="$(basename "$out" .node)" "$src" "$@" -o "$out.tmp"
  mv "$out.tmp" "$out"
}
build xft_kernels src/backend/native/causal_attention.cc
node -e "require('./build/native/xft_kernels.node')" || { echo "native-kernels: xft_kernels.node built but does not load"; exit 1; }

tfdeps=node_modules/@tensorflow/tfjs-node/deps
if [ ! -f "$tfdeps/include/tensorflow/c/kernels.h" ] || [ ! -e "$tfdeps/lib/libtensorflow_framework.so.2" ]; then
  rm -f build/native/xft_tf_ops.node
  echo "native-kernels: no TensorFlow C API in $tfdeps (bash scripts/native-tf.sh); GELU, LayerNorm, cross-entropy and AdamW run as tfjs ops"; exit 0
fi
# Linked to the libtensorflow_framework that tfjs-node's addon loads (found through the rpath, or already loaded).
build xft_tf_ops src/backend/native/tf_ops.cc -I"$tfdeps/include" -L"$tfdeps/lib" -l:libtensorflow_framework.so.2 \
  -Wl,-rpath,"\$ORIGIN/../../$tfdeps/lib"
# (TensorFlow's start-up lines on stderr are shown only when this fails.)
if ! log=$(node -e "require('@tensorflow/tfjs-node'); require('./build/native/xft_tf_ops.node').register(1)" 2>&1); then
  echo "$log"; echo "native-kernels: xft_tf_ops.node built but does not register its ops"; exit 1
fi
