/**
 * The tiny transformers checkpoints that the parity tests compare against, made by `bash scripts/hf-reference.sh`
 * (the test set-up) into build/hf-fixtures/. Where the set-up could not install transformers (a machine whose pip
 * index is unreachable) it writes UNAVAILABLE with the reason, and these tests skip with that reason; fixtures
 * that are simply missing are a failure, never a silent skip.
 */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../../src/data/load";

export const FIXTURES_DIR = path.join(projectRoot(), "build", "hf-fixtures");

/** Every fixture's folder name; each is a save_pretrained folder with reference.safetensors and reference.json. */
export const FIXTURES = ["gpt2", "gpt2-fp16", "llama-gqa", "llama-linear-rope", "llama-bf16-sharded", "mistral", "qwen2"] as const;
export type FixtureName = (typeof FIXTURES)[number];

/** The skip reason where transformers could not be installed here; undefined where the fixtures should exist. */
export function fixturesUnavailable(): string | undefined {
  const file = path.join(FIXTURES_DIR, "UNAVAILABLE");
  return fs.existsSync(file) ? `transformers reference unavailable: ${fs.readFileSync(file, "utf8").trim()}` : undefined;
}

/** A fixture's folder; missing fixtures are an error that says how to make them. */
export function fixtureDir(name: FixtureName): string {
  const dir = path.join(FIXTURES_DIR, name);
  if (!fs.existsSync(path.join(dir, "reference.json"))) {
    throw new Error(`${dir}: no reference checkpoint; make the fixtures with \`bash scripts/hf-reference.sh\``);
  }
  return dir;
}
