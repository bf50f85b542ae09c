// Goal: the commit pipeline's deque behaves as a FIFO with peeks at both ends under any sequence
// of pushes and shifts, across growth while its ring has wrapped, and refuses to pass its bound.
// Method: fast-check against an array model.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GrowingDeque } from '../src/shared/growing-deque.js';

describe('GrowingDeque', () => {
  it('matches an array model under any sequence of pushes and shifts', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 1000 })), { maxLength: 2000 }), fc.integer({ min: 1, max: 700 }), (ops, max) => {
      const d = new GrowingDeque<number>(max);
      const model: number[] = [];
      for (const op of ops) {
        if (op < 0) expect(d.shift()).toBe(model.shift());
        else if (model.length < max) {
          d.push(op);
          model.push(op);
        } else {
          expect(() => d.push(op)).toThrow(/capacity/);
        }
        expect(d.size).toBe(model.length);
        expect(d.peekFirst()).toBe(model[0]);
        expect(d.peekLast()).toBe(model[model.length - 1]);
      }
    }), { numRuns: 300 });
  });

  it('keeps order when it grows with its ring wrapped', () => {
    const d = new GrowingDeque<number>(1 << 16);
    for (let i = 0; i < 50; i++) d.push(i);
    for (let i = 0; i < 40; i++) expect(d.shift()).toBe(i);
    for (let i = 50; i < 500; i++) d.push(i); // wraps, then grows several times
    for (let i = 40; i < 500; i++) expect(d.shift()).toBe(i);
    expect(d.shift()).toBeUndefined();
  });
});
