// `auroral serve` as a process: redis-cli and redis-benchmark against it, AUTH and the loopback
// rule, and the crash test: SIGKILL the server under a redis-benchmark SET load while a client
// of ours writes its own keys; restart; every SET that got +OK is there with its value. Tests that
// need redis-tools say so and skip when it is missing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCommand } from '../src/redis/resp.js';
import { freePort } from './redis-diff-core.js';
import { tempDir } from './helpers.js';

const MAIN = path.resolve('dist/cli/main.js');
const SMALL = ['--set', 'segmentBytes=1048576', '--set', 'valueBytesMax=16384', '--set', 'mtrBytesMax=65536',
  '--set', 'groupCommit.batchBytesMax=65536', '--set', 'nodeRingBytes=1048576', '--set', 'logRingBytes=1048576'];
const has = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const haveTools = has('redis-cli') && has('redis-benchmark');
if (!haveTools) console.warn('test/redis-serve.test.ts: redis-cli/redis-benchmark tests SKIPPED — install redis-tools (.ci/run does it as root)');

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
  }
});

async function serve(dir: string, port: number, extra: string[] = []): Promise<ChildProcess> {
  const c = spawn(process.execPath, [MAIN, 'serve', '--dir', dir, '--port', String(port), ...SMALL, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let out = '';
  c.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  c.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const end = Date.now() + 30_000;
  while (!out.includes('ready on')) {
    if (c.exitCode !== null || Date.now() > end) throw new Error(`auroral serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return c;
}

function cli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 20_000 });
  return (r.stdout + r.stderr).trim();
}

describe('auroral serve (process)', () => {
  it('refuses a non-loopback bind without a password', () => {
    const r = spawnSync(process.execPath, [MAIN, 'serve', '--dir', tempDir(), '--host', '0.0.0.0'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without --requirepass/);
  });

  it.skipIf(!haveTools)('redis-cli, AUTH, and redis-benchmark with zero errors', async () => {
    const port = await freePort();
    await serve(tempDir(), port, ['--requirepass', 's3cret']);
    expect(cli(port, 'PING')).toMatch(/NOAUTH Authentication required/);
    expect(cli(port, '--no-auth-warning', '-a', 'wrong', 'PING')).toMatch(/WRONGPASS/);
    const a = ['--no-auth-warning', '-a', 's3cret'];
    expect(cli(port, ...a, 'SET', 'greeting', 'hello world')).toBe('OK');
    expect(cli(port, ...a, 'GET', 'greeting')).toBe('hello world');
    expect(cli(port, ...a, 'RPUSH', 'l', 'a', 'b')).toBe('2');
    expect(cli(port, ...a, 'LRANGE', 'l', '0', '-1')).toBe('a\nb');
    expect(cli(port, ...a, 'INFO', 'persistence')).toMatch(/auroral_vdl:\d+/);
    const b = spawnSync('redis-benchmark', ['-p', String(port), '-a', 's3cret', '-t', 'set,get,incr,lpush,hset', '-n', '500', '-c', '10', '-q'], { encoding: 'utf8', timeout: 60_000 });
    expect(b.stderr + b.stdout).not.toMatch(/error|ERR/i);
    expect(b.stdout).toMatch(/SET: .*requests per second/);
  });

  it.skipIf(!haveTools)('crash test: SIGKILL under a redis-benchmark SET load; every +OK SET is there after restart', async () => {
    const dir = tempDir();
    const port = await freePort();
    const srv = await serve(dir, port);
    const bench = spawn('redis-benchmark', ['-p', String(port), '-t', 'set', '-n', '10000000', '-c', '20', '-r', '2000', '-d', '64', '-q'], { stdio: 'ignore' });
    children.push(bench);
    // Our writer: 32 SETs in flight, each acknowledged one remembered.
    const acked = new Map<string, string>();
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.on('error', () => {});
    const sent: [string, string][] = [];
    let buf = '';
    let i = 0;
    const send = (): void => {
      const k = `crash:${i}`;
      const v = `value-${i}-${'x'.repeat(i % 50)}`;
      i++;
      sent.push([k, v]);
      sock.write(encodeCommand(['SET', k, v]));
    };
    sock.on('data', (b: Buffer) => {
      buf += b.toString('latin1');
      let at: number;
      while ((at = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const [k, v] = sent.shift()!;
        if (line === '+OK') acked.set(k, v);
        send();
      }
    });
    for (let j = 0; j < 32; j++) send();
    await new Promise((r) => setTimeout(r, 1000));
    srv.kill('SIGKILL');
    await new Promise((r) => srv.once('exit', r));
    sock.destroy();
    bench.kill('SIGKILL');
    expect(acked.size).toBeGreaterThan(100);
    const t0 = Date.now();
    const port2 = await freePort();
    await serve(dir, port2);
    const check = net.connect(port2, '127.0.0.1');
    await new Promise((r) => check.once('connect', r));
    const keys = [...acked.keys()];
    const got: string[] = [];
    let rb = Buffer.alloc(0);
    const done = new Promise<void>((resolve) => {
      check.on('data', (b: Buffer) => {
        rb = Buffer.concat([rb, b]);
        // Bulk replies: parse as many as are complete.
        let at = 0;
        for (;;) {
          const cr = rb.indexOf('\r\n', at);
          if (cr < 0) break;
          const len = Number(rb.toString('latin1', at + 1, cr));
          if (len < 0) { got.push('(nil)'); at = cr + 2; continue; }
          if (cr + 2 + len + 2 > rb.length) break;
          got.push(rb.toString('latin1', cr + 2, cr + 2 + len));
          at = cr + 2 + len + 2;
        }
        rb = rb.subarray(at);
        if (got.length === keys.length) resolve();
      });
    });
    check.write(Buffer.concat(keys.map((k) => encodeCommand(['GET', k]))));
    await done;
    check.destroy();
    console.log(`crash test: ${acked.size} acknowledged SETs of ours checked; restart and check took ${Date.now() - t0} ms`);
    const lost = keys.filter((k, j) => got[j] !== acked.get(k));
    expect(lost).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
