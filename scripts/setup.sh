#!/usr/bin/env bash
# Set-up from a fresh clone, with no step by hand: Debian's Jupyter and Chromium (when absent; chromium also brings
# SwiftShader, the software Vulkan adapter on which the webgpu backend's tests run, and libvulkan1 is the Vulkan
# loader Dawn opens), the npm dependencies, and the native TensorFlow backend (built offline against the
# tensorflow-cpu wheel).
# Idempotent: a second run only re-installs node_modules and relinks the addon (about 40 s).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(jupyter-notebook jupyter-nbconvert jupyter-nbformat python3-nbclient python3-jupyter-kernel-test chromium libvulkan1)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Install scripts stay off (.npmrc): tfjs-node's would download libtensorflow, which fails offline.
echo "setup: npm ci"
npm ci --no-audit --no-fund --loglevel=error
# Our fixes to dependencies (patches/), applied here because install scripts are off.
npx patch-package --error-on-fail >/dev/null
echo "setup: native TensorFlow backend"
bash scripts/native-tf.sh
echo "setup: xft's native kernels"
bash scripts/native-kernels.sh

# JupyterLab (npm run lab), pinned, in its own venv; the classic Notebook and the tests' kernel need only Debian's Jupyter.
echo "setup: JupyterLab (.venv-lab)"
source scripts/pinned-venv.sh
if ! pinned_venv .venv-lab "jupyterlab==4.6.4"; then
  echo "setup: JupyterLab could not be installed (${PINNED_VENV_FAILURE:-no output}); npm run lab needs it, the rest does not" >&2
fi

source scripts/env.sh
if ! $PY scripts/kernelspecs.py 2>/dev/null | grep -q "kernel-ext/jupyter/kernels/tslab"; then
  echo "setup: Jupyter does not see the project's tslab kernelspec (kernel-ext/jupyter/kernels/tslab)" >&2
  exit 1
fi
echo "setup: done ($(node bin/xft.cjs doctor >/dev/null 2>&1 && echo 'xft doctor: everything is in place' || echo 'run npx xft doctor for what is missing'))"
