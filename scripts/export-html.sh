#!/usr/bin/env bash
# Exports executed notebooks to HTML files next to them: scripts/export-html.sh build/notebooks/*.ipynb
# The pages work offline: plotly.js goes into the first chart output of each notebook first (whatever order its
# cells ran in: scripts/standalone-charts.ts), and Debian's nbconvert loads require.js and MathJax from
# file:///usr/share/javascript, not from a CDN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
if [ $# -eq 0 ]; then
  echo "usage: $0 NOTEBOOK.ipynb..." >&2
  exit 2
fi
# Debian's jupyter-nbconvert (it runs on /usr/bin/python3; pyenv's python cannot import nbconvert). With no
# --output-dir it writes each X.html next to its X.ipynb.
node --import tsx "$(dirname "${BASH_SOURCE[0]}")/standalone-charts.ts" "$@"
/usr/bin/jupyter-nbconvert --to html --log-level=WARN "$@"
for notebook in "$@"; do
  echo "html    ${notebook%.ipynb}.html"
done
