// `auroral bench`: runs a workload at one point or over a grid of knob values, shows progress,
// prints a table, and writes results.json and a self-contained report.html.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import cliProgress from 'cli-progress';
import { buildGrid, parseKnob, type Knob } from '../bench/sweep.js';
import { runBaseline, runPoint, type BaselineResult, type PointResult } from '../bench/run-point.js';
import type { ThreadCpuShare } from '../metrics/thread-cpu.js';
import { renderReport, type BenchReport } from '../report/html.js';
import { stageNames } from '../metrics/stages.js';
import { defaultParams, workloadNames, type WorkloadName } from '../workload/index.js';
import { intFlag, numberFlag, oneOfFlag, parseFlags, UsageError } from './args.js';
import { VERSION } from './version.js';

export const benchUsage = `usage: auroral bench [--workload NAME] [--seconds N] [--sweep PATH=V1,V2,...]... [flags]

Runs a workload against a fresh volume (6 storage nodes, write quorum 4) for each point of a knob
grid, prints a table and writes results.json and report.html.

workload
  --workload NAME      ${workloadNames.join(' | ')} (default put)
  --seconds N          measured seconds per point (default 5; fractions allowed)
  --warmup N           warm-up seconds per point, not measured (default 1, or seconds/5 if smaller)
  --inflight N         units of work in flight (default ${defaultParams.inflight})
  --value-bytes N      value size: put, read-mostly; row size: write-only (default ${defaultParams.valueBytes})
  --keys N             key space: put, read-mostly; rows per table: write-only (default ${defaultParams.keys.toLocaleString('en-US')})
  --tables N           write-only: tables (default ${defaultParams.tables})
  --scale N            tpcb-like: pgbench scale factor (default ${defaultParams.scale})
  --read-percent N     read-mostly: share of gets (default ${defaultParams.readPercent})
  --seed N             seed of the workload's key choices (default ${defaultParams.seed})
knobs
  --sweep PATH=V,...   run every value (repeatable: the grid is every combination). PATH is a
                       workload parameter (inflight, valueBytes, keys, tables, scale, readPercent,
                       seed) or any open() option by its dotted path, e.g.
                       groupCommit.waitMicrosMax=0,200,1000  groupCommit.mode=adaptive,timed
                       fsync=fdatasync,none  metrics.stages=true,false
  --set PATH=V         fix one knob for every point (repeatable)
  --fsync MODE         shorthand for --set fsync=MODE (fdatasync, fsync, none: UNSAFE)
output
  --out DIR            where results.json and report.html go (default auroral-results/<time>)
  --no-report          write nothing, print only
  --no-baselines       put workload: skip baseline (b), the naive single-file group commit
                       measured at each in-flight level of the run (same window, same values)
  --dir DIR            parent of the temporary volume directories (default: the OS temp dir)

example
  auroral bench --workload put --sweep groupCommit.waitMicrosMax=0,200,1000 --sweep inflight=1,64,256 --seconds 3`;

const cell = (s: string, w: number, left: boolean): string => (left ? s.padEnd(w) : s.padStart(w));

/** A plain aligned table (first column left-aligned). */
export function formatTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => cell(c, widths[i]!, i === 0)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const ms = (micros: number): string => (micros / 1000).toFixed(micros < 10_000 ? 3 : 1);

export function summaryTable(points: PointResult[]): string {
  const unit = points[0]?.unit ?? 'op';
  return formatTable(
    ['point', `${unit}/s`, 'p50 ms', 'p99 ms', 'max ms', 'rec/frame', 'cuts idle/time/bytes', 'fsync p50 ms', 'CPU µs/op', 'largest stage (mean)'],
    points.map((p) => {
      const c = p.groupCommit.cuts;
      const fs50 = p.stages.fsyncPerNode.map((n) => n.p50).sort((a, b) => a - b);
      const top = p.stages.samples === 0 ? '-' : [...stageNames].sort((a, b) => p.stages.micros[b].mean - p.stages.micros[a].mean)[0]!;
      return [
        p.label, Math.round(p.opsPerSec).toLocaleString('en-US'), ms(p.latencyMicros.p50), ms(p.latencyMicros.p99), ms(p.latencyMicros.max),
        p.groupCommit.recordsPerBatch.toFixed(1), `${c.idle}/${c.time}/${c.bytes}`,
        fs50.length === 0 || fs50[0] === 0 ? '-' : ms(fs50[Math.floor(fs50.length / 2)]!),
        p.cpuMicrosPerOp.length === 0 ? '-' : p.cpuMicrosPerOp.reduce((n, t) => n + t.micros, 0).toFixed(1),
        top === '-' ? '-' : `${top} ${(p.stages.micros[top].mean / 1000).toFixed(3)} ms`,
      ];
    }),
  );
}

/** One point in detail: the stage breakdown, batching, fdatasync per node. */
export function detail(p: PointResult): string {
  const lines: string[] = [];
  lines.push(`${p.description}`);
  lines.push(`  ${p.unit}/s ${Math.round(p.opsPerSec).toLocaleString('en-US')}   latency p50 ${ms(p.latencyMicros.p50)}  p90 ${ms(p.latencyMicros.p90)}  p99 ${ms(p.latencyMicros.p99)}  p99.9 ${ms(p.latencyMicros.p999)}  max ${ms(p.latencyMicros.max)} ms`);
  lines.push(`  frames ${p.groupCommit.batches.toLocaleString('en-US')}, ${p.groupCommit.recordsPerBatch.toFixed(1)} records/frame, cuts ${Object.entries(p.groupCommit.cuts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (p.stages.samples > 0) {
    lines.push(`  where a commit's time goes (${p.stages.samples} sampled commits; ms):`);
    const t = formatTable(['stage', 'mean', 'p50', 'p99', 'share'], stageNames.map((s) => {
      const d = p.stages.micros[s];
      return [s, ms(d.mean), ms(d.p50), ms(d.p99), `${((100 * d.mean) / Math.max(1, p.stages.totalMicros.mean)).toFixed(0)}%`];
    }));
    lines.push(t.split('\n').map((l) => `    ${l}`).join('\n'));
    lines.push(`  fdatasync per node p50/p99 ms: ${p.stages.fsyncPerNode.map((n) => `${ms(n.p50)}/${ms(n.p99)}`).join('  ')}`);
    lines.push(`  first node durable (count): ${p.stages.firstDurableByNode.join(' / ')}`);
  }
  const cpu = cpuLine(p.cpuMicrosPerOp, p.unit);
  if (cpu !== null) lines.push(`  ${cpu}`);
  if (p.verified !== null) lines.push(`  check: ${p.verified}`);
  return lines.join('\n');
}

/** "CPU µs per put: writer 8.4 · group-commit 7.3 · nodes 22.1 (3.4..4.2 each) · helpers 5.8 · total 43.6" */
export function cpuLine(cpu: readonly ThreadCpuShare[], unit: string): string | null {
  if (cpu.length === 0) return null;
  const f = (v: number): string => v.toFixed(v < 10 ? 2 : 1);
  const nodes = cpu.filter((t) => t.thread.startsWith('node-')).map((t) => t.micros);
  const other = cpu.filter((t) => !t.thread.startsWith('node-'));
  const total = cpu.reduce((n, t) => n + t.micros, 0);
  const parts = other.filter((t) => t.thread !== 'helpers').map((t) => `${t.thread} ${f(t.micros)}`);
  if (nodes.length > 0) parts.push(`nodes ${f(nodes.reduce((a, b) => a + b, 0))} (${f(Math.min(...nodes))}..${f(Math.max(...nodes))} each)`);
  parts.push(`helpers ${f(other.find((t) => t.thread === 'helpers')?.micros ?? 0)}`);
  return `CPU µs per ${unit}: ${parts.join(' · ')} · total ${f(total)}`;
}

export function baselineLine(b: BaselineResult, points: readonly PointResult[]): string {
  const same = points.filter((p) => p.params.inflight === b.inflight);
  const ratio = same.map((p) => `${(p.opsPerSec / b.opsPerSec).toFixed(2)}x`).join(', ');
  const cpu = b.cpuMicrosPerOp.reduce((n, t) => n + t.micros, 0);
  return `${b.name}, ${b.inflight} in flight: ${Math.round(b.opsPerSec).toLocaleString('en-US')} puts/s, p50 ${ms(b.latencyMicros.p50)} p99 ${ms(b.latencyMicros.p99)} ms, ` +
    `CPU ${cpu.toFixed(2)} µs/put; auroral at ${b.inflight} in flight = ${ratio} of it`;
}

function machine(): BenchReport['machine'] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version, platform: `${os.platform()} ${os.release()}`,
  };
}

function stamp(): string {
  return new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
}

export async function bench(args: string[]): Promise<void> {
  const { values: a } = parseFlags(args, {
    workload: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' }, inflight: { type: 'string' },
    'value-bytes': { type: 'string' }, keys: { type: 'string' }, tables: { type: 'string' }, scale: { type: 'string' },
    'read-percent': { type: 'string' }, seed: { type: 'string' }, sweep: { type: 'string', multiple: true },
    set: { type: 'string', multiple: true }, fsync: { type: 'string' }, out: { type: 'string' }, 'no-report': { type: 'boolean' },
    dir: { type: 'string' }, 'no-baselines': { type: 'boolean' },
  });
  if (a.help === true) {
    console.log(benchUsage);
    return;
  }
  const workload = oneOfFlag('workload', a.workload, workloadNames, 'put') as WorkloadName;
  const seconds = numberFlag('seconds', a.seconds, 5, 0.05, 3600);
  const warmupSeconds = numberFlag('warmup', a.warmup, Math.min(1, seconds / 5), 0, 600);
  const params = {
    inflight: intFlag('inflight', a.inflight, defaultParams.inflight, 1, 100_000),
    valueBytes: intFlag('value-bytes', a['value-bytes'], defaultParams.valueBytes, 1, 1 << 20),
    keys: intFlag('keys', a.keys, defaultParams.keys, 1, 100_000_000),
    tables: intFlag('tables', a.tables, defaultParams.tables, 1, 10_000),
    scale: intFlag('scale', a.scale, defaultParams.scale, 1, 100_000),
    readPercent: intFlag('read-percent', a['read-percent'], defaultParams.readPercent, 0, 100),
    seed: intFlag('seed', a.seed, defaultParams.seed, 0, 0xffffffff),
  };
  const sweeps: Knob[] = (a.sweep ?? []).map((s) => parseKnob('--sweep', s));
  const sets: Knob[] = (a.set ?? []).map((s) => parseKnob('--set', s));
  if (a.fsync !== undefined) sets.push(parseKnob('--fsync', `fsync=${a.fsync}`));
  for (const k of sets) if (k.values.length !== 1) throw new UsageError(`--set ${k.path} takes one value (use --sweep for several)`);
  const grid = buildGrid(params, sets, sweeps);
  const baseDir = a.dir ?? os.tmpdir();
  if (!fs.existsSync(baseDir)) throw new UsageError(`--dir ${baseDir} does not exist`);
  const outDir = a['no-report'] === true ? null : path.resolve(a.out ?? path.join('auroral-results', stamp()));

  const perPointMs = (seconds + warmupSeconds) * 1000;
  console.log(`auroral bench: ${workload}, ${grid.length} point${grid.length === 1 ? '' : 's'} x ${seconds} s (+${warmupSeconds} s warm-up)` +
    `${grid.length > 1 ? `, about ${Math.ceil((grid.length * (perPointMs + 700)) / 1000)} s` : ''}`);
  const tty = process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar({
    stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50,
    format: ' {bar} {percentage}% | point {point}/{points} | {label} | eta {eta_formatted}',
  }, cliProgress.Presets.shades_classic);
  const total = grid.length * 100;
  if (tty) bar.start(total, 0, { point: 1, points: grid.length, label: '' });
  const results: PointResult[] = [];
  const started = performance.now();
  for (let i = 0; i < grid.length; i++) {
    const point = grid[i]!;
    const t0 = performance.now();
    const label = Object.entries(point.knobs).map(([k, v]) => `${k}=${String(v)}`).join(' ') || workload;
    const tick = tty ? setInterval(() => bar.update(Math.min(i * 100 + 99, i * 100 + Math.floor((100 * (performance.now() - t0)) / perPointMs)), { point: i + 1, label }), 200) : null;
    if (!tty) console.error(`  [${i + 1}/${grid.length}] ${label} ...`);
    try {
      results.push(await runPoint(point, { workload, seconds, warmupSeconds, baseDir }));
    } finally {
      if (tick !== null) clearInterval(tick);
    }
    if (tty) bar.update((i + 1) * 100, { point: Math.min(i + 2, grid.length), label });
  }
  if (tty) bar.stop();

  // Baseline (b) at each in-flight level of the run: the same closed loop and values against one
  // file, so the report's throughput carries what a user would get without Auroral, same machine, same minute.
  const baselines: BaselineResult[] = [];
  if (workload === 'put' && a['no-baselines'] !== true) {
    for (const inflight of [...new Set(results.map((r) => r.params.inflight))]) {
      if (!tty) console.error(`  baseline (b) at ${inflight} in flight ...`);
      baselines.push(await runBaseline(inflight, params.valueBytes, { workload, seconds, warmupSeconds, baseDir }));
    }
  }
  const elapsed = (performance.now() - started) / 1000;

  if (results.length === 1) console.log(detail(results[0]!));
  else console.log(summaryTable(results));
  for (const b of baselines) console.log(baselineLine(b, results));
  console.log(`(${elapsed.toFixed(1)} s)`);
  if (results.some((r) => r.options.fsync === 'none')) console.log('fsync none: UNSAFE, nothing acknowledged was made durable; figures measure CPU cost only');
  if (outDir === null) return;
  const report: BenchReport = {
    tool: 'auroral', version: VERSION, date: new Date().toISOString(), command: `auroral bench ${args.join(' ')}`.trim(),
    machine: machine(), workload, seconds, warmupSeconds, sweeps, sets, points: results, baselines,
  };
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify(report, null, 1)}\n`);
  fs.writeFileSync(path.join(outDir, 'report.html'), renderReport(report));
  console.log(`results: ${path.join(outDir, 'results.json')}\nreport:  ${path.join(outDir, 'report.html')}`);
}
