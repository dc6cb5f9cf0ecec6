/**
 * Opens exported pages in headless Chromium (Debian's, driven by playwright-core) the way a reader without internet
 * or this machine's files would: every request but the page itself is refused and counted. Every Plotly chart
 * (.plotly-graph-div) must draw (a .main-svg inside it). Also prints a page to PDF once its charts are drawn.
 */
import * as path from "path";
import { pathToFileURL } from "url";
import { type Browser, chromium, type Page } from "playwright-core";

const CHROMIUM = process.env.XFT_CHROMIUM ?? "/usr/bin/chromium";
// No sandbox: the checks run as root in containers. The rest keeps Chromium from phoning home on its own.
const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];
/** How long charts may take to draw; the draw scripts retry for up to 10 s while plotly.js loads. */
const DRAW_TIMEOUT_MS = 20_000;
/** MathJax only changes the picture, so it gets a short wait and no verdict. */
const MATHJAX_TIMEOUT_MS = 5_000;

export interface PageCheck {
  file: string;
  charts: { total: number; drawn: number };
  /** Requests for anything but the page itself: each refused. */
  refused: string[];
  pageErrors: string[];
  /** Empty when the page passes. */
  problems: string[];
}

/** Runs `work` with one headless Chromium, closed afterwards. */
export async function withChromium<T>(work: (browser: Browser) => Promise<T>): Promise<T> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  try {
    return await work(browser);
  } finally {
    await browser.close();
  }
}

// What runs inside the page, as expressions (this project's TypeScript has no DOM types; the page has a DOM).
const COUNT_CHARTS = `(() => {
  const divs = Array.from(document.querySelectorAll(".plotly-graph-div"));
  return { total: divs.length, drawn: divs.filter((div) => div.querySelector(".main-svg") !== null).length };
})()`;
const ALL_CHARTS_DRAWN = `Array.from(document.querySelectorAll(".plotly-graph-div")).every((div) => div.querySelector(".main-svg"))`;
/** MathJax 2 (nbconvert's template) shows a "Loading ..." box until it is ready. */
const MATHJAX_IDLE = `(() => {
  const message = document.getElementById("MathJax_Message");
  return !message || message.style.display === "none" || message.textContent === "";
})()`;

/**
 * Loads `file` with nothing else reachable and waits for its charts; then `after` (a screenshot, a PDF) on the drawn
 * page. Problems: a chart not drawn, fewer than `minCharts` charts, any refused request.
 */
export async function checkPage(
  browser: Browser,
  file: string,
  opts: { minCharts?: number; after?: (page: Page) => Promise<unknown> } = {},
): Promise<PageCheck> {
  const pageUrl = pathToFileURL(path.resolve(file)).href;
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const refused: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url === pageUrl) return route.continue();
    refused.push(url);
    return route.abort();
  });
  try {
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(pageUrl, { waitUntil: "load" });
    // Resolves once every chart is drawn; on timeout the count below says how many are not.
    await page.waitForFunction(ALL_CHARTS_DRAWN, undefined, { timeout: DRAW_TIMEOUT_MS }).catch(() => undefined);
    const charts = await page.evaluate<{ total: number; drawn: number }>(COUNT_CHARTS);
    await page.waitForFunction(MATHJAX_IDLE, undefined, { timeout: MATHJAX_TIMEOUT_MS }).catch(() => undefined);
    await opts.after?.(page);
    const problems: string[] = [];
    if (charts.drawn < charts.total) problems.push(`${charts.total - charts.drawn} of ${charts.total} chart(s) not drawn`);
    if (charts.total < (opts.minCharts ?? 0)) problems.push(`${charts.total} chart(s), fewer than ${opts.minCharts}`);
    if (refused.length > 0) problems.push(`it loads ${refused.length} thing(s) from outside the page, first ${refused[0]}`);
    return { file, charts, refused, pageErrors, problems };
  } finally {
    await context.close();
  }
}

/** One line for a checked page: "ok      FILE: 8/8 charts drawn, 0 request(s) refused, 0 page error(s)". */
export function pageCheckLine(check: PageCheck): string {
  const summary = `${check.charts.drawn}/${check.charts.total} charts drawn, ${check.refused.length} request(s) refused, ${check.pageErrors.length} page error(s)`;
  return `${check.problems.length === 0 ? "ok     " : "FAILED "} ${check.file}: ${[...check.problems, summary].join("; ")}`;
}
