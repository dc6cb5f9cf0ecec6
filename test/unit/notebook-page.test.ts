import assert from "node:assert/strict";
import { test } from "node:test";
import { hasTexMath, offlinePage } from "../../src/export/notebook-page";

// The head of a page as Debian's nbconvert 6.5 writes it, cut down.
const HEAD = `<title>x</title><script src="file:///usr/share/javascript/requirejs/require.min.js"></script>
<style>.a{}</style>
<!-- Load mathjax -->
    <script src="file:///usr/share/javascript/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"> </script>
    <!-- MathJax configuration -->
    <script type="text/x-mathjax-config">
    init_mathjax = function() { MathJax.Hub.Queue(["Typeset", MathJax.Hub]); }
    init_mathjax();
    </script>
    <!-- End of mathjax configuration --></head><body><img src="data:image/png;base64,AAAA"><a href="https://example.org">a link is not a load</a>`;
const markdown = (text: string) => ({
  cells: [
    { cell_type: "markdown", source: [text] },
    { cell_type: "code", source: "const a = `${b}` + '$x$'" },
  ],
});

test("a page without TeX math loses require.js and MathJax, and keeps everything else", () => {
  const { html, warnings } = offlinePage(HEAD, markdown("Accuracy over seeds, costs 5 dollars"), "00.html");
  assert.doesNotMatch(html, /require\.min\.js|MathJax|file:/);
  assert.match(html, /<style>\.a\{\}<\/style>/);
  assert.match(html, /data:image\/png/);
  assert.deepEqual(warnings, []);
});

test("a page with TeX math in markdown keeps MathJax, with a warning naming the page", () => {
  assert.ok(hasTexMath(markdown("the loss $\\ell = -\\log p$")));
  assert.ok(!hasTexMath(markdown("code only")), "math in a code cell's text is not markdown math");
  const { html, warnings } = offlinePage(HEAD, markdown("the loss $\\ell$"), "01.html");
  assert.match(html, /MathJax\.js/);
  assert.doesNotMatch(html, /require\.min\.js/);
  assert.match(warnings[0], /^01\.html: a markdown cell holds TeX math/);
});

test("anything else loaded from outside the page is an error naming the page and the address", () => {
  for (const tag of [
    '<link rel="stylesheet" href="https://cdn.example/x.css">',
    '<script src="/usr/share/javascript/x.js"></script>',
    '<iframe src="other.html"></iframe>',
  ]) {
    assert.throws(
      () => offlinePage(HEAD + tag, markdown(""), "02.html"),
      /^Error: 02\.html: the page would load (https:\/\/cdn|\/usr\/share|other\.html).*not written$/,
    );
  }
});
