// Goal: the writer's page cache never exceeds its byte budget and never lets a read's fill
// overwrite a newer write. Method: drive PageCache directly.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PageCache } from '../src/writer/page-cache.js';

describe('page cache', () => {
  it('stays within cacheBytesMax under any sequence of writes and fills', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 3000 }))), (ops) => {
      const c = new PageCache(32 * 1024, 64);
      let lsn = 1;
      for (const [page, key, size] of ops) c.applyWrite(page, `k${key}`, lsn++, new Uint8Array(size));
      expect(c.stats.bytes).toBeLessThanOrEqual(32 * 1024);
      expect(c.stats.bytes).toBeGreaterThanOrEqual(0);
    }), { numRuns: 200 });
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
