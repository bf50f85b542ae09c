// The RESP parser and encoder, and the protocol fuzzer against a live server: malformed input
// gets `-ERR Protocol error: ...` and closes that connection only; other clients keep being
// served; and what the server holds in memory is exactly what the log gives back after a restart
// (nothing acknowledged that is not durable, nothing partly applied).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeCommand, encodeReply, formatDouble17g, MapReply, ProtocolError, RequestParser, defaultRespLimits, DoubleReply } from '../src/redis/resp.js';
import { tempDir } from './helpers.js';
import { keyspaceAcrossRestart, RawConn, startServer } from './redis-helpers.js';
import { fuzzInputs, fuzzServer } from './redis-fuzz-core.js';

const parseAll = (chunks: Buffer[], limits = defaultRespLimits): string[][] => {
  const p = new RequestParser(limits);
  const out: string[][] = [];
  for (const c of chunks) {
    p.feed(c);
    for (let a = p.next(); a !== null; a = p.next()) out.push(a.map((x) => x.toString('latin1')));
  }
  return out;
};

describe('RESP parser', () => {
  it('parses any split of a pipeline the same way', () => {
    const cmds = fc.array(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 });
    fc.assert(fc.property(cmds, fc.array(fc.nat(), { maxLength: 10 }), (cs, cuts) => {
      const wire = Buffer.concat(cs.map((c) => encodeCommand(c.map((x) => Buffer.from(x)))));
      const points = [...new Set(cuts.map((x) => x % (wire.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let prev = 0;
      for (const p of [...points, wire.length]) {
        chunks.push(wire.subarray(prev, p));
        prev = p;
      }
      expect(parseAll(chunks)).toEqual(cs.map((c) => c.map((x) => Buffer.from(x).toString('latin1'))));
    }), { numRuns: 300 });
  });

  it('inline commands with quotes and escapes, as redis splits them', () => {
    expect(parseAll([Buffer.from('SET a "b c\\x41\\n" \'d\\\'e\'\r\nPING\n\r\n')])).toEqual([['SET', 'a', 'b cA\n', "d'e"], ['PING']]);
    expect(() => parseAll([Buffer.from('SET "a\r\n')])).toThrow('Protocol error: unbalanced quotes in request');
  });

  it('enforces its limits with redis wording', () => {
    const lim = { bulkBytesMax: 10, argsMax: 3, inlineBytesMax: 32, queryBytesMax: 1 << 20 };
    expect(() => parseAll([Buffer.from('*4\r\n')], lim)).toThrow('Protocol error: invalid multibulk length');
    expect(() => parseAll([Buffer.from('*1\r\n$11\r\n')], lim)).toThrow('Protocol error: invalid bulk length');
    expect(() => parseAll([Buffer.from('x'.repeat(40))], lim)).toThrow('Protocol error: too big inline request');
    expect(() => parseAll([Buffer.from('*1\r\n+x\r\n')], lim)).toThrow("Protocol error: expected '$', got '+'");
    expect(() => parseAll([Buffer.from('*x\r\n')], lim)).toThrow(ProtocolError);
    expect(parseAll([Buffer.from('*0\r\n*-1\r\n*1\r\n$0\r\n\r\n')])).toEqual([['']]);
  });

  it('a request sent a byte at a time costs copying linear in its size, not quadratic', () => {
    const lim = { ...defaultRespLimits, inlineBytesMax: 64 * 1024 };
    const inline = Buffer.from(`SET k ${'v'.repeat(20_000)}\r\n`);
    const multi = encodeCommand(['SET', 'k2', 'w'.repeat(100)]);
    const wire = Buffer.concat([inline, multi]);
    const p = new RequestParser(lim);
    const out: string[][] = [];
    for (const b of wire) {
      p.feed(Buffer.from([b]));
      for (let a = p.next(); a !== null; a = p.next()) out.push(a.map((x) => x.toString('latin1')));
    }
    expect(out).toEqual([['SET', 'k', 'v'.repeat(20_000)], ['SET', 'k2', 'w'.repeat(100)]]);
    expect(p.copiedBytes).toBeLessThan(4 * wire.length); // was ~wire.length² / 2 (2e8 bytes here)
    // Filler bytes that cannot end the line (CR for an inline request, LF for a header line) too.
    for (const [first, filler] of [['a', '\r'], ['*', '\n']] as const) {
      const f = new RequestParser(lim);
      f.feed(Buffer.from(first));
      f.next();
      for (let i = 0; i < 20_000; i++) {
        f.feed(Buffer.from(filler));
        f.next();
      }
      expect(f.copiedBytes).toBeLessThan(80_000);
    }
    // A multibulk header line, the same (this one is refused once it ends: not a valid length).
    const h = new RequestParser(lim);
    const header = Buffer.from(`*${'1'.repeat(20_000)}\r\n`);
    expect(() => {
      for (const b of header) {
        h.feed(Buffer.from([b]));
        h.next();
      }
    }).toThrow('Protocol error: invalid multibulk length');
    expect(h.copiedBytes).toBeLessThan(4 * header.length);
    // Limits still hold when the line never ends.
    const q = new RequestParser({ ...lim, inlineBytesMax: 1000 });
    expect(() => {
      for (let i = 0; i < 2000; i++) {
        q.feed(Buffer.from('x'));
        q.next();
      }
    }).toThrow('Protocol error: too big inline request');
  });

  it('bounds what one unfinished request holds (query buffer limit), counting every argument so far', () => {
    const lim = { bulkBytesMax: 100, argsMax: 1000, inlineBytesMax: 64, queryBytesMax: 1000 };
    // 20 complete bulks of 60 bytes: no single one is over any limit, together they pass 1,000.
    const many = Buffer.concat([Buffer.from('*100\r\n'), ...Array.from({ length: 20 }, () => Buffer.from(`$60\r\n${'v'.repeat(60)}\r\n`))]);
    expect(() => parseAll([many], lim)).toThrow('Protocol error: query buffer limit exceeded');
    // Fed a byte at a time, the same: the limit does not depend on how the bytes arrive.
    expect(() => parseAll([...many].map((b) => Buffer.from([b])), lim)).toThrow('Protocol error: query buffer limit exceeded');
    // A bulk is refused when announced, before its bytes arrive.
    const p = new RequestParser({ ...lim, bulkBytesMax: 10_000 });
    p.feed(Buffer.from('*2\r\n$3\r\nSET\r\n$5000\r\n'));
    expect(() => p.next()).toThrow('Protocol error: query buffer limit exceeded');
    // Complete requests in a row do not add up: each starts from zero.
    const ok = Buffer.concat(Array.from({ length: 50 }, () => encodeCommand(['SET', 'k', 'v'.repeat(60)])));
    expect(parseAll([ok], lim)).toHaveLength(50);
  });

  it('encodes RESP2 and RESP3', () => {
    expect(encodeReply(new MapReply(['a', 1]), 2).toString()).toBe('*2\r\n$1\r\na\r\n:1\r\n');
    expect(encodeReply(new MapReply(['a', 1]), 3).toString()).toBe('%1\r\n$1\r\na\r\n:1\r\n');
    expect(encodeReply(null, 3).toString()).toBe('_\r\n');
    expect(encodeReply(new DoubleReply(1.5), 3).toString()).toBe(',1.5\r\n');
    expect(formatDouble17g(0.1)).toBe('0.10000000000000001');
    expect(formatDouble17g(1e20)).toBe('1e+20');
    expect(formatDouble17g(1.5e-7)).toBe('1.4999999999999999e-07');
    expect(formatDouble17g(-3)).toBe('-3');
  });
});

describe('protocol errors on a live server', () => {
  it('replies -ERR Protocol error, closes that connection only, runs nothing of the bad request; then 10K fuzzed inputs (600 over sockets)', async () => {
    const r = await startServer(tempDir('auroral-redis-'));
    try {
      const other = await RawConn.connect(r.port);
      const bad = await RawConn.connect(r.port);
      bad.send(Buffer.concat([encodeCommand(['SET', 'before', '1']), Buffer.from('*1\r\n$-5\r\n'), encodeCommand(['SET', 'after', '1'])]));
      expect(await bad.read(2)).toBe('+OK\r\n-ERR Protocol error: invalid bulk length\r\n');
      expect(await bad.waitClosed()).toBe(true);
      other.send(encodeCommand(['GET', 'after']));
      expect(await other.read(1)).toBe('$-1\r\n');
      other.close();

      const res = await fuzzServer(r.srv, fuzzInputs(10_000, 13), 600);
      expect(res.witnessErrors).toEqual([]);
      expect(res.witnessOps).toBeGreaterThan(0);
      const ping = await RawConn.connect(r.port);
      ping.send('PING\r\n');
      expect(await ping.read(1)).toBe('+PONG\r\n');
      ping.close();
      // Memory is exactly what the log holds (nothing acknowledged that is not durable).
      const { before, after } = await keyspaceAcrossRestart(r);
      expect(after).toEqual(before);
    } finally {
      await r.close();
    }
  });
});
