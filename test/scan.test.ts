// Goal: a scan returns every live key with its value as of its read point, each exactly once, and
// never a byte a node cannot vouch for: not above VDL, not deleted, not corrupt; it completes while
// nodes fail under it, survives a restart, and never leaves its snapshot held.
// Method: the chunk codec round-trips random entries (fast-check); NodeCore.scanPage pages a page
// through a cursor with a tiny byte limit; real volumes compared with a model map after puts,
// overwrites and deletes, with snapshots held while writes go on, nodes crashed, paused and muted
// mid-scan, a flipped bit in one node's copy of a value, and a close and reopen.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { open, type Database, type ScanEntry } from '../src/index.js';
import { decodeFrame } from '../src/log/frame.js';
import { MemBlockStorage } from '../src/node/blocks.js';
import { NodeCore } from '../src/node/core.js';
import { MemHotLog } from '../src/node/hotlog.js';
import { decodeScanChunk, encodeScanChunk } from '../src/node/scan-chunk.js';
import { ctl } from '../src/shared/control.js';
import { buildFrame } from './frame-builder.js';
import { smallOptions, tempDir, text, waitFor, withDb } from './helpers.js';

const str = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Everything an iteration yields, keyed by latin1 key; a key seen twice fails the test. */
async function collect(it: AsyncIterable<ScanEntry>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of it) {
    const k = str(e.key);
    expect(out.has(k), `key ${JSON.stringify(k)} returned twice`).toBe(false);
    out.set(k, str(e.value));
  }
  return out;
}

const sorted = (m: Map<string, string>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** PGMRPL as published to the nodes: equal to VDL when no read point is held. */
const readPointMin = (db: Database): number => db.writerLink.control.load64(ctl.readPointMin);

/** A deterministic workload: puts, overwrites and deletes over `keys` keys; returns the model. */
async function churn(db: Database, keys: number, ops: number, valueBytes = 24, seed = 7): Promise<Map<string, string>> {
  let s = seed;
  const rnd = (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 16) % n; // the high bits: an LCG's low bits repeat with a short period
  };
  const model = new Map<string, string>();
  for (let round = 0; round < ops / 100; round++) {
    const batch = new Map<string, string | null>();
    for (let i = 0; i < 100; i++) {
      const k = `key:${rnd(keys)}`;
      batch.set(k, rnd(4) === 0 ? null : `${round}.${i}:`.padEnd(valueBytes, String.fromCharCode(97 + rnd(26))));
    }
    await Promise.all([...batch].map(([k, v]) => (v === null ? db.delete(k) : db.put(k, v))));
    for (const [k, v] of batch) {
      if (v === null) model.delete(k);
      else model.set(k, v);
    }
  }
  return model;
}

describe('scan chunk codec', () => {
  it('round-trips any entries, each key and value a private copy', () => {
    const entry = fc.record({ key: fc.uint8Array({ minLength: 1, maxLength: 300 }), value: fc.uint8Array({ maxLength: 2000 }) });
    fc.assert(fc.property(fc.array(entry, { maxLength: 30 }), (entries) => {
      const chunk = encodeScanChunk(entries);
      const back = decodeScanChunk(chunk);
      expect(back.map((e) => [Array.from(e.key), Array.from(e.value)])).toEqual(entries.map((e) => [Array.from(e.key), Array.from(e.value)]));
      for (const e of back) expect(e.key.buffer).not.toBe(chunk.buffer);
    }));
  });

  it('refuses a truncated chunk', () => {
    const chunk = encodeScanChunk([{ key: new Uint8Array([1, 2]), value: new Uint8Array([3, 4, 5]) }]);
    expect(() => decodeScanChunk(chunk.subarray(0, chunk.length - 1))).toThrow(/overruns/);
    expect(() => decodeScanChunk(chunk.subarray(0, 3))).toThrow(/truncated/);
  });
});

describe('node page scan', () => {
  it('pages through a page by cursor, skips deleted keys and later versions, and refuses read points it has not reached', () => {
    const n = new NodeCore({ nodeId: 0, pageCount: 4, payloadBytesMax: 1 << 20 }, new MemHotLog(1 << 20), new MemBlockStorage(), { nowMicros: () => 0 });
    n.recoverScan();
    n.recoverTo(0, 1, null);
    const first = Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: `v${i}-${'x'.repeat(i % 7)}` }));
    const second = [{ key: 'k1', value: 'new' }, { key: 'k2', value: null }, { key: 'born', value: 'late' }];
    const frames = [buildFrame(first, 1, 0, 1, 1), buildFrame(second, 61, 60, 1, 2)].map((bytes) => ({ bytes, header: decodeFrame(bytes) }));
    expect(n.receive(frames)).toBe(2);
    n.afterAck(0);
    const scanAll = (readPoint: number, prefix = '') => {
      const got = new Map<string, string>();
      let chunks = 0;
      for (let page = 0; page < 4; page++) {
        let after: Uint8Array | null = null;
        do {
          const r = n.scanPage(page, readPoint, new TextEncoder().encode(prefix), after, 40);
          if (r.status !== 'ok') throw new Error(r.status);
          chunks++;
          for (const e of decodeScanChunk(r.chunk)) {
            expect(got.has(str(e.key))).toBe(false);
            got.set(str(e.key), str(e.value));
          }
          after = r.after;
        } while (after !== null);
      }
      return { got, chunks };
    };
    const at60 = scanAll(60);
    expect(sorted(at60.got)).toEqual(sorted(new Map(first.map((r) => [r.key, r.value]))));
    expect(at60.chunks).toBeGreaterThan(10); // 40-byte chunks: one or two entries each
    const at63 = scanAll(63).got;
    expect(at63.get('k1')).toBe('new');
    expect(at63.has('k2')).toBe(false);
    expect(at63.get('born')).toBe('late');
    expect(at63.size).toBe(60);
    expect(sorted(scanAll(63, 'k1').got).map(([k]) => k)).toEqual(['k1', ...Array.from({ length: 10 }, (_, i) => `k1${i}`)].sort());
    expect(n.scanPage(0, 64, new Uint8Array(0), null, 1 << 20)).toEqual({ status: 'behind', scl: 63 });
  });
});

describe('scan', () => {
  it('returns exactly the live keys after puts, overwrites and deletes', () => withDb(async (db) => {
    const model = await churn(db, 400, 2000);
    expect(model.size).toBeGreaterThan(100);
    await db.put(new Uint8Array([0, 255, 1]), new Uint8Array([7, 0, 7])); // binary-safe
    await db.put('empty-value', '');
    model.set(str(new Uint8Array([0, 255, 1])), str(new Uint8Array([7, 0, 7])));
    model.set('empty-value', '');
    expect(sorted(await collect(db.scan()))).toEqual(sorted(model));
  }, { pageCount: 64 }));

  it('filters by prefix, as a string or as bytes', () => withDb(async (db) => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => [db.put(`user:${i}`, `u${i}`), db.put(`order:${i}`, `o${i}`), db.put(`use${i}`, 'x')]).flat());
    await db.delete('user:7');
    const users = await collect(db.scan({ prefix: 'user:' }));
    expect(users.size).toBe(49);
    expect([...users.keys()].every((k) => k.startsWith('user:'))).toBe(true);
    expect(users.get('user:3')).toBe('u3');
    expect((await collect(db.scan({ prefix: Buffer.from('order:4') }))).size).toBe(11); // order:4, order:40..49
    expect((await collect(db.scan({ prefix: 'nothing' }))).size).toBe(0);
    expect((await collect(db.scan({ prefix: '' }))).size).toBe(149);
    expect(() => db.scan({ prefix: 5 } as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => db.scan({ prefx: 'a' } as never)).toThrow(/options.prefx/);
    expect(() => db.scan({ prefix: 'x'.repeat(2000) })).toThrow(/keyBytesMax/);
  }, { pageCount: 16 }));

  it('sees a snapshot as of its read point while writes go on, never keys written or deleted after it', () => withDb(async (db) => {
    const before = await churn(db, 200, 500);
    const snap = db.snapshot();
    try {
      const writes = (async () => {
        for (let r = 0; r < 3; r++) await Promise.all(Array.from({ length: 100 }, (_, i) => db.put(`key:${i}`, `after-${r}`)));
        await Promise.all(Array.from({ length: 50 }, (_, i) => db.put(`born:${i}`, 'later')));
        await Promise.all([...before.keys()].slice(0, 30).map((k) => db.delete(k)));
      })();
      const during = await collect(snap.scan());
      await writes;
      const after = await collect(snap.scan());
      expect(sorted(during)).toEqual(sorted(before));
      expect(sorted(after)).toEqual(sorted(before));
      const now = await collect(db.scan());
      expect(now.get('key:5')).toBe('after-2');
      expect(now.get('born:3')).toBe('later');
      expect(now.has([...before.keys()][0]!)).toBe(false);
    } finally {
      snap.release();
    }
    await expect(snap.scan().next()).rejects.toMatchObject({ code: 'SNAPSHOT_RELEASED' });
  }, { pageCount: 32 }));

  it('returns everything acknowledged after a close and reopen', async () => {
    const dir = tempDir();
    let model: Map<string, string>;
    const db = await open(smallOptions(dir, { pageCount: 32 }));
    try {
      model = await churn(db, 300, 1000);
    } finally {
      await db.close();
    }
    const again = await open(smallOptions(dir, { pageCount: 32 }));
    try {
      expect(sorted(await collect(again.scan()))).toEqual(sorted(model));
    } finally {
      await again.close();
    }
  });

  it('continues a page larger than one chunk, and completes when nodes crash, pause or go mute under it', () => withDb(async (db) => {
    // Two pages of ~600 KiB each: about three chunks per page, so the faults land inside a page.
    const model = new Map<string, string>();
    for (let b = 0; b < 8; b++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => {
        const k = `big:${b * 10 + i}`;
        const v = `${k}:`.padEnd(15_000, 'v');
        model.set(k, v);
        return db.put(k, v);
      }));
    }
    const served = () => db.stats().reads.perNode;
    const got = new Map<string, string>();
    let faults = 0;
    const it = db.scan();
    for await (const e of it) {
      got.set(str(e.key), str(e.value));
      // After each chunk boundary, take away the node that served most: crash, then pause, then mute.
      if (got.size % 17 === 0 && faults < 3) {
        const per = served();
        const busiest = per.indexOf(Math.max(...per));
        if (faults === 0) await db.faults.crashNode(busiest);
        else if (faults === 1) db.faults.pauseNode(busiest);
        else db.faults.muteNode(busiest);
        faults++;
      }
    }
    expect(faults).toBe(3);
    expect(sorted(got)).toEqual(sorted(model));
    expect(db.stats().reads.nodeReads).toBeGreaterThanOrEqual(6); // several chunks per page
  }, { pageCount: 2, readTimeoutMs: 200, cacheBytesMax: 0 }));

  it('releases its snapshot when left early, on error, and holds none before it starts', () => withDb(async (db) => {
    await churn(db, 100, 300);
    const unstarted = db.scan();
    for await (const _ of db.scan()) break;
    await db.put('x', '1');
    expect(readPointMin(db)).toBe(db.vdl);
    // An error mid-scan: every node paused, so no node can answer a chunk.
    for (let i = 0; i < 6; i++) db.faults.pauseNode(i);
    await expect(collect(db.scan())).rejects.toMatchObject({ code: 'READ_UNAVAILABLE' });
    for (let i = 0; i < 6; i++) db.faults.resumeNode(i);
    await db.put('y', '2');
    expect(readPointMin(db)).toBe(db.vdl);
    await unstarted.return();
    expect(readPointMin(db)).toBe(db.vdl);
  }, { pageCount: 16 }));

  it('never serves a corrupt value: the damaged node refuses it and a healthy one serves it', () => withDb(async (db) => {
    // The first put is alone in the first frame: record at 64, key (4 bytes) at 96, value at 100.
    await db.put('k000', 'v'.repeat(64));
    await Promise.all(Array.from({ length: 99 }, (_, i) => db.put(`k${String(i + 1).padStart(3, '0')}`, 'v'.repeat(64))));
    // Every node has written every acknowledged frame before node 3's byte is damaged: node 3 may
    // have been one of the two the quorum did not wait for (its later append would overwrite the
    // damage), and so may node 5, the healthy node the second scan needs (paused while behind, it
    // is not eligible at the read point and the scan fails for want of a caught-up node).
    expect(await waitFor(() => db.stats().nodes.every((n) => n.scl >= db.vdl), 15_000)).toBe(true);
    db.faults.corruptByte(3, undefined, 100 + 10);
    // Only node 3 answers: the scan fails rather than return the damaged bytes.
    for (const i of [0, 1, 2, 4, 5]) db.faults.pauseNode(i);
    await expect(collect(db.scan())).rejects.toMatchObject({ code: 'READ_UNAVAILABLE' });
    expect(await waitFor(() => db.stats().nodes[3]!.readsCorrupt >= 1, 15_000)).toBe(true); // published after the answer
    // With a healthy node back, every value is right, whichever node serves it.
    db.faults.resumeNode(5);
    const got = await collect(db.scan());
    expect(got.size).toBe(100);
    expect([...got.values()].every((v) => v === 'v'.repeat(64))).toBe(true);
    expect(text(await db.get('k000'))).toBe('v'.repeat(64));
    for (const i of [0, 1, 2, 4]) db.faults.resumeNode(i);
  }, { pageCount: 8, cacheBytesMax: 0 }));
});
