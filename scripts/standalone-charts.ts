/**
 * Puts plotly.js into the first chart output of each notebook, and nowhere else (kernel-ext/plotly.ts
 * `standaloneCharts`), so that the notebook and its HTML export draw every chart offline whatever order its
 * cells ran in. Rewrites the notebooks in place:
 *   node --import tsx scripts/standalone-charts.ts NOTEBOOK.ipynb...
 */
import * as fs from "fs";
import { standaloneCharts } from "../kernel-ext/plotly";

for (const file of process.argv.slice(2)) {
  const notebook = JSON.parse(fs.readFileSync(file, "utf8"));
  const charts = standaloneCharts(notebook);
  if (charts > 0) fs.writeFileSync(file, JSON.stringify(notebook, null, 1) + "\n");
}
