#!/usr/bin/env node
/**
 * Checks exported notebook pages in headless Chromium with the network cut off, the way a reader without internet
 * would open them:
 *   node scripts/check-html.cjs [--min-figures N] FILE.html...
 * Every http(s) request is aborted and counted; every Plotly chart (.plotly-graph-div) must get drawn (a .main-svg
 * inside it); with --min-figures, each page must hold at least N charts. A full-page screenshot FILE.png is written
 * next to each page. Prints one line per page and exits 1 if any page fails (2 for bad arguments).
 */
"use strict";
const path = require("path");
const { pathToFileURL } = require("url");
const { chromium } = require("playwright-core");

const CHROMIUM = "/usr/bin/chromium";
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
/** MathJax only affects the screenshot, so it gets a short wait and no verdict. */
const MATHJAX_TIMEOUT_MS = 5_000;

function usage(message) {
  console.error(`${message}\nusage: node scripts/check-html.cjs [--min-figures N] FILE.html...`);
  process.exit(2);
}

function parseArgs(argv) {
  const files = [];
  let minFigures = 0;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--min-figures") {
      minFigures = Number(argv[++i]);
      if (!Number.isInteger(minFigures) || minFigures < 0) usage("--min-figures needs a whole number");
    } else if (argv[i].startsWith("--")) {
      usage(`unknown option ${argv[i]}`);
    } else {
      files.push(argv[i]);
    }
  }
  if (files.length === 0) usage("no HTML files given");
  return { files, minFigures };
}

// The page functions below run inside the page: Playwright sends their source there, so each must be
// self-contained.

/** Counts the charts on the page and how many of them are drawn. */
function countFigures() {
  const divs = Array.from(document.querySelectorAll(".plotly-graph-div"));
  return { total: divs.length, drawn: divs.filter((div) => div.querySelector(".main-svg") !== null).length };
}

function allFiguresDrawn() {
  return Array.from(document.querySelectorAll(".plotly-graph-div")).every((div) => div.querySelector(".main-svg"));
}

/** MathJax 2 (nbconvert's template) shows a "Loading …" box until it is ready; keep it out of the screenshot. */
function mathJaxIdle() {
  const message = document.getElementById("MathJax_Message");
  return !message || message.style.display === "none" || message.textContent === "";
}

async function checkPage(browser, file, minFigures) {
  const started = Date.now();
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  let blockedRequests = 0;
  await context.route(/^https?:/, (route) => {
    blockedRequests++;
    return route.abort();
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  try {
    await page.goto(pathToFileURL(path.resolve(file)).href, { waitUntil: "load" });
    // Resolves once every chart is drawn; on timeout the count below says how many are not.
    await page.waitForFunction(allFiguresDrawn, undefined, { timeout: DRAW_TIMEOUT_MS }).catch(() => undefined);
    const figures = await page.evaluate(countFigures);
    await page.waitForFunction(mathJaxIdle, undefined, { timeout: MATHJAX_TIMEOUT_MS }).catch(() => undefined);
    const screenshot = file.replace(/\.html?$/i, "") + ".png";
    await page.screenshot({ path: screenshot, fullPage: true });

    const problems = [];
    if (figures.drawn < figures.total) problems.push(`${figures.total - figures.drawn} chart(s) not drawn`);
    if (figures.total < minFigures) problems.push(`fewer than ${minFigures} charts`);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const summary =
      `${figures.drawn}/${figures.total} charts drawn, ${blockedRequests} network request(s) blocked, ` +
      `${pageErrors.length} page error(s), ${seconds} s, screenshot ${screenshot}`;
    return { ok: problems.length === 0, line: `${file}: ${[...problems, summary].join("; ")}`, pageErrors };
  } finally {
    await context.close();
  }
}

async function main() {
  const { files, minFigures } = parseArgs(process.argv.slice(2));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  let failures = 0;
  try {
    for (const file of files) {
      let result;
      try {
        result = await checkPage(browser, file, minFigures);
      } catch (error) {
        result = { ok: false, line: `${file}: ${error.message.split("\n")[0]}`, pageErrors: [] };
      }
      if (!result.ok) failures++;
      console.log(`${result.ok ? "ok     " : "FAILED "} ${result.line}`);
      for (const message of result.pageErrors) console.log(`          page error: ${message}`);
    }
  } finally {
    await browser.close();
  }
  console.log(`${files.length - failures} page(s) passed, ${failures} failed`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
