// The bench report: one self-contained HTML file (inline SVG and CSS, no script but the results
// as JSON data, nothing fetched), readable offline and attachable to an issue.
import { stageNames } from '../metrics/stages.js';
import type { BaselineResult, PointResult } from '../bench/run-point.js';
import type { Knob } from '../bench/sweep.js';
import { categoryChart, esc, logXChart, short, stackedBars } from './svg.js';

export interface BenchReport {
  tool: 'auroral';
  version: string;
  date: string;
  command: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  workload: string;
  seconds: number;
  warmupSeconds: number;
  sweeps: Knob[];
  sets: Knob[];
  points: PointResult[];
  /** Baseline (b) at each in-flight level of the run (put workload), measured in the same run. */
  baselines?: BaselineResult[];
}

const ms = (micros: number): string => (micros / 1000).toFixed(micros < 10_000 ? 2 : 1);
const cutNames = ['idle', 'time', 'bytes', 'records', 'close'] as const;

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${
    rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

/** Charts of throughput and latency against each swept knob, one line per setting of the others. */
function knobCurves(r: BenchReport): string {
  const out: string[] = [];
  for (const k of r.sweeps) {
    const others = r.sweeps.filter((o) => o.path !== k.path);
    const groupOf = (p: PointResult): string => others.map((o) => `${o.path}=${String(p.knobs[o.path])}`).join(' ') || '';
    const groups = [...new Set(r.points.map(groupOf))];
    const categories = k.values.map(String);
    const series = (f: (p: PointResult) => number) => groups.map((g) => ({
      name: g === '' ? 'auroral' : g,
      values: k.values.map((v) => {
        const p = r.points.find((q) => groupOf(q) === g && q.knobs[k.path] === v);
        return p === undefined ? null : f(p);
      }),
    }));
    const unit = r.points[0]?.unit ?? 'op';
    out.push(`<h3>${esc(k.path)}</h3><div class="row">`,
      categoryChart({ title: `Throughput vs ${k.path}`, xLabel: k.path, yLabel: `${unit}/s`, categories, series: [...series((p) => p.opsPerSec), ...baselineSeries(r, k)] }),
      categoryChart({ title: `p50 latency vs ${k.path}`, xLabel: k.path, yLabel: 'ms', categories, series: series((p) => p.latencyMicros.p50 / 1000) }),
      categoryChart({ title: `p99 latency vs ${k.path}`, xLabel: k.path, yLabel: 'ms', categories, series: series((p) => p.latencyMicros.p99 / 1000) }),
      '</div>');
  }
  return out.join('\n');
}

/**
 * Baseline (b) as a line of the throughput chart: against inflight, its value at each level; against
 * any other knob (which a single file does not have), flat at the run's in-flight level.
 */
function baselineSeries(r: BenchReport, k: Knob): { name: string; values: (number | null)[] }[] {
  const bs = r.baselines ?? [];
  if (bs.length === 0) return [];
  if (k.path === 'inflight') {
    return [{ name: 'baseline (b) naive group commit', values: k.values.map((v) => bs.find((b) => b.inflight === v)?.opsPerSec ?? null) }];
  }
  return bs.map((b) => ({ name: `baseline (b), ${b.inflight} in flight`, values: k.values.map(() => b.opsPerSec) }));
}

/** CPU µs per unit of work of each thread, per point and per baseline: the cost model. */
function cpuSection(r: BenchReport): string {
  const rows = [
    ...r.points.map((p) => ({ label: p.label, cpu: p.cpuMicrosPerOp })),
    ...(r.baselines ?? []).map((b) => ({ label: `${b.name} x${b.inflight}`, cpu: b.cpuMicrosPerOp })),
  ].filter((x) => x.cpu.length > 0);
  if (rows.length === 0) return '<p>No per-thread CPU accounting on this platform (it reads /proc/self/task).</p>';
  const threads = [...new Set(rows.flatMap((x) => x.cpu.map((t) => t.thread)))];
  const at = (cpu: { thread: string; micros: number }[], t: string): number => cpu.find((c) => c.thread === t)?.micros ?? 0;
  const bars = stackedBars({
    title: `CPU µs per ${r.points[0]?.unit ?? 'op'}, per thread`, xLabel: 'µs', partNames: threads,
    rows: rows.map((x) => ({ label: x.label, parts: threads.map((t) => at(x.cpu, t)) })),
  });
  return `${bars}${table(['point', ...threads, 'total'], rows.map((x) => [x.label, ...threads.map((t) => at(x.cpu, t).toFixed(2)), x.cpu.reduce((n, c) => n + c.micros, 0).toFixed(2)]))}`;
}

/** Latency histograms: share of operations per quarter-octave bucket, at most 8 points per chart. */
function histograms(r: BenchReport): string {
  const charts: string[] = [];
  for (let i = 0; i < r.points.length; i += 8) {
    const pts = r.points.slice(i, i + 8);
    charts.push(logXChart({
      title: `Latency histogram${r.points.length > 8 ? ` (points ${i + 1}-${i + pts.length})` : ''}`, xLabel: 'latency (log scale)', yLabel: '% of operations',
      series: pts.map((p) => ({ name: p.label, points: p.latencyHistogram.map((b) => [b.upperMicros, (100 * b.count) / Math.max(1, p.ops)] as [number, number]) })),
    }));
  }
  return `<div class="row">${charts.join('\n')}</div>`;
}

function stageSection(r: BenchReport): string {
  const sampled = r.points.filter((p) => p.stages.samples > 0);
  if (sampled.length === 0) return '<p>No sampled commits (metrics.stages was off, or no commit ran).</p>';
  const bars = stackedBars({
    title: 'Where a commit\'s time goes (mean µs per stage, sampled commits)', xLabel: 'µs', partNames: [...stageNames],
    rows: sampled.map((p) => ({ label: p.label, parts: stageNames.map((s) => p.stages.micros[s].mean) })),
  });
  const rows = sampled.map((p) => [p.label, String(p.stages.samples), ...stageNames.map((s) => `${short(p.stages.micros[s].p50)} / ${short(p.stages.micros[s].p99)}`)]);
  return `${bars}<p>p50 / p99 per stage, µs:</p>${table(['point', 'samples', ...stageNames], rows)}`;
}

function batchingSection(r: BenchReport): string {
  const bars = stackedBars({
    title: 'Why batches were cut (share of frames)', xLabel: '% of frames', partNames: [...cutNames],
    rows: r.points.map((p) => {
      const total = Math.max(1, p.groupCommit.batches);
      return { label: p.label, parts: cutNames.map((c) => (100 * p.groupCommit.cuts[c]) / total) };
    }),
  });
  const rows = r.points.map((p) => [
    p.label, short(p.groupCommit.batches), p.groupCommit.recordsPerBatch.toFixed(1), short(p.groupCommit.wakeups),
    `${short(p.stages.rings.log.p99)} / ${short(p.stages.rings.log.max)} of ${short(p.stages.rings.log.capacity)}`,
    `${short(Math.max(...p.stages.rings.nodes.map((n) => n.max)))} of ${short(p.stages.rings.nodes[0]?.capacity ?? 0)}`,
  ]);
  return `${bars}${table(['point', 'frames', 'records/frame', 'gc wake-ups', 'log ring bytes p99 / max', 'node ring bytes max'], rows)}`;
}

function fsyncSection(r: BenchReport): string {
  const withSyncs = r.points.filter((p) => p.stages.fsyncPerNode.some((n) => n.count > 0));
  if (withSyncs.length === 0) return '<p>No fdatasync recorded (metrics.stages off, or fsync none).</p>';
  const best = withSyncs.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
  const chart = logXChart({
    title: `fdatasync latency per node (${best.label})`, xLabel: 'fdatasync duration (log scale)', yLabel: '% of fdatasyncs',
    series: best.stages.fsyncPerNode.map((n, i) => ({ name: `node ${i} (AZ ${Math.floor(i / 2)})`, points: n.buckets.map((b) => [b.upperMicros, (100 * b.count) / Math.max(1, n.count)] as [number, number]) })),
  });
  const rows = r.points.map((p) => [p.label, ...p.stages.fsyncPerNode.map((n) => `${n.count} · ${ms(n.p50)} / ${ms(n.p99)}`)]);
  const head = ['point', ...(r.points[0]?.stages.fsyncPerNode.map((_, i) => `node ${i}: n · p50 / p99 ms`) ?? [])];
  return `<div class="row">${chart}</div>${table(head, rows)}`;
}

export function renderReport(r: BenchReport): string {
  const unit = r.points[0]?.unit ?? 'op';
  const baseOf = (p: PointResult): BaselineResult | undefined => r.baselines?.find((b) => b.inflight === p.params.inflight);
  const summary = [
    ...r.points.map((p) => [
      p.label, Math.round(p.opsPerSec).toLocaleString('en-US'), ms(p.latencyMicros.p50), ms(p.latencyMicros.p90), ms(p.latencyMicros.p99),
      ms(p.latencyMicros.p999), ms(p.latencyMicros.max), p.groupCommit.recordsPerBatch.toFixed(1),
      baseOf(p) === undefined ? '' : `${(p.opsPerSec / baseOf(p)!.opsPerSec).toFixed(2)}x`, p.verified ?? '',
    ]),
    ...(r.baselines ?? []).map((b) => [
      `${b.name} x${b.inflight}`, Math.round(b.opsPerSec).toLocaleString('en-US'), ms(b.latencyMicros.p50), ms(b.latencyMicros.p90), ms(b.latencyMicros.p99),
      ms(b.latencyMicros.p999), ms(b.latencyMicros.max), '', '1.00x', '',
    ]),
  ];
  const fixed = r.sets.map((k) => `${k.path}=${String(k.values[0])}`).join(', ');
  // The results are embedded as data (never executed) so the report is also the results file.
  const json = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Auroral bench: ${esc(r.workload)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1900px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}h3{font-size:14px;margin:16px 0 4px}
table{border-collapse:collapse;margin:8px 0;font-size:12px}td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}.meta{color:#555}.row{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{border:1px solid #eee}code{background:#f3f3f3;padding:1px 4px}
</style></head><body>
<h1>Auroral bench — ${esc(r.workload)}</h1>
<p class="meta">${esc(r.points[0]?.description ?? '')}${r.sweeps.length > 0 ? ` (first point; swept: ${esc(r.sweeps.map((k) => k.path).join(', '))})` : ''}<br>
<code>${esc(r.command)}</code><br>
${esc(r.date)} · ${r.machine.cpus} × ${esc(r.machine.cpuModel)} · ${r.machine.memoryGiB} GiB · Node ${esc(r.machine.node)} · ${esc(r.machine.platform)} ·
${r.seconds} s per point after ${r.warmupSeconds} s warm-up, a fresh volume each${fixed === '' ? '' : ` · fixed: ${esc(fixed)}`}</p>
<h2>Results</h2>
${table(['point', `${unit}/s`, 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'records/frame', 'x baseline (b)', 'check'], summary)}
${r.sweeps.length > 0 ? `<h2>Knobs</h2>${knobCurves(r)}` : ''}
<h2>CPU per ${esc(unit)}, per thread</h2>
<p class="meta">From the kernel's accounting of each thread (/proc/self/task/*/schedstat) over the measured window, divided by the ${esc(unit)}s done.
writer = the main thread (it also runs the benchmark's closed loop); helpers = every other thread of the process (V8's platform and GC workers, libuv's pool).</p>
${cpuSection(r)}
<h2>Latency distribution</h2>
${histograms(r)}
<h2>Per-stage breakdown</h2>
<p class="meta">Sampled commits (1 in metrics.sampleLsns LSNs) split into consecutive stages that add up to their latency:
ringWait (commit call → drained by the group-commit thread), batchForm (→ frame cut), framing (→ sealed and copied to every node ring),
nodeAppend (→ the first node to make it durable starts fdatasync), fdatasync, quorumWait (→ VDL covers it), ackDelivery (→ the promise resolves).</p>
${stageSection(r)}
<h2>Batching and rings</h2>
${batchingSection(r)}
<h2>fdatasync per node</h2>
${fsyncSection(r)}
<script type="application/json" id="results">${json}</script>
</body></html>
`;
}
