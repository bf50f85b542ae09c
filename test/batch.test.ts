// Goal: db.batch(ops) (the level / lmdb-js convention) commits its operations as one MTR: all of
// it durable and visible at once, last operation per key wins, a bad operation rejects the whole
// batch with a typed error naming it and writes nothing, and the MTR limits apply.
// Method: real volumes in temp dirs; reopen with the page cache off so reads come from the nodes.
import { describe, expect, it } from 'vitest';
import { open } from '../src/index.js';
import { smallOptions, tempDir, text, withDb } from './helpers.js';

describe('db.batch', () => {
  it('commits puts and deletes as one MTR, the last operation per key winning, and keeps them across reopen', async () => {
    const dir = tempDir();
    let db = await open(smallOptions(dir));
    try {
      await db.put('gone', 'x');
      const records = db.stats().groupCommit.records;
      const cpl = await db.batch([
        { type: 'put', key: 'a', value: '1' },
        { type: 'put', key: Buffer.from('b'), value: new Uint8Array([50]) },
        { type: 'del', key: 'gone' },
        { type: 'put', key: 'a', value: '3' }, // same key again: the last one counts
      ]);
      expect(cpl).toBeGreaterThan(0);
      expect(db.vdl).toBeGreaterThanOrEqual(cpl);
      expect(db.stats().groupCommit.records - records).toBe(3); // one record per key
      expect([text(await db.get('a')), text(await db.get('b')), await db.get('gone')]).toEqual(['3', '2', undefined]);
    } finally {
      await db.close();
    }
    db = await open(smallOptions(dir, { cacheBytesMax: 0 }));
    try {
      expect([text(await db.get('a')), text(await db.get('b')), await db.get('gone')]).toEqual(['3', '2', undefined]);
    } finally {
      await db.close();
    }
  });

  it('rejects a batch with a bad operation as a whole (INVALID_ARGUMENT naming it) and writes nothing', () => withDb(async (db) => {
    const bad = [
      { type: 'put', key: 'k1', value: 'v' },
      { type: 'merge', key: 'k2', value: 'v' },
    ] as never;
    await expect(db.batch(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('ops[1].type') });
    await expect(db.batch([{ type: 'put', key: 'k1' }] as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('ops[0].value') });
    await expect(db.batch('nope' as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(db.batch([{ type: 'put', key: '', value: 'v' }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await db.get('k1')).toBeUndefined();
    expect(await db.batch([])).toBe(db.vdl); // nothing to write: at once
  }));

  it('applies the MTR limits: more records than lsnAllocationLimit or more bytes than mtrBytesMax are refused at once', () => withDb(async (db) => {
    const many = Array.from({ length: 17 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: 'v' }));
    await expect(db.batch(many)).rejects.toMatchObject({ code: 'TRANSACTION_TOO_LARGE' });
    const big = Array.from({ length: 8 }, (_, i) => ({ type: 'put' as const, key: `b${i}`, value: 'x'.repeat(12 << 10) }));
    await expect(db.batch(big)).rejects.toMatchObject({ code: 'TRANSACTION_TOO_LARGE' });
    await db.batch(many.slice(0, 16));
    expect(text(await db.get('k15'))).toBe('v');
  }, { lsnAllocationLimit: 16 }));
});
