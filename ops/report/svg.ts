/**
 * Minimal SVG line charts, generated here so reports open offline (no CDN, no
 * scripts). Two x-axis kinds: linear (time series) and "nines" for latency percentile
 * plots, where x = log10(1 / (1 - p)) so 90, 99, 99.9 and 99.99 are evenly spaced and
 * the tail, which is what matters, gets most of the width.
 */

export interface Series {
  label: string;
  points: Array<[number, number]>;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xKind?: 'linear' | 'nines';
  logY?: boolean;
}

const W = 720;
const H = 340;
const PAD = { l: 76, r: 16, t: 28, b: 44 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const LEGEND_PER_ROW = 4;
const MAX_NINES = 5; // p99.999: 100% itself would be at infinity

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function ninesOf(p: number): number {
  return p >= 100 ? MAX_NINES : Math.min(MAX_NINES, Math.log10(100 / (100 - p)));
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** The smallest "nice" tick value at or above `v` (for the top of a linear y axis). */
function niceTop(v: number): number {
  const ticks = niceTicks(0, v);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : v;
  return Math.ceil(v / step - 1e-9) * step;
}

function label(v: number): string {
  return Math.abs(v) >= 1000 ? v.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(Number(v.toPrecision(4)));
}

export function renderChart(c: Chart): string {
  const nines = c.xKind === 'nines';
  const pts = c.series.flatMap((s) => s.points).map(([x, y]) => [nines ? ninesOf(x) : x, y] as [number, number]);
  if (pts.length === 0) return `<p><em>${esc(c.title)}: no data</em></p>`;
  const fy = (y: number): number => (c.logY ? Math.log10(Math.max(y, 0.001)) : y);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => fy(p[1]));
  const x0 = nines ? 0 : Math.min(...xs);
  const x1 = nines ? MAX_NINES : Math.max(...xs, x0 + 1);
  const y0 = c.logY ? Math.floor(Math.min(...ys)) : 0;
  // Round the top up to a whole tick so the highest gridline is labelled and the
  // data never touches the frame.
  const yMax = Math.max(...ys) * 1.02 || 1;
  const y1 = c.logY ? Math.ceil(Math.max(...ys, y0 + 1)) : niceTop(yMax);
  // The legend sits in its own band under the title, never on top of the lines.
  const legendRows = Math.ceil(c.series.length / LEGEND_PER_ROW);
  const top = PAD.t + legendRows * 16;
  const sx = (x: number): number => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const sy = (y: number): number => H - PAD.b - ((y - y0) / (y1 - y0)) * (H - top - PAD.b);
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(c.title)}</text>`);
  // Grid and axis labels.
  const xt = nines ? [0, 1, 2, 3, 4, 5] : niceTicks(x0, x1);
  for (const t of xt) {
    const txt = nines ? ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%'][t] : label(t);
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${top}" y2="${H - PAD.b}" stroke="#eee"/><text x="${sx(t)}" y="${H - PAD.b + 16}" text-anchor="middle">${txt}</text>`);
  }
  const yt = c.logY ? Array.from({ length: y1 - y0 + 1 }, (_, i) => y0 + i) : niceTicks(y0, y1);
  for (const t of yt) {
    parts.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/><text x="${PAD.l - 6}" y="${sy(t) + 4}" text-anchor="end">${label(c.logY ? 10 ** t : t)}</text>`);
  }
  parts.push(`<line x1="${PAD.l}" x2="${PAD.l}" y1="${top}" y2="${H - PAD.b}" stroke="#333"/><line x1="${PAD.l}" x2="${W - PAD.r}" y1="${H - PAD.b}" y2="${H - PAD.b}" stroke="#333"/>`);
  parts.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${H / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(nines ? ninesOf(x) : x).toFixed(1)},${sy(fy(y)).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const lx = PAD.l + (i % LEGEND_PER_ROW) * ((W - PAD.l - PAD.r) / LEGEND_PER_ROW);
    const ly = PAD.t - 4 + Math.floor(i / LEGEND_PER_ROW) * 16;
    parts.push(`<rect x="${lx}" y="${ly}" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="${ly + 9}">${esc(s.label)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">${parts.join('')}</svg>`;
}
