// A/B of builds and options on the write path, interleaved in one run: what a change bought,
// measured the way docs/results.md records it. Each case runs in its own process on a fresh volume
// (a build's module state and V8 heap never leak into the next case), 1 s warm-up, then a closed
// loop of N puts in flight for the window; cases alternate round by round and the table shows
// medians, so slow drift of a shared machine hits every case alike. CPU is the whole process's
// (every thread, kernel accounting), per put. Baseline (b), the naive single-file group commit,
// runs in the same rounds.
//
//   npm run bench:write-ab -- [--variant NAME=DIST[:JSON]]... [--points fdatasync:64,fdatasync:256,none:256]
//                              [--rounds 3] [--seconds 2]
//
// DIST is a built dist/ directory (this checkout's by default; for an older commit:
// `git worktree add ../before REV && (cd ../before && npm ci && npm run build)`, then
// `--variant before=../before/dist`); JSON is open() options, e.g. 'lag0=dist:{"indexLagBytesMax":0}'.
// Without --variant: this build with its defaults, and with indexLagBytesMax 0.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { newHistogram } from '../src/cli/workload.js';

interface Variant { name: string; dist: string; options: Record<string, unknown> }
interface Sample { rate: number; cpu: number; p50: number; p99: number }

const here = path.dirname(fileURLToPath(import.meta.url));
const thisDist = path.resolve(here, '..', 'dist');

async function child(dist: string, fsync: string, inflight: number, seconds: number, options: Record<string, unknown>): Promise<void> {
  const cpu = (): number => {
    let t = 0;
    for (const x of fs.readdirSync('/proc/self/task')) {
      try { t += Number(fs.readFileSync(`/proc/self/task/${x}/schedstat`, 'latin1').split(' ')[0]); } catch { /* exited */ }
    }
    return t;
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auroral-ab-'));
  let put: (k: Uint8Array, v: Uint8Array) => Promise<unknown>;
  let close: () => Promise<void> = async () => {};
  try {
    if (dist === 'baseline') {
      const { NaiveGroupCommit } = await import(pathToFileURL(path.join(thisDist, 'bench', 'baselines.js')).href) as typeof import('../src/bench/baselines.js');
      const b = new NaiveGroupCommit(dir);
      put = (k, v) => b.put(k, v);
      close = async () => b.close();
    } else {
      const { open } = await import(pathToFileURL(path.join(dist, 'index.js')).href) as typeof import('../src/index.js');
      const db = await open({ ...options, dir, fsync: fsync as 'fdatasync' | 'none' });
      put = (k, v) => db.put(k, v);
      close = () => db.close();
    }
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true }); // a build that cannot load leaves nothing behind
    throw e;
  }
  const value = new Uint8Array(100).fill(0x61);
  let next = 0;
  const key = (): Uint8Array => {
    const k = new Uint8Array(16);
    for (let i = 15, x = next++; i >= 0; i--, x = Math.floor(x / 10)) k[i] = 48 + (x % 10);
    return k;
  };
  const hist = newHistogram();
  const loop = async (ms: number, record: boolean): Promise<number> => {
    let ops = 0;
    const end = performance.now() + ms;
    await Promise.all(Array.from({ length: inflight }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await put(key(), value);
        if (record) hist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
        ops++;
      }
    }));
    return ops;
  };
  try {
    await loop(1000, false);
    const c0 = cpu();
    const t0 = performance.now();
    const ops = await loop(seconds * 1000, true);
    const s: Sample = { rate: ops / ((performance.now() - t0) / 1000), cpu: (cpu() - c0) / 1000 / ops,
      p50: hist.getValueAtPercentile(50) / 1000, p99: hist.getValueAtPercentile(99) / 1000 };
    process.stdout.write(`${JSON.stringify(s)}\n`);
  } finally {
    await close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [dist, fsync, inflight, seconds, json] = process.argv.slice(3);
  await child(dist!, fsync!, Number(inflight), Number(seconds), JSON.parse(json!) as Record<string, unknown>);
  process.exit(0);
}

const { values: a } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true }, points: { type: 'string', default: 'fdatasync:64,fdatasync:256,none:256' },
    rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '2' },
  },
});
const variants: Variant[] = [{ name: 'baseline (b) naive group commit', dist: 'baseline', options: {} }];
for (const spec of a.variant ?? ['this build=dist', 'this build, indexLagBytesMax 0=dist:{"indexLagBytesMax":0}']) {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`--variant ${spec}: expected NAME=DIST[:JSON]`);
  const rest = spec.slice(eq + 1);
  const colon = rest.indexOf(':');
  const distArg = colon < 0 ? rest : rest.slice(0, colon);
  const dist = distArg === 'dist' ? thisDist : path.resolve(distArg);
  if (!fs.existsSync(path.join(dist, 'index.js'))) throw new Error(`--variant ${spec}: no built index.js in ${dist}`);
  variants.push({ name: spec.slice(0, eq), dist, options: colon < 0 ? {} : JSON.parse(rest.slice(colon + 1)) as Record<string, unknown> });
}
const points = a.points!.split(',').map((p) => {
  const [fsync, n] = p.split(':');
  if ((fsync !== 'fdatasync' && fsync !== 'none') || !Number.isInteger(Number(n)) || Number(n) <= 0) throw new Error(`--points ${p}: expected fdatasync|none:INFLIGHT`);
  return { fsync, inflight: Number(n) };
});
const rounds = Number(a.rounds);
const seconds = Number(a.seconds);
if (!Number.isInteger(rounds) || rounds <= 0 || !(seconds > 0)) throw new Error('--rounds must be a positive integer and --seconds positive');

console.log(`write A/B: ${variants.length} cases x ${points.length} points x ${rounds} rounds, ${seconds} s windows, ${os.cpus().length} cpus, node ${process.version}`);
const samples = new Map<string, Sample[]>();
for (let r = 0; r < rounds; r++) {
  for (const p of points) {
    for (const v of variants) {
      if (v.dist === 'baseline' && p.fsync === 'none') continue; // it always fdatasyncs
      const out = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', v.dist, p.fsync, String(p.inflight), String(seconds), JSON.stringify(v.options)],
        { encoding: 'utf8', timeout: (seconds + 60) * 1000 });
      const line = out.stdout.trim().split('\n').pop() ?? '';
      if (out.status !== 0 || !line.startsWith('{')) throw new Error(`${v.name} at ${p.fsync}:${p.inflight} failed: ${out.stderr.slice(-800)}`);
      const k = `${p.fsync}\u0000${p.inflight}\u0000${v.name}`;
      samples.set(k, [...(samples.get(k) ?? []), JSON.parse(line) as Sample]);
    }
  }
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const rows = [...samples].map(([k, s]) => {
  const [fsync, inflight, name] = k.split('\u0000');
  const base = samples.get(`fdatasync\u0000${inflight}\u0000baseline (b) naive group commit`);
  const rate = median(s.map((x) => x.rate));
  return {
    fsync, inflight: Number(inflight), case: name, 'puts/s': Math.round(rate), 'p50 ms': +median(s.map((x) => x.p50)).toFixed(2),
    'p99 ms': +median(s.map((x) => x.p99)).toFixed(2), 'CPU µs/put': +median(s.map((x) => x.cpu)).toFixed(1),
    'x baseline (b)': base === undefined ? '' : +(rate / median(base.map((x) => x.rate))).toFixed(2),
    rounds: s.map((x) => Math.round(x.rate)).join(' '),
  };
});
console.table(rows);
