/**
 * A notebook's HTML export made to stand alone. Debian's nbconvert (6.5) links require.js and MathJax from
 * file:///usr/share/javascript, which a reader's machine does not have (and a CDN would need the network):
 * - require.js: nothing on xft's pages uses it (charts draw through window.Plotly: kernel-ext/plotly.ts), so its
 *   tag goes.
 * - MathJax: its tag and configuration go where no markdown cell holds TeX math. Where one does, they stay, with a
 *   warning: that math renders only where MathJax is at that path.
 * Anything else the page would still load from a URL or a file is an error that names it: such a page is not written.
 */

/** The part of an .ipynb this reads: its markdown cells' text. */
export interface NotebookCells {
  cells: Array<{ cell_type: string; source: string | string[] }>;
}

const REQUIRE_JS_TAG = /<script\b[^>]*\bsrc="[^"]*\/require(?:\.min)?\.js"[^>]*>\s*<\/script>\s*/g;
const MATHJAX_TAG = /<script\b[^>]*\bsrc="[^"]*\/MathJax\.js[^"]*"[^>]*>\s*<\/script>\s*/g;
const MATHJAX_CONFIG =
  /<!-- MathJax configuration -->\s*<script type="text\/x-mathjax-config">[\s\S]*?<\/script>\s*(?:<!-- End of mathjax configuration -->)?/g;
/** What a page loads by itself: scripts, stylesheets, images and frames with a source outside the page. */
const LOADED = /<(script|link|img|iframe)\b[^>]*?\b(?:src|href)="([^"]+)"/g;
/** TeX as MathJax's configuration on these pages finds it: $...$, $$...$$, \(...\), \[...\]. */
const TEX_MATH = /\$\$[\s\S]+?\$\$|\$[^$\n]+\$|\\\([\s\S]+?\\\)|\\\[[\s\S]+?\\\]/;

export function hasTexMath(notebook: NotebookCells): boolean {
  return notebook.cells.some((c) => c.cell_type === "markdown" && TEX_MATH.test(Array.isArray(c.source) ? c.source.join("") : c.source));
}

/** A link that leaves the page: any URL with a scheme but data:, and any absolute or relative file path. */
function loadsFromOutside(url: string): boolean {
  return !url.startsWith("data:") && !url.startsWith("#");
}

/** The page without its machine-specific scripts; throws naming `file` and the first thing it would still load. */
export function offlinePage(html: string, notebook: NotebookCells, file: string): { html: string; warnings: string[] } {
  const warnings: string[] = [];
  let page = html.replace(REQUIRE_JS_TAG, "");
  const keepMathJax = hasTexMath(notebook);
  if (keepMathJax) {
    warnings.push(
      `${file}: a markdown cell holds TeX math, so the page keeps MathJax from its nbconvert path; the math renders only where MathJax is installed there`,
    );
  } else {
    page = page.replace(MATHJAX_TAG, "").replace(MATHJAX_CONFIG, "");
  }
  for (const [tag, , url] of page.matchAll(LOADED)) {
    if (keepMathJax && /\/MathJax\.js/.test(url)) continue;
    // Links (<a href>) are not loads; a <link rel=stylesheet> or <script src> is.
    if (loadsFromOutside(url))
      throw new Error(`${file}: the page would load ${url} (${tag.slice(0, 80)}...), which a reader may not have; not written`);
  }
  return { html: page, warnings };
}
