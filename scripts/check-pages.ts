/**
 * Checks exported pages as a reader without internet would open them (src/export/page-check.ts): every chart
 * draws, nothing outside the page loads. Writes a full-page screenshot FILE.png next to each page.
 *   node --import tsx scripts/check-pages.ts [--min-charts N] FILE.html...
 * Prints one line per page; exits 1 if any page fails, 2 for bad arguments.
 */
import { parseArgs } from "util";
import { checkPage, pageCheckLine, withChromium } from "../src/export/page-check";

const { values, positionals: files } = parseArgs({ options: { "min-charts": { type: "string", default: "0" } }, allowPositionals: true });
const minCharts = Number(values["min-charts"]);
if (!Number.isInteger(minCharts) || minCharts < 0 || files.length === 0) {
  console.error("usage: node --import tsx scripts/check-pages.ts [--min-charts N] FILE.html...");
  process.exit(2);
}

withChromium(async (browser) => {
  let failures = 0;
  for (const file of files) {
    const screenshot = file.replace(/\.html?$/i, "") + ".png";
    const check = await checkPage(browser, file, { minCharts, after: (page) => page.screenshot({ path: screenshot, fullPage: true }) });
    if (check.problems.length > 0) failures++;
    console.log(`${pageCheckLine(check)}; screenshot ${screenshot}`);
    for (const message of check.pageErrors) console.log(`          page error: ${message}`);
  }
  console.log(`${files.length - failures} page(s) passed, ${failures} failed`);
  return failures;
}).then(
  (failures) => process.exit(failures === 0 ? 0 : 1),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
