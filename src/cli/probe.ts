/**
 * `xft probe`: the probes of src/probe on one run (`--run KEY|DIR`: its per-point table) or on a grid
 * (`--profile P [--part ...]`: the grid is run as `xft reproduce` runs it, finished runs reused, then every run
 * is probed and the comparison tables are printed and written beside the grid's results). Probes are stored
 * beside each run (probe.json) and reused.
 */
import * as path from "path";
import * as aq from "arquero";
import { initBackend } from "../backend/engine";
import { writeFileAtomic } from "../util/atomic-write";
import { describeRun } from "../eval/run-identity";
import { findingDifferences, findingTallies, pointsOverSettings, pooledReliability, probeSummary } from "../probe/compare";
import { probeRun, probeRuns, RunProbe } from "../probe/run-probe";
import { readRunRecord, RunStart } from "../runs/experiment";
import { expandGrid, gridProfile, gridResultsDir, reproductionGrid, runGrid } from "../runs/grid";
import { statusLine, stopOnInterrupt } from "./long-running";
import { parseParts, tableText } from "./reproduce";

export interface ProbeArgs {
  run?: string;
  profile?: string;
  part: string;
  backend?: string;
  runsDir?: string;
  out?: string;
  fresh: boolean;
  memoryMb?: number;
  /** Which grid: runs from scratch (default), from the base, or with a LoRA adapter on it. */
  start: RunStart;
}

/** One run's probe as two tables: per residual point, and per block (attention). */
function probeTables(p: RunProbe): { points: ReturnType<typeof aq.from>; blocks: ReturnType<typeof aq.from> } {
  const points = aq.from(
    p.points.map((point, j) => ({
      point,
      hidden_entropy: p.layers.hidden_entropy[j],
      lens_entropy: p.layers.lens_entropy[j],
      lens_max_prob: p.layers.lens_max_prob[j],
      lens_agrees_final: p.lensAgreement[j],
      lens_accuracy: p.lensAccuracy[j],
      first_top1_here: p.firstTop1Counts[j],
    })),
  );
  const blocks = aq.from(p.blocks.map((block, j) => ({ block, attention_entropy: p.layers.attention_entropy[j] })));
  return { points, blocks };
}

export async function runProbe(args: ProbeArgs): Promise<number> {
  const memoryBytes = args.memoryMb === undefined ? undefined : args.memoryMb * 2 ** 20;
  await initBackend({ requested: args.backend });
  if (args.run !== undefined) {
    const record = readRunRecord(args.run, { runsDir: args.runsDir });
    const status = statusLine();
    const p = await probeRun(record, { fresh: args.fresh, memoryBytes, onProgress: (done, total) => status(`probing ${done}/${total}`, false) });
    status(`xft probe: run ${record.key} (${describeRun(record.spec)}), ${p.examples} test examples`, true);
    const { points, blocks } = probeTables(p);
    process.stdout.write(`${tableText(points)}\n\n${tableText(blocks)}\n\n`);
    process.stdout.write(
      `output: entropy ${p.means.output_entropy.toFixed(4)} nats, max probability ${p.means.output_max_prob.toFixed(4)}, ` +
        `first top-1 point ${p.means.first_top1_point.toFixed(2)} (mean index into ${p.points.join(", ")})\n`,
    );
    return 0;
  }
  const grid = gridProfile(args.profile);
  const specs = expandGrid(reproductionGrid(parseParts(args.part), grid, args.start));
  const interrupt = stopOnInterrupt();
  const status = statusLine();
  try {
    // --fresh recomputes the probes, and retrains only the runs whose folders fail their check (intact runs are kept).
    const records = await runGrid(specs, {
      runsDir: args.runsDir,
      retrainDamaged: args.fresh,
      shouldStop: interrupt.requested,
      onProgress: (p) => status(p.text, false),
    });
    if (records.some((r) => r.status === "stopped")) {
      status("xft probe: stopped while training the grid; run the same command to resume", true);
      return 130;
    }
    const started = Date.now();
    const probed = await probeRuns(records, {
      fresh: args.fresh,
      memoryBytes,
      onProgress: (i, n, r) => status(`probing run ${i}/${n} ${describeRun(r.spec)}`, false),
    });
    status(`xft probe: ${probed.length} runs probed in ${((Date.now() - started) / 1000).toFixed(0)} s`, true);
    const summary = probeSummary(probed);
    const differences = findingDifferences(probed);
    const tallies = aq.from(findingTallies(differences));
    const reliability = aq.from(pooledReliability(records));
    const out = args.out ?? gridResultsDir(grid.profile.name, args.start);
    const files: Record<string, ReturnType<typeof aq.from>> = {
      "probe-summary.csv": summary,
      "probe-differences.csv": differences,
      "probe-findings.csv": tallies,
      "reliability.csv": reliability,
    };
    for (const [name, t] of Object.entries(files)) writeFileAtomic(path.join(out, name), t.toCSV());
    const perPoint = pointsOverSettings(summary).filter((r) => r.expl_tokens === null);
    process.stdout.write(`per-point measures: mean over settings of the per-setting means over seeds\n${tableText(aq.from(perPoint))}\n\n`);
    process.stdout.write(
      `the paper's internal findings and over-confidence: settings where the arm's difference to label goes the paper's way\n${tableText(tallies)}\n`,
    );
    process.stderr.write(
      `xft probe: wrote ${Object.keys(files)
        .map((f) => path.relative(process.cwd(), path.join(out, f)))
        .join(", ")}\n`,
    );
    return 0;
  } finally {
    interrupt.release();
  }
}
