// Goal: a command too big for one MTR is all-or-nothing across a crash (src/redis/journal.ts),
// and a later command never lands in the log without it.
// Method: the durability tracker writes into a fake engine that logs MTRs in call order (LSN
// order) and may withdraw one (as the engine does with an MTR that timed out waiting for LSNs).
// The volume after a crash is any prefix of that log: for every prefix, and for every withdrawn
// MTR, the load (loadKeyspace, finishing the journal) must leave exactly the records before the
// command, after it, or after it and the later one, and never lose what was acknowledged.
import { describe, expect, it } from 'vitest';
import type { BatchOp } from '../src/index.js';
import { recordBytes } from '../src/log/record.js';
import { DurabilityTracker } from '../src/redis/durability.js';
import { decodeOps, encodeOps, writeJournaled } from '../src/redis/journal.js';
import { encodeCommand } from '../src/redis/resp.js';
import { open } from '../src/index.js';
import { smallOptions, tempDir, waitFor } from './helpers.js';
import { keyspaceAcrossRestart, RawConn, startServer } from './redis-helpers.js';
import { loadKeyspace } from '../src/redis/load.js';
import { mtrLimits } from '../src/redis/mtr.js';
import { akey, Effects, f64, Tag } from '../src/redis/persist.js';

const config = { keyBytesMax: 256, valueBytesMax: 2048, lsnAllocationLimit: 64, mtrBytesMax: 8192 };
const hex = (k: BatchOp['key']): string => Buffer.from(k as Uint8Array).toString('hex');
type Records = Map<string, Buffer>;

function applyOps(into: Records, ops: readonly BatchOp[]): void {
  for (const o of ops) {
    if (o.type === 'put') into.set(hex(o.key), Buffer.from(o.value as Uint8Array));
    else into.delete(hex(o.key));
  }
}

/** The engine as the tracker and the load see it: MTRs in call order, each durable a turn later. */
class FakeEngine {
  readonly config = config;
  readonly log: BatchOp[][] = [];
  calls = 0;
  /** LSNs handed out and not yet durable: past lsnAllocationLimit the engine makes an MTR wait,
   * its commit timeout running; this fake withdraws it at once (the worst case of that wait). */
  private lsnsInFlight = 0;
  constructor(readonly records: Records, private readonly withdraw = -1) {}

  batch(ops: readonly BatchOp[]): Promise<number> {
    const n = this.calls++;
    let bytes = 0;
    for (const o of ops) bytes += recordBytes(o.key.length, o.type === 'put' ? o.value.length : 0);
    if (ops.length > config.lsnAllocationLimit || bytes > config.mtrBytesMax) return Promise.reject(new Error(`TRANSACTION_TOO_LARGE: ${ops.length} records, ${bytes} bytes`));
    if (n === this.withdraw || this.lsnsInFlight + ops.length > config.lsnAllocationLimit) {
      return new Promise((_, rej) => setImmediate(() => rej(new Error('QUORUM_UNAVAILABLE (withdrawn)'))));
    }
    const copy = ops.map((o) => ({ ...o }));
    this.log.push(copy);
    applyOps(this.records, copy);
    this.lsnsInFlight += ops.length;
    return new Promise((res) => setImmediate(() => {
      this.lsnsInFlight -= ops.length;
      res(n);
    }));
  }

  async *scan(): AsyncIterable<{ key: Uint8Array; value: Uint8Array }> {
    for (const [k, v] of [...this.records].sort((a, b) => (a[0] < b[0] ? -1 : 1))) yield { key: Buffer.from(k, 'hex'), value: v };
  }
}

const listKey = Buffer.from('biglist');
const el = (i: number): Buffer => akey(Tag.LIST, listKey, f64(i));

/** A list of 300 elements of 40 bytes and a string: more than one MTR to delete at these limits. */
function initial(): Records {
  const r: Records = new Map();
  const ops: BatchOp[] = [];
  for (let i = 0; i < 300; i++) ops.push({ type: 'put', key: el(i), value: Buffer.alloc(40, i % 251) });
  ops.push({ type: 'put', key: akey(Tag.STRING, Buffer.from('s')), value: Buffer.from('old') });
  applyOps(r, ops);
  return r;
}

/** DEL biglist + SET s new + SET t 1, as one command (a MULTI/EXEC): 302 records. */
function bigCommand(): Effects {
  const fx = new Effects();
  for (let i = 0; i < 300; i++) fx.del(el(i), 'biglist');
  fx.put(akey(Tag.STRING, Buffer.from('s')), Buffer.from('new'), 's');
  fx.put(akey(Tag.STRING, Buffer.from('t')), Buffer.from('1'), 't');
  fx.written = true;
  return fx;
}

/** SET s later, sent in the same turn, after the big command. */
function laterCommand(): Effects {
  const fx = new Effects();
  fx.put(akey(Tag.STRING, Buffer.from('s')), Buffer.from('later'), 's');
  fx.written = true;
  return fx;
}

const dump = (r: Records): string[] => [...r].map(([k, v]) => `${k}=${v.toString('hex')}`).sort();

function expectedStates(): { before: string[]; big: string[]; all: string[] } {
  const before = initial();
  const big = initial();
  applyOps(big, bigCommand().ops);
  const all = new Map(big);
  applyOps(all, laterCommand().ops);
  return { before: dump(before), big: dump(big), all: dump(all) };
}

/** Runs the two commands against `engine`; records which were acknowledged before each MTR call. */
async function run(engine: FakeEngine, ackedAtCall: Map<number, Set<string>>): Promise<{ failures: number; outcome: Record<string, string> }> {
  const acked = new Set<string>();
  let failures = 0;
  const tracker = new DurabilityTracker(engine, mtrLimits(engine), () => failures++);
  const outcome: Record<string, string> = {};
  const orig = engine.batch.bind(engine);
  engine.batch = (ops) => {
    ackedAtCall.set(engine.calls, new Set(acked));
    return orig(ops);
  };
  const big = tracker.commit(bigCommand()).then(() => { acked.add('big'); outcome.big = 'ok'; }, () => { outcome.big = 'failed'; });
  const later = tracker.commit(laterCommand()).then(() => { acked.add('later'); outcome.later = 'ok'; }, () => { outcome.later = 'failed'; });
  await Promise.all([big, later]);
  return { failures, outcome };
}

async function loadFrom(records: Records): Promise<string[]> {
  const e = new FakeEngine(new Map(records));
  await loadKeyspace(e, () => e.scan());
  expect([...e.records.keys()].filter((k) => k.startsWith('00'))).toEqual([]); // no journal left
  return dump(e.records);
}

describe('a command bigger than one MTR', () => {
  it('round-trips its effects through the journal encoding', () => {
    const ops = bigCommand().ops;
    expect(decodeOps(encodeOps(ops)).map((o) => [o.type, hex(o.key), o.type === 'put' ? hex(o.value) : ''])).toEqual(
      ops.map((o) => [o.type, hex(o.key), o.type === 'put' ? hex(o.value) : '']));
  });

  it('is whole or absent after a crash at any point, and a later command never lands without it', async () => {
    const want = expectedStates();
    const engine = new FakeEngine(initial());
    const ackedAtCall = new Map<number, Set<string>>();
    const r = await run(engine, ackedAtCall);
    expect(r).toEqual({ failures: 0, outcome: { big: 'ok', later: 'ok' } });
    expect(engine.log.length).toBeGreaterThan(8); // staged, committed, applied, deleted: many MTRs
    const seen = new Set<string>();
    for (let k = 0; k <= engine.log.length; k++) {
      const state = initial();
      for (const mtr of engine.log.slice(0, k)) applyOps(state, mtr);
      const after = await loadFrom(state);
      const which = after.join() === want.before.join() ? 'before' : after.join() === want.big.join() ? 'big' : after.join() === want.all.join() ? 'all' : 'torn';
      expect(which, `crash after ${k} of ${engine.log.length} MTRs`).not.toBe('torn');
      // What was acknowledged before MTR k was sent is in the first k MTRs: it must survive.
      const acked = ackedAtCall.get(k) ?? new Set(['big', 'later']);
      if (acked.has('later')) expect(which).toBe('all');
      else if (acked.has('big')) expect(['big', 'all']).toContain(which);
      seen.add(which);
    }
    expect([...seen].sort()).toEqual(['all', 'before', 'big']);
  });

  it('is whole or absent when the engine withdraws any one of its MTRs (a timed-out wait for LSNs)', async () => {
    const want = expectedStates();
    const probe = new FakeEngine(initial());
    await run(probe, new Map());
    const commitDeleted = probe.log.findIndex((mtr) => mtr.length === 1 && mtr[0]!.type === 'del' && Buffer.from(mtr[0]!.key as Uint8Array)[1] === 2);
    expect(commitDeleted).toBeGreaterThan(0);
    for (let w = 0; w < probe.calls; w++) {
      const engine = new FakeEngine(initial(), w);
      const r = await run(engine, new Map());
      // Once the commit record's deletion is durable the command is complete: a withdrawn chunk
      // deletion after it fails nobody (the next load drops the chunks).
      const chunkDeletion = w > commitDeleted && Buffer.from(probe.log[w]![0]!.key as Uint8Array)[0] === 0;
      if (chunkDeletion) expect(r, `withdrawn MTR ${w}`).toEqual({ failures: 0, outcome: { big: 'ok', later: 'ok' } });
      else expect(r.failures, `withdrawn MTR ${w}`).toBeGreaterThan(0);
      const after = (await loadFrom(engine.records)).join();
      if (r.outcome.later === 'ok') expect(after, `withdrawn MTR ${w}`).toBe(want.all.join());
      else if (r.outcome.big === 'ok') expect([want.big.join(), want.all.join()], `withdrawn MTR ${w}`).toContain(after);
      else expect([want.before.join(), want.big.join()], `withdrawn MTR ${w}`).toContain(after);
    }
  });
});

/** SET k v through the tracker, as one command's effects. */
function setString(tracker: DurabilityTracker, k: string): Promise<void> {
  const fx = new Effects();
  fx.put(akey(Tag.STRING, Buffer.from(k)), Buffer.from('v'), k);
  fx.written = true;
  return tracker.commit(fx);
}

describe('gates when the engine withdraws an MTR', () => {
  // A read is gated on the newest write of its keys; a newer write's durability implies an older
  // one's only if the engine wrote the older one. One withdrawn (timed out waiting for LSNs, never
  // written) while a later one is written must fail every gate from there on.
  it("a read of a later write's key, or of every key, fails when an earlier write was withdrawn", async () => {
    const engine = new FakeEngine(new Map(), 0);
    let failures = 0;
    const tracker = new DurabilityTracker(engine, mtrLimits(engine), () => failures++);
    const write = (k: string): Promise<void> => setString(tracker, k);
    const a = write('a');
    await new Promise((r) => setImmediate(r)); // a's turn ends: its MTR is sent (and withdrawn)
    const b = write('b');
    tracker.flush();
    const gateB = tracker.gate(['b']);
    const gateAll = tracker.gateAll();
    expect(gateB).not.toBeNull();
    const outcome = async (p: Promise<void> | null): Promise<string> => p!.then(() => 'ok', () => 'failed');
    expect(await outcome(a)).toBe('failed');
    expect(await outcome(b)).toBe('failed'); // its own MTR was written, but not the one before it
    expect(await outcome(gateB)).toBe('failed');
    expect(await outcome(gateAll)).toBe('failed');
    expect(engine.log.length).toBe(1); // b alone reached the log
    expect(failures).toBe(1);
  });
});

describe('gates when writes settle out of order', () => {
  // The engine settles commits in LSN order today; the gates must not depend on it: a later
  // write's own MTR settling first must leave every gate on the earlier one's outcome.
  it('a read of every key still waits for an earlier write after a later one settled', async () => {
    const settle: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const engine = {
      config,
      batch: (): Promise<number> => new Promise((res, rej) => settle.push({ resolve: () => res(0), reject: rej })),
    };
    let failures = 0;
    const tracker = new DurabilityTracker(engine, mtrLimits(engine), () => failures++);
    const write = (k: string): Promise<void> => setString(tracker, k);
    const a = write('a');
    tracker.flush();
    const b = write('b');
    tracker.flush();
    a.catch(() => {});
    b.catch(() => {});
    settle[1]!.resolve(); // b's own MTR first
    await new Promise((r) => setImmediate(r));
    const all = tracker.gateAll();
    const ofB = tracker.gate(['b']);
    expect(all).not.toBeNull();
    expect(ofB).not.toBeNull();
    settle[0]!.reject(new Error('QUORUM_UNAVAILABLE'));
    expect(await all!.then(() => 'ok', () => 'failed')).toBe('failed');
    expect(await ofB!.then(() => 'ok', () => 'failed')).toBe('failed');
    expect(failures).toBe(1);
  });
});

describe('the journal on the engine and the server', () => {
  const engine = { lsnAllocationLimit: 64 }; // MTRs of at most 64 records: 200 need several

  it("refuses engine limits below its own records' sizes (a failure could never be recovered from)", async () => {
    await expect(startServer(tempDir(), {}, { valueBytesMax: 7 })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/valueBytesMax.*at least 16/) });
    await expect(startServer(tempDir(), {}, { keyBytesMax: 16 })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/keyBytesMax.*at least 22/) });
  });

  it('DEL, RENAME and FLUSHALL of collections bigger than one MTR: replies, memory and the log agree', async () => {
    const dir = tempDir();
    const r = await startServer(dir, {}, engine);
    try {
      const c = await RawConn.connect(r.port);
      const fields = Array.from({ length: 200 }, (_, i) => [`f${i}`, `v${i}`]).flat();
      c.send(encodeCommand(['HSET', 'h', ...fields]));
      c.send(encodeCommand(['HSET', 'h2', ...fields]));
      c.send(encodeCommand(['RPUSH', 'l', ...Array.from({ length: 200 }, (_, i) => `e${i}`)]));
      expect(await c.read(3)).toBe(':200\r\n:200\r\n:200\r\n');
      c.send(encodeCommand(['RENAME', 'l', 'l2']));
      c.send(encodeCommand(['DEL', 'h']));
      c.send(encodeCommand(['SET', 'after', '1'])); // same turn: behind the journaled commands
      expect(await c.read(3)).toBe('+OK\r\n:1\r\n+OK\r\n');
      c.send(encodeCommand(['LLEN', 'l2']));
      expect(await c.read(1)).toBe(':200\r\n');
      c.send(encodeCommand(['INFO', 'persistence']));
      expect(await c.read(1)).toMatch(/auroral_journaled_commands:5\r\n/); // 200 records each: both HSETs, the RPUSH, the RENAME, the DEL
      c.close();
      const { before, after } = await keyspaceAcrossRestart(r);
      expect(after).toEqual(before);
      expect([...after.keys()].sort()).toEqual(['after', 'h2', 'l2']);
      const again = await startServer(dir, {}, engine);
      try {
        const d = await RawConn.connect(again.port);
        d.send(encodeCommand(['FLUSHALL']));
        d.send(encodeCommand(['SET', 'z', '1']));
        expect(await d.read(2)).toBe('+OK\r\n+OK\r\n');
        d.close();
        const x = await keyspaceAcrossRestart(again);
        expect([...x.after.keys()]).toEqual(['z']);
      } finally {
        await again.close();
      }
    } finally {
      await r.close();
    }
  });

  // A crash in the middle of a journaled command, on the real engine: the journal's MTRs up to
  // a point are durable, the rest never sent. The server's load finishes or drops the command.
  for (const cut of ['before the commit', 'after the commit and one applied MTR'] as const) {
    it(`a server started on a log cut ${cut} serves the command whole or not at all`, async () => {
      const dir = tempDir();
      const r = await startServer(dir, {}, engine);
      const c = await RawConn.connect(r.port);
      c.send(encodeCommand(['HSET', 'h', ...Array.from({ length: 200 }, (_, i) => [`f${i}`, 'v']).flat()]));
      c.send(encodeCommand(['SET', 's', 'old']));
      expect(await c.read(2)).toBe(':200\r\n+OK\r\n');
      c.close();
      await r.close();

      const db = await open(smallOptions(dir, engine));
      try {
        const ops: BatchOp[] = Array.from({ length: 200 }, (_, i) => ({ type: 'del' as const, key: akey(Tag.HASH, Buffer.from('h'), Buffer.from(`f${i}`)) }));
        ops.push({ type: 'put', key: akey(Tag.STRING, Buffer.from('s')), value: Buffer.from('new') });
        const sent: Promise<unknown>[] = [];
        let committedAt = -1;
        let calls = 0;
        const crashing = {
          batch(part: readonly BatchOp[]): Promise<unknown> {
            const n = calls++;
            const k = Buffer.from(part[0]!.key as Uint8Array);
            if (k[0] === 0 && k[1] === 2 && committedAt < 0) committedAt = n;
            const passes = cut === 'before the commit' ? committedAt < 0 : committedAt < 0 || n <= committedAt + 1;
            if (!passes) return new Promise(() => {}); // never sent: the process died
            const p = db.batch(part);
            sent.push(p);
            return p;
          },
        };
        void writeJournaled(crashing, ops, mtrLimits(db), 1);
        await waitFor(() => calls > (cut === 'before the commit' ? 1 : committedAt + 2), 10_000);
        await Promise.all(sent);
        expect(committedAt).toBeGreaterThan(0); // reached (sent or not) after the chunks
      } finally {
        await db.close();
      }

      const logged: string[] = [];
      const back = await startServer(dir, { log: (m: string) => logged.push(m) }, engine);
      try {
        const d = await RawConn.connect(back.port);
        d.send(encodeCommand(['HLEN', 'h']));
        d.send(encodeCommand(['GET', 's']));
        if (cut === 'before the commit') {
          expect(await d.read(2)).toBe(':200\r\n$3\r\nold\r\n');
          expect(logged.join('\n')).toMatch(/dropped 1 uncommitted/);
        } else {
          expect(await d.read(2)).toBe(':0\r\n$3\r\nnew\r\n');
          expect(logged.join('\n')).toMatch(/finished 1 committed/);
        }
        d.close();
        let journalLeft = 0;
        for await (const e of back.db.scan()) if (e.key[0] === 0 && (e.key[1] === 1 || e.key[1] === 2)) journalLeft++;
        expect(journalLeft).toBe(0);
      } finally {
        await back.close();
      }
    });
  }
});
