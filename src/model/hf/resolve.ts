/**
 * `hf:` model references: `hf:DIR` names a checkpoint folder (save_pretrained's output), `hf:org/name` a
 * model already in the local Hugging Face cache. xft never downloads: a model that is not there is an error
 * saying where it looked and how to get it there.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const HF_PREFIX = "hf:";

/** A Hub repository id: `name` or `org/name`, letters, digits and `-_.` only. */
const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

export function isHfRef(ref: string): boolean {
  return ref.startsWith(HF_PREFIX);
}

/** The folder holding the referenced checkpoint (its config.json, weights and tokenizer files). */
export function resolveHfModel(ref: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!isHfRef(ref)) throw new Error(`${JSON.stringify(ref)} is not a Hugging Face reference (hf:DIR or hf:org/name)`);
  const target = ref.slice(HF_PREFIX.length);
  if (target === "") throw new Error(`${JSON.stringify(ref)}: name a folder (hf:DIR) or a model (hf:org/name)`);
  if (isDirectory(target)) return path.resolve(target);
  if (!REPO_ID.test(target))
    throw new Error(`${ref}: no folder ${path.resolve(target)}, and ${JSON.stringify(target)} is not a Hub model name (org/name)`);
  return cachedSnapshot(target, hubCacheDir(env), ref);
}

/** Where huggingface_hub keeps downloaded models, by its own rules (huggingface_hub/constants.py). */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  if (explicit) return expandHome(explicit);
  const home = env.HF_HOME
    ? expandHome(env.HF_HOME)
    : path.join(env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : path.join(os.homedir(), ".cache"), "huggingface");
  return path.join(home, "hub");
}

function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p;
}

/**
 * The snapshot folder of a cached model: `models--org--name/snapshots/<revision>`, the revision from
 * refs/main, or the only snapshot there is when refs/main is missing (a cache copied without its refs).
 */
function cachedSnapshot(repoId: string, cacheDir: string, ref: string): string {
  const repoDir = path.join(cacheDir, `models--${repoId.replace("/", "--")}`);
  const snapshots = path.join(repoDir, "snapshots");
  const revision = mainRevision(repoDir) ?? onlySnapshot(snapshots);
  const dir = revision === undefined ? undefined : path.join(snapshots, revision);
  if (dir === undefined || !isDirectory(dir)) throw notCachedError(ref, repoId, dir ?? repoDir);
  return dir;
}

function mainRevision(repoDir: string): string | undefined {
  const refFile = path.join(repoDir, "refs", "main");
  return fs.existsSync(refFile) ? fs.readFileSync(refFile, "utf8").trim() : undefined;
}

function onlySnapshot(snapshots: string): string | undefined {
  if (!isDirectory(snapshots)) return undefined;
  const entries = fs.readdirSync(snapshots).filter((e) => isDirectory(path.join(snapshots, e)));
  if (entries.length > 1) {
    throw new Error(
      `${snapshots}: ${entries.length} snapshots and no refs/main to choose one; name the one to use as hf:${path.join(snapshots, "<revision>")}`,
    );
  }
  return entries[0];
}

function notCachedError(ref: string, repoId: string, lookedAt: string): Error {
  return new Error(
    `${ref}: ${repoId} is not in the local Hugging Face cache (looked for ${lookedAt}; the cache is $HF_HUB_CACHE, else ` +
      `$HF_HOME/hub, else ~/.cache/huggingface/hub). xft does not download: on a machine with network run ` +
      `\`huggingface-cli download ${repoId}\` (or \`hf download ${repoId}\`) and copy its cache folder ` +
      `models--${repoId.replace("/", "--")} here, or save the model with save_pretrained and use hf:DIR.`,
  );
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
