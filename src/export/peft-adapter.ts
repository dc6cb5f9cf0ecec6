/**
 * A LoRA run's adapter as PEFT saves one: adapter_config.json and adapter_model.safetensors, so that
 * `PeftModel.from_pretrained(base, OUT)` gives the run's model.
 *
 * Names and layouts (PEFT 0.21, checked against its own save_pretrained): `base_model.model.<module>.lora_A.weight`
 * [r, in] and `.lora_B.weight` [out, r], nn.Linear layouts for every base layer, GPT-2's Conv1D included (PEFT's
 * forward is x A^T B^T * alpha/r whatever fan_in_fan_out says; the flag only governs merging into the Conv1D's
 * [in, out] weight). xft's lora_a is [in, r] and lora_b [r, out]: both are transposed.
 */
import * as fs from "fs";
import * as path from "path";
import { isLlama, ModelConfig } from "../model/config";
import { parameterNameMap, transpose2d } from "../model/hf/weights";
import { LoraConfig } from "../model/lora";
import { saveSafetensors, TensorMap } from "../model/safetensors";

const PEFT_CONFIG_FILE = "adapter_config.json";
const PEFT_WEIGHTS_FILE = "adapter_model.safetensors";

/** PEFT's tensors from xft's adapter values (`blocks.{l}.<matrix>.lora_a` / `.lora_b`). */
function peftTensors(config: ModelConfig, lora: LoraConfig, adapter: Map<string, Float32Array>): TensorMap {
  const moduleOf = new Map(parameterNameMap(config).map((p) => [p.xft, p.hfModule]));
  const out: TensorMap = new Map();
  for (const [name, a] of adapter) {
    if (!name.endsWith(".lora_a")) continue;
    const matrix = name.slice(0, -".lora_a".length);
    const b = adapter.get(`${matrix}.lora_b`);
    const module = moduleOf.get(matrix);
    if (!b || !module) throw new Error(`export: adapter tensor ${name} has no ${b ? "module in the checkpoint" : "lora_b"}`);
    const fanIn = a.length / lora.rank;
    const fanOut = b.length / lora.rank;
    out.set(`base_model.model.${module}.lora_A.weight`, { shape: [lora.rank, fanIn], data: transpose2d(a, fanIn, lora.rank) });
    out.set(`base_model.model.${module}.lora_B.weight`, { shape: [fanOut, lora.rank], data: transpose2d(b, lora.rank, fanOut) });
  }
  if (out.size === 0) throw new Error("export: the adapter has no lora_a/lora_b tensors");
  return out;
}

/**
 * PEFT's target_modules for the adapted modules: for each, the shortest dotted suffix of its name that matches no
 * module left unadapted (PEFT matches a name or a suffix after a dot). GPT-2 calls both output projections c_proj,
 * so an adapter on the attention's alone is `attn.c_proj`.
 */
function peftTargetModules(config: ModelConfig, adaptedModules: readonly string[]): string[] {
  const adapted = new Set(adaptedModules);
  const blockModules = [
    ...new Set(
      parameterNameMap(config)
        .filter((p) => p.shape.length === 2 && p.xft.startsWith("blocks."))
        .map((p) => p.hfModule),
    ),
  ];
  const matches = (module: string, suffix: string) => module === suffix || module.endsWith(`.${suffix}`);
  const targets = new Set<string>();
  for (const module of adapted) {
    const parts = module.split(".");
    for (let k = 1; k <= parts.length; k++) {
      const suffix = parts.slice(-k).join(".");
      if (blockModules.every((m) => !matches(m, suffix) || adapted.has(m))) {
        targets.add(suffix);
        break;
      }
    }
  }
  return [...targets].sort();
}

/** adapter_config.json and adapter_model.safetensors into `dir`; `baseModel` is the folder PEFT loads the base from. */
export function writePeftAdapter(dir: string, config: ModelConfig, lora: LoraConfig, adapter: Map<string, Float32Array>, baseModel: string): void {
  const tensors = peftTensors(config, lora, adapter);
  const modules = [...tensors.keys()]
    .filter((k) => k.endsWith(".lora_A.weight"))
    .map((k) => k.slice("base_model.model.".length, -".lora_A.weight".length));
  const adapterConfig = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    target_modules: peftTargetModules(config, modules),
    bias: "none",
    // GPT-2's Conv1D stores [in, out]; PEFT needs to know when it merges the update into it.
    fan_in_fan_out: !isLlama(config),
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    layers_to_transform: null,
    revision: null,
  };
  fs.writeFileSync(path.join(dir, PEFT_CONFIG_FILE), JSON.stringify(adapterConfig, null, 2) + "\n");
  saveSafetensors(path.join(dir, PEFT_WEIGHTS_FILE), tensors, { format: "pt" });
}
