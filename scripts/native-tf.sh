#!/usr/bin/env bash
# Builds @tensorflow/tfjs-node's addon against the TensorFlow C API inside the tensorflow-cpu pip wheel.
# tfjs-node's own installer downloads libtensorflow, which fails offline; the wheel comes from the local
# pip index. The libraries (about 600 MB) live in .tfnative/, which git ignores.
# Recipe and pitfalls: ../shared/research/tfjs-native.md. Idempotent; exits 0 with a note if it cannot build,
# so that the wasm backend still serves (src/backend picks whatever initialises).
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=node_modules/@tensorflow/tfjs-node
TFDIR=${TFDIR:-$PWD/.tfnative}
WHEEL_SPEC=${WHEEL_SPEC:-tensorflow-cpu==2.21.0}
smoke() {
  TF_CPP_MIN_LOG_LEVEL=2 node -e "
const tf = require('@tensorflow/tfjs-node');
const v = Array.from(tf.matMul(tf.tensor2d([[1,2],[3,4]]), tf.tensor2d([[5,6],[7,8]])).dataSync());
if (tf.getBackend() !== 'tensorflow' || v.join() !== '19,22,43,50') process.exit(1);
console.log('tfjs-node OK: TensorFlow', tf.backend().binding.TF_Version);" 2>/dev/null
}
[ -d "$PKG" ] || { echo "native-tf: $PKG is not installed (run npm ci first)"; exit 1; }
# The kernel API's headers (for xft's own TensorFlow ops, scripts/native-kernels.sh) came with later versions of this script.
KERNEL_HEADER=tensorflow/core/common_runtime/next_pluggable_device/c/tf_rendezvous_c_api.h
if smoke && { [ ! -L "$PKG/deps/include" ] || [ -f "$TFDIR/include/$KERNEL_HEADER" ]; }; then exit 0; fi
# A machine with internet: tfjs-node's own installer works and is preferred.
if [ -z "${XFT_NATIVE_FROM_WHEEL:-}" ] && (cd "$PKG" && timeout 120 node scripts/install.js >/dev/null 2>&1) && smoke; then exit 0; fi
if [ ! -f "$TFDIR/lib/libtensorflow_cc.so.2" ] || [ ! -f "$TFDIR/include/$KERNEL_HEADER" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if ! pip download "$WHEEL_SPEC" --no-deps --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
      --platform manylinux_2_27_x86_64 --retries 0 -d "$tmp" -q 2>/dev/null; then
    echo "native-tf: could not download $WHEEL_SPEC; the native backend is unavailable (wasm will be used)"; exit 0
  fi
  unzip -q -o "$tmp"/*.whl -d "$tmp/x" 'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' \
    'tensorflow/include/tensorflow/c/*' 'tensorflow/include/tensorflow/core/platform/*' "tensorflow/include/$KERNEL_HEADER" \
    'tensorflow/include/tsl/platform/*' 'tensorflow/include/xla/tsl/c/*'
  mkdir -p "$TFDIR/lib" "$TFDIR/include"
  for so in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
    strip --strip-unneeded -o "$TFDIR/lib/$so" "$tmp/x/tensorflow/$so"
  done
  cp -r "$tmp/x/tensorflow/include/." "$TFDIR/include/"
fi
rm -rf "$PKG/deps"; mkdir -p "$PKG/deps/lib"
ln -s "$TFDIR/include" "$PKG/deps/include"
(cd "$PKG/deps/lib" &&
  ln -s "$TFDIR/lib/libtensorflow_cc.so.2" libtensorflow_cc.so.2 &&
  ln -s "$TFDIR/lib/libtensorflow_framework.so.2" libtensorflow_framework.so.2 &&
  ln -s libtensorflow_cc.so.2 libtensorflow.so && ln -s libtensorflow_framework.so.2 libtensorflow_framework.so &&
  ln -s libtensorflow_cc.so.2 libtensorflow.so.2.9.1)
# Without nodedir, node-gyp tries to download Node's headers.
log=$(mktemp)
if ! (cd "$PKG" && npm_config_nodedir=${npm_config_nodedir:-/usr} ../../.bin/node-pre-gyp install --build-from-source >"$log" 2>&1); then
  cat "$log"; echo "native-tf: building the tfjs-node addon failed"; exit 1
fi
rm -f "$log"
smoke || { echo "native-tf: the addon built but does not run"; exit 1; }
