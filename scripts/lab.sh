#!/usr/bin/env bash
# `npm run lab [-- --profile ci|quick|full] [JupyterLab's own options]`: JupyterLab 4 (installed by the set-up into
# .venv-lab) on the project's folder, with the project's environment (scripts/env.sh: the tslab kernel, Jupyter's
# state inside the project) and the profile the notebooks run with (XFT_PROFILE; default quick).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
LAB=.venv-lab/bin/jupyter-lab
if [ ! -x "$LAB" ]; then
  echo "lab: JupyterLab is not installed in .venv-lab; bash scripts/setup.sh installs it" >&2
  exit 1
fi
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) export XFT_PROFILE="${2:?--profile needs ci, quick or full}"; shift 2 ;;
    --profile=*) export XFT_PROFILE="${1#*=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ "$(id -u)" = 0 ]; then
  # Jupyter refuses to start as root unless told; root here is a container's only user.
  echo "lab: running as root (a container's user), so with --allow-root"
  args+=(--allow-root)
fi
echo "lab: profile ${XFT_PROFILE:-quick}; notebooks in notebooks/; Ctrl-C twice stops the server"
# New notebooks get the project's TypeScript kernel, not the venv's Python one. No news feed, update check or PyPI
# extension search: each would reach out to the internet from the page or the server.
exec "$LAB" --notebook-dir="$XFT_ROOT" --MappingKernelManager.default_kernel_name=tslab --LabApp.news_url=None \
  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate --LabApp.extension_manager=readonly ${args[@]+"${args[@]}"}
