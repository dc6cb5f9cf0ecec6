/**
 * Writes the supplement's index page: links to every executed notebook's HTML, the environment, the config of
 * every run the notebooks used (copied beside the page, so the folder is self-contained), and the model cards of
 * the runs exported into models/ (`xft export --grid`, as scripts/main.sh does).
 *   node --import tsx scripts/write-supplement.ts build/supplement
 */
import * as fs from "fs";
import * as path from "path";
import { initBackend } from "../src/backend/engine";
import { describeArm } from "../src/eval/run-identity";
import { runRecords } from "../src/runs/catalog";
import { collectEnvironment } from "../src/runs/environment";
import type { RunRecord } from "../src/runs/experiment";

const escape = (s: unknown) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** dataset/dimension condition[@budget] seed: how the index sorts and shows a run. */
const runLabel = (r: RunRecord) => `${r.spec.dataset}/${r.spec.dimension ?? "all"}/${describeArm(r.spec)}/${String(r.spec.seed).padStart(4, "0")}`;

/** The exported grid's card for a run, relative to the page, where models/ has one. */
function cardLink(outDir: string, r: RunRecord): string {
  const card = path.join("models", "runs", r.key, "README.md");
  return fs.existsSync(path.join(outDir, card)) ? `<a href="${card}">model card</a>` : "";
}

async function main(outDir: string): Promise<void> {
  const root = process.env.XFT_ROOT ?? process.cwd();
  const profile = process.env.XFT_PROFILE ?? "quick";
  const env = collectEnvironment(await initBackend({ quiet: true }));
  const pages = fs
    .readdirSync(outDir)
    .filter((f) => f.endsWith(".html") && f !== "index.html")
    .sort();
  const runs = runRecords({ runsDir: process.env.XFT_RUNS_DIR ?? path.join(root, "runs"), profile })
    .filter((r) => r.status === "done")
    .sort((a, b) => runLabel(a).localeCompare(runLabel(b)));
  const models = fs.existsSync(path.join(outDir, "models", "README.md"));
  fs.mkdirSync(path.join(outDir, "runs"), { recursive: true });
  for (const r of runs) fs.writeFileSync(path.join(outDir, "runs", `${r.key}.json`), JSON.stringify(r, null, 1));
  const runRows = runs
    .map(
      (r) =>
        `<tr><td>${escape(r.spec.dataset)}</td><td>${escape(r.spec.dimension ?? "all")}</td>` +
        `<td>${escape(describeArm(r.spec))}</td><td>${r.spec.seed}</td>` +
        `<td>${r.metrics ? r.metrics.accuracy.toFixed(3) : "-"}</td><td>${r.training.steps}</td><td>${escape(r.environment.backend)}</td>` +
        `<td><a href="runs/${r.key}.json">${r.key}</a></td><td>${cardLink(outDir, r)}</td></tr>`,
    )
    .join("\n");
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>xft supplement (${escape(profile)})</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left}code{background:#f4f4f4}</style></head>
<body><h1>xft supplement</h1>
<p>Executed notebooks (profile <code>${escape(profile)}</code>), written ${escape(new Date().toISOString())}.
Every chart draws offline; every number can be recomputed with <code>npx xft train</code> (one run) or <code>npx xft reproduce --profile ${escape(profile)}</code> (the grids of notebooks 02 and 03), the probes of notebook 04 with <code>npx xft probe --profile ${escape(profile)} --part pseudo</code>, the base model and runs of notebook 05 with <code>npx xft pretrain --profile ${escape(profile)}</code> and <code>npx xft reproduce --profile ${escape(profile)} --part explanations --init base [--adapter lora]</code>, and the configs below.</p>
<h2>Notebooks</h2><ul>
${pages.map((p) => `<li><a href="${escape(p)}">${escape(p.replace(/\.html$/, ""))}</a></li>`).join("\n")}
</ul>
<h2>Environment</h2><table>
${Object.entries(env)
  .map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v ?? "")}</td></tr>`)
  .join("\n")}
</table>
${
  models
    ? `<h2>Exported models</h2>
<p>The LoRA runs of notebook 05 (from the pretrained base) as PEFT adapters on the base exported as a transformers <code>gpt2</code> checkpoint, each with its model card: <a href="models/README.md">the index card</a> (results tables, how to load a run in Python), written by <code>npx xft export --grid --profile ${escape(profile)} --part explanations --init base --adapter lora --to models</code>.</p>`
    : ""
}
<h2>Runs</h2><table><tr><th>dataset</th><th>dimension</th><th>condition</th><th>seed</th><th>accuracy</th><th>steps</th><th>backend</th><th>config and results</th><th>export</th></tr>
${runRows}
</table></body></html>
`;
  fs.writeFileSync(path.join(outDir, "index.html"), html);
  console.log(`supplement: ${path.join(outDir, "index.html")} (${pages.length} notebooks, ${runs.length} runs)`);
}

main(process.argv[2] ?? "build/supplement").catch((err) => {
  console.error(`write-supplement: ${(err as Error).message}`);
  process.exit(1);
});
