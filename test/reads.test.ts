// Goal: reads at read points are correct through the writer's cache, snapshots and node failures.
// Method: real volumes with a tiny cache (to force eviction), snapshots held while writes go on,
// and read faults (a node that silently drops reads) to exercise retries.
import { describe, expect, it } from 'vitest';
import { open, type Database } from '../src/index.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';

async function withDb<T>(extra: object, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await open(smallOptions(tempDir(), extra));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

describe('reads', () => {
  it('an idle node publishes the reads it served (its stats do not wait for its next frame)', async () => {
    const db = await open(smallOptions(tempDir(), { cacheBytesMax: 0 }));
    try {
      for (let i = 0; i < 20; i++) await db.put(`k${i}`, `v${i}`);
      await new Promise((r) => setTimeout(r, 300)); // every node quiet: its backlog indexed, nothing to do
      const reads = () => db.stats().nodes.reduce((n, s) => n + s.reads, 0);
      const before = reads();
      for (let i = 0; i < 20; i++) expect(text(await db.get(`k${i}`))).toBe(`v${i}`);
      expect(await waitFor(() => reads() >= before + 20, 3_000)).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('reads its own writes through cache eviction', () => withDb({ cacheBytesMax: 64 * 1024, pageCount: 64 }, async (db) => {
    const N = 3000;
    await Promise.all(Array.from({ length: N }, (_, i) => db.put(`k${i}`, `value-${i}-${'x'.repeat(40)}`)));
    for (let round = 0; round < 2; round++) {
      const got = await Promise.all(Array.from({ length: N }, (_, i) => db.get(`k${i}`)));
      got.forEach((v, i) => expect(text(v)).toBe(`value-${i}-${'x'.repeat(40)}`));
    }
    const c = db.stats().cache;
    expect(c.evictedEntries + c.evictedPages).toBeGreaterThan(0); // the cache really was too small
    expect(c.hits).toBeGreaterThan(0);
    expect(c.misses).toBeGreaterThan(0);
    expect(c.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(db.stats().reads.nodeReads).toBeGreaterThan(0);
  }));

  it('serves repeated reads from the cache and overwrites update it', () => withDb({}, async (db) => {
    await db.put('hot', 'v1');
    expect(text(await db.get('hot'))).toBe('v1');
    const before = db.stats().cache.hits;
    for (let i = 0; i < 100; i++) expect(text(await db.get('hot'))).toBe('v1');
    expect(db.stats().cache.hits - before).toBe(100);
    await db.put('hot', 'v2');
    expect(text(await db.get('hot'))).toBe('v2');
    await db.delete('hot');
    expect(await db.get('hot')).toBeUndefined();
    expect(await db.get('never-written')).toBeUndefined();
    // A returned value is a copy: mutating it does not change what the next read sees.
    await db.put('bytes', new Uint8Array([1, 2, 3]));
    const v = (await db.get('bytes'))!;
    v[0] = 99;
    expect(Array.from((await db.get('bytes'))!)).toEqual([1, 2, 3]);
    // Also for string values (held as Buffers, whose .slice() is a view) and Buffer inputs.
    await db.put('str', 'abc');
    (await db.get('str'))![0] = 0x7a;
    expect(text(await db.get('str'))).toBe('abc');
    const input = Buffer.from('xyz');
    await db.put('buf', input);
    input[0] = 0x41;
    expect(text(await db.get('buf'))).toBe('xyz');
  }));

  it('keeps a snapshot consistent at its read point while writes continue', () => withDb({ cacheBytesMax: 0 }, async (db) => {
    await Promise.all(Array.from({ length: 100 }, (_, i) => db.put(`s${i}`, 'old')));
    await db.put('only-later-absent', 'x');
    await db.delete('only-later-absent');
    const snap = db.snapshot();
    const writes = (async () => {
      for (let r = 0; r < 5; r++) await Promise.all(Array.from({ length: 100 }, (_, i) => db.put(`s${i}`, `new${r}`)));
      await db.put('born-later', 'y');
    })();
    for (let r = 0; r < 3; r++) {
      const got = await Promise.all(Array.from({ length: 100 }, (_, i) => snap.get(`s${i}`)));
      expect(got.map(text).every((v) => v === 'old')).toBe(true);
    }
    await writes;
    expect(text(await snap.get('s7'))).toBe('old');
    expect(await snap.get('born-later')).toBeUndefined();
    expect(await snap.get('only-later-absent')).toBeUndefined();
    expect(text(await db.get('s7'))).toBe('new4');
    expect(text(await db.get('born-later'))).toBe('y');
    snap.release();
    snap.release(); // idempotent
    await expect(snap.get('s7')).rejects.toMatchObject({ code: 'SNAPSHOT_RELEASED' });
  }));

  it('snapshot reads are correct with the cache on, including keys written after it', () => withDb({}, async (db) => {
    await db.put('a', '1');
    expect(text(await db.get('a'))).toBe('1'); // cached at its LSN
    const snap = db.snapshot();
    await db.put('a', '2'); // newer than the snapshot: the cache entry must not be used for it
    expect(text(await snap.get('a'))).toBe('1');
    expect(text(await db.get('a'))).toBe('2');
    snap.release();
  }));

  it('retries a read on another node when a node silently drops it', () => withDb({ readTimeoutMs: 100, cacheBytesMax: 0 }, async (db) => {
    await db.put('k', 'v');
    for (let i = 0; i < 6; i++) if (i !== 3) db.faults.muteNode(i);
    expect(text(await db.get('k'))).toBe('v');
    const s = db.stats();
    expect(s.reads.retries).toBeGreaterThan(0);
    expect(s.reads.perNode[3]).toBeGreaterThan(0);
    for (let i = 0; i < 6; i++) db.faults.muteNode(i, false);
  }));

  it('prefers the node with the lowest observed read latency', () => withDb({ cacheBytesMax: 0 }, async (db) => {
    await db.put('k', 'v');
    for (let r = 0; r < 200; r++) await db.get('k');
    const s = db.stats().reads;
    const sorted = [...s.perNode].sort((a, b) => b - a);
    // Latency-based choice concentrates reads (round-robin would give ~33 each).
    expect(sorted[0]).toBeGreaterThan(200 / 6 * 1.5);
    expect(s.latencyMicros.filter((x) => x > 0).length).toBeGreaterThan(1); // exploration measured others
  }));

  it('never returns a value a crash could lose: a read of a pending write waits, in a transaction too', () => withDb({}, async (db) => {
    await db.put('t', 'durable');
    for (const i of [0, 1, 2]) db.faults.pauseNode(i);
    const put = db.put('t', 'pending');
    let seen: string | undefined | null = null;
    const tx = db.transaction(async (t) => { seen = text(await t.get('t')); });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toBeNull();
    for (const i of [0, 1, 2]) db.faults.resumeNode(i);
    await put;
    await tx;
    expect(seen).toBe('pending');
  }));

  it('closes promptly while a read waits for a write that can no longer become durable', async () => {
    const db = await open(smallOptions(tempDir(), { commitTimeoutMs: 200 }));
    for (const i of [0, 1, 2]) db.faults.pauseNode(i); // quorum gone for good
    const put = db.put('k', 'never').catch((e: { code: string }) => e.code);
    const get = db.get('k').catch((e: { code: string }) => e.code);
    expect(await put).toBe('QUORUM_UNAVAILABLE');
    const t0 = Date.now();
    await db.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(['QUORUM_UNAVAILABLE', 'CLOSED']).toContain(await get);
  });
});
