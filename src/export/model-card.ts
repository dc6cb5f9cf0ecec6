/**
 * The README.md of an export: a model card with the Hub's YAML front matter, written in the voice of a data card.
 * It states only what the run record shows (data, condition, seed, test metrics of this one run) and the command
 * that reproduces it; exported with its grid (`xft export --grid`), also its arm's mean and interval over the seeds.
 */
import type { ColumnTable } from "arquero";
import { armColumns } from "../eval/compare";
import type { RunRecord } from "../runs/experiment";
import type { BaseCard } from "../runs/base";
import { modelKind, ModelConfig } from "../model/config";

export type ExportKind = "model" | "adapter" | "merged";

/** YAML of a flat front matter: strings are JSON-quoted (valid YAML), lists one item a line. */
function frontMatter(fields: Record<string, string | string[] | undefined>): string {
  const lines = ["---"];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) lines.push(`${key}:`, ...value.map((v) => `- ${JSON.stringify(v)}`));
    else lines.push(`${key}: ${JSON.stringify(value)}`);
  }
  return [...lines, "---"].join("\n");
}

function describeArchitecture(c: ModelConfig & { parameters?: number }): string {
  const size = c.parameters === undefined ? "" : `, ${c.parameters.toLocaleString("en-US")} parameters`;
  return `${modelKind(c)}: ${c.layers} layer(s), d ${c.dModel}, ${c.heads} heads, vocabulary ${c.vocabSize}, ${c.maxLen} positions${size}`;
}

/** The `npx xft train ...` command that makes this run again (the same key, hence the same weights). */
export function reproduceCommand(record: RunRecord): string {
  const s = record.spec;
  const args = ["--dataset", record.datasetSource ?? s.dataset, "--condition", s.condition, "--seed", String(s.seed), "--profile", s.profile];
  if (s.dimension) args.push("--dimension", s.dimension);
  const init = record.init;
  if (init?.from === "base") args.push("--init", "base", "--base", init.dir);
  if (init?.from === "hf") args.push("--init", init.ref.startsWith("hf:") ? init.ref : `hf:${init.ref}`);
  if (record.adapter) {
    const l = record.adapter;
    args.push(
      "--adapter",
      "lora",
      "--lora-rank",
      String(l.rank),
      "--lora-alpha",
      String(l.alpha),
      "--lora-dropout",
      String(l.dropout),
      "--lora-targets",
      l.targets.join(","),
    );
  }
  // Shell-quoted where an argument is more than a plain word, so that the line can be pasted as it is.
  return ["npx xft train", ...args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))].join(" ");
}

function startLine(record: RunRecord): string {
  const init = record.init;
  if (!init || init.from === "scratch") return "random weights (no pretraining)";
  if (init.from === "base") return `xft's pretrained base in \`${init.dir}\` (weights sha256 ${init.hash.slice(0, 12)}...)`;
  return `the Hugging Face checkpoint \`${init.ref}\` (${init.modelType}; files sha256 ${init.hash.slice(0, 12)}...)`;
}

function baseModelField(record: RunRecord): string | undefined {
  const init = record.init;
  return init?.from === "hf" ? init.ref.replace(/^hf:/, "") : undefined;
}

const KIND_LINE: Record<ExportKind, string> = {
  model: "the fully fine-tuned weights, as a transformers checkpoint",
  adapter: "a LoRA adapter in PEFT's format; load it on top of its base model",
  merged: "the base model with the run's LoRA adapter merged into its weights, as a transformers checkpoint",
};

function fmt(x: number | undefined | null, digits = 3): string {
  return x === undefined || x === null || !Number.isFinite(x) ? "n/a" : x.toFixed(digits);
}

/** An arquero table as a Markdown table; numbers with 3 decimals, null as empty. */
export function markdownTable(t: ColumnTable): string {
  const columns = t.columnNames();
  const cell = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : fmt(v)) : String(v));
  const rows = (t.objects() as Record<string, unknown>[]).map((row) => `| ${columns.map((c) => cell(row[c])).join(" | ")} |`);
  return [`| ${columns.join(" | ")} |`, `|${columns.map(() => "---").join("|")}|`, ...rows].join("\n");
}

/** A run's arm over the seeds of its grid: the summary row of its setting and arm (src/eval/compare.ts `summarize`). */
export type ArmSummary = Record<string, string | number | null>;

export function armSummaryOf(summary: ColumnTable, record: RunRecord): ArmSummary | undefined {
  const arm = armColumns(record.spec);
  return (summary.objects() as ArmSummary[]).find((row) => Object.entries(arm).every(([k, v]) => row[k] === v));
}

function armSummaryLines(a: ArmSummary): string[] {
  const metric = (m: string) => `${fmt(a[`${m}_mean`] as number)} [${fmt(a[`${m}_lo`] as number)}, ${fmt(a[`${m}_hi`] as number)}]`;
  return [
    `## Test results of this arm over the grid's ${a.n_seeds} seeds`,
    "",
    "Mean and 95% t-interval over seeds (the same setting, condition and sizes; this run is one of them):",
    "",
    "| seeds | accuracy | macro-F1 | MAE | ECE |",
    "|---|---|---|---|---|",
    `| ${a.n_seeds} | ${metric("accuracy")} | ${metric("macro_f1")} | ${metric("mae")} | ${metric("ece")} |`,
    "",
  ];
}

/** The card of an exported run. */
export function runCard(record: RunRecord, kind: ExportKind, baseModel?: string, armSummary?: ArmSummary): string {
  const s = record.spec;
  const m = record.metrics!;
  const dimension = s.dimension ? `, dimension \`${s.dimension}\`` : "";
  const tags = ["xft", `condition:${s.condition}`, ...(record.adapter ? ["lora"] : []), ...(kind === "adapter" ? ["peft"] : [])];
  const lines = [
    frontMatter({
      library_name: kind === "adapter" ? "peft" : "transformers",
      base_model: kind === "adapter" ? baseModel : baseModelField(record),
      datasets: [record.data.name],
      metrics: ["accuracy", "f1", "mae"],
      tags,
      pipeline_tag: "text-generation",
    }),
    "",
    `# xft run ${record.key}: ${record.data.name}${s.dimension ? `/${s.dimension}` : ""}, condition \`${s.condition}\`, seed ${s.seed}`,
    "",
    `This folder holds ${KIND_LINE[kind]}. It was exported by \`xft export\` from one finished run of the xft project.`,
    "",
    "## Training",
    "",
    `- Data: \`${record.data.name}\`${dimension}: ${record.data.train} training and ${record.data.test} test examples (data sha256 ${record.data.hash.slice(0, 12)}...).`,
    `- Labels: ${record.data.labelSet.map((l) => `\`${l}\``).join(", ")}.`,
    `- Condition: \`${s.condition}\` (what the training target holds beside the label; see xft's README).`,
    ...(s.explTokens !== null ? [`- Explanations cut to ${s.explTokens} tokens (the budget ablation, run by \`xft reproduce --part budget\`).`] : []),
    `- Seed: ${s.seed}; profile \`${s.profile}\`.`,
    `- Model: ${describeArchitecture(record.model)}.`,
    `- Started from ${startLine(record)}${record.adapter ? `; trained a LoRA adapter (rank ${record.adapter.rank}, alpha ${record.adapter.alpha}, dropout ${record.adapter.dropout}, targets ${record.adapter.targets.join(", ")})` : "; every weight trained"}.`,
    `- ${record.train.steps} steps of batch ${record.train.batchSize}, learning rate ${record.train.lr}, sequences of ${record.sequence.maxLen} tokens.`,
    "",
    "## Test results (this run, one seed)",
    "",
    "| n | accuracy | macro-F1 | MAE | QWK | ECE | Brier |",
    "|---|---|---|---|---|---|---|",
    `| ${m.n} | ${fmt(m.accuracy)} | ${fmt(m.macroF1)} | ${fmt(m.mae)} | ${fmt(m.qwk)} | ${fmt(m.ece)} | ${fmt(m.brier)} |`,
    "",
    "Labels are read by xft's readout on its own prompt format; the numbers hold for that format only." +
      (armSummary ? "" : " With one seed there is no interval: the spread over seeds is in the grid's results tables, not here."),
    "",
    ...(armSummary ? armSummaryLines(armSummary) : []),
    "## Reproduce",
    "",
    "```bash",
    reproduceCommand(record),
    ...(s.explTokens !== null ? ["# plus the explanation budget above, which `xft train` has no flag for"] : []),
    "```",
    "",
    "## Limits",
    "",
    `- Trained on ${record.data.train} examples of one dataset; nothing here shows how it does on other data, other prompt formats or other tasks.`,
    "- It is a rater for this dataset's labels, not a general-purpose or instruction-following model; its generations are not evaluated.",
    ...(record.init?.from === "scratch" || !record.init
      ? ["- Trained from random weights on little text: it has no general language knowledge."]
      : []),
    ...(record.init?.from !== "hf"
      ? [
          "- xft's tokenizer: transformers reads the text `<|eos|>` (and xft's other special-token strings) as the special token, xft's own encoder as plain characters; other text gets the same ids.",
        ]
      : []),
    armSummary
      ? "- The first table is one run and one seed; the second, its arm over the grid's seeds."
      : "- The test metrics are from one run and one seed.",
    "",
  ];
  return lines.join("\n");
}

/** The card of an exported xft pretrained base. */
export function baseCard(card: BaseCard, dir: string): string {
  return [
    frontMatter({
      library_name: "transformers",
      datasets: ["xft pretraining corpus"],
      metrics: ["perplexity"],
      tags: ["xft", "base"],
      pipeline_tag: "text-generation",
    }),
    "",
    `# xft base model (profile \`${card.profile}\`)`,
    "",
    `xft's next-token pretrained base from \`${dir}\`, exported by \`xft export --base\` as a transformers \`gpt2\` checkpoint.`,
    "",
    "## Training",
    "",
    `- Model: ${describeArchitecture(card.model)}.`,
    `- ${card.tokensSeen.toLocaleString("en-US")} tokens seen, ${card.train.steps} steps of batch ${card.train.batchSize}.`,
    `- Held-out loss ${fmt(card.heldOut.loss)} (perplexity ${fmt(card.heldOut.perplexity, 1)}) on ${card.heldOut.tokens.toLocaleString("en-US")} tokens.`,
    "",
    "## Reproduce",
    "",
    "```bash",
    card.command,
    "```",
    "",
    "## Limits",
    "",
    "- A small model pretrained on the project's own texts (train splits only); it is a starting point for xft's runs, not a general language model.",
    "",
  ].join("\n");
}
