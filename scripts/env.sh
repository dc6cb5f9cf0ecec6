# Sourced by every script: keeps Jupyter's state inside the project and names the Python that sees Debian's Jupyter.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export XFT_ROOT="$ROOT"
export JUPYTER_PATH="$ROOT/kernel-ext/jupyter"
export JUPYTER_DATA_DIR="$ROOT/.jupyter/data" JUPYTER_RUNTIME_DIR="$ROOT/.jupyter/runtime"
export JUPYTER_CONFIG_DIR="$ROOT/.jupyter/config" IPYTHONDIR="$ROOT/.jupyter/ipython"
export PYDEVD_DISABLE_FILE_VALIDATION=1
# TensorFlow's C++ logging: keep warnings and errors, drop the info banner.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}"
mkdir -p "$JUPYTER_DATA_DIR" "$JUPYTER_RUNTIME_DIR" "$JUPYTER_CONFIG_DIR" "$IPYTHONDIR"
# pyenv's python3 comes first on PATH here but cannot see Debian's Jupyter packages.
PY=/usr/bin/python3
