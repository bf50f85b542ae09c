// What the recovery benchmark prints and draws: the Auroral table, the table against PostgreSQL
// (ratios PostgreSQL / Auroral) and the SVG plot (log-scaled time against data written).
import type { RecoveryRow } from './recovery-suite.js';
import type { PgRecoveryResult, PgRecoveryRow } from './postgres-recovery.js';

const MIB = 1024 * 1024;

const ms = (v: number | null, digits = 0): string => (v === null ? 'n/a' : v.toFixed(digits));

/** PostgreSQL's time over Auroral's, as printed ('n/a' when either is missing). */
export function ratioText(pgMs: number | null, auroralMs: number | null): string {
  if (pgMs === null || auroralMs === null || auroralMs <= 0) return 'n/a';
  return `${(pgMs / auroralMs).toFixed(1)}x`;
}

function table(title: string[], head: string[], cells: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => x.padStart(widths[i]!)).join('  ');
  return [...title, line(head), ...cells.map(line)].join('\n');
}

/** The Auroral rows as printed by both front ends. */
export function recoveryTable(rows: RecoveryRow[], threads: number): string {
  const head = ['written MB', 'process restart', 'node restart', 'writer restart', 'cache hits after writer restart', 'full replay',
    'replay / process restart', 'process restart cold', 'from fork', 'from fork cold'];
  const cells = rows.map((r) => [String(r.mb), ms(r.processMs), ms(r.nodeMs), ms(r.writerMs, 1), `${(r.hitRatio * 100).toFixed(0)}%`, ms(r.replayMs),
    `${(r.replayMs / r.processMs).toFixed(1)}x`, ms(r.processColdMs), ms(r.processExecMs), ms(r.processExecColdMs)]);
  return table([
    'recovery time to serve again (ms)',
    '  process restart: openVolume + attachWriter + first get in a new process (median of its warm runs; cold: one run, page cache dropped);',
    '  from fork: the same from the fork of that process (Node start-up included); node and writer restart: median of 5;',
    `  full replay: median of 3, ${threads} threads`,
  ], head, cells);
}

export interface VsPostgresRow {
  mb: number;
  walMb: number | null;
  auroralWarmMs: number;
  auroralColdMs: number | null;
  pgWarmMs: number | null;
  pgColdMs: number | null;
}

/** Auroral's rows and PostgreSQL's, paired by size (Auroral: MB of values acknowledged; PostgreSQL: MB of WAL). */
export function vsPostgresRows(rows: RecoveryRow[], pg: PgRecoveryRow[]): VsPostgresRow[] {
  return rows.map((r) => {
    const p = pg.find((x) => x.mb === r.mb);
    const wal = p === undefined ? null : (p.replayedBytes ?? p.walBytes) / MIB;
    return { mb: r.mb, walMb: wal, auroralWarmMs: r.processExecMs, auroralColdMs: r.processExecColdMs, pgWarmMs: p?.warmMs ?? null, pgColdMs: p?.coldMs ?? null };
  });
}

export function vsPostgresTable(rows: RecoveryRow[], pg: PgRecoveryResult, pgReps: number, auroralReps: number): string {
  const head = ['written MB', 'PG WAL replayed MB', 'Auroral warm', 'PostgreSQL warm', 'PG / Auroral warm', 'Auroral cold', 'PostgreSQL cold', 'PG / Auroral cold'];
  const cells = vsPostgresRows(rows, pg.rows).map((r) => [String(r.mb), r.walMb === null ? 'n/a' : r.walMb.toFixed(0),
    ms(r.auroralWarmMs), ms(r.pgWarmMs), ratioText(r.pgWarmMs, r.auroralWarmMs), ms(r.auroralColdMs), ms(r.pgColdMs), ratioText(r.pgColdMs, r.auroralColdMs)]);
  return table([
    'restart after SIGKILL under load until the first read is answered (ms), Auroral vs PostgreSQL in the same run',
    `  Auroral: fork of a new process -> openVolume + attachWriter + first get (warm: median of ${auroralReps}; cold: 1 run, page cache dropped)`,
    `  ${pg.version}: start of postgres -> first 'select abalance ... where aid = 1' answered (pgbench -s ${pg.scale}, tpcb-like -c ${pg.clients};`,
    `  median of ${pgReps}; cold: page cache dropped); one connect + query on a running server: ${pg.probeMs.toFixed(1)} ms` +
      (pg.coldSkipped === null ? '' : `; no cold figures: ${pg.coldSkipped}`),
  ], head, cells);
}

type Series = [name: string, color: string, values: (number | null)[]];

/** Recovery time against data written, one line per path (and PostgreSQL's, when given), log-scaled time axis (SVG). */
export function recoveryPlot(rows: RecoveryRow[], pg?: PgRecoveryRow[]): string {
  const W = 680, H = 380, L = 70, R = 200, T = 30, B = 50;
  const series: Series[] = [
    ['full replay', '#d62728', rows.map((r) => r.replayMs)],
    ['process restart, warm', '#1f77b4', rows.map((r) => r.processExecMs)],
    ['process restart, cold', '#17becf', rows.map((r) => r.processExecColdMs)],
    ['node restart', '#2ca02c', rows.map((r) => r.nodeMs)],
    ['writer restart', '#9467bd', rows.map((r) => r.writerMs)],
  ];
  if (pg !== undefined) {
    const v = vsPostgresRows(rows, pg);
    series.push(['PostgreSQL 15, warm', '#ff7f0e', v.map((r) => r.pgWarmMs)], ['PostgreSQL 15, cold', '#8c564b', v.map((r) => r.pgColdMs)]);
  }
  const drawn = series.filter(([, , vs]) => vs.some((x) => x !== null && x > 0));
  const maxMb = Math.max(...rows.map((r) => r.mb));
  const all = drawn.flatMap(([, , vs]) => vs).filter((v): v is number => v !== null && v > 0);
  const lo = Math.log10(Math.max(0.1, Math.min(...all) / 2)), hi = Math.log10(Math.max(...all) * 2);
  const x = (mb: number) => L + (mb / maxMb) * (W - L - R);
  const y = (v: number) => T + (1 - (Math.log10(Math.max(v, 0.1)) - lo) / (hi - lo)) * (H - T - B);
  const ticks: string[] = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) ticks.push(`<line x1="${L}" x2="${W - R}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/><text x="${L - 6}" y="${y(10 ** e) + 4}" text-anchor="end" font-size="11">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(1)}</text>`);
  for (const r of rows) ticks.push(`<text x="${x(r.mb)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${r.mb}</text>`);
  const lines = drawn.map(([name, color, vs], k) => {
    const pts = rows.flatMap((r, i) => (vs[i] === null || vs[i]! <= 0 ? [] : [[x(r.mb), y(vs[i]!)] as const]));
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>` +
      pts.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${color}"/>`).join('') +
      `<text x="${W - R + 10}" y="${T + 16 + k * 18}" font-size="12" fill="${color}">${name}</text>`;
  }).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
  <rect width="100%" height="100%" fill="white"/>
  <text x="${L}" y="18" font-size="13">Time to serve again after a crash (ms, log scale) vs data written (MB)</text>
  ${ticks.join('\n')}
  <line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>
  <text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle" font-size="12">${pg === undefined ? 'MB written' : 'MB written (Auroral: values acknowledged; PostgreSQL: WAL)'}</text>
  ${lines}
  </svg>\n`;
}
