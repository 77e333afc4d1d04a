/**
 * Learning curves of the active-learning study (`heatseg bench active`, bench/active-pool.ts): the
 * labelled images a curve needs to reach a target, the mean of several seeds' curves, and the
 * self-contained SVG plot of a set of curves.
 */

/** Points (images with pixel labels, test mIoU), in increasing labelled count. */
export type Curve = Array<[number, number]>;

/**
 * Labelled images a curve needs to reach `target`: the first crossing, linearly interpolated
 * between rounds; the first point when it starts at or above the target; null if it never gets there.
 */
export function labelsToReach(curve: Curve, target: number): number | null {
  if (curve.length === 0) return null;
  if (curve[0]![1] >= target) return curve[0]![0];
  for (let i = 1; i < curve.length; i++) {
    const [n0, m0] = curve[i - 1]!;
    const [n1, m1] = curve[i]!;
    if (m0 < target && m1 >= target) return n0 + ((target - m0) / (m1 - m0)) * (n1 - n0);
  }
  return null;
}

/** Pointwise mean of curves that share their labelled counts. */
export function meanCurve(curves: Curve[]): Curve {
  return curves[0]!.map(([n], i) => [n, curves.reduce((a, c) => a + c[i]![1], 0) / curves.length]);
}

const PALETTE: Record<string, string> = {
  random: '#777777',
  'tag-entropy': '#1f77b4',
  'tag-margin': '#17becf',
  'pixel-entropy': '#d62728',
  disagreement: '#ff7f0e',
  diverse: '#2ca02c',
  coverage: '#9467bd',
};
const EXTRA = ['#8c564b', '#e377c2', '#bcbd22', '#7f7f7f'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/**
 * Learning curves as a self-contained SVG: axes with ticks, one polyline (with point markers) per
 * strategy, a legend, and a dashed line at `reference` (random's final mIoU) when given.
 */
export function learningCurveSvg(
  curves: Record<string, Curve>,
  opts: { title?: string; reference?: number | null; yLabel?: string } = {},
): string {
  const W = 720,
    H = 440;
  // a title may have several lines ('\n')
  const titleLines = (opts.title ?? '').split('\n').filter(Boolean);
  const m = { l: 64, r: 180, t: 24 + 16 * Math.max(1, titleLines.length), b: 52 };
  const pw = W - m.l - m.r,
    ph = H - m.t - m.b;
  const pts = Object.values(curves).flat();
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  if (opts.reference !== undefined && opts.reference !== null) ys.push(opts.reference);
  let x0 = Math.min(...xs),
    x1 = Math.max(...xs);
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x1 + 1];
  let lo = Math.min(...ys),
    hi = Math.max(...ys);
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi - lo < 0.02) [lo, hi] = [lo - 0.01, hi + 0.01];
  const yStep = niceStep(hi - lo, 6);
  const y0 = Math.max(0, Math.floor(lo / yStep) * yStep);
  const y1 = Math.ceil(hi / yStep - 1e-9) * yStep;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const f = (v: number) => v.toFixed(1);
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  titleLines.forEach((line, i) => {
    o.push(`<text x="${W / 2}" y="${18 + 16 * i}" text-anchor="middle" font-size="14">${esc(line)}</text>`);
  });
  // grid and y ticks
  // decimals that show every tick exactly (a step of 0.025 needs three)
  const mag = Math.floor(Math.log10(yStep) + 1e-9);
  const yDec = Math.max(0, -mag + (Number.isInteger(Math.round((yStep / 10 ** mag) * 1e6) / 1e6) ? 0 : 1));
  for (let y = y0; y <= y1 + yStep / 2; y += yStep) {
    o.push(`<line x1="${m.l}" y1="${f(sy(y))}" x2="${m.l + pw}" y2="${f(sy(y))}" stroke="#e6e6e6"/>`);
    o.push(`<line x1="${m.l - 5}" y1="${f(sy(y))}" x2="${m.l}" y2="${f(sy(y))}" stroke="black"/>`);
    o.push(`<text x="${m.l - 8}" y="${f(sy(y) + 4)}" text-anchor="end">${y.toFixed(yDec)}</text>`);
  }
  // x ticks: the labelled counts (thinned to at most 12)
  const xt = [...new Set(xs)].sort((a, b) => a - b);
  const every = Math.ceil(xt.length / 12);
  xt.forEach((x, i) => {
    if (i % every !== 0 && i !== xt.length - 1) return;
    o.push(`<line x1="${f(sx(x))}" y1="${m.t + ph}" x2="${f(sx(x))}" y2="${m.t + ph + 5}" stroke="black"/>`);
    o.push(`<text x="${f(sx(x))}" y="${m.t + ph + 19}" text-anchor="middle">${x}</text>`);
  });
  o.push(`<line x1="${m.l}" y1="${m.t + ph}" x2="${m.l + pw}" y2="${m.t + ph}" stroke="black"/>`);
  o.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${m.t + ph}" stroke="black"/>`);
  o.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">images with pixel labels</text>`);
  o.push(
    `<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel ?? 'test mIoU (predicted tags)')}</text>`,
  );
  if (opts.reference !== undefined && opts.reference !== null) {
    o.push(
      `<line x1="${m.l}" y1="${f(sy(opts.reference))}" x2="${m.l + pw}" y2="${f(sy(opts.reference))}" stroke="#777777" stroke-dasharray="4 4"/>`,
    );
  }
  Object.entries(curves).forEach(([name, c], i) => {
    const colour = PALETTE[name] ?? EXTRA[i % EXTRA.length]!;
    o.push(
      `<polyline data-strategy="${esc(name)}" fill="none" stroke="${colour}" stroke-width="2" points="${c.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ')}"/>`,
    );
    for (const [x, y] of c) o.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3" fill="${colour}"/>`);
    const ly = m.t + 10 + i * 20;
    o.push(`<line x1="${m.l + pw + 16}" y1="${ly}" x2="${m.l + pw + 40}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    o.push(`<text x="${m.l + pw + 46}" y="${ly + 4}">${esc(name)}</text>`);
  });
  if (opts.reference !== undefined && opts.reference !== null) {
    const ly = m.t + 10 + Object.keys(curves).length * 20;
    o.push(`<line x1="${m.l + pw + 16}" y1="${ly}" x2="${m.l + pw + 40}" y2="${ly}" stroke="#777777" stroke-dasharray="4 4"/>`);
    o.push(`<text x="${m.l + pw + 46}" y="${ly + 4}">random, final</text>`);
  }
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}
