// Write benchmark: durable puts/s and commit latency at several puts-in-flight levels, with two
// single-file baselines measured in the same run (see baselines.ts). One tinybench iteration is
// one fixed time window of a running closed loop; latency percentiles come from an HDR histogram
// of every put (not from window averages). The db.batch rows commit 16 puts per batch (one MTR)
// with the same number of puts in flight; their puts/s counts puts, their latency is per batch.
// The floor rows run the design's threads and hops with no engine (src/bench/floor-pipeline.ts):
// what any engine of this shape can reach on this machine, and the CPU it cannot go below.
//
//   npm run bench:write -- [--inflight 1,16,64,256] [--window-ms 1000] [--windows 3] [--fsync fdatasync|none] [--quick]
import type { Bench } from 'tinybench';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { open, type Database } from '../src/index.js';
import { KeySource, type PutTarget } from '../src/cli/workload.js';
import { addWindowCase, rate, spread, windowBench, type WindowCase } from './harness.js';
import { FsyncPerPut, NaiveGroupCommit } from '../src/bench/baselines.js';
import { FloorPipeline } from '../src/bench/floor-pipeline.js';
import { cpuBetween, readThreadCpu, type ThreadCpuShare } from '../src/metrics/thread-cpu.js';

const { values: args } = parseArgs({
  options: {
    inflight: { type: 'string', default: '1,16,64,256' },
    'window-ms': { type: 'string', default: '1000' },
    windows: { type: 'string', default: '3' },
    fsync: { type: 'string', default: 'fdatasync' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const inflights = (args.quick ? '1,256' : args.inflight!).split(',').map(Number);
const windowMs = Number(args['window-ms']);
const windows = args.quick ? 2 : Number(args.windows);
for (const n of [...inflights, windowMs, windows]) if (!Number.isInteger(n) || n <= 0) throw new Error(`bad numeric argument ${n}`);

const value = new Uint8Array(100).fill(0x61);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'auroral-bench-'));

interface CaseResult extends WindowCase {
  recordsPerBatch: number | null;
  syncsPerNodePerSec: number | null;
  /** Puts per operation (db.batch rows: the batch size), so that puts/s compares across rows. */
  putsPerOp: number;
  /** CPU microseconds per put of each thread over the measured windows (empty off Linux). */
  cpu: ThreadCpuShare[];
}

/** Puts per db.batch() in the batch rows. */
const BATCH_PUTS = 16;

const results: CaseResult[] = [];

type Counters = () => { recordsPerBatch: number; syncsPerNode: number };

function addCase(bench: Bench, name: string, inflight: number,
  make: () => Promise<{ target: PutTarget; close: () => Promise<void>; counters?: Counters; batch?: Database; threads?: () => Map<number, string> }>): void {
  const keys = new KeySource();
  // A batch row keeps the same number of puts in flight: inflight / BATCH_PUTS batches of BATCH_PUTS.
  const batched = name.includes('db.batch');
  const putsPerOp = batched ? BATCH_PUTS : 1;
  let extra: { recordsPerBatch: number | null; syncsPerNodePerSec: number | null } = { recordsPerBatch: null, syncsPerNodePerSec: null };
  let cpu: ThreadCpuShare[] = [];
  let cpuBefore = new Map<number, number>();
  addWindowCase(bench, name, batched ? Math.max(1, inflight / BATCH_PUTS) : inflight, windowMs, async () => {
    const t = await make();
    let before: ReturnType<Counters> | null = null;
    const db = t.batch;
    const put = () => t.target.put(keys.take(), value);
    const batch = db === undefined ? put : () => db.batch(Array.from({ length: BATCH_PUTS }, () => ({ type: 'put' as const, key: keys.take(), value })));
    return {
      op: batched ? batch : put,
      close: t.close,
      onRunStart: () => {
        before = t.counters?.() ?? null;
        cpuBefore = readThreadCpu();
      },
      onRunEnd: (c) => {
        const names = t.threads?.() ?? new Map([[process.pid, 'writer']]);
        const puts = c.ops * putsPerOp;
        cpu = cpuBetween(cpuBefore, readThreadCpu(), names).map((x) => ({ thread: x.thread, micros: x.micros / puts }));
        const after = t.counters?.();
        if (after !== undefined && before !== null) {
          extra = { syncsPerNodePerSec: (after.syncsPerNode - before.syncsPerNode) / (c.elapsedMs / 1000), recordsPerBatch: after.recordsPerBatch };
        }
      },
    };
  }, (c) => results.push({ ...c, ...extra, inflight, putsPerOp, cpu }));
}

/** Records per batch since the previous call, and fdatasyncs per node so far. */
function auroralCounters(db: Database): Counters {
  let b0 = 0;
  let r0 = 0;
  return () => {
    const s = db.stats();
    const g = s.groupCommit;
    const rpb = g.batches - b0 === 0 ? 0 : (g.records - r0) / (g.batches - b0);
    b0 = g.batches;
    r0 = g.records;
    return { recordsPerBatch: rpb, syncsPerNode: s.nodes.reduce((n, x) => n + x.syncs, 0) / s.nodes.length };
  };
}

function threadsOf(db: Database): () => Map<number, string> {
  return () => new Map(db.stats().threads.map((t) => [t.tid, t.thread]));
}

const bench = windowBench('auroral write path', windows);
const FLOOR = 'floor: same threads, no engine';
const fsync = args.fsync as 'fdatasync' | 'none';
addCase(bench, 'baseline (a) fsync per put', 1, async () => {
  const b = new FsyncPerPut(fs.mkdtempSync(path.join(root, 'a-')));
  return { target: b, close: async () => b.close() };
});
for (const inflight of inflights) {
  addCase(bench, 'baseline (b) naive group commit', inflight, async () => {
    const b = new NaiveGroupCommit(fs.mkdtempSync(path.join(root, 'b-')));
    return { target: b, close: async () => b.close() };
  });
  // The design's own floor: the same eight threads, rings, six files and fdatasyncs, no engine.
  addCase(bench, FLOOR, inflight, async () => {
    const p = await FloorPipeline.start(fs.mkdtempSync(path.join(root, 'f-')), { fsync });
    return { target: p, close: () => p.close(), threads: () => p.threads };
  });
  addCase(bench, 'auroral 6 nodes, quorum 4', inflight, async () => {
    const db = await open({ dir: fs.mkdtempSync(path.join(root, 'db-')), fsync });
    const counters = auroralCounters(db);
    counters();
    return { target: db, close: () => db.close(), counters, threads: threadsOf(db) };
  });
  if (inflight >= BATCH_PUTS) {
    addCase(bench, `auroral db.batch of ${BATCH_PUTS} puts`, inflight, async () => {
      const db = await open({ dir: fs.mkdtempSync(path.join(root, 'db-')), fsync });
      const counters = auroralCounters(db);
      counters();
      return { target: db, close: () => db.close(), counters, batch: db, threads: threadsOf(db) };
    });
  }
}

console.log(`auroral write benchmark: ${windows} windows of ${windowMs} ms per case, 16-byte keys, 100-byte values, fsync=${fsync}, ${os.cpus().length} cpus, node ${process.version}`);
try {
  await bench.run();
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}

const a = results.find((r) => r.name.startsWith('baseline (a)'))!;
const rows = results.map((r) => {
  const b = results.find((x) => x.name.startsWith('baseline (b)') && x.inflight === r.inflight);
  const floor = results.find((x) => x.name === FLOOR && x.inflight === r.inflight);
  return {
    case: r.name,
    inflight: r.inflight,
    'puts/s': Math.round(rate(r) * r.putsPerOp),
    'window min..max': spread({ ...r, windowRates: r.windowRates.map((w) => w * r.putsPerOp) }),
    'p50 ms': +(r.hist.getValueAtPercentile(50) / 1000).toFixed(3),
    'p99 ms': +(r.hist.getValueAtPercentile(99) / 1000).toFixed(3),
    'records/batch': r.recordsPerBatch === null ? '' : +r.recordsPerBatch.toFixed(1),
    'fdatasyncs/node/s': r.syncsPerNodePerSec === null ? '' : Math.round(r.syncsPerNodePerSec),
    'x baseline (a)': +((rate(r) * r.putsPerOp) / rate(a)).toFixed(2),
    'x baseline (b)': b === undefined ? '' : +((rate(r) * r.putsPerOp) / rate(b)).toFixed(2),
    'x floor': floor === undefined || !r.name.startsWith('auroral') ? '' : +((rate(r) * r.putsPerOp) / rate(floor)).toFixed(2),
  };
});
console.table(rows);
// The cost model: CPU microseconds per acknowledged put, per thread (kernel accounting, all
// windows of the case). 'helpers' = every other thread: V8's platform/GC workers, libuv's pool.
const cpuRows = results.filter((r) => r.cpu.length > 0).map((r) => {
  const row: Record<string, string | number> = { case: r.name, inflight: r.inflight };
  let total = 0;
  for (const t of r.cpu) {
    row[t.thread.replace('group-commit', 'gc')] = +t.micros.toFixed(2);
    total += t.micros;
  }
  row['total µs/put'] = +total.toFixed(2);
  return row;
});
if (cpuRows.length > 0) {
  console.log('CPU µs per put, per thread (writer = the main thread, which also runs the benchmark loop)');
  console.table(cpuRows);
}
if (args.json !== undefined) fs.writeFileSync(args.json, JSON.stringify({ rows, cpu: cpuRows }, null, 2));
