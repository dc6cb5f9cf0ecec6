#!/usr/bin/env bash
# Builds xft's native kernels (src/backend/native/*.cc, a Node-API addon) into build/native/xft_kernels.node,
# with the machine's g++ for its own CPU (-march=native: the addon is built where it runs). No node-gyp: one
# file, Node's headers only. Exits 0 with a note when there is no compiler: the model then runs attention as
# tfjs ops (src/backend/attention-kernel.ts), slower but the same maths.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/native/xft_kernels.node
src=src/backend/native/causal_attention.cc
# Node's headers: npm's nodedir when set, else beside the node binary (Debian: /usr/include/node).
headers=${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}/include/node
if ! command -v g++ >/dev/null || [ ! -f "$headers/node_api.h" ]; then
  echo "native-kernels: no g++ or no Node headers ($headers); attention runs as tfjs ops"; exit 0
fi
mkdir -p build/native
# -ffast-math lets the compiler vectorise the dot products' sums; finite-math stays on (the scores use -inf nowhere,
# but a NaN in the input must stay a NaN so that a diverged run is caught).
g++ -std=c++17 -O3 -march=native -ffast-math -fno-finite-math-only -shared -fPIC -pthread \
  -I"$headers" -DNODE_GYP_MODULE_NAME=xft_kernels "$src" -o "$out.tmp"
mv "$out.tmp" "$out"
node -e "require('./$out')" || { echo "native-kernels: $out built but does not load"; exit 1; }
