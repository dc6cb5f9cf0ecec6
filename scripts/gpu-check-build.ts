/**
 * The JavaScript of the GPU check (scripts/gpu-check.sh prepare), for a machine with a GPU but no Node.js packages:
 * `xft.cjs`, xft's command line as one file with tfjs, tfjs-backend-webgpu and the `webgpu` package inside, and
 * `table.cjs`, the check's closing table (scripts/gpu-check-table.ts).
 *
 *     npx tsx scripts/gpu-check-build.ts OUT_DIR
 *
 * Only `xft bench` is in the bundle: main.ts's other commands bring Playwright, tslab and the notebook exporter,
 * whose modules read files beside their own at load, so their modules are replaced by ones whose every export throws
 * when used. The `webgpu` package loads Dawn from `dist/<platform>-<arch>/dawn.node` beside its own index.js; in the
 * bundle it loads `dawn.node` beside xft.cjs, which the caller puts there. tfjs-node is left out (its libtensorflow
 * does not travel), so the bundle runs the webgpu and cpu backends.
 */
import * as esbuild from "esbuild";
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");
const MAIN = path.join(ROOT, "src/cli/main.ts");

/** The modules main.ts imports that `xft bench` needs; the rest are left out. */
const BENCH_MODULES = new Set(["./bench", "./options", "./start-options", "../bench/bench"]);

/** What main.ts imports by name from `spec`: a left-out module exports those names and no more. */
function importedNames(mainSource: string, spec: string): string[] {
  const escaped = spec.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const clause = new RegExp(`import\\s*{([^}]*)}\\s*from\\s*"${escaped}"`).exec(mainSource);
  if (!clause) throw new Error(`gpu-check-build: main.ts imports "${spec}" in a form this build does not read (import { ... } from)`);
  return clause[1]
    .split(",")
    .map(
      (s) =>
        s
          .trim()
          .replace(/^type\s+/, "")
          .split(/\s+as\s+/)[0],
    )
    .filter(Boolean);
}

function benchOnly(): esbuild.Plugin {
  const mainSource = fs.readFileSync(MAIN, "utf8");
  return {
    name: "xft-bench-only",
    setup(build) {
      build.onResolve({ filter: /^\./ }, (args) =>
        args.importer === MAIN && !BENCH_MODULES.has(args.path) ? { path: args.path, namespace: "left-out" } : undefined,
      );
      build.onLoad({ filter: /.*/, namespace: "left-out" }, (args) => ({
        loader: "js",
        contents: [
          "const leftOut = (name) => () => {",
          "  throw new Error(`${name} is not in the GPU check's bundle, which holds xft bench alone`);",
          "};",
          ...importedNames(mainSource, args.path).map((name) => `export const ${name} = leftOut(${JSON.stringify(name)});`),
        ].join("\n"),
      }));
    },
  };
}

/** The `webgpu` package with Dawn's path pointed beside the bundle (its __dirname is the bundle's, below). */
function dawnBesideBundle(): esbuild.Plugin {
  return {
    name: "dawn-beside-bundle",
    setup(build) {
      build.onLoad({ filter: /[\\/]node_modules[\\/]webgpu[\\/]index\.js$/ }, (args) => {
        const source = fs.readFileSync(args.path, "utf8");
        const from = "join(__dirname, 'dist', `${process.platform}-${arch}`, 'dawn.node')";
        if (!source.includes(from)) throw new Error(`gpu-check-build: ${args.path} no longer builds Dawn's path as ${from}`);
        return { loader: "js", contents: source.replace(from, "join(__dirname, 'dawn.node')") };
      });
    },
  };
}

/** Writes xft.cjs and table.cjs into `outDir`; returns their paths. */
export async function buildGpuCheck(outDir: string): Promise<{ xft: string; table: string }> {
  await esbuild.build({
    entryPoints: { xft: MAIN, table: path.join(ROOT, "scripts/gpu-check-table.ts") },
    outdir: outDir,
    outExtension: { ".js": ".cjs" },
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // ES modules in the bundle (the webgpu package) read import.meta.url: here, the bundle's own file.
    define: { "import.meta.url": "__bundleUrl" },
    banner: { js: 'const __bundleUrl = require("url").pathToFileURL(__filename).href;' },
    external: ["@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu"],
    plugins: [benchOnly(), dawnBesideBundle()],
    logLevel: "error",
  });
  return { xft: path.join(outDir, "xft.cjs"), table: path.join(outDir, "table.cjs") };
}

if (require.main === module) {
  const out = process.argv[2];
  if (!out) throw new Error("usage: npx tsx scripts/gpu-check-build.ts OUT_DIR");
  buildGpuCheck(path.resolve(out)).then(
    (files) => process.stdout.write(`${files.xft}\n${files.table}\n`),
    (err: Error) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    },
  );
}
