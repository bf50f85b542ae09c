// `npm run bench:redis [-- --requests N --clients C]`: redis-benchmark against `auroral serve`
// and, in the same run, against redis-server with appendonly yes / appendfsync always (one
// fsync'd copy; Auroral acknowledges at 4 of 6 fdatasync'd copies). Tests set,get,incr,lpush,hset
// at -c 50 -d 100, without and with -P 16. Prints requests/s, p50/p99 and the ratios. With SET among
// the tests it also runs the design's floor (src/bench/floor-pipeline.ts: Auroral's threads and six
// fdatasync'd files, no engine, no RESP) with as many puts in flight as there are clients: what
// any server on this design could reach at -c C, on this machine, in this run, were its clients
// free; and redis-benchmark SET against the floor server (src/bench/floor-server.ts: that
// pipeline behind a RESP front, 1 and 4 frames in flight), which pays the clients' socket hop too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { FloorPipeline } from '../src/bench/floor-pipeline.js';
import { KeySource, runPutWindow } from '../src/cli/workload.js';

const { values: a } = parseArgs({ options: { requests: { type: 'string' }, clients: { type: 'string' }, tests: { type: 'string' } } });
const N = Number(a.requests ?? 200_000);
const C = Number(a.clients ?? 50);
const TESTS = a.tests ?? 'set,get,incr,lpush,hset';
for (const bin of ['redis-server', 'redis-benchmark']) {
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

function benchmark(port: number, pipeline: number, tests = TESTS): Row[] {
  const args = ['-p', String(port), '-t', tests, '-n', String(N), '-c', String(C), '-d', '100', '--csv'];
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
/** The floor server with 1 and with 4 frames in flight (the engine's default, and serve's). */
const floorServer: { frames: number; row: Row }[] = [];
let ours: ChildProcess | null = null;
const floors: { frames: number; child: ChildProcess; port: number }[] = [];
let ref: ChildProcess | null = null;
try {
  const pr = await freePort();
  ref = spawn('redis-server', ['--port', String(pr), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', path.join(tmp)], { stdio: 'ignore' });
  await waitPort(pr, ref);
  const po = await freePort();
  ours = spawn(process.execPath, [path.resolve('dist/cli/main.js'), 'serve', '--dir', path.join(tmp, 'auroral'), '--port', String(po), '--quiet'], { stdio: 'inherit' });
  await waitPort(po, ours);
  // The floor servers' SET runs right after redis's and Auroral's, so the three meet the same disk.
  const withSet = TESTS.split(',').includes('set');
  if (withSet) for (const frames of [1, 4]) floors.push({ frames, ...await startFloorServer(frames) });
  for (const pipeline of [1, 16]) {
    for (const [name, port] of [['redis', pr], ['auroral', po]] as const) {
      (results[name] ??= {})[pipeline] = benchmark(port, pipeline);
      console.error(`done: ${name} -P ${pipeline}`);
    }
    if (pipeline !== 1) continue;
    for (const fl of floors) {
      floorServer.push({ frames: fl.frames, row: benchmark(fl.port, 1, 'set').find((x) => x.test === 'SET')! });
      console.error(`done: floor server (${fl.frames} frames in flight) -P 1`);
    }
  }
} finally {
  if (ours !== null) await stop(ours);
  if (ref !== null) await stop(ref);
  for (const fl of floors) await stop(fl.child);
}
try {
  // After every server is gone: nothing else shares the two cores with it.
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
if (floorRate !== null) {
  const set = (name: string) => results[name]![1]!.find((r) => r.test === 'SET');
  const r = set('redis');
  const o = set('auroral');
  console.log(`\nfloor (the design's threads and six fdatasync'd files, no engine, no RESP) at ${C} puts in flight: ${f(floorRate)} puts/s`
    + (r === undefined ? '' : ` = ${f(floorRate / r.rps, 2)}× redis SET`) + (o === undefined ? '' : `; auroral SET = ${f(o.rps / floorRate, 2)}× the floor`));
  for (const { frames, row } of floorServer) {
    console.log(`floor server (that pipeline behind a RESP front, ${frames} frame(s) in flight: SET only, +OK at 4 of 6; src/bench/floor-server.ts), redis-benchmark SET -c ${C}: ${f(row.rps)} req/s, p50 / p99 ${f(row.p50, 2)} / ${f(row.p99, 2)} ms`
      + (r === undefined ? '' : ` = ${f(row.rps / r.rps, 2)}× redis SET`) + (o === undefined ? '' : `; auroral SET = ${f(o.rps / row.rps, 2)}× it`));
  }
}
