// One point of a sweep: a fresh volume in a temporary directory, the workload's data loaded, a
// warm-up, then a timed closed-loop window. Latency is measured per unit of work from its issue
// (HDR histogram, µs); everything the engine reports comes from db.stats() deltas over the window.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open } from '../writer/volume.js';
import type { Database } from '../writer/database.js';
import { KeySource, newHistogram, runPutWindow, runWindow } from '../cli/workload.js';
import { cpuBetween, ownTid, readThreadCpu, type ThreadCpuShare } from '../metrics/thread-cpu.js';
import { NaiveGroupCommit } from './baselines.js';
import { LOG_BUCKETS, logBucketUpper } from '../metrics/trace.js';
import type { StageStats } from '../metrics/stages.js';
import { workloads, type WorkloadName } from '../workload/index.js';
import { pointLabel, type Point } from './sweep.js';

export interface Percentiles {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface PointResult {
  label: string;
  knobs: Point['knobs'];
  params: Point['params'];
  options: Point['options'];
  workload: WorkloadName;
  unit: string;
  description: string;
  /** Measured window (after the warm-up). */
  seconds: number;
  ops: number;
  opsPerSec: number;
  /** Per unit of work, from its issue, µs. */
  latencyMicros: Percentiles;
  /** Quarter-octave latency histogram (µs upper bound, count), non-empty buckets only. */
  latencyHistogram: { upperMicros: number; count: number }[];
  commits: { acknowledged: number; timedOut: number };
  groupCommit: {
    batches: number;
    records: number;
    recordsPerBatch: number;
    cuts: { bytes: number; records: number; time: number; idle: number; close: number };
    wakeups: number;
  };
  nodes: { syncs: number; syncMicrosMean: number }[];
  /** Per-stage metrics over the window (db.stats().stages after resetStageMetrics()). */
  stages: StageStats;
  cacheHitRatio: number;
  /** The workload's own consistency check after the window, if it has one. */
  verified: string | null;
  /**
   * CPU microseconds per unit of work of each thread over the window (kernel accounting,
   * metrics/thread-cpu.ts): writer, group-commit, node-0.., helpers. Empty off Linux.
   */
  cpuMicrosPerOp: ThreadCpuShare[];
}

/** A single-file baseline measured beside the points (bench/baselines.ts), same window and load. */
export interface BaselineResult {
  name: string;
  inflight: number;
  opsPerSec: number;
  latencyMicros: Percentiles;
  cpuMicrosPerOp: ThreadCpuShare[];
}

export interface RunOptions {
  workload: WorkloadName;
  seconds: number;
  warmupSeconds: number;
  /** Parent of each point's temporary volume directory. */
  baseDir: string;
}

function delta<T extends Record<string, number>>(after: T, before: T): T {
  const out = {} as Record<string, number>;
  for (const k of Object.keys(after)) out[k] = after[k]! - before[k]!;
  return out as T;
}

function percentiles(hist: ReturnType<typeof newHistogram>): Percentiles {
  return {
    mean: hist.mean, p50: hist.getValueAtPercentile(50), p90: hist.getValueAtPercentile(90), p99: hist.getValueAtPercentile(99),
    p999: hist.getValueAtPercentile(99.9), max: hist.maxValue,
  };
}

const perOp = (shares: ThreadCpuShare[], ops: number): ThreadCpuShare[] =>
  shares.map((t) => ({ thread: t.thread, micros: ops === 0 ? 0 : t.micros / ops }));

/**
 * Baseline (b), the naive single-file group commit, at `inflight` puts in flight with the
 * workload's value size: what a user would write without Auroral, measured in the same run.
 */
export async function runBaseline(inflight: number, valueBytes: number, o: RunOptions): Promise<BaselineResult> {
  const dir = fs.mkdtempSync(path.join(o.baseDir, 'auroral-baseline-'));
  const b = new NaiveGroupCommit(dir);
  try {
    const keys = new KeySource();
    const value = new Uint8Array(valueBytes).fill(0x61);
    if (o.warmupSeconds > 0) await runPutWindow(b, inflight, o.warmupSeconds * 1000, value, keys, null);
    const hist = newHistogram();
    const cpu0 = readThreadCpu();
    const r = await runPutWindow(b, inflight, o.seconds * 1000, value, keys, hist);
    const cpu = cpuBetween(cpu0, readThreadCpu(), new Map([[ownTid(), 'writer']]));
    return { name: 'baseline (b) naive group commit', inflight, opsPerSec: r.ops / (r.elapsedMs / 1000), latencyMicros: percentiles(hist), cpuMicrosPerOp: perOp(cpu, r.ops) };
  } finally {
    b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function runPoint(point: Point, o: RunOptions): Promise<PointResult> {
  const dir = fs.mkdtempSync(path.join(o.baseDir, 'auroral-bench-'));
  let db: Database | null = null;
  try {
    db = await open({ ...point.options, dir });
    const w = workloads[o.workload](point.params);
    await w.prepare(db);
    const d = db;
    const op = (): Promise<unknown> => w.op(d);
    if (o.warmupSeconds > 0) await runWindow(op, point.params.inflight, o.warmupSeconds * 1000, null);
    db.resetStageMetrics();
    const before = db.stats();
    const hist = newHistogram();
    const buckets = new Array<number>(LOG_BUCKETS).fill(0);
    const cpu0 = readThreadCpu();
    const r = await runWindow(op, point.params.inflight, o.seconds * 1000, hist, buckets);
    const cpu1 = readThreadCpu();
    const after = db.stats();
    const verified = w.verify === undefined ? null : await w.verify(db);
    const g = delta(
      { batches: after.groupCommit.batches, records: after.groupCommit.records, wakeups: after.groupCommit.wakeups },
      { batches: before.groupCommit.batches, records: before.groupCommit.records, wakeups: before.groupCommit.wakeups },
    );
    const syncs = after.nodes.map((n, i) => {
      const b = before.nodes[i]!;
      const count = n.syncs - b.syncs;
      return { syncs: count, syncMicrosMean: count === 0 ? 0 : (n.syncMicrosTotal - b.syncMicrosTotal) / count };
    });
    const hits = after.cache.hits - before.cache.hits;
    const misses = after.cache.misses - before.cache.misses;
    return {
      label: pointLabel(point), knobs: point.knobs, params: point.params, options: point.options,
      workload: o.workload, unit: w.unit, description: w.describe(),
      seconds: r.elapsedMs / 1000, ops: r.ops, opsPerSec: r.ops / (r.elapsedMs / 1000),
      latencyMicros: percentiles(hist),
      latencyHistogram: buckets.flatMap((count, b) => (count === 0 ? [] : [{ upperMicros: Math.round(logBucketUpper(b)), count }])),
      commits: {
        acknowledged: after.commits.acknowledged - before.commits.acknowledged, timedOut: after.commits.timedOut - before.commits.timedOut,
      },
      groupCommit: { ...g, recordsPerBatch: g.batches === 0 ? 0 : g.records / g.batches, cuts: delta(after.groupCommit.cuts, before.groupCommit.cuts) },
      nodes: syncs,
      stages: after.stages,
      cacheHitRatio: hits + misses === 0 ? 0 : hits / (hits + misses),
      verified,
      cpuMicrosPerOp: perOp(cpuBetween(cpu0, cpu1, new Map(after.threads.map((t) => [t.tid, t.thread]))), r.ops),
    };
  } finally {
    await db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
