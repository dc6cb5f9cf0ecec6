/**
 * The layout stays readable: no import circle between files or between the folders of src/ (data -> text -> model
 * -> train -> eval/probe -> runs -> cli, with backend and util below all), type-only imports included, and no
 * function in src/ longer than 80 lines.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import ts from "typescript";

const SRC = path.resolve(__dirname, "../../src");
const MAX_FUNCTION_LINES = 80;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

const files = sourceFiles(SRC);
const parsed = new Map(files.map((f) => [f, ts.createSourceFile(f, fs.readFileSync(f, "utf8"), ts.ScriptTarget.ES2022, true)]));

/** The src/ files a file imports or re-exports from, type-only imports included. */
function importsOf(file: string): string[] {
  const out: string[] = [];
  for (const node of parsed.get(file)!.statements) {
    const spec =
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)
        ? node.moduleSpecifier.text
        : undefined;
    if (!spec?.startsWith(".")) continue;
    const base = path.resolve(path.dirname(file), spec);
    const target = [base + ".ts", path.join(base, "index.ts")].find((f) => parsed.has(f));
    if (target) out.push(target);
  }
  return out;
}

/** Every cycle of a graph as one list of its nodes (strongly connected components of more than one node). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const folderOf = (file: string) => path.relative(SRC, file).split(path.sep)[0];

test("no import circle between the files of src/, nor between its folders", () => {
  const fileGraph = new Map(files.map((f) => [f, new Set(importsOf(f))]));
  const folderGraph = new Map<string, Set<string>>();
  for (const [f, targets] of fileGraph) {
    for (const t of targets) {
      if (folderOf(f) === folderOf(t)) continue;
      if (!folderGraph.has(folderOf(f))) folderGraph.set(folderOf(f), new Set());
      folderGraph.get(folderOf(f))!.add(folderOf(t));
    }
  }
  assert.deepEqual(
    cycles(fileGraph).map((c) => c.map((f) => path.relative(SRC, f))),
    [],
    "file circles",
  );
  assert.deepEqual(cycles(folderGraph), [], "folder circles");
});

test(`no function in src/ is longer than ${MAX_FUNCTION_LINES} lines`, () => {
  const long: string[] = [];
  for (const [file, source] of parsed) {
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && "body" in node && node.body) {
        const lines = source.getLineAndCharacterOfPosition(node.getEnd()).line - source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        if (lines > MAX_FUNCTION_LINES) {
          const name = (node as ts.FunctionLikeDeclaration).name?.getText() ?? "(anonymous)";
          long.push(`${path.relative(SRC, file)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${name}: ${lines} lines`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  assert.deepEqual(long, []);
});
