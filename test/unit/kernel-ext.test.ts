/** The pure parts of kernel-ext: the mime bundles the notebook helpers send, built outside a kernel. */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import * as aq from "arquero";
import { environmentMimeBundle, environmentText, type EnvironmentInfo } from "../../kernel-ext/banner";
import { insideTslabKernel } from "../../src/util/notice";
import { MAX_LIVE_POINTS, thinned, throttledLossChart } from "../../kernel-ext/live-chart";
import { gridProgress, livePretrain, liveRuns } from "../../kernel-ext/live-training";
import {
  createFigureBundler,
  createLibraryClaim,
  createRedrawBundler,
  plotlyMimeBundle,
  type NotebookJson,
  type PlotlyFigure,
  standaloneCharts,
} from "../../kernel-ext/plotly";
import { progressBar, progressLine, progressMimeBundle, type ProgressState, throttledProgressBar } from "../../kernel-ext/progress";
import { tableMimeBundle } from "../../kernel-ext/table";
import type { RunRecord, RunSpec } from "../../src/runs/experiment";
import type { PretrainResult } from "../../src/runs/pretrain";
import type { LossPoint } from "../../src/train/trainer";
import { trainingLossFigure } from "../../src/viz/figures";

const figure: PlotlyFigure = {
  data: [{ x: [1, 2, 3], y: [1, 4, 9], type: "scatter" }],
  layout: { title: { text: "squares" }, height: 300 },
};
// A string from plotly.min.js's license header: present exactly when the library is inlined.
const PLOTLY_LIBRARY_MARKER = "plotly.js v";

function html(bundle: Record<string, unknown>): string {
  const value = bundle["text/html"];
  assert.equal(typeof value, "string");
  return value as string;
}

describe("plotly bundle", () => {
  it("carries the plotly JSON, HTML and plain text", () => {
    const bundle = plotlyMimeBundle(figure, { includeLibrary: false, divId: "fig1" });
    assert.deepEqual(Object.keys(bundle).sort(), ["application/vnd.plotly.v1+json", "text/html", "text/plain"]);
    assert.deepEqual(bundle["application/vnd.plotly.v1+json"], { data: figure.data, layout: figure.layout, config: {} });
    assert.match(html(bundle), /<div id="fig1" class="plotly-graph-div" style="width:100%;height:300px;">/);
    assert.equal(bundle["text/plain"], '<Plotly figure "squares": 1 trace(s) scatter>');
  });

  it("inlines plotly.js in the first figure of a session only", () => {
    const bundleFor = createFigureBundler();
    const first = html(bundleFor(figure));
    const second = html(bundleFor(figure));
    assert.ok(first.includes(PLOTLY_LIBRARY_MARKER) && first.length > 1_000_000, "first figure carries plotly.js");
    assert.ok(!second.includes(PLOTLY_LIBRARY_MARKER) && second.length < 10_000, "second figure does not");
    assert.equal(first.split("<script").length - 1, 2, "library script + draw script");
  });

  it("moves plotly.js into a notebook's first chart output, whichever output of the session carried it", () => {
    const bundleFor = createFigureBundler();
    const [withLibrary, plain, other] = [bundleFor(figure), bundleFor(figure), bundleFor({ data: [{ type: "bar", x: [1], y: [2] }] })];
    const output = (b: ReturnType<typeof plotlyMimeBundle>) => ({
      output_type: "display_data",
      data: { ...b, "text/html": html(b).split(/(?<=\n)/) } as Record<string, unknown>,
    });
    // As saved after re-running the first chart cell: the library sits in the second chart, not the first.
    const notebook: NotebookJson = {
      cells: [
        { cell_type: "markdown" },
        { cell_type: "code", outputs: [{ output_type: "stream" }, output(plain)] },
        { cell_type: "code", outputs: [output(withLibrary), output(other)] },
      ],
    };
    assert.equal(standaloneCharts(notebook), 3);
    const htmls = notebook.cells
      .flatMap((c) => c.outputs ?? [])
      .filter((o) => o.data)
      .map((o) => String(o.data!["text/html"]));
    assert.deepEqual(
      htmls.map((h) => h.includes(PLOTLY_LIBRARY_MARKER)),
      [true, false, false],
      "one copy, in the first chart",
    );
    assert.ok(htmls[0].endsWith(html(plain)), "the first chart keeps its own figure");
    const ownFigure = html(withLibrary).slice(html(withLibrary).lastIndexOf('<div id="'));
    assert.ok(ownFigure.startsWith('<div id="plotly-'));
    assert.equal(htmls[1], ownFigure, "the chart that carried the library keeps only its figure");
    assert.equal(htmls[2], html(other));
  });

  it("keeps the page's HTML intact whatever the data holds", () => {
    const hostile: PlotlyFigure = { data: [{ type: "bar", x: ["</script><b>x</b>"], y: [1] }] };
    const page = html(plotlyMimeBundle(hostile, { includeLibrary: true }));
    assert.equal(page.match(/<\/script/gi)?.length, 2, "only the two real closing tags");
    assert.ok(!page.includes("<!--"));
  });
});

describe("table bundle", () => {
  const t = aq.table({ step: [1, 2, 10], loss: [2.718281828, 1.5, 0.000123], run: ["a<b", "c", "d"] });

  it("renders the columns and numbers with the requested digits", () => {
    const bundle = tableMimeBundle(t, { digits: 3, title: "losses" });
    const page = html(bundle);
    for (const column of ["step", "loss", "run"]) assert.ok(page.includes(`>${column}</th>`), column);
    assert.ok(page.includes(">2.718</td>") && page.includes(">1.500</td>"), "3 decimals");
    assert.ok(page.includes(">1.230e-4</td>"), "tiny values as exponents");
    assert.ok(page.includes(">10</td>"), "integers stay integers");
    assert.ok(page.includes(">a&lt;b</td>"), "text is escaped");
    assert.ok(page.includes("losses (3 rows)"));
    assert.match(String(bundle["text/plain"]), /^losses \(3 rows\)\n\n\|step\|loss\|run\|\n/);
  });

  it("limits rows and says how many it left out", () => {
    const page = html(tableMimeBundle(t, { limit: 2 }));
    assert.ok(page.includes("2 of 3 rows"));
    assert.equal(page.split("<tr").length - 1, 3, "header + 2 rows");
  });

  it("rounds to integers with digits 0", () => {
    const page = html(tableMimeBundle(t, { digits: 0 }));
    assert.ok(page.includes(">3</td>") && page.includes(">2</td>") && page.includes(">10</td>"));
    assert.ok(page.includes(">1e-4</td>"), "values below 1 still show as exponents");
  });
});

describe("environment banner", () => {
  const info: EnvironmentInfo = {
    backend: "tensorflow",
    threads: 2,
    tfjsVersion: "4.22.0",
    tensorflowVersion: "2.9.1",
    attention: "kernel",
    profile: "quick",
    nodeVersion: "v20.20.2",
    tslabVersion: "1.0.22",
    typescriptVersion: "5.0.4",
    cpuModel: "Test CPU",
    cpuCount: 2,
    memoryBytes: 8 * 2 ** 30,
    gitCommit: "0123456789ab",
  };

  it("lists every fact as an aligned line", () => {
    assert.equal(
      environmentText(info),
      [
        "backend    tensorflow (2 threads)",
        "tfjs       4.22.0, TensorFlow 2.9.1",
        "attention  xft's native kernel",
        "profile    quick",
        "node       v20.20.2",
        "tslab      1.0.22 (TypeScript 5.0.4)",
        "cpu        2 × Test CPU",
        "memory     8.0 GiB",
        "commit     0123456789ab",
      ].join("\n"),
    );
  });

  it("names the loaded model where a notebook passes one", () => {
    const text = environmentText({ backend: "cpu", threads: 1, tfjsVersion: "4.22.0", model: "qwen2: 2 layers, d 32" });
    assert.equal(text, "backend  cpu (1 thread)\ntfjs     4.22.0\nmodel    qwen2: 2 layers, d 32");
  });

  it("leaves out facts it does not have", () => {
    const text = environmentText({ backend: "cpu", threads: 1, tfjsVersion: "4.22.0" });
    assert.equal(text, "backend  cpu (1 thread)\ntfjs     4.22.0");
  });

  it("renders an HTML table of the same facts", () => {
    const page = html(environmentMimeBundle(info));
    assert.equal(page.split("<tr>").length - 1, 9);
    assert.ok(page.includes("4.22.0, TensorFlow 2.9.1"));
  });
});

describe("progress bar", () => {
  const state: ProgressState = { title: "train", done: 10, total: 40, text: "loss 2.31", elapsedMs: 4000, closed: false };

  it("renders counts, time and an estimate of the time left", () => {
    assert.equal(progressLine(state), "train [######------------------] 10/40 (25%) · 4.0 s · about 12.0 s left · loss 2.31");
    const bundle = progressMimeBundle({ ...state, closed: true, done: 40 });
    assert.ok(html(bundle).includes("width: 100.0%"));
    assert.equal(bundle["text/plain"], "train [########################] 40/40 (100%) · 4.0 s · loss 2.31");
  });

  it("throttles redraws but always draws the latest state", async () => {
    const drawn: ProgressState[] = [];
    const bar = throttledProgressBar("t", (s) => drawn.push(s), 50);
    for (let i = 1; i <= 100; i++) bar.update(i, 100);
    assert.equal(drawn.length, 1, "only the initial draw so far");
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(drawn.length, 2, "one trailing redraw");
    assert.equal(drawn[1]?.done, 100);
    bar.close("done");
    bar.update(5, 100);
    assert.equal(drawn.length, 3, "close draws; updates after close are ignored");
    assert.deepEqual([drawn[2]?.closed, drawn[2]?.text], [true, "done"]);
  });

  it("closes a loop's bar at n/n when its updates report the start of each item", () => {
    const drawn: ProgressState[] = [];
    const bar = throttledProgressBar("probes", (s) => drawn.push(s), 0);
    for (let i = 1; i <= 3; i++) bar.update(i - 1, 3);
    bar.close("3 probed", 3);
    assert.equal(progressLine(drawn.at(-1)!).replace(/ · [\d.]+ s/, ""), "probes [########################] 3/3 (100%) · 3 probed");
  });

  it("falls back to one stderr line outside a kernel", () => {
    assert.equal(insideTslabKernel(), false);
    const written: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stderr.write;
    try {
      const bar = progressBar("files");
      bar.update(3, 3);
      bar.close("3 files");
    } finally {
      process.stderr.write = write;
    }
    assert.equal(written.length, 2, "the update came too soon to draw; close() drew the final state");
    assert.ok(written.every((chunk) => chunk.startsWith("\rfiles [")));
    assert.ok(written[1]?.endsWith("· 3 files\n"));
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lossPoints = (n: number): LossPoint[] => Array.from({ length: n }, (_, i) => ({ step: i + 1, loss: 2 / (i + 1) }));
/** The x values of a loss figure's raw trace per curve (every other trace is the smoothed one). */
const stepsOf = (fig: PlotlyFigure) => fig.data.filter((_, i) => i % 2 === 0).map((t) => t.x as number[]);

describe("live loss chart", () => {
  it("draws its axes at once, throttles redraws, and closes with every point", async () => {
    const drawn: Array<{ figure: PlotlyFigure; final: boolean }> = [];
    const chart = throttledLossChart(
      (curves) => trainingLossFigure(curves),
      (figure, final) => drawn.push({ figure, final }),
      50,
    );
    assert.equal(drawn.length, 1, "the empty chart");
    assert.deepEqual(drawn[0]?.figure.data, []);
    for (const point of lossPoints(100)) chart.add("label", point);
    assert.equal(drawn.length, 1, "points that come too soon wait for the interval");
    await sleep(120);
    assert.equal(drawn.length, 2, "one trailing redraw");
    assert.deepEqual(stepsOf(drawn[1]!.figure), [lossPoints(100).map((p) => p.step)], "the latest state");
    chart.close();
    chart.add("label", { step: 101, loss: 0.1 });
    await sleep(80);
    assert.equal(drawn.length, 3, "close draws now; points after close are ignored");
    assert.equal(drawn[2]?.final, true);
    assert.equal(stepsOf(drawn[2]!.figure)[0]?.length, 100);
  });

  it("thins long curves while live and closes with the full curve or the figure it is given", () => {
    const drawn: Array<{ figure: PlotlyFigure; final: boolean }> = [];
    const chart = throttledLossChart(
      (curves) => trainingLossFigure(curves),
      (figure, final) => drawn.push({ figure, final }),
      0,
    );
    chart.set("base", lossPoints(5000));
    const live = stepsOf(drawn.at(-1)!.figure)[0]!;
    assert.ok(live.length <= MAX_LIVE_POINTS && live.length > MAX_LIVE_POINTS / 2, `${live.length} points drawn live`);
    assert.equal(live.at(-1), 5000, "the newest point is always drawn");
    const final: PlotlyFigure = { data: [{ type: "scatter", x: [1], y: [1] }], layout: { title: "with held-out" } };
    chart.close(final);
    assert.deepEqual(drawn.at(-1), { figure: final, final: true });
  });

  it("thins to every k-th point and the last", () => {
    assert.deepEqual(
      thinned(lossPoints(10), 4).map((p) => p.step),
      [3, 6, 9, 10],
    );
    assert.deepEqual(
      thinned(lossPoints(3), 4).map((p) => p.step),
      [1, 2, 3],
    );
    for (const n of [1001, 2000, 2999, 12345]) assert.ok(thinned(lossPoints(n), 1000).length <= 1000, `${n} points`);
  });

  it("carries plotly.js in its first and final draws only when it takes the session's copy", () => {
    const claim = createLibraryClaim();
    const first = createRedrawBundler(claim);
    const second = createRedrawBundler(claim);
    const draws = [first(figure, false), first(figure, false), second(figure, false), second(figure, true), first(figure, true)].map(html);
    assert.deepEqual(
      draws.map((h) => h.includes(PLOTLY_LIBRARY_MARKER)),
      [true, false, false, false, true],
    );
    const divOf = (h: string) => h.slice(h.lastIndexOf('<div id="')).match(/id="([^"]+)"/)?.[1];
    assert.equal(divOf(draws[0]!), divOf(draws[4]!), "every draw of a chart has the same div");
    assert.notEqual(divOf(draws[0]!), divOf(draws[2]!));
  });
});

/** Runs `body` as if inside a kernel: every display message that kernel-ext sends is recorded. */
async function inFakeKernel(body: () => Promise<void>): Promise<Array<{ data: Record<string, unknown>; id?: string; update: boolean }>> {
  const jupyter = createRequire(__filename)("tslab/dist/jupyter") as { lastWriteDisplayData: unknown };
  const sent: Array<{ data: Record<string, unknown>; id?: string; update: boolean }> = [];
  jupyter.lastWriteDisplayData = (m: { data: Record<string, unknown>; transient: { display_id?: string } }, update: boolean) =>
    sent.push({ data: m.data, id: m.transient.display_id, update });
  try {
    await body();
  } finally {
    jupyter.lastWriteDisplayData = null;
  }
  return sent;
}

const PLOTLY_JSON = "application/vnd.plotly.v1+json";

function reusedRecord(losses: LossPoint[]): RunRecord {
  return {
    key: "abc123",
    reused: true,
    status: "done",
    train: { steps: losses.length },
    training: { steps: losses.length, losses },
  } as unknown as RunRecord;
}

describe("live training in a notebook", () => {
  it("draws a reused run's stored curve at once and ends its bar at 100%", async () => {
    const stored = lossPoints(30);
    const sent = await inFakeKernel(async () => {
      const live = liveRuns();
      await live.run("label (seed 1)", async () => reusedRecord(stored));
      await sleep(300);
      live.close();
    });
    const charts = sent.filter((m) => m.data[PLOTLY_JSON]);
    assert.equal(new Set(charts.map((m) => m.id)).size, 1, "one chart output");
    assert.deepEqual(
      charts.map((m) => m.update),
      [false, true, true],
      "created, redrawn with the stored curve, closed",
    );
    const json = (m: (typeof charts)[number]) => m.data[PLOTLY_JSON] as PlotlyFigure;
    assert.deepEqual(stepsOf(json(charts[1]!)), [stored.map((p) => p.step)], "the stored curve before close()");
    assert.deepEqual(stepsOf(json(charts[2]!)), [stored.map((p) => p.step)]);
    const bar = sent.filter((m) => !m.data[PLOTLY_JSON]);
    assert.equal(new Set(bar.map((m) => m.id)).size, 1, "one bar output");
    assert.match(String(bar.at(-1)?.data["text/plain"]), /30\/30 \(100%\).*reused finished run abc123/);
  });

  it("closes a reused base's chart as its card's curve with the held-out loss", async () => {
    const card = { losses: lossPoints(20), heldOut: { loss: 1.5, perplexity: 4.5, tokens: 100 }, train: { steps: 20 }, wallS: 3 };
    const sent = await inFakeKernel(async () => {
      await livePretrain("base model", async () => ({ dir: "bases/ci", card, status: "done", reused: true }) as unknown as PretrainResult);
    });
    const final = sent.filter((m) => m.data[PLOTLY_JSON]).at(-1)!.data[PLOTLY_JSON] as PlotlyFigure;
    assert.deepEqual(
      final.data.map((t) => t.name),
      ["training loss raw", "training loss", "held-out (perplexity 4.5)"],
    );
    assert.match(String(sent.filter((m) => !m.data[PLOTLY_JSON]).at(-1)?.data["text/plain"]), /20\/20 \(100%\).*reused the base in bases\/ci/);
  });

  it("ends a grid's bar at 100% after its last run, and leaves a stopped grid's where it stopped", async () => {
    const spec = { dataset: "d", condition: "label", seed: 1 } as RunSpec;
    const report = (onProgress: ReturnType<typeof gridProgress>, run: number, finished?: RunRecord) =>
      onProgress({ run, runs: 2, spec, etaS: 0, text: `run ${run}/2`, finished });
    const lastBar = (sent: Awaited<ReturnType<typeof inFakeKernel>>) => String(sent.filter((m) => !m.data[PLOTLY_JSON]).at(-1)?.data["text/plain"]);
    const whole = await inFakeKernel(async () => {
      const onProgress = gridProgress("grid", { chart: true });
      for (const run of [1, 2]) {
        report(onProgress, run);
        report(onProgress, run, reusedRecord(lossPoints(10)));
      }
    });
    assert.match(lastBar(whole), /2\/2 \(100%\).*2 runs, 2 reused from runs\//);
    const closedChart = whole.filter((m) => m.data[PLOTLY_JSON]).at(-1)!;
    assert.deepEqual(stepsOf(closedChart.data[PLOTLY_JSON] as PlotlyFigure), [lossPoints(10).map((p) => p.step)], "the label curve, once");
    const stopped = await inFakeKernel(async () => {
      const onProgress = gridProgress("grid");
      report(onProgress, 1, reusedRecord(lossPoints(10)));
      report(onProgress, 2);
      report(onProgress, 2, { ...reusedRecord(lossPoints(4)), reused: false, status: "stopped" } as RunRecord);
      await sleep(300);
    });
    assert.match(lastBar(stopped), /1\/2 \(50%\)/);
    assert.doesNotMatch(lastBar(stopped), /runs, /, "not closed");
  });
});
