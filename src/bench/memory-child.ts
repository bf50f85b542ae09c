// One system of `npm run bench:memory`, alone in its process (RSS is per process): loads N keys
// of V bytes in batches, waits until the system is quiet, and reports its RSS, peak RSS, disk
// use and, for Auroral, each thread's share it can see. Forked by native-free-bench/memory.ts.
//
//   argv: system (auroral | auroral-1-node | keydir), dir, keys, valueBytes
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open } from '../index.js';
import { fillKey, KEY_BYTES } from '../cli/workload.js';

export interface MemoryReport {
  system: string;
  keys: number;
  loadMs: number;
  /** RSS before the system was opened (Node and the modules), after the load and quiet, and the peak. */
  rssBefore: number;
  rssAfter: number;
  rssPeak: number;
  /** Bytes allocated on disk (st_blocks), all files of the system's directory. */
  diskBytes: number;
  /** Auroral: the writer's V8 heap and its SharedArrayBuffers (rings, page cache); per node: index, coalescing and segment-hint buffers, heap, ArrayBuffers. */
  writerHeap?: number;
  writerArrayBuffers?: number;
  nodes?: { indexBytes: number; fileBufferBytes: number; hintBufferBytes: number; heapBytes: number; externalBytes: number }[];
}

const BATCH = 256;
const IN_FLIGHT = 16;

function status(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) * 1024;
}

function diskBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += fs.statSync(path.join(e.parentPath ?? e.path, e.name)).blocks * 512;
  }
  return total;
}

/** Batches of keys 0..n-1, BATCH at a time, IN_FLIGHT batches outstanding. */
async function load(n: number, write: (from: number, to: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  for (let at = 0; at < n; at += BATCH) {
    const p: Promise<unknown> = write(at, Math.min(n, at + BATCH)).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return performance.now() - t0;
}

const key = (i: number): Uint8Array => fillKey(new Uint8Array(KEY_BYTES), i);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function auroral(dir: string, keys: number, value: Uint8Array, oneNode: boolean): Promise<MemoryReport> {
  const rssBefore = status('VmRSS');
  const db = await open({ dir, ...(oneNode ? { nodes: 1, writeQuorum: 1, readQuorum: 1 } : {}) });
  try {
    const loadMs = await load(keys, (from, to) => db.batch(Array.from({ length: to - from }, (_, i) => ({ type: 'put' as const, key: key(from + i), value }))));
    // Quiet: nothing left to index, no cycle ended for 3 s and none running (a node gives its
    // coalescing buffers back 2 s after its last cycle; one running holds its file buffers and a
    // growing block hint), at most 120 s; the nodes' heaps are sampled meanwhile.
    const sig = (): string => db.stats().nodes.map((n) => `${n.coalesceCycles}/${n.indexLagBytes}`).join();
    const settled = (): boolean => db.stats().nodes.every((n) => n.indexLagBytes === 0 && n.fileBufferBytes <= 1 << 20);
    let last = sig();
    for (let quiet = 0, waited = 0; quiet < 3000 && waited < 120_000; waited += 500) {
      await sleep(500);
      const now = sig();
      quiet = now === last && settled() ? quiet + 500 : 0;
      last = now;
    }
    const mem = process.memoryUsage();
    return {
      system: oneNode ? 'auroral-1-node' : 'auroral', keys, loadMs, rssBefore, rssAfter: status('VmRSS'), rssPeak: status('VmHWM'),
      diskBytes: diskBytes(dir), writerHeap: mem.heapUsed, writerArrayBuffers: mem.arrayBuffers,
      nodes: db.stats().nodes.map((n) => ({ indexBytes: n.indexBytes, fileBufferBytes: n.fileBufferBytes, hintBufferBytes: n.hintBufferBytes, heapBytes: n.heapBytes, externalBytes: n.externalBytes })),
    };
  } finally {
    await db.close();
  }
}

/**
 * The single-process baseline: Bitcask's shape, one append-only file with group commit (one write
 * and one fdatasync per batch) and an in-memory key -> file offset map; values stay on disk, as
 * Auroral's nodes keep them.
 */
async function keydir(dir: string, keys: number, value: Uint8Array): Promise<MemoryReport> {
  const rssBefore = status('VmRSS');
  const fd = fs.openSync(path.join(dir, 'keydir.log'), 'a');
  const index = new Map<string, number>();
  let offset = 0;
  try {
    const loadMs = await load(keys, async (from, to) => {
      const recs: Uint8Array[] = [];
      for (let i = from; i < to; i++) {
        const k = key(i);
        const rec = new Uint8Array(8 + k.length + value.length);
        new DataView(rec.buffer).setUint32(0, k.length + value.length, true);
        rec.set(k, 8);
        rec.set(value, 8 + k.length);
        recs.push(rec);
        index.set(Buffer.from(k).toString('latin1'), offset);
        offset += rec.length;
      }
      fs.writevSync(fd, recs);
      fs.fdatasyncSync(fd);
      await sleep(0);
    });
    return { system: 'keydir', keys, loadMs, rssBefore, rssAfter: status('VmRSS'), rssPeak: status('VmHWM'), diskBytes: diskBytes(dir) };
  } finally {
    fs.closeSync(fd);
  }
}

async function main(): Promise<void> {
  const [system, dir, keysArg, valueArg] = process.argv.slice(2);
  const keys = Number(keysArg);
  const value = new Uint8Array(Number(valueArg)).fill(0x62);
  const report = system === 'keydir' ? await keydir(dir!, keys, value)
    : system === 'auroral' || system === 'auroral-1-node' ? await auroral(dir!, keys, value, system === 'auroral-1-node')
      : null;
  if (report === null) throw new Error(`unknown system ${system}`);
  process.send!(report);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
