// `npm run bench:redis [-- --requests N --clients C --tests set,get --rounds 3]`: redis-benchmark
// against `auroral serve` and, in the same run, against redis-server with appendonly yes /
// appendfsync always (one fsync'd copy; Auroral acknowledges at 4 of 6 fdatasync'd copies). Tests
// set,get,incr,lpush,hset at -c 50 -d 100, without and with -P 16. Prints requests/s, p50/p99 and
// the ratios. With SET among the tests it then runs SET -c C in rounds against redis, Auroral and
// the floor server (src/bench/floor-server.ts: the design's threads and six fdatasync'd files
// behind a RESP front, no engine) in turn, and prints the median ratios: what any server on this
// design reaches here, on the same disk moments as redis. Last, the floor pipeline in-process
// (no sockets, no RESP) with C puts in flight, once the servers are gone.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { FloorPipeline } from '../src/bench/floor-pipeline.js';
import { KeySource, runPutWindow } from '../src/cli/workload.js';

const { values: a } = parseArgs({ options: { requests: { type: 'string' }, clients: { type: 'string' }, tests: { type: 'string' }, rounds: { type: 'string' } } });
const N = Number(a.requests ?? 200_000);
const C = Number(a.clients ?? 50);
const TESTS = a.tests ?? 'set,get,incr,lpush,hset';
const ROUNDS = Number(a.rounds ?? 3);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a positive integer, got ${a.rounds}`);
for (const bin of ['redis-server', 'redis-benchmark', 'redis-cli']) {
  if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) {
    console.error(`bench:redis: ${bin} is not installed (apt-get install redis-server redis-tools)`);
    process.exit(2);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitPort(port: number, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} never opened`);
}

interface Row { test: string; rps: number; p50: number; p99: number }

function benchmark(port: number, pipeline: number, tests = TESTS, n = N): Row[] {
  const args = ['-p', String(port), '-t', tests, '-n', String(n), '-c', String(C), '-d', '100', '--csv'];
  if (pipeline > 1) args.push('-P', String(pipeline));
  const r = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 3_600_000 });
  if (r.status !== 0) throw new Error(`redis-benchmark failed: ${r.stderr}`);
  if (/error/i.test(r.stderr)) throw new Error(`redis-benchmark reported errors: ${r.stderr}`);
  const rows: Row[] = [];
  for (const line of r.stdout.split('\n')) {
    const f = line.split(',').map((x) => x.replace(/"/g, ''));
    if (f.length < 7 || f[0] === 'test') continue;
    rows.push({ test: f[0]!.split(' ')[0]!, rps: Number(f[1]), p50: Number(f[4]), p99: Number(f[6]) });
  }
  return rows;
}

async function stop(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
  await gone;
  clearTimeout(t);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-redis-'));
const results: Record<string, Record<number, Row[]>> = {};
let floorRate: number | null = null;

/** The floor at C puts in flight, 100-byte values: 1 s of warm-up, then 3 s measured. */
async function floorAtClients(): Promise<number> {
  const p = await FloorPipeline.start(fs.mkdtempSync(path.join(tmp, 'floor-')));
  try {
    const keys = new KeySource();
    const value = new Uint8Array(100).fill(0x61);
    await runPutWindow(p, C, 1_000, value, keys, null);
    const w = await runPutWindow(p, C, 3_000, value, keys, null);
    return w.ops / (w.elapsedMs / 1000);
  } finally {
    await p.close();
  }
}
/**
 * Waits until process `pid` is idle (under 6% of a core over half a second; at most 60 s): after
 * a load Auroral's nodes index and coalesce (seconds after 400K LPUSHes), and that CPU would be
 * taken from whichever server is measured next. Linux /proc; elsewhere a fixed 3 s.
 */
async function settle(pid: number): Promise<void> {
  const ticks = (): number | null => {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    } catch {
      return null;
    }
  };
  const deadline = Date.now() + 60_000;
  let last = ticks();
  if (last === null) return new Promise((res) => setTimeout(res, 3_000));
  while (Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 500));
    const now = ticks();
    if (now === null || now - last! < 3) return; // under 3 ticks of 10 ms in 500 ms: < 6% of a core
    last = now;
  }
  console.error(`bench:redis: process ${pid} still busy after 60 s; measuring anyway`);
}

/** Starts the floor server (src/bench/floor-server.ts) in a child process; resolves its port. */
async function startFloorServer(frames: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.resolve('dist/bench/floor-server.js'), '--dir', fs.mkdtempSync(path.join(tmp, 'floor-srv-')), '--frames', String(frames)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /port (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
  });
  return { child, port };
}
/**
 * A server's memory after the tests (Linux /proc): resident and peak resident bytes, and what it
 * holds, as list elements (LPUSH's `mylist`) plus keys (DBSIZE), for bytes per element.
 */
function serverMemory(pid: number, port: number): { rss: number; peak: number; items: number } {
  let rss = NaN;
  let peak = NaN;
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    rss = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1]) * 1024;
    peak = Number(/VmHWM:\s+(\d+)/.exec(st)?.[1]) * 1024;
  } catch {
    // not Linux: NaN
  }
  const cli = (...args: string[]): number => {
    const out = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';
    return /^\d+$/.test(out) ? Number(out) : NaN;
  };
  return { rss, peak, items: cli('llen', 'mylist') + cli('dbsize') };
}
const memory: { name: string; rss: number; peak: number; items: number }[] = [];

/** SET -c C rounds: redis, Auroral and the floor server in turn, each round on the same disk moment. */
const rounds: { redis: Row; auroral: Row; floor: Row }[] = [];
let ours: ChildProcess | null = null;
let floorSrv: ChildProcess | null = null;
let ref: ChildProcess | null = null;
try {
  const pr = await freePort();
  ref = spawn('redis-server', ['--port', String(pr), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', path.join(tmp)], { stdio: 'ignore' });
  await waitPort(pr, ref);
  const po = await freePort();
  ours = spawn(process.execPath, [path.resolve('dist/cli/main.js'), 'serve', '--dir', path.join(tmp, 'auroral'), '--port', String(po), '--quiet'], { stdio: 'inherit' });
  await waitPort(po, ours);
  for (const pipeline of [1, 16]) {
    for (const [name, port] of [['redis', pr], ['auroral', po]] as const) {
      (results[name] ??= {})[pipeline] = benchmark(port, pipeline);
      console.error(`done: ${name} -P ${pipeline}`);
    }
  }
  for (const [name, port, proc] of [['redis', pr, ref], ['auroral', po, ours]] as const) memory.push({ name, ...serverMemory(proc.pid!, port) });
  if (TESTS.split(',').includes('set')) {
    // The disk's fdatasync time changes 2x within minutes here: the SET comparison with the floor
    // server alternates the three servers, round after round, and reports the median ratios.
    // Auroral's nodes keep indexing and coalescing after a load: each round starts, and the floor
    // server's run follows Auroral's, only once Auroral is idle (settle).
    const fl = await startFloorServer(1);
    floorSrv = fl.child;
    const setN = Math.max(10_000, Math.round(N / 2));
    for (let r = 0; r < ROUNDS; r++) {
      const one = (port: number): Row => benchmark(port, 1, 'set', setN).find((x) => x.test === 'SET')!;
      await settle(ours.pid!); // after the tests above (a long list to coalesce), or the last round
      const redis = one(pr);
      const auroral = one(po);
      await settle(ours.pid!);
      rounds.push({ redis, auroral, floor: one(fl.port) });
      console.error(`done: SET round ${r + 1} of ${ROUNDS} (redis, auroral, floor server)`);
    }
  }
} finally {
  if (ours !== null) await stop(ours);
  if (ref !== null) await stop(ref);
  if (floorSrv !== null) await stop(floorSrv);
}
try {
  // After every server is gone: nothing else shares the two cores with it (so at another moment
  // of the disk than the rows above: compare it with care).
  if (TESTS.split(',').includes('set')) floorRate = await floorAtClients();
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

const f = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(`\nredis-benchmark -t ${TESTS} -n ${N} -c ${C} -d 100 (same run; ${os.cpus().length} cores; redis ${spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1]} appendfsync always)`);
console.log('| test | -P | redis req/s | p50 / p99 ms | auroral req/s | p50 / p99 ms | × redis |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const pipeline of [1, 16]) {
  for (const r of results.redis![pipeline]!) {
    const o = results.auroral![pipeline]!.find((x) => x.test === r.test);
    if (o === undefined) continue;
    console.log(`| ${r.test} | ${pipeline} | ${f(r.rps)} | ${f(r.p50, 2)} / ${f(r.p99, 2)} | ${f(o.rps)} | ${f(o.p50, 2)} / ${f(o.p99, 2)} | ${f(o.rps / r.rps, 2)} |`);
  }
}
if (memory.length > 0) {
  const mb = (b: number): string => f(b / 2 ** 20, 1);
  console.log(`\nmemory after the tests: ${memory.map((m) => `${m.name} RSS ${mb(m.rss)} MiB (peak ${mb(m.peak)}), `
    + (Number.isFinite(m.items) && m.items >= 100 ? `${f(m.items)} list elements and keys, ${f(m.rss / m.items)} B each` : 'too few items for bytes per item')).join('; ')}`
    + ' (Auroral\'s RSS includes its eight threads\' heaps and rings; its data is on the nodes\' disks too)');
}
const median = (xs: number[]): number => {
  const v = [...xs].sort((x, y) => x - y);
  return v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
if (rounds.length > 0) {
  console.log(`\nSET -c ${C}, ${rounds.length} rounds of redis, Auroral and the floor server in turn (src/bench/floor-server.ts: the design's`
    + ' threads and six fdatasync\'d files behind a RESP front, SET only, +OK at 4 of 6, no engine):');
  console.log('| round | redis req/s | auroral req/s | floor server req/s | auroral × redis | floor × redis | auroral × floor |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  rounds.forEach((x, i) => console.log(`| ${i + 1} | ${f(x.redis.rps)} | ${f(x.auroral.rps)} | ${f(x.floor.rps)} | ${f(x.auroral.rps / x.redis.rps, 2)} | ${f(x.floor.rps / x.redis.rps, 2)} | ${f(x.auroral.rps / x.floor.rps, 2)} |`));
  const m = (g: (x: (typeof rounds)[number]) => number): string => f(median(rounds.map(g)), 2);
  console.log(`| median | | | | ${m((x) => x.auroral.rps / x.redis.rps)} | ${m((x) => x.floor.rps / x.redis.rps)} | ${m((x) => x.auroral.rps / x.floor.rps)} |`);
}
if (floorRate !== null) {
  const r = results.redis![1]!.find((x) => x.test === 'SET');
  console.log(`\nfloor pipeline in-process (no RESP, no client hop) at ${C} puts in flight, after the servers stopped: ${f(floorRate)} puts/s`
    + (r === undefined ? '' : ` (${f(floorRate / r.rps, 2)}× the first redis SET figure, minutes earlier)`));
}
