// Goal: a corrupt or malformed frame never decodes into records.
// Method: round-trip random frames (fast-check); flip every single bit and try every truncation
// of a frame and require a CORRUPT_FRAME rejection each time.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkFrame, decodeFrame, forEachRecord, FrameFault } from '../src/log/frame.js';
import { Op } from '../src/log/record.js';
import { isAuroralError } from '../src/errors.js';
import { buildFrame } from './frame-builder.js';

describe('frame codec', () => {
  it('round-trips random records', () => {
    const rec = fc.record({ key: fc.string({ minLength: 1, maxLength: 40 }), value: fc.option(fc.string({ maxLength: 200 }), { nil: null }) });
    fc.assert(fc.property(fc.array(rec, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 2 ** 40 }), (records, lsnFirst) => {
      const bytes = buildFrame(records, lsnFirst, lsnFirst - 1, 7, 3);
      const h = decodeFrame(bytes);
      expect(h).toMatchObject({ recordCount: records.length, epoch: 7, batchSeq: 3, lsnFirst, lsnLast: lsnFirst + records.length - 1, lsnPrev: lsnFirst - 1 });
      const out: { key: string; value: string | null; op: number }[] = [];
      forEachRecord(bytes, new DataView(bytes.buffer), 0, h, (r) => out.push({
        key: Buffer.from(r.key).toString(), value: r.value === null ? null : Buffer.from(r.value).toString(), op: r.op,
      }));
      expect(out.map((o) => ({ key: o.key, value: o.value }))).toEqual(records);
      expect(out.every((o) => o.op === (o.value === null ? Op.DELETE : Op.PUT))).toBe(true);
    }), { numRuns: 200 });
  });

  it('rejects every single-bit flip of a frame', () => {
    const bytes = buildFrame([{ key: 'alpha', value: 'one' }, { key: 'beta', value: null }, { key: 'gamma', value: 'three!' }], 100, 99);
    let rejected = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (let b = 0; b < 8; b++) {
        const copy = bytes.slice();
        copy[i] = copy[i]! ^ (1 << b);
        try {
          decodeFrame(copy);
        } catch (e) {
          if (isAuroralError(e, 'CORRUPT_FRAME')) rejected++;
        }
      }
    }
    expect(rejected).toBe(bytes.length * 8);
  });

  it('rejects every truncation of a frame', () => {
    const bytes = buildFrame([{ key: 'k1', value: 'v'.repeat(50) }, { key: 'k2', value: 'w' }], 5, 4);
    for (let n = 0; n < bytes.length; n++) {
      expect(() => decodeFrame(bytes.subarray(0, n))).toThrow(/CORRUPT_FRAME/);
    }
    expect(decodeFrame(bytes).recordCount).toBe(2);
  });

  it('tells zeroed space from a damaged header', () => {
    const zeros = new Uint8Array(128);
    const c = checkFrame(zeros, new DataView(zeros.buffer), 0, 128, 1 << 20);
    expect(c.ok === false && c.fault).toBe(FrameFault.ZERO);
  });
});
