/** `xft doctor`: what is there, what is missing, and the command that fixes each gap. */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { BACKEND_ORDER, describeAdapter, describeBackend, initBackend } from "../backend/engine";
import { checkpointCard, describeModel } from "../model/pretrained";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** Not having it is no fault (a GPU): shown as "none", not counted as missing. */
  optional?: boolean;
}

const SETUP = "npm run setup";

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string | undefined {
  try {
    return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env, timeout: 60_000 }).toString();
  } catch {
    return undefined;
  }
}

function nodeCheck(): Check {
  const [major, minor] = process.versions.node.split(".").map(Number);
  const ok = major > 20 || (major === 20 && minor >= 19);
  return {
    name: "node",
    ok,
    detail: process.version,
    fix: ok ? undefined : "install Node.js 20.19 or newer (tslab loads ESM-only arquero via require)",
  };
}

async function backendChecks(): Promise<Check[]> {
  const info = await initBackend({ quiet: true });
  const checks: Check[] = [{ name: "backend", ok: true, detail: `using ${describeBackend(info)}` }];
  const chosenAt = BACKEND_ORDER.indexOf(info.name);
  if (chosenAt > BACKEND_ORDER.indexOf("tensorflow")) {
    checks.push({
      name: "native backend",
      ok: false,
      detail: info.skipped.tensorflow ?? "not tried",
      fix: `${SETUP} (builds @tensorflow/tfjs-node against the tensorflow-cpu wheel; about 8x faster than wasm)`,
    });
  }
  checks.push(gpuCheck(info));
  checks.push({
    name: "attention kernel",
    ok: info.attention === "kernel",
    detail: info.attention === "kernel" ? "xft's native kernel" : `tfjs ops (${info.attentionNote})`,
    fix: "bash scripts/native-kernels.sh (needs g++; about 5x faster attention, on every backend)",
  });
  // xft's TensorFlow ops exist for the CPU TensorFlow backend only; elsewhere their absence is no fault (webgpu has its
  // WGSL kernels, named in the backend line).
  if (info.name === "tensorflow") {
    checks.push({
      name: "xft's TensorFlow ops",
      ok: info.tfOps === "kernel",
      detail: info.tfOps === "kernel" ? "GELU, LayerNorm, attention, cross-entropy and AdamW as one op each" : `tfjs ops (${info.tfOpsNote})`,
      fix: "bash scripts/native-kernels.sh (needs g++ and the native backend's headers: bash scripts/native-tf.sh)",
    });
  }
  return checks;
}

/**
 * The GPU: webgpu on a hardware adapter (chosen by default), or why not, and the other route, tfjs-node-gpu, which
 * needs TensorFlow 2.9.1's CUDA build and cannot be installed offline.
 */
function gpuCheck(info: Awaited<ReturnType<typeof initBackend>>): Check {
  const nodeGpu =
    "for tfjs-node-gpu instead: CUDA 11.2 and cuDNN 8.1, then npm install @tensorflow/tfjs-node-gpu@4.22.0 (its install script downloads libtensorflow 2.9.1 for GPU)";
  if (info.name === "tensorflow-gpu") return { name: "GPU", ok: true, detail: "tfjs-node-gpu (CUDA)" };
  if (info.adapter) {
    return {
      name: "GPU",
      ok: info.adapter.hardware,
      detail: `webgpu on ${describeAdapter(info.adapter)}`,
      fix: info.adapter.hardware ? undefined : `a software adapter is for tests only; on a machine with a GPU, its Vulkan driver; ${nodeGpu}`,
    };
  }
  return {
    name: "GPU",
    ok: false,
    optional: true,
    detail: `webgpu: ${info.skipped.webgpu ?? "not tried"}`,
    fix: `a GPU with its Vulkan driver (webgpu, through Dawn); ${nodeGpu}`,
  };
}

function jupyterChecks(root: string): Check[] {
  const py = "/usr/bin/python3";
  const apt =
    "apt-get install --no-install-recommends jupyter-notebook jupyter-nbconvert jupyter-nbformat python3-nbclient python3-jupyter-kernel-test chromium (or: " +
    SETUP +
    ")";
  const modules = run(py, ["-c", "import nbclient, nbformat, jupyter_kernel_test; print(nbclient.__version__)"]);
  const nbconvert = fs.existsSync("/usr/bin/jupyter-nbconvert");
  const kernelJson = path.join(root, "kernel-ext/jupyter/kernels/tslab/kernel.json");
  const env = { ...process.env, JUPYTER_PATH: path.join(root, "kernel-ext/jupyter"), PYDEVD_DISABLE_FILE_VALIDATION: "1" };
  const specs = modules !== undefined ? run(py, [path.join(root, "scripts/kernelspecs.py")], env) : undefined;
  const registered = specs !== undefined && (JSON.parse(specs) as Record<string, string>).tslab?.startsWith(root);
  const tslab = fs.existsSync(path.join(root, "node_modules/tslab/bin/tslab"));
  return [
    {
      name: "jupyter (nbclient)",
      ok: modules !== undefined,
      detail: modules ? `nbclient ${modules.trim()}` : "python3-nbclient / jupyter_kernel_test not importable by /usr/bin/python3",
      fix: apt,
    },
    { name: "jupyter nbconvert", ok: nbconvert, detail: nbconvert ? "/usr/bin/jupyter-nbconvert" : "missing", fix: apt },
    { name: "tslab", ok: tslab, detail: tslab ? "node_modules/tslab" : "missing", fix: "npm ci" },
    {
      name: "kernelspec tslab",
      ok: Boolean(registered && tslab),
      detail: registered ? kernelJson : fs.existsSync(kernelJson) ? "present but Jupyter does not see it (JUPYTER_PATH)" : "missing",
      fix: "source scripts/env.sh (sets JUPYTER_PATH to kernel-ext/jupyter)",
    },
    { name: "chromium", ok: fs.existsSync("/usr/bin/chromium"), detail: "for the HTML checks of the tests", fix: apt },
  ];
}

function dataChecks(root: string): Check[] {
  const tokenizer = path.join(root, "data/tokenizer.json");
  const esnli = ["train.jsonl.gz", "test.jsonl.gz"].every((f) => fs.existsSync(path.join(root, "data/esnli", f)));
  return [
    { name: "tokenizer", ok: fs.existsSync(tokenizer), detail: tokenizer, fix: "git checkout data/ (shipped with the repo)" },
    { name: "dataset esnli", ok: esnli, detail: "data/esnli", fix: "git checkout data/ (shipped with the repo)" },
  ];
}

/** A checkpoint the user means to use (`--init hf:DIR`): readable, and what it is. */
function modelCheck(ref: string): Check {
  try {
    const card = checkpointCard(ref);
    return { name: "model", ok: true, detail: `${describeModel(card.config)}; tokenizer of ${card.tokenizer.vocabSize} tokens (${card.dir})` };
  } catch (err) {
    return {
      name: "model",
      ok: false,
      detail: (err as Error).message,
      fix: "a save_pretrained folder (config.json, model.safetensors, tokenizer.json), or hf:org/name in the local Hugging Face cache",
    };
  }
}

export async function runDoctor(opts: { init?: string } = {}): Promise<number> {
  const root = process.env.XFT_ROOT ?? process.cwd();
  const checks = [
    nodeCheck(),
    ...(await backendChecks()),
    ...jupyterChecks(root),
    ...dataChecks(root),
    ...(opts.init ? [modelCheck(opts.init)] : []),
  ];
  const width = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    process.stdout.write(`${c.ok ? "ok     " : c.optional ? "none   " : "MISSING"}  ${c.name.padEnd(width)}  ${c.detail}\n`);
    if (!c.ok && c.fix) process.stdout.write(`         ${" ".repeat(width)}  ${c.optional ? "for one" : "fix"}: ${c.fix}\n`);
  }
  const missing = checks.filter((c) => !c.ok && !c.optional).length;
  process.stdout.write(missing === 0 ? "everything is in place\n" : `${missing} thing(s) missing\n`);
  return missing === 0 ? 0 : 1;
}
