// Differential testing against a real redis-server: seeded random command sequences over a few
// keys (so types collide), sent to both, every reply compared (unordered replies sorted; TTLs by
// sign). Used by test/redis-diff.test.ts and native-free-bench/redis-diff.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeCommand } from '../src/redis/resp.js';

export function redisServerPath(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** A throwaway redis-server (no persistence unless args say so); stop() kills it and removes its dir. */
export async function startRedis(extra: string[] = []): Promise<{ port: number; proc: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-ref-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port, proc,
    async stop() {
      if (proc.exitCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Norm = 'exact' | 'unordered' | 'pairs' | 'ttl';
export interface Cmd { args: string[]; norm: Norm }

export function randomCommands(seed: number, n: number): Cmd[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const int = (lo: number, hi: number): string => String(lo + Math.floor(r() * (hi - lo + 1)));
  const keys = ['a', 'b', 'c', 'd', 'e'];
  const vals = ['1', '2', '10', '-3', 'abc', '', 'x y', '3.5', '007', '9223372036854775807'];
  const fields = ['f', 'g', 'h', 'i'];
  const score = (): string => pick(['1', '2', '2.5', '-1', '0', '10', '+inf', '-inf', 'nan', 'x']);
  const idx = (): string => int(-4, 4);
  const k = (): string => pick(keys);
  const v = (): string => pick(vals);
  const gens: (() => Cmd)[] = [
    () => ({ args: ['GET', k()], norm: 'exact' }),
    () => {
      const a = ['SET', k(), v()];
      if (r() < 0.3) a.push(pick(['NX', 'XX', 'GET', 'KEEPTTL', 'NX', 'XX']));
      if (r() < 0.2) a.push(pick(['EX', 'PX']), pick(['100000', '0', '-1', 'x']));
      if (r() < 0.1) a.push(pick(['NX', 'GET', 'EX']));
      return { args: a, norm: 'exact' };
    },
    () => ({ args: ['SETNX', k(), v()], norm: 'exact' }),
    () => ({ args: ['GETSET', k(), v()], norm: 'exact' }),
    () => ({ args: ['GETDEL', k()], norm: 'exact' }),
    () => ({ args: ['MGET', k(), k(), k()], norm: 'exact' }),
    () => ({ args: r() < 0.9 ? ['MSET', k(), v(), k(), v()] : ['MSET', k()], norm: 'exact' }),
    () => ({ args: ['MSETNX', k(), v(), k(), v()], norm: 'exact' }),
    () => ({ args: ['APPEND', k(), v()], norm: 'exact' }),
    () => ({ args: ['STRLEN', k()], norm: 'exact' }),
    () => ({ args: ['GETRANGE', k(), idx(), idx()], norm: 'exact' }),
    () => ({ args: ['SETRANGE', k(), int(-1, 6), v()], norm: 'exact' }),
    () => ({ args: [pick(['INCR', 'DECR']), k()], norm: 'exact' }),
    () => ({ args: [pick(['INCRBY', 'DECRBY']), k(), pick(['1', '-5', '100', 'x', '9223372036854775807'])], norm: 'exact' }),
    () => ({ args: ['INCRBYFLOAT', k(), pick(['1.5', '-0.5', '2', 'x', '1e3'])], norm: 'exact' }),
    () => ({ args: [pick(['DEL', 'UNLINK', 'EXISTS']), k(), k()], norm: 'exact' }),
    () => ({ args: ['TYPE', k()], norm: 'exact' }),
    () => ({ args: [pick(['RENAME', 'RENAMENX']), k(), k()], norm: 'exact' }),
    () => ({ args: r() < 0.8 ? ['COPY', k(), k()] : ['COPY', k(), k(), 'REPLACE'], norm: 'exact' }),
    () => {
      // Absolute times (relative ones would compare differently a millisecond apart).
      const a = r() < 0.8 ? [pick(['EXPIREAT']), k(), pick(['4000000000', '4100000000', '1'])] : [pick(['EXPIRE', 'PEXPIRE']), k(), pick(['-1', 'x'])];
      if (r() < 0.4) a.push(pick(['NX', 'XX', 'GT', 'LT', 'YY']));
      if (r() < 0.1) a.push(pick(['NX', 'GT']));
      return { args: a, norm: 'exact' };
    },
    () => ({ args: ['PERSIST', k()], norm: 'exact' }),
    () => ({ args: [pick(['TTL', 'PTTL']), k()], norm: 'ttl' }),
    () => ({ args: ['HSET', k(), pick(fields), v(), ...(r() < 0.3 ? [pick(fields), v()] : [])], norm: 'exact' }),
    () => ({ args: ['HGET', k(), pick(fields)], norm: 'exact' }),
    () => ({ args: ['HMGET', k(), pick(fields), pick(fields)], norm: 'exact' }),
    () => ({ args: ['HDEL', k(), pick(fields), pick(fields)], norm: 'exact' }),
    () => ({ args: ['HGETALL', k()], norm: 'pairs' }),
    () => ({ args: [pick(['HKEYS', 'HVALS']), k()], norm: 'unordered' }),
    () => ({ args: [pick(['HLEN']), k()], norm: 'exact' }),
    () => ({ args: ['HEXISTS', k(), pick(fields)], norm: 'exact' }),
    () => ({ args: ['HINCRBY', k(), pick(fields), pick(['1', '-2', 'x'])], norm: 'exact' }),
    () => ({ args: ['HSETNX', k(), pick(fields), v()], norm: 'exact' }),
    () => ({ args: [pick(['LPUSH', 'RPUSH']), k(), v(), ...(r() < 0.3 ? [v()] : [])], norm: 'exact' }),
    () => ({ args: [pick(['LPOP', 'RPOP']), k(), ...(r() < 0.3 ? [pick(['0', '1', '3', '-1'])] : [])], norm: 'exact' }),
    () => ({ args: ['LRANGE', k(), idx(), idx()], norm: 'exact' }),
    () => ({ args: ['LLEN', k()], norm: 'exact' }),
    () => ({ args: ['LINDEX', k(), idx()], norm: 'exact' }),
    () => ({ args: ['LSET', k(), idx(), v()], norm: 'exact' }),
    () => ({ args: ['LREM', k(), int(-2, 2), v()], norm: 'exact' }),
    () => ({ args: ['LTRIM', k(), idx(), idx()], norm: 'exact' }),
    () => ({ args: ['SADD', k(), v(), ...(r() < 0.3 ? [v()] : [])], norm: 'exact' }),
    () => ({ args: ['SREM', k(), v()], norm: 'exact' }),
    () => ({ args: ['SMEMBERS', k()], norm: 'unordered' }),
    () => ({ args: ['SISMEMBER', k(), v()], norm: 'exact' }),
    () => ({ args: ['SCARD', k()], norm: 'exact' }),
    () => {
      const a = ['ZADD', k()];
      if (r() < 0.4) a.push(pick(['NX', 'XX', 'GT', 'LT', 'CH', 'INCR']));
      if (r() < 0.15) a.push(pick(['NX', 'XX', 'GT', 'CH']));
      a.push(score(), v());
      if (r() < 0.3) a.push(score(), v());
      return { args: a, norm: 'exact' };
    },
    () => ({ args: ['ZREM', k(), v()], norm: 'exact' }),
    () => ({ args: ['ZSCORE', k(), v()], norm: 'exact' }),
    () => ({ args: ['ZINCRBY', k(), score(), v()], norm: 'exact' }),
    () => ({ args: ['ZCARD', k()], norm: 'exact' }),
    () => ({ args: [pick(['ZRANK', 'ZREVRANK']), k(), v()], norm: 'exact' }),
    () => {
      const byScore = r() < 0.5;
      const a = ['ZRANGE', k(), byScore ? pick(['-inf', '(1', '0', '2']) : idx(), byScore ? pick(['+inf', '(10', '2', '1']) : idx()];
      if (byScore) a.push('BYSCORE');
      if (r() < 0.3) a.push('REV');
      if (r() < 0.3) a.push('LIMIT', int(-1, 2), int(-1, 3));
      if (r() < 0.4) a.push('WITHSCORES');
      return { args: a, norm: 'exact' };
    },
    () => ({ args: ['ZRANGEBYSCORE', k(), pick(['-inf', '(1', '0', 'x']), pick(['+inf', '(10', '2']), ...(r() < 0.4 ? ['WITHSCORES'] : []), ...(r() < 0.3 ? ['LIMIT', int(0, 2), int(-1, 2)] : [])], norm: 'exact' }),
    () => ({ args: ['ZCOUNT', k(), pick(['-inf', '(1', '0']), pick(['+inf', '(10', '2'])], norm: 'exact' }),
    () => ({ args: ['DBSIZE'], norm: 'exact' }),
    () => ({ args: [pick(['GET', 'SET', 'HGET', 'LPUSH', 'ZADD', 'EXPIRE'])], norm: 'exact' }),
    () => ({ args: ['NOSUCHCMD', k()], norm: 'exact' }),
    () => ({ args: ['ECHO', v()], norm: 'exact' }),
  ];
  const out: Cmd[] = [];
  while (out.length < n) {
    if (r() < 0.04) {
      out.push({ args: ['MULTI'], norm: 'exact' });
      const m = 1 + Math.floor(r() * 4);
      for (let i = 0; i < m; i++) {
        let c = pick(gens)();
        while (c.norm !== 'exact') c = pick(gens)(); // EXEC's array cannot be normalized per element
        out.push(c);
      }
      out.push({ args: [r() < 0.85 ? 'EXEC' : 'DISCARD'], norm: 'exact' });
      continue;
    }
    out.push(pick(gens)());
  }
  return out;
}

/** Splits RESP2 replies; returns the top-level reply strings. */
export function splitReplies(s: string): string[] {
  const out: string[] = [];
  let at = 0;
  const skip = (i: number): number => {
    const cr = s.indexOf('\r\n', i);
    if (cr < 0) return -1;
    const t = s[i];
    const line = s.slice(i + 1, cr);
    let next = cr + 2;
    if (t === '$') return Number(line) < 0 ? next : next + Number(line) + 2 <= s.length ? next + Number(line) + 2 : -1;
    if (t === '*') {
      const n = Number(line);
      for (let j = 0; j < n; j++) {
        next = skip(next);
        if (next < 0) return -1;
      }
    }
    return next;
  };
  for (;;) {
    if (at >= s.length) return out;
    const end = skip(at);
    if (end < 0) return out;
    out.push(s.slice(at, end));
    at = end;
  }
}

function elements(reply: string): string[] {
  const parts = splitReplies(reply.slice(reply.indexOf('\r\n') + 2));
  return parts;
}

export function normalize(reply: string, norm: Norm, inMulti: boolean): string {
  if (inMulti || reply[0] === '-') return reply;
  if (norm === 'unordered' && reply[0] === '*') return `*[${elements(reply).sort().join('|')}]`;
  if (norm === 'pairs' && reply[0] === '*') {
    const e = elements(reply);
    const pairs: string[] = [];
    for (let i = 0; i < e.length; i += 2) pairs.push(`${e[i]}=${e[i + 1]}`);
    return `*{${pairs.sort().join('|')}}`;
  }
  if (norm === 'ttl' && /^:\d+\r\n$/.test(reply) && reply !== ':0\r\n') return ':positive';
  return reply;
}

class Conn {
  private buf = '';
  private constructor(private readonly s: net.Socket) {
    s.on('data', (b: Buffer) => { this.buf += b.toString('latin1'); });
  }
  static open(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  async run(cmds: string[][]): Promise<string[]> {
    this.s.write(Buffer.concat(cmds.map((c) => encodeCommand(c))));
    const end = Date.now() + 10_000;
    for (;;) {
      const r = splitReplies(this.buf);
      if (r.length >= cmds.length) {
        this.buf = '';
        return r;
      }
      if (Date.now() > end) throw new Error(`timed out: ${r.length} of ${cmds.length} replies`);
      await new Promise((res) => setTimeout(res, 1));
    }
  }
  close(): void {
    this.s.destroy();
  }
}

export interface Mismatch { seed: number; i: number; cmd: string; redis: string; auroral: string }

/** Runs one seeded sequence on both servers (after FLUSHALL); returns the mismatches. */
export async function diffSeed(redisPort: number, auroralPort: number, seed: number, n: number, batch = 50): Promise<Mismatch[]> {
  const cmds = randomCommands(seed, n);
  const a = await Conn.open(redisPort);
  const b = await Conn.open(auroralPort);
  const out: Mismatch[] = [];
  try {
    await a.run([['FLUSHALL']]);
    await b.run([['FLUSHALL']]);
    let inMulti = false;
    for (let i = 0; i < cmds.length; i += batch) {
      const part = cmds.slice(i, i + batch);
      const [ra, rb] = await Promise.all([a.run(part.map((c) => c.args)), b.run(part.map((c) => c.args))]);
      for (let j = 0; j < part.length; j++) {
        const c = part[j]!;
        const name = c.args[0]!.toUpperCase();
        if (name === 'MULTI' && ra[j] === '+OK\r\n') inMulti = true;
        const na = normalize(ra[j]!, c.norm, inMulti && name !== 'MULTI');
        const nb = normalize(rb[j]!, c.norm, inMulti && name !== 'MULTI');
        if (name === 'EXEC' || name === 'DISCARD') inMulti = false;
        if (na !== nb) out.push({ seed, i: i + j, cmd: c.args.join(' '), redis: ra[j]!, auroral: rb[j]! });
      }
    }
  } finally {
    a.close();
    b.close();
  }
  return out;
}
