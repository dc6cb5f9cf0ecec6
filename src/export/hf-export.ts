/**
 * `xft export`: a finished run (or an xft pretrained base) as files the Python ecosystem loads.
 *   - a fully fine-tuned run, a base, or a LoRA run with `merged`: a transformers checkpoint folder (src/model/hf/save-model.ts),
 *     in the checkpoint's own family for a run from `--init hf:DIR`, as `gpt2` for xft's own GPT;
 *   - a LoRA run: a PEFT adapter folder (peft-adapter.ts) on its base checkpoint;
 * each with its tokenizer files and a model card (README.md). The folder appears whole or not at all.
 */
import * as fs from "fs";
import * as path from "path";
import { initBackend } from "../backend/engine";
import { isLlama, ModelConfig } from "../model/config";
import { readHfCheckpoint } from "../model/hf/checkpoint";
import { valuesWithPrefix, weightsFile } from "../model/io";
import { loadAdapter } from "../model/lora";
import { disposeParams, Params, paramsToValues } from "../model/model";
import { decodeSafetensors } from "../model/safetensors";
import { artifactProblems } from "../runs/artifacts";
import { readBaseCard, sha256 } from "../runs/base";
import { loadRunModel, RunRecord } from "../runs/experiment";
import { XftTokenizer } from "../text/tokenizer";
import { readMaybeGzipped } from "../util/read-file";
import { ArmSummary, baseCard, ExportKind, runCard } from "./model-card";
import { writePeftAdapter } from "./peft-adapter";
import { writeFolderAtomically } from "./staged-folder";
import { writeHfModel } from "../model/hf/save-model";
import { copyCheckpointTokenizer, SpecialIds, writeGenerationConfig, writeXftTokenizer } from "../model/hf/tokenizer-files";

export const CARD_FILE = "README.md";

export interface RunExportOptions {
  /** A LoRA run as one model, the adapter merged into its base, instead of a PEFT adapter folder. */
  merged?: boolean;
  /**
   * For a LoRA run on xft's own base: the folder of that base's export (`xft export --base`), which the adapter's
   * base_model_name_or_path names. A run from a checkpoint names the checkpoint's folder itself.
   */
  peftBase?: string;
  /** Exported with its grid: its arm's summary over the grid's seeds, for the card. */
  armSummary?: ArmSummary;
}

export interface ExportResult {
  out: string;
  kind: ExportKind | "base";
  files: string[];
}

/** A run that may be exported: finished, with metrics, and with every file it wrote as it recorded it. */
function checkExportable(record: RunRecord): void {
  if (record.status !== "done" || !record.metrics) {
    throw new Error(
      `run ${record.key} is not finished (status ${record.status}, ${record.training?.steps ?? 0} of ${record.train.steps} steps): ` +
        "run its xft train command again to finish it, then export",
    );
  }
  const problems = artifactProblems(record.dir, record.artifacts);
  if (problems.length > 0) throw new Error(`run ${record.key} (${record.dir}) is damaged: ${problems.join("; ")}`);
}

function modelConfigOf(record: RunRecord): ModelConfig {
  const { parameters: _parameters, ...config } = record.model;
  return config as ModelConfig;
}

async function valuesOf(params: Params): Promise<Map<string, Float32Array>> {
  try {
    return await paramsToValues(params);
  } finally {
    disposeParams(params);
  }
}

/**
 * The run's tokenizer files into `dir`, and its special ids: a checkpoint's own, or xft's (which must be the one the
 * run was trained with).
 */
function writeTokenizer(record: RunRecord, dir: string, maxLen: number): SpecialIds {
  const init = record.init;
  const ids = init?.from === "hf" ? copyCheckpointTokenizer(init.dir, dir) : writeXftTokenizer(dir, maxLen);
  if (init?.from !== "hf" && XftTokenizer.load().hash !== record.tokenizerHash) {
    throw new Error(
      `run ${record.key} was trained with another tokenizer than data/tokenizer.json (hash ${record.tokenizerHash.slice(0, 12)}...); its export would read text wrongly`,
    );
  }
  writeGenerationConfig(dir, ids, init?.from === "hf" ? init.dir : undefined);
  return ids;
}

/**
 * The config a model is exported with: a Llama-family run was cut to the run's sequence length, which rotary
 * positions do not depend on; its export keeps the checkpoint's own max_position_embeddings.
 */
function exportedConfig(record: RunRecord, config: ModelConfig): ModelConfig {
  if (record.init?.from === "hf" && isLlama(config)) return { ...config, maxLen: readHfCheckpoint(record.init.dir).config.maxLen };
  return config;
}

/** Exports a finished run into `out` (a new folder). */
export async function exportRun(record: RunRecord, out: string, opts: RunExportOptions = {}): Promise<ExportResult> {
  checkExportable(record);
  const lora = record.adapter ?? undefined;
  if (opts.merged && !lora) throw new Error(`run ${record.key} trained every weight: --merged is for LoRA runs`);
  const kind: ExportKind = !lora ? "model" : opts.merged ? "merged" : "adapter";
  const baseModel = kind === "adapter" ? peftBaseOf(record, opts) : undefined;
  await initBackend({ quiet: true });
  const written = await writeFolderAtomically(out, async (dir) => {
    if (kind === "adapter") {
      const config = modelConfigOf(record);
      const { adapter, info } = loadAdapter(record.dir, config);
      writeTokenizer(record, dir, config.maxLen);
      writePeftAdapter(dir, config, info.lora, await valuesOf(adapter), baseModel!);
    } else {
      // The run's own weights, or for a LoRA run its base with the adapter merged in.
      const { params, config } = loadRunModel(record);
      const values = await valuesOf(params);
      const exported = exportedConfig(record, config);
      writeHfModel(dir, exported, values, writeTokenizer(record, dir, exported.maxLen));
    }
    fs.writeFileSync(path.join(dir, CARD_FILE), runCard(record, kind, baseModel, opts.armSummary));
  });
  return { out: written, kind, files: fs.readdirSync(written).sort() };
}

function peftBaseOf(record: RunRecord, opts: RunExportOptions): string {
  if (opts.peftBase !== undefined) return path.resolve(opts.peftBase);
  if (record.init?.from === "hf") return record.init.dir;
  throw new Error(
    `run ${record.key} is a LoRA adapter on xft's own base, which PEFT cannot load as it is: ` +
      "export the base first (xft export --base DIR --to BASE_OUT) and pass --peft-base BASE_OUT, or export the run with --merged",
  );
}

/** Exports an xft pretrained base (a folder with base.json) as a gpt2 checkpoint into `out`. */
export async function exportBase(baseDir: string, out: string): Promise<ExportResult> {
  const card = readBaseCard(baseDir);
  const file = weightsFile(baseDir);
  const bytes = readMaybeGzipped(file);
  if (sha256(bytes) !== card.weightsHash) throw new Error(`${file}: weights do not match the hash in base.json; the base is damaged or was changed`);
  if (XftTokenizer.load().hash !== card.tokenizerHash)
    throw new Error(`base ${baseDir} was pretrained with another tokenizer than data/tokenizer.json`);
  const { parameters: _parameters, ...config } = card.model;
  const values = valuesWithPrefix(decodeSafetensors(bytes, file).tensors);
  const written = await writeFolderAtomically(out, (dir) => {
    const ids = writeXftTokenizer(dir, config.maxLen);
    writeGenerationConfig(dir, ids);
    writeHfModel(dir, config, values, ids);
    fs.writeFileSync(path.join(dir, CARD_FILE), baseCard(card, path.resolve(baseDir)));
  });
  return { out: written, kind: "base", files: fs.readdirSync(written).sort() };
}
