// The protocol fuzzer's core (test/redis-fuzz.test.ts runs 10K inputs, native-free-bench/
// redis-fuzz.ts 100K): valid requests mutated by fast-check (flipped, inserted, deleted,
// duplicated bytes, lengths replaced by extreme numbers, truncation), each sent on its own
// connection while a witness client keeps writing and reading its own keys.
import * as net from 'node:net';
import fc from 'fast-check';
import { encodeCommand } from '../src/redis/resp.js';
import type { Keyspace } from '../src/redis/keyspace.js';
import type { RedisServer } from '../src/redis/server.js';

const seeds: Buffer[] = [
  encodeCommand(['SET', 'k', 'v']),
  encodeCommand(['GET', 'k']),
  encodeCommand(['SET', 'k2', 'value', 'EX', '1000']),
  encodeCommand(['HSET', 'h', 'f', 'v', 'g', 'w']),
  encodeCommand(['LPUSH', 'l', 'a', 'b']),
  encodeCommand(['RPOP', 'l']),
  encodeCommand(['SADD', 's', 'm1', 'm2']),
  encodeCommand(['ZADD', 'z', '1.5', 'm']),
  encodeCommand(['INCRBY', 'n', '7']),
  encodeCommand(['APPEND', 'k', 'tail']),
  encodeCommand(['DEL', 'k2']),
  encodeCommand(['EXPIRE', 'h', '5000']),
  Buffer.concat([encodeCommand(['MULTI']), encodeCommand(['SET', 'm', '1']), encodeCommand(['INCR', 'm']), encodeCommand(['EXEC'])]),
  Buffer.from('SET inline "quoted \\x41 value"\r\nGET inline\r\n'),
  Buffer.from('PING\r\n'),
  Buffer.concat([encodeCommand(['SET', 'p1', 'x']), encodeCommand(['SET', 'p2', 'y']), encodeCommand(['GET', 'p1'])]),
];

const extremes = ['-1', '0', '99999999999', '-99999999999', '4294967296', '1048577', '2147483648', 'x', ''];

type Mutation =
  | { t: 'flip'; at: number; bit: number }
  | { t: 'insert'; at: number; bytes: Uint8Array }
  | { t: 'delete'; at: number; n: number }
  | { t: 'dup'; at: number; n: number }
  | { t: 'number'; which: number; v: string }
  | { t: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ t: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ t: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ t: fc.constant('insert' as const), at: fc.nat(), bytes: fc.constantFrom(...['\r\n', '*', '$', '*-1\r\n', '$-1\r\n', '"', '\\', '\0'].map((s) => Buffer.from(s))) }),
  fc.record({ t: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ t: fc.constant('dup' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ t: fc.constant('number' as const), which: fc.nat(), v: fc.constantFrom(...extremes) }),
  fc.record({ t: fc.constant('truncate' as const), at: fc.nat() }),
);

function apply(b: Buffer, m: Mutation): Buffer {
  const at = b.length === 0 ? 0 : m.t === 'number' ? 0 : (m as { at: number }).at % (b.length + 1);
  switch (m.t) {
    case 'flip': {
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      c[at % b.length] = c[at % b.length]! ^ (1 << m.bit);
      return c;
    }
    case 'insert': return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    case 'delete': return Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
    case 'dup': return Buffer.concat([b.subarray(0, at + m.n), b.subarray(at)]);
    case 'truncate': return b.subarray(0, at);
    case 'number': {
      const s = b.toString('latin1');
      const nums = [...s.matchAll(/[*$](-?\d+)/g)];
      if (nums.length === 0) return b;
      const n = nums[m.which % nums.length]!;
      const start = n.index! + 1;
      return Buffer.concat([b.subarray(0, start), Buffer.from(m.v), b.subarray(start + n[1]!.length)]);
    }
  }
}

/** `n` mutated inputs, deterministic for a seed. */
export function fuzzInputs(n: number, seed: number): Buffer[] {
  const arb = fc.tuple(fc.constantFrom(...seeds), fc.constantFrom(...seeds), fc.boolean(), fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([a, b, two, ms]) => ms.reduce(apply, two ? Buffer.concat([a, b]) : a));
  return fc.sample(arb, { numRuns: n, seed });
}

/** Sends one input on its own connection, half-closes, waits for the server to close. */
function sendOne(port: number, input: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => s.destroy(), 2000);
    s.on('connect', () => s.end(input));
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface FuzzResult {
  sent: number;
  witnessOps: number;
  witnessErrors: string[];
}

/**
 * Sends every input while a witness writes and reads its keys: the first `overSockets` each on
 * its own connection (`width` at a time), the rest through the server's socketless path
 * (runVirtual: same parser and executor, ~50x faster).
 */
export async function fuzzServer(srv: RedisServer, inputs: Buffer[], overSockets: number, width = 64): Promise<FuzzResult> {
  const port = srv.port;
  const errors: string[] = [];
  let ops = 0;
  let stop = false;
  const witness = (async () => {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    let buf = '';
    s.on('data', (b: Buffer) => { buf += b.toString('latin1'); });
    for (let i = 0; !stop; i++) {
      const v = `w${i}`;
      s.write(Buffer.concat([encodeCommand(['SET', 'witness\u0000key', v]), encodeCommand(['GET', 'witness\u0000key'])]));
      const want = `+OK\r\n$${v.length}\r\n${v}\r\n`;
      const end = Date.now() + 5000;
      while (buf.length < want.length && Date.now() < end) await new Promise((r) => setTimeout(r, 1));
      if (buf !== want) errors.push(`witness ${i}: got ${JSON.stringify(buf)}`);
      buf = '';
      ops++;
      if (errors.length > 0) break;
    }
    s.destroy();
  })();
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < Math.min(overSockets, inputs.length)) await sendOne(port, inputs[next++]!);
  }));
  const t0 = Date.now();
  for (let i = next; i < inputs.length; i += width * 8) {
    await Promise.all(inputs.slice(i, i + width * 8).map((x) => srv.runVirtual(x)));
  }
  if (process.env.FUZZ_VERBOSE !== undefined) console.log(`socketless: ${inputs.length - next} inputs in ${Date.now() - t0} ms`);
  stop = true;
  await witness;
  return { sent: inputs.length, witnessOps: ops, witnessErrors: errors };
}

/** A canonical dump of a keyspace (types, contents, TTLs) to compare memory with the log. */
export function dumpKeyspace(ks: Keyspace): Map<string, string> {
  const out = new Map<string, string>();
  for (const [id, e] of ks.map) {
    let v: unknown;
    switch (e.t) {
      case 0: v = e.v.toString('latin1'); break;
      case 1: v = [...e.v].map(([f, x]) => [f, x.toString('latin1')]).sort(); break;
      case 2: v = Array.from({ length: e.v.length }, (_, i) => e.v.at(i).toString('latin1')); break;
      case 3: v = [...e.v].sort(); break;
      case 4: v = e.v.order.map((m) => [m, e.v.scores.get(m)]); break;
    }
    out.set(id, JSON.stringify([e.t, e.exp, v]));
  }
  return out;
}
