// The group-commit thread's retained frames live in reused chunks (src/commit/frame-slab.ts): a
// frame's bytes must stay intact until its release, whatever is carved after it, and steady
// FIFO traffic must not allocate.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CHUNK_BYTES, FrameSlab, type SlabFrame } from '../src/commit/frame-slab.js';

function frame(n: number, fill: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (fill + i * 7) & 0xff;
  return b;
}

describe('FrameSlab', () => {
  it('keeps every retained frame intact under any FIFO copy/release sequence', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 900_000 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 120 }), (steps) => {
      const slab = new FrameSlab(1 << 20);
      const live: { f: SlabFrame; want: Uint8Array }[] = [];
      let k = 0;
      for (const [size, releases] of steps) {
        const want = frame(size, k++);
        live.push({ f: slab.copy(want), want });
        for (let r = 0; r < releases && live.length > 0; r++) slab.release(live.shift()!.f);
        for (const x of live) expect(Buffer.compare(x.f.bytes, x.want)).toBe(0);
      }
    }), { numRuns: 60 });
  });

  it('reuses its chunks under steady traffic (no allocation per frame)', () => {
    const slab = new FrameSlab(64 * 1024);
    const inFlight: SlabFrame[] = [];
    for (let i = 0; i < 20_000; i++) {
      inFlight.push(slab.copy(frame(35_000, i)));
      if (inFlight.length > 8) slab.release(inFlight.shift()!);
    }
    // 8 frames of 35 KB in flight never span more than two 4 MiB chunks, plus the spare ones.
    expect(slab.chunksAllocated).toBeLessThanOrEqual(3);
  });

  it('a frame larger than a default chunk gets a chunk of its size', () => {
    const slab = new FrameSlab(CHUNK_BYTES * 2);
    const f = slab.copy(frame(CHUNK_BYTES + 10, 1));
    expect(f.bytes.length).toBe(CHUNK_BYTES + 10);
    slab.release(f);
    expect(() => slab.release(f)).toThrow();
  });
});
