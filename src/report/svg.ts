// Inline SVG charts for the bench report: no library, no script, no network. Every series and bar
// is a <path> so a browser test can check that something was drawn.
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

export const color = (i: number): string => PALETTE[i % PALETTE.length]!;

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1234567 -> "1.23M", 0.5 -> "0.5". */
export function short(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}K`;
  return String(+v.toPrecision(3));
}

/** Round axis ticks covering [lo, hi]. */
function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  // The last tick is at or above hi, so the axis covers every value.
  const out: number[] = [];
  const last = Math.ceil(hi / step - 1e-9) * step;
  for (let t = Math.ceil(lo / step) * step; t <= last + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const frame = (legendWidth: number): Frame => ({ width: 560 + legendWidth, height: 300, left: 64, right: 16 + legendWidth, top: 34, bottom: 48 });

function shell(f: Frame, title: string, body: string, xLabel: string, yLabel: string): string {
  const plotRight = f.width - f.right;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" role="img" aria-label="${esc(title)}">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${f.left}" y="18" font-size="13" font-weight="600">${esc(title)}</text>
<line x1="${f.left}" y1="${f.height - f.bottom}" x2="${plotRight}" y2="${f.height - f.bottom}" stroke="#444"/>
<line x1="${f.left}" y1="${f.top}" x2="${f.left}" y2="${f.height - f.bottom}" stroke="#444"/>
<text x="${(f.left + plotRight) / 2}" y="${f.height - 8}" text-anchor="middle" font-size="11">${esc(xLabel)}</text>
<text transform="translate(14 ${(f.top + f.height - f.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(yLabel)}</text>
${body}
</svg>`;
}

function legend(f: Frame, names: string[], gap = 14): string {
  if (names.length === 1 && names[0] === '') return ''; // one unnamed series: nothing to tell apart
  const x = f.width - f.right + gap;
  return names.map((n, i) => `<rect x="${x}" y="${f.top + i * 18}" width="10" height="10" fill="${color(i)}"/>` +
    `<text x="${x + 16}" y="${f.top + 9 + i * 18}" font-size="11">${esc(n)}</text>`).join('\n');
}

const legendWidthFor = (names: string[]): number => (names.length <= 1 && names[0] === '' ? 0 : Math.min(440, 30 + 6.5 * Math.max(0, ...names.map((n) => n.length))));

export interface CategorySeries {
  name: string;
  values: (number | null)[];
}

/** Lines over categorical x values (knob settings, evenly spaced). */
export function categoryChart(o: { title: string; xLabel: string; yLabel: string; categories: string[]; series: CategorySeries[] }): string {
  const f = frame(legendWidthFor(o.series.map((s) => s.name)));
  const all = o.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const ticks = niceTicks(0, Math.max(1e-9, ...all) * 1.08);
  const yMax = ticks[ticks.length - 1]!;
  const n = o.categories.length;
  const plotW = f.width - f.left - f.right;
  const x = (i: number): number => f.left + (n === 1 ? plotW / 2 : 20 + (i * (plotW - 40)) / (n - 1));
  const y = (v: number): number => f.height - f.bottom - (v / yMax) * (f.height - f.top - f.bottom);
  const grid = ticks.map((t) => `<line x1="${f.left}" x2="${f.width - f.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e5e5e5"/>` +
    `<text x="${f.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" font-size="10">${short(t)}</text>`).join('\n');
  const xTicks = o.categories.map((c, i) => `<text x="${x(i).toFixed(1)}" y="${f.height - f.bottom + 15}" text-anchor="middle" font-size="10">${esc(c)}</text>`).join('\n');
  const lines = o.series.map((s, k) => {
    const pts = s.values.map((v, i) => (v === null ? null : [x(i), y(v)] as const)).filter((p) => p !== null);
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(' ');
    const dots = pts.map((p) => `<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="3" fill="${color(k)}"/>`).join('');
    // A single point still draws a (zero-length, round-capped) path, so every series is a path.
    return `<path class="series" d="${d}${pts.length === 1 ? ' l0.01,0' : ''}" fill="none" stroke="${color(k)}" stroke-width="2" stroke-linecap="round"/>${dots}`;
  }).join('\n');
  return shell(f, o.title, `${grid}\n${xTicks}\n${lines}\n${legend(f, o.series.map((s) => s.name))}`, o.xLabel, o.yLabel);
}

export interface XYSeries {
  name: string;
  points: [number, number][];
}

/** Lines over a log-scaled numeric x (latency in µs): histograms as outlines. */
export function logXChart(o: { title: string; xLabel: string; yLabel: string; series: XYSeries[] }): string {
  const f = frame(legendWidthFor(o.series.map((s) => s.name)));
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0])).filter((v) => v > 0);
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1]));
  const lo = Math.floor(Math.log10(Math.max(1, Math.min(...xs, 1e9))));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(10, ...xs))));
  const ticks = niceTicks(0, Math.max(1e-9, ...ys) * 1.08);
  const yMax = ticks[ticks.length - 1]!;
  const x = (v: number): number => f.left + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (f.width - f.left - f.right);
  const y = (v: number): number => f.height - f.bottom - (v / yMax) * (f.height - f.top - f.bottom);
  const grid = ticks.map((t) => `<line x1="${f.left}" x2="${f.width - f.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e5e5e5"/>` +
    `<text x="${f.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" font-size="10">${short(t)}</text>`).join('\n');
  const unit = (e: number): string => (e >= 6 ? `${10 ** (e - 6)} s` : e >= 3 ? `${10 ** (e - 3)} ms` : `${10 ** e} µs`);
  const xTicks: string[] = [];
  for (let e = lo; e <= hi; e++) xTicks.push(`<line x1="${x(10 ** e).toFixed(1)}" x2="${x(10 ** e).toFixed(1)}" y1="${f.top}" y2="${f.height - f.bottom}" stroke="#f0f0f0"/>` +
    `<text x="${x(10 ** e).toFixed(1)}" y="${f.height - f.bottom + 15}" text-anchor="middle" font-size="10">${unit(e)}</text>`);
  const lines = o.series.map((s, k) => {
    const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    return `<path class="series" d="${d}${s.points.length === 1 ? ' l0.01,0' : ''}" fill="none" stroke="${color(k)}" stroke-width="1.8" stroke-linecap="round"/>`;
  }).join('\n');
  return shell(f, o.title, `${xTicks.join('\n')}\n${grid}\n${lines}\n${legend(f, o.series.map((s) => s.name))}`, o.xLabel, o.yLabel);
}

/** Horizontal stacked bars: one row per point, one segment per part (stages, cut reasons). */
export function stackedBars(o: { title: string; xLabel: string; partNames: string[]; rows: { label: string; parts: number[] }[] }): string {
  const labelW = Math.min(300, 12 + 6.2 * Math.max(4, ...o.rows.map((r) => r.label.length)));
  const rowH = 22;
  const f: Frame = { width: 560 + labelW + 190, height: Math.max(34 + 48 + o.rows.length * rowH + 10, 34 + 48 + 18 * o.partNames.length), left: labelW, right: 190, top: 34, bottom: 48 };
  const totals = o.rows.map((r) => r.parts.reduce((a, b) => a + b, 0));
  const ticks = niceTicks(0, Math.max(1e-9, ...totals) * 1.05);
  const xMax = ticks[ticks.length - 1]!;
  const x = (v: number): number => f.left + (v / xMax) * (f.width - f.left - f.right);
  const grid = ticks.map((t) => `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${f.top}" y2="${f.height - f.bottom}" stroke="#e5e5e5"/>` +
    `<text x="${x(t).toFixed(1)}" y="${f.height - f.bottom + 15}" text-anchor="middle" font-size="10">${short(t)}</text>`).join('\n');
  const bars = o.rows.map((r, i) => {
    const top = f.top + 6 + i * rowH;
    let at = 0;
    const segs = r.parts.map((v, k) => {
      const x0 = x(at);
      at += v;
      const w = Math.max(0, x(at) - x0);
      return w <= 0 ? '' : `<path class="bar" d="M${x0.toFixed(1)},${top}h${w.toFixed(1)}v${rowH - 6}h${(-w).toFixed(1)}z" fill="${color(k)}"><title>${esc(`${o.partNames[k]}: ${short(v)}`)}</title></path>`;
    }).join('');
    return `<text x="${f.left - 6}" y="${top + 12}" text-anchor="end" font-size="10">${esc(r.label)}</text>${segs}` +
      `<text x="${(x(at) + 4).toFixed(1)}" y="${top + 12}" font-size="10" fill="#555">${short(totals[i]!)}</text>`;
  }).join('\n');
  const body = `${grid}\n${bars}\n${legend(f, o.partNames, 64)}`;
  return shell(f, o.title, body, o.xLabel, '');
}
