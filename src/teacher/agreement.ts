/**
 * Agreement statistics for teacher judgments and human ratings: Spearman's rank correlation and
 * Krippendorff's alpha for ordinal data.
 */

/** Ranks 1..n, tied values sharing the mean of their ranks. */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(xs.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && order[end + 1][0] === order[start][0]) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) out[order[k][1]] = rank;
    start = end + 1;
  }
  return out;
}

function pearson(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new Error(`pearson: ${xs.length} values against ${ys.length}`);
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Spearman's rho: the Pearson correlation of the ranks. NaN when either side is constant. */
export function spearman(xs: readonly number[], ys: readonly number[]): number {
  return pearson(ranks(xs), ranks(ys));
}

/** Mean Spearman over all pairs of raters; `byRater[r][i]` is rater r's value for item i. */
export function meanPairwiseSpearman(byRater: readonly (readonly number[])[]): number {
  const rhos: number[] = [];
  for (let a = 0; a < byRater.length; a++) {
    for (let b = a + 1; b < byRater.length; b++) rhos.push(spearman(byRater[a], byRater[b]));
  }
  if (rhos.length === 0) throw new Error("meanPairwiseSpearman needs at least two raters");
  return rhos.reduce((s, r) => s + r, 0) / rhos.length;
}

/**
 * Krippendorff's alpha with the ordinal distance (Krippendorff 2011, "Computing Krippendorff's
 * Alpha-Reliability"). `units[u][c]` is coder c's value for unit u, null when missing; units with fewer than
 * two values are not pairable and are left out. alpha = 1 - (n - 1) sum o_ck d_ck / sum n_c n_k d_ck, where
 * o is the coincidence matrix, n_c its margins and d_ck = (sum of n_g for g from c to k - (n_c + n_k) / 2)^2.
 * NaN when every value is the same (no expected disagreement).
 */
export function krippendorffAlphaOrdinal(units: readonly (readonly (number | null)[])[]): number {
  const pairable = units.map((u) => u.filter((v): v is number => v !== null)).filter((u) => u.length >= 2);
  const values = [...new Set(pairable.flat())].sort((a, b) => a - b);
  const index = new Map(values.map((v, i) => [v, i]));
  const k = values.length;
  const o = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (const unit of pairable) {
    const w = 1 / (unit.length - 1);
    for (let i = 0; i < unit.length; i++) {
      for (let j = 0; j < unit.length; j++) if (i !== j) o[index.get(unit[i])!][index.get(unit[j])!] += w;
    }
  }
  const margins = o.map((row) => row.reduce((a, b) => a + b, 0));
  const n = margins.reduce((a, b) => a + b, 0);
  let observed = 0;
  let expected = 0;
  for (let c = 0; c < k; c++) {
    for (let e = 0; e < k; e++) {
      const [lo, hi] = c <= e ? [c, e] : [e, c];
      let between = 0;
      for (let g = lo; g <= hi; g++) between += margins[g];
      const distance = (between - (margins[c] + margins[e]) / 2) ** 2;
      observed += o[c][e] * distance;
      expected += margins[c] * margins[e] * distance;
    }
  }
  return expected === 0 ? NaN : 1 - ((n - 1) * observed) / expected;
}
