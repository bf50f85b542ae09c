// The node's key index (src/node/key-index.ts) against a plain Map model: lookups at any read
// point, and the page walk that coalescing writes images from (every key of the page exactly
// once, with its newest version at or below the cycle's LSN), across bucket-table growth.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeyIndex, keyHash } from '../src/node/key-index.js';
import { pageIdOf } from '../src/log/record.js';

describe('KeyIndex', () => {
  it('walks each page\'s keys exactly once and looks up the right version, across growth', () => {
    fc.assert(fc.property(
      fc.constantFrom(1, 2, 16, 1024, 4096),
      fc.array(fc.integer({ min: 0, max: 6000 }), { minLength: 1, maxLength: 9000 }),
      (pageCount, writes) => {
        const index = new KeyIndex(Math.max(12, Math.log2(pageCount)));
        const model = new Map<string, { lsn: number; pos: number }[]>();
        let lsn = 0;
        for (const k of writes) {
          const key = new TextEncoder().encode(`key-${k}`);
          lsn++;
          index.insert(keyHash(key), key, 0, key.length, lsn, 1, lsn * 10, 5, 0);
          const versions = model.get(`key-${k}`) ?? [];
          versions.push({ lsn, pos: lsn * 10 });
          model.set(`key-${k}`, versions);
        }
        expect(index.keys).toBe(model.size);
        // Read points: the end, and a point in the middle (no read point pins older versions
        // here, so only the newest survives pruning; the middle shows what a walk skips).
        const seen = new Map<string, number>();
        for (let p = 0; p < pageCount; p++) {
          index.forEachKeyInPage(p, pageCount, lsn, (_slot, key, vLsn, _seq, position) => {
            const name = Buffer.from(key).toString();
            expect(pageIdOf(key, pageCount)).toBe(p);
            expect(seen.has(name)).toBe(false);
            seen.set(name, vLsn);
            expect(position).toBe(vLsn * 10);
          });
        }
        expect(seen.size).toBe(model.size);
        for (const [name, versions] of model) {
          const newest = versions[versions.length - 1]!;
          expect(seen.get(name)).toBe(newest.lsn);
          const key = new TextEncoder().encode(name);
          expect(index.lookup(keyHash(key), key, lsn)?.lsn).toBe(newest.lsn);
        }
      }), { numRuns: 25 });
  });
});
