// Read benchmark: get with a cache hit, get with a cache miss (a page read from one node), a mixed
// 80/20 get/put load, and the put load with coalescing running vs paused — all in one run.
// One tinybench iteration = one time window of a closed loop; latency per operation in an HDR
// histogram.
//
//   npm run bench:read -- [--window-ms 1000] [--windows 3] [--keys 20000] [--quick] [--only <case substring>]
import type { Bench } from 'tinybench';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { open, type Database } from '../src/index.js';
import { fillKey, KEY_BYTES, newHistogram } from '../src/cli/workload.js';
import { addWindowCase, rate, spread, windowBench, type WindowCase } from './harness.js';

const { values: args } = parseArgs({
  options: {
    'window-ms': { type: 'string', default: '1000' },
    windows: { type: 'string', default: '3' },
    keys: { type: 'string', default: '20000' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const windowMs = args.quick ? 500 : Number(args['window-ms']);
const windows = args.quick ? 2 : Number(args.windows);
const KEYS = Number(args.keys);
for (const n of [windowMs, windows, KEYS]) if (!Number.isInteger(n) || n <= 0) throw new Error(`bad numeric argument ${n}`);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'auroral-read-bench-'));
const value = new Uint8Array(100).fill(0x62);
const key = (n: number) => fillKey(new Uint8Array(KEY_BYTES), n);
let seed = 12345;
const random = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

interface Row extends WindowCase { note: string }
const rows: Row[] = [];

async function preload(db: Database): Promise<void> {
  for (let at = 0; at < KEYS; at += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, KEYS - at) }, (_, i) => db.put(key(at + i), value)));
  }
}

function addCase(bench: Bench, name: string, inflight: number, note: string,
  make: () => Promise<{ op: () => Promise<unknown>; close: () => Promise<void>; describe?: () => string }>): void {
  if (args.only !== undefined && !name.includes(args.only)) return;
  let described = '';
  addWindowCase(bench, name, inflight, windowMs, async () => {
    const t = await make();
    return { op: t.op, close: t.close, onRunEnd: () => { described = t.describe?.() ?? ''; } };
  }, (c) => rows.push({ ...c, note: described === '' ? note : `${note} ${described}` }));
}

const bench = windowBench('auroral reads', windows);
const dbDir = () => fs.mkdtempSync(path.join(root, 'db-'));

for (const inflight of [1, 64]) {
  addCase(bench, 'get, cache hit', inflight, '1,000 hot keys, all cached', async () => {
    const db = await open({ dir: dbDir() });
    const hot = Array.from({ length: 1000 }, (_, i) => key(i));
    await Promise.all(hot.map((k) => db.put(k, value)));
    let i = 0;
    return { op: () => db.get(hot[i++ % 1000]!), close: () => db.close(), describe: () => `hit ratio ${db.stats().cache.hitRatio.toFixed(3)}` };
  });
}
// Sub-microsecond operations: time a loop of awaited gets inside the task (no per-get timestamps
// or histogram), as per-call timing would measure the harness.
if (args.only === undefined || 'get, cache hit (loop)'.includes(args.only)) {
  let db: Database | null = null;
  const hot = Array.from({ length: 1000 }, (_, i) => key(i));
  const r: Row = { name: 'get, cache hit (loop)', inflight: 1, ops: 0, elapsedMs: 0, hist: newHistogram(), windowRates: [], note: '20,000 awaited gets per iteration, no per-get timing' };
  let measuring = false;
  bench.add('get, cache hit (loop)', async () => {
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i++) await db!.get(hot[i % 1000]!);
    const ms = performance.now() - t0;
    if (measuring) {
      r.ops += 20_000;
      r.elapsedMs += ms;
      r.windowRates.push(20_000 / (ms / 1000));
    }
  }, {
    beforeAll: async (mode) => {
      if (db === null) {
        db = await open({ dir: dbDir() });
        await Promise.all(hot.map((k) => db!.put(k, value)));
      }
      measuring = mode === 'run';
    },
    afterAll: async (mode) => {
      if (mode !== 'run' || db === null) return;
      await db.close();
      db = null;
      rows.push(r);
    },
  });
}
addCase(bench, 'get, cache miss (node read)', 1, 'cacheBytesMax 0', async () => {
  const db = await open({ dir: dbDir(), cacheBytesMax: 0 });
  await preload(db);
  return { op: () => db.get(key(random(KEYS))), close: () => db.close() };
});
addCase(bench, 'get, cache miss (node read)', 16, 'cacheBytesMax 0', async () => {
  const db = await open({ dir: dbDir(), cacheBytesMax: 0 });
  await preload(db);
  return { op: () => db.get(key(random(KEYS))), close: () => db.close() };
});
addCase(bench, 'mixed 80% get / 20% put', 64, 'default cache', async () => {
  const db = await open({ dir: dbDir() });
  await preload(db);
  return {
    op: () => (random(5) === 0 ? db.put(key(random(KEYS)), value) : db.get(key(random(KEYS)))),
    close: () => db.close(),
    describe: () => `hit ratio ${db.stats().cache.hitRatio.toFixed(3)}`,
  };
});
for (const coalescing of [false, true]) {
  addCase(bench, `put, coalescing ${coalescing ? 'running' : 'paused'}`, 256, '4 MiB segments, overwrites of preloaded keys', async () => {
    const db = await open({ dir: dbDir(), segmentBytes: 4 << 20, mtrBytesMax: 1 << 20, valueBytesMax: 64 << 10 });
    await preload(db);
    db.setCoalescing(coalescing);
    return {
      op: () => db.put(key(random(KEYS)), value),
      close: () => db.close(),
      describe: () => {
        const n = db.stats().nodes;
        return `cycles/node ${Math.round(n.reduce((s, x) => s + x.coalesceCycles, 0) / n.length)}`;
      },
    };
  });
}

console.log(`auroral read benchmark: ${windows} windows of ${windowMs} ms per case, ${KEYS} preloaded keys (16 B keys, 100 B values), ${os.cpus().length} cpus, node ${process.version}`);
try {
  await bench.run();
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
const paused = rows.find((r) => r.name === 'put, coalescing paused');
console.table(rows.map((r) => ({
  case: r.name,
  inflight: r.inflight,
  'ops/s': Math.round(rate(r)),
  'window min..max': spread(r),
  'p50 us': r.hist.totalCount === 0 ? '' : Math.round(r.hist.getValueAtPercentile(50)),
  'p99 us': r.hist.totalCount === 0 ? '' : Math.round(r.hist.getValueAtPercentile(99)),
  'x paused': r.name.startsWith('put, coalescing') && paused !== undefined ? +(rate(r) / rate(paused)).toFixed(3) : '',
  note: r.note,
})));
