// Goal: the writer's page cache never exceeds its byte budget and never lets a read's fill
// overwrite a newer write. Method: drive PageCache directly.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PageCache } from '../src/writer/page-cache.js';

describe('page cache', () => {
  it('drops the entries above a new writer\'s VDL, and walks its slots only when a write went above it', () => {
    const c = new PageCache(64 * 1024, 8);
    for (let lsn = 1; lsn <= 100; lsn++) c.applyWrite(lsn & 7, `k${lsn}`, lsn, new Uint8Array(10));
    c.fill(0, 'filled', 50, new Uint8Array(3), c.writeStamp(0));
    expect(c.dropAbove(100)).toBe(0); // every write became durable
    expect(c.dropWalks).toBe(0);
    expect(c.dropAbove(90)).toBe(10); // writes 91..100 never became durable
    expect(c.dropWalks).toBe(1);
    expect(c.lookup(0, 'k90', 1000)?.lsn).toBe(90);
    expect(c.lookup(0, 'k91', 1000)).toBeUndefined();
    expect(c.lookup(0, 'filled', 1000)?.lsn).toBe(50);
    expect(c.dropAbove(90)).toBe(0);
    expect(c.dropWalks).toBe(1); // nothing above 90 since the walk
    // Another writer's handle on the same buffer sees the same bound.
    const other = new PageCache(0, 0, c.sab!);
    other.applyWrite(1, 'k200', 200, new Uint8Array(1));
    expect(c.dropAbove(150)).toBe(1);
    expect(c.lookup(1, 'k200', 1000)).toBeUndefined();
  });

  it('stays within cacheBytesMax and counts exactly the bytes of the entries it holds', () => {
    // Method: random writes; afterwards the byte counter must equal the sum of the record sizes
    // (16-byte header + key + value, 8-aligned) of exactly the keys a lookup still finds, stay
    // within the budget, and the key written last must be found (write-allocate).
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 3000 })), { minLength: 1 }), (ops) => {
      const c = new PageCache(32 * 1024, 64);
      const sizes = new Map<string, number>();
      let lsn = 1;
      for (const [page, key, size] of ops) {
        c.applyWrite(page, `k${key}`, lsn++, new Uint8Array(size));
        sizes.set(`k${key}`, size);
      }
      let held = 0;
      for (const [key, size] of sizes) if (c.lookup(0, key, lsn) !== undefined) held += Math.ceil((16 + key.length + size) / 8) * 8;
      expect(c.stats.bytes).toBe(held);
      expect(c.stats.bytes).toBeLessThanOrEqual(32 * 1024);
      const [, lastKey, lastSize] = ops[ops.length - 1]!;
      expect(c.lookup(0, `k${lastKey}`, lsn)?.value?.length).toBe(lastSize);
    }), { numRuns: 200 });
  });

  it('returns only the newest version of a key, or nothing, under any sequence of writes (model check)', () => {
    // Method: after each write, the key just written must be found with exactly that version
    // (nothing evicts the newest record), hidden below its LSN, and a random probe must be the
    // model's newest version or a miss; a key never written must miss.
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2000 }), fc.boolean()), { minLength: 1 }), (ops) => {
      const c = new PageCache(16 * 1024, 8);
      const model = new Map<string, { lsn: number; value: number[] | null }>();
      let lsn = 1;
      for (const [key, size, del] of ops) {
        const value = del ? null : Array.from({ length: size }, (_, i) => (lsn + i) & 0xff);
        c.applyWrite(key & 7, `k${key}`, lsn, value === null ? null : Uint8Array.from(value));
        model.set(`k${key}`, { lsn, value });
        const own = c.lookup(key & 7, `k${key}`, lsn);
        expect(own).toBeDefined();
        expect(own!.lsn).toBe(lsn);
        expect(own!.value === null ? null : Array.from(own!.value)).toEqual(value);
        expect(c.lookup(key & 7, `k${key}`, lsn - 1)).toBeUndefined();
        lsn++;
        const probe = `k${ops[lsn % ops.length]![0]}`;
        const got = c.lookup(0, probe, lsn);
        const want = model.get(probe);
        if (got !== undefined) {
          expect(got.lsn).toBe(want!.lsn);
          expect(got.value === null ? null : Array.from(got.value)).toEqual(want!.value);
        }
        expect(c.lookup(0, 'never-written', lsn)).toBeUndefined();
      }
    }), { numRuns: 200 });
  });

  it('lives in a SharedArrayBuffer: a second view of the same buffer finds the entries', () => {
    const c = new PageCache(1 << 20, 16);
    c.applyWrite(2, 'k', 7, new Uint8Array([9, 8]));
    const again = new PageCache(0, 0, c.sab!);
    expect(Array.from(again.lookup(2, 'k', 7)!.value!)).toEqual([9, 8]);
    expect(again.writeStamp(2)).toBe(1);
    again.owner = 5;
    expect(c.owner).toBe(5);
  });

  it('drops a fill if a write reached the page while the read was in flight', () => {
    const c = new PageCache(1 << 20, 16);
    const stamp = c.writeStamp(3);
    c.applyWrite(3, 'k', 10, new Uint8Array([2]));
    c.fill(3, 'k', 5, new Uint8Array([1]), stamp); // older answer from a node
    expect(Array.from(c.lookup(3, 'k', 10)!.value!)).toEqual([2]);
    expect(c.stats.fillsDropped).toBe(1);
  });

  it('hides an entry newer than the read point', () => {
    const c = new PageCache(1 << 20, 16);
    c.applyWrite(1, 'k', 10, new Uint8Array([1]));
    expect(c.lookup(1, 'k', 9)).toBeUndefined();
    expect(c.lookup(1, 'k', 10)).toBeDefined();
  });
});
