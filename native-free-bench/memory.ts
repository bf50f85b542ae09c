// Memory benchmark: what holding N keys costs, in RSS and on disk, beside the load's throughput.
// Each system runs alone in a forked process (RSS is per process), in the same run:
//   keydir          the single-process baseline: one append-only file with group commit and an
//                   in-memory key -> offset map (Bitcask's shape; values on disk)
//   auroral         the default volume: six nodes, writes at 4 of 6
//   auroral-1-node  one node, quorum 1: what the six node copies add
// One tinybench task per system, one iteration (a load of N keys is the unit of work).
//
//   npm run bench:memory -- [--keys 1000000] [--value-bytes 100] [--systems keydir,auroral,auroral-1-node]
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { workerUrl } from '../src/shared/paths.js';
import type { MemoryReport } from '../src/bench/memory-child.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    'value-bytes': { type: 'string', default: '100' },
    systems: { type: 'string', default: 'keydir,auroral,auroral-1-node' },
  },
});
const KEYS = Number(args.keys);
const VALUE_BYTES = Number(args['value-bytes']);
if (!Number.isInteger(KEYS) || KEYS <= 0) throw new Error(`--keys must be a positive integer, got ${args.keys}`);
if (!Number.isInteger(VALUE_BYTES) || VALUE_BYTES <= 0) throw new Error(`--value-bytes must be a positive integer, got ${args['value-bytes']}`);
const SYSTEMS = args.systems.split(',');
for (const s of SYSTEMS) if (!['keydir', 'auroral', 'auroral-1-node'].includes(s)) throw new Error(`--systems: unknown system ${s}`);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'auroral-memory-bench-'));
const reports: MemoryReport[] = [];

function runChild(system: string): Promise<MemoryReport> {
  const dir = fs.mkdtempSync(path.join(root, `${system}-`));
  const child = fork(fileURLToPath(workerUrl('bench/memory-child.js')), [system, dir, String(KEYS), String(VALUE_BYTES)], { stdio: 'inherit', execArgv: [] });
  return new Promise<MemoryReport>((resolve, reject) => {
    let report: MemoryReport | null = null;
    child.once('message', (m: MemoryReport) => (report = m));
    child.once('exit', (code) => {
      fs.rmSync(dir, { recursive: true, force: true });
      if (report !== null) resolve(report);
      else reject(new Error(`${system}: child exited with ${code} and no report`));
    });
  });
}

const bench = new Bench({ name: `memory: ${KEYS.toLocaleString('en-US')} keys of ${VALUE_BYTES} B`, iterations: 1, time: 0, warmup: false, throws: true });
for (const s of SYSTEMS) bench.add(s, async () => void reports.push(await runChild(s)));
try {
  await bench.run();
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(0);
const f = (n: number): string => Math.round(n).toLocaleString('en-US');
const base = reports.find((r) => r.system === 'keydir');
console.log(`\n${bench.name} (${new Date().toISOString()}); bytes per key = (RSS after - RSS before opening) / keys`);
console.log('| system | load keys/s | RSS before / after / peak MiB | bytes per key | × keydir | disk MiB | disk bytes per key | × keydir |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of reports) {
  const perKey = (r.rssAfter - r.rssBefore) / r.keys;
  const diskPerKey = r.diskBytes / r.keys;
  const basePerKey = base === undefined ? Number.NaN : (base.rssAfter - base.rssBefore) / base.keys;
  console.log(`| ${r.system} | ${f(r.keys / (r.loadMs / 1000))} | ${mib(r.rssBefore)} / ${mib(r.rssAfter)} / ${mib(r.rssPeak)} | ${f(perKey)} | `
    + `${base === undefined ? '' : (perKey / basePerKey).toFixed(1)} | ${mib(r.diskBytes)} | ${f(diskPerKey)} | ${base === undefined ? '' : (diskPerKey / (base.diskBytes / base.keys)).toFixed(1)} |`);
}
for (const r of reports) {
  if (r.nodes === undefined) continue;
  const sum = (k: 'indexBytes'): number => r.nodes!.reduce((a, n) => a + n[k], 0);
  console.log(`\n${r.system}, where it is (MiB): writer V8 heap ${mib(r.writerHeap!)}, writer ArrayBuffers (rings, page cache; shared) ${mib(r.writerArrayBuffers!)}; `
    + `nodes: key index ${r.nodes.map((n) => mib(n.indexBytes)).join(' / ')} (${f(sum('indexBytes') / r.keys)} B per key in all), `
    + `coalescing buffers ${r.nodes.map((n) => mib(n.fileBufferBytes)).join(' / ')}, segment-hint builder ${r.nodes.map((n) => mib(n.hintBufferBytes)).join(' / ')}, V8 heap ${r.nodes.map((n) => mib(n.heapBytes)).join(' / ')}, ArrayBuffers held ${r.nodes.map((n) => mib(n.externalBytes)).join(' / ')} `
    + '(capacities: a SharedArrayBuffer page never touched is not resident, so these need not add up to RSS)');
}
