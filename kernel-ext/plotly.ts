/**
 * Plotly charts in notebook outputs. Each chart is one output with three representations:
 * - `application/vnd.plotly.v1+json` for JupyterLab's plotly renderer;
 * - `text/html`, a div and a script that draws it, for the classic Notebook and nbconvert's HTML export;
 * - `text/plain`, a one-line summary for text-only viewers.
 * The first chart of a kernel session also carries plotly.js itself inside its HTML, so that the live page has it.
 * Which output that is depends on the session's history (a re-run first chart cell has none), so before a notebook is
 * saved for good or exported, `standaloneCharts` puts the one copy into its first chart output: the page then draws
 * every chart with no network, whatever order the cells ran in (xft export-notebook does this: src/export/notebook-export.ts).
 * A live chart (live-chart.ts) is one output redrawn in place; its final state is an ordinary chart output.
 */
import * as fs from "fs";
import { escapeHtml } from "./html";
import { outputInPlace } from "./in-place";
import { type MimeBundle, writeDisplay } from "./output";

export interface PlotlyFigure {
  data: Array<Record<string, unknown>>;
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

const DEFAULT_HEIGHT_PX = 420;

let plotlyLibraryTag: string | undefined;

/** plotly.js (4.8 MB) as an inline script tag; read once per process. */
function plotlyLibraryScript(): string {
  if (plotlyLibraryTag === undefined) {
    // The bundle has no "</script" today, but one would end the tag early; "<!--" would switch the HTML parser
    // into its script-escape state. "\x3C" is "<" to JavaScript, inside strings and regexes alike.
    const source = fs
      .readFileSync(require.resolve("plotly.js-dist-min"), "utf8")
      .replace(/<\/script/gi, "\\x3C/script")
      .replace(/<!--/g, "\\x3C!--");
    plotlyLibraryTag = `<script type="text/javascript">\n${source}\n</script>\n`;
  }
  return plotlyLibraryTag;
}

function randomDivId(): string {
  return "plotly-" + Math.random().toString(36).slice(2, 10);
}

function pixels(value: unknown): string | undefined {
  return typeof value === "number" && value > 0 ? `${value}px` : undefined;
}

function figureHtml(figure: PlotlyFigure, divId: string): string {
  const layout = figure.layout ?? {};
  const width = pixels(layout.width) ?? "100%";
  const height = pixels(layout.height) ?? `${DEFAULT_HEIGHT_PX}px`;
  // "<" escaped so that data strings can never close the script element.
  const json = JSON.stringify({ data: figure.data, layout, config: { responsive: true, ...figure.config } }).replace(/</g, "\\u003c");
  const id = escapeHtml(divId);
  // The draw script waits for window.Plotly: in the classic Notebook the library script of an earlier output may
  // still be loading when this output is inserted.
  return `<div id="${id}" class="plotly-graph-div" style="width:${width};height:${height};"></div>
<script type="text/javascript">
(function () {
  var figure = ${json};
  var tries = 0;
  function draw() {
    var el = document.getElementById("${id}");
    if (!el) return;
    if (window.Plotly) { window.Plotly.newPlot(el, figure.data, figure.layout, figure.config); return; }
    if (tries++ < 100) { setTimeout(draw, 100); return; }
    el.textContent = "plotly.js is not on this page: re-run the notebook's first chart cell";
  }
  draw();
})();
</script>`;
}

function figureSummary(figure: PlotlyFigure): string {
  const types = figure.data.map((trace) => (typeof trace.type === "string" ? trace.type : "scatter"));
  const title = figure.layout?.title;
  const titleText = typeof title === "string" ? title : (title as { text?: unknown } | undefined)?.text;
  const named = typeof titleText === "string" ? ` "${titleText}"` : "";
  return `<Plotly figure${named}: ${types.length} trace(s) ${types.join(", ")}>`;
}

/** The output for one figure; `includeLibrary` puts plotly.js in front of its HTML. Pure apart from reading plotly.js. */
export function plotlyMimeBundle(figure: PlotlyFigure, options: { includeLibrary: boolean; divId?: string }): MimeBundle {
  const html = figureHtml(figure, options.divId ?? randomDivId());
  return {
    "application/vnd.plotly.v1+json": { data: figure.data, layout: figure.layout ?? {}, config: figure.config ?? {} },
    "text/html": options.includeLibrary ? plotlyLibraryScript() + html : html,
    "text/plain": figureSummary(figure),
  };
}

/** A session's copy of plotly.js: the first chart to claim it carries it, every later claim is refused. */
export function createLibraryClaim(): () => boolean {
  let claimed = false;
  return () => {
    const first = !claimed;
    claimed = true;
    return first;
  };
}

/** Returns a bundle maker that inlines plotly.js in its first bundle only (one per kernel session is enough). */
export function createFigureBundler(claimLibrary: () => boolean = createLibraryClaim()): (figure: PlotlyFigure) => MimeBundle {
  return (figure) => plotlyMimeBundle(figure, { includeLibrary: claimLibrary() });
}

/**
 * Bundles for ONE chart output redrawn in place, all with the same div. Where the chart takes the session's copy of
 * plotly.js, its first draw carries it (the live page needs it) and so does its final one (the saved output keeps it,
 * as a chart drawn once would); the redraws in between leave the 4.8 MB out, the page has it by then.
 */
export function createRedrawBundler(claimLibrary: () => boolean): (figure: PlotlyFigure, final: boolean) => MimeBundle {
  const divId = randomDivId();
  let carriesLibrary: boolean | undefined;
  return (figure, final) => {
    const first = carriesLibrary === undefined;
    if (carriesLibrary === undefined) carriesLibrary = claimLibrary();
    return plotlyMimeBundle(figure, { includeLibrary: carriesLibrary && (first || final), divId });
  };
}

const claimLibraryForThisSession = createLibraryClaim();
const bundleForThisSession = createFigureBundler(claimLibraryForThisSession);

/** Shows a Plotly figure as one notebook output. */
export function show(figure: PlotlyFigure): void {
  writeDisplay(bundleForThisSession(figure));
}

/** A chart output that the first call creates and later calls redraw in place; `final` marks the last one. */
export function chartInPlace(): (figure: PlotlyFigure, final: boolean) => void {
  const bundle = createRedrawBundler(claimLibraryForThisSession);
  const write = outputInPlace();
  return (figure, final) => write(bundle(figure, final));
}

/** A notebook as nbformat stores it, as far as chart outputs go. */
export interface NotebookJson {
  cells: Array<{ cell_type: string; outputs?: Array<{ output_type: string; data?: Record<string, unknown> }> }>;
}

const joined = (text: unknown): string => (Array.isArray(text) ? text.join("") : String(text));

/**
 * Moves plotly.js into the notebook's first chart output, wherever the session put it (or left it out): every
 * chart's HTML loses any copy it carries, the first gets the one copy. Returns how many charts there are.
 */
export function standaloneCharts(notebook: NotebookJson): number {
  const charts = notebook.cells
    .flatMap((c) => c.outputs ?? [])
    .filter((o) => o.data?.["application/vnd.plotly.v1+json"] && o.data["text/html"] !== undefined);
  charts.forEach((output, i) => {
    const html = joined(output.data!["text/html"]);
    // The figure's own HTML starts at its div (the last one: its data escapes "<"); anything before is the library.
    const figure = html.slice(Math.max(0, html.lastIndexOf('<div id="')));
    output.data!["text/html"] = i === 0 ? plotlyLibraryScript() + figure : figure;
  });
  return charts.length;
}
