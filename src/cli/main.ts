#!/usr/bin/env node
// `auroral`: with no command, runs the default write workload on a temporary directory and prints
// one screen of results (this is `npm start`). More commands arrive with the tuning lab.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { open } from '../index.js';
import { isAuroralError } from '../errors.js';
import { KeySource, newHistogram, runPutWindow } from './workload.js';

const usage = `usage: auroral [--seconds N] [--inflight N] [--value-bytes N] [--dir DIR] [--fsync fdatasync|fsync|none]

Runs durable single-key puts against a fresh volume (6 storage nodes, write quorum 4) and prints
throughput, commit latency and what the group-commit thread and the nodes did.
  --seconds N       how long to write (default 5)
  --inflight N      puts in flight (default 64)
  --value-bytes N   value size (default 100; keys are 16 bytes)
  --dir DIR         volume directory (default: a temporary directory, removed afterwards)
  --fsync MODE      fdatasync (default), fsync, or none (UNSAFE: measures CPU cost only)`;

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`auroral: --${name} must be a positive integer, got '${v}'\n\n${usage}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        seconds: { type: 'string' }, inflight: { type: 'string' }, 'value-bytes': { type: 'string' },
        dir: { type: 'string' }, fsync: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    });
  } catch (e) {
    console.error(`auroral: ${(e as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  const a = parsed.values;
  if (a.help) {
    console.log(usage);
    return;
  }
  const seconds = positiveInt('seconds', a.seconds, 5);
  const inflight = positiveInt('inflight', a.inflight, 64);
  const valueBytes = positiveInt('value-bytes', a['value-bytes'], 100);
  const temp = a.dir === undefined;
  const dir = a.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'auroral-'));
  const db = await open({ dir, fsync: (a.fsync ?? 'fdatasync') as 'fdatasync' });
  try {
    const hist = newHistogram();
    console.log(`auroral: ${seconds}s of durable puts, ${inflight} in flight, 16-byte keys, ${valueBytes}-byte values, in ${dir}`);
    const w = await runPutWindow(db, inflight, seconds * 1000, new Uint8Array(valueBytes).fill(0x61), new KeySource(), hist);
    const s = db.stats();
    const g = s.groupCommit;
    const ms = (p: number) => (hist.getValueAtPercentile(p) / 1000).toFixed(3);
    const lines = [
      ['durable puts/s', Math.round(w.ops / (w.elapsedMs / 1000)).toLocaleString('en-US')],
      ['commit latency p50 / p99 / max', `${ms(50)} / ${ms(99)} / ${(hist.maxValue / 1000).toFixed(3)} ms`],
      ['puts acknowledged', s.commits.acknowledged.toLocaleString('en-US')],
      ['batches (frames)', g.batches.toLocaleString('en-US')],
      ['records per batch', g.recordsPerBatch.toFixed(1)],
      ['batch cut reasons', Object.entries(g.cuts).map(([k, v]) => `${k} ${v}`).join(', ')],
      ['fdatasyncs per node', s.nodes.map((n) => n.syncs).join(' / ')],
      ['mean fdatasync per node', s.nodes.map((n) => `${(n.syncMicrosMean / 1000).toFixed(2)}`).join(' / ') + ' ms'],
      ['VDL (volume durable LSN)', String(s.vdl)],
      ['fsync mode', s.unsafeNoFsync ? 'none — UNSAFE: nothing was really made durable' : s.fsync],
    ];
    const width = Math.max(...lines.map((l) => l[0]!.length));
    for (const [k, v] of lines) console.log(`  ${k!.padEnd(width)}  ${v}`);
  } finally {
    await db.close();
    if (temp) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(isAuroralError(e) ? `auroral: ${e.message}` : e);
  process.exit(1);
});
