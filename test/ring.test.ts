// Goal: the SPSC ring never loses, duplicates, reorders or overwrites a message.
// Method: fast-check drives random interleavings of produce/consume/release against an array
// model; then two real threads move >= 1M frames with per-frame checksums.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { createRingBuffer, RingConsumer, RingProducer, messageBytes } from '../src/ring/ring.js';

describe('ring', () => {
  it('matches an array model under random produce/consume sequences (wrap, full, variable sizes)', () => {
    const op = fc.oneof(
      // Sizes biased to fit the small rings (payloadBytesMax 24 at 64 bytes, 56 at 128), so that rings
      // fill up exactly and the "full" answer is exercised at its boundary.
      fc.record({ kind: fc.constant('produce' as const), size: fc.oneof(fc.constantFrom(0, 8, 16, 24), fc.integer({ min: 0, max: 56 }), fc.integer({ min: 0, max: 300 })), seed: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('consume' as const), n: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ kind: fc.constant('release' as const) }),
    );
    fc.assert(fc.property(fc.constantFrom(64, 128, 1024), fc.array(op, { maxLength: 300 }), (cap, ops) => {
      const sab = createRingBuffer(cap);
      const p = new RingProducer(sab);
      const c = new RingConsumer(sab);
      const inRing: { size: number; seed: number }[] = []; // published, not yet consumed
      let consumedUnreleased = 0;
      for (const o of ops) {
        if (o.kind === 'produce') {
          if (o.size > p.payloadBytesMax) continue;
          const off = p.tryReserve(o.size, o.seed);
          if (off < 0) {
            // Full is only allowed when the space really is taken: the message (plus the wrap
            // marker that would fill the tail, if it does not fit before the end) would pass
            // readPos + capacity, and the consumer holds bytes.
            const tail = cap - (p.position & (cap - 1));
            const need = messageBytes(o.size);
            const total = need > tail ? tail + need : need;
            expect(p.position + total - c.loadReadPos()).toBeGreaterThan(cap);
            expect(inRing.length + consumedUnreleased).toBeGreaterThan(0);
            continue;
          }
          for (let i = 0; i < o.size; i++) p.bytes[off + i] = (o.seed + i) & 0xff;
          p.publish();
          inRing.push({ size: o.size, seed: o.seed });
        } else if (o.kind === 'consume') {
          for (let k = 0; k < o.n; k++) {
            const m = c.next();
            const want = inRing.shift();
            if (want === undefined) {
              expect(m).toBeNull();
              break;
            }
            expect(m).not.toBeNull();
            expect(m!.payloadBytes).toBe(want.size);
            expect(m!.tag).toBe(want.seed);
            for (let i = 0; i < want.size; i++) expect(c.bytes[m!.offset + i]).toBe((want.seed + i) & 0xff);
            consumedUnreleased++;
          }
        } else {
          c.release();
          consumedUnreleased = 0;
        }
        expect(p.position - c.loadReadPos()).toBeLessThanOrEqual(cap);
      }
      // Nothing lost at the end either: what is still in the ring comes out whole and in order,
      // then the ring is empty and the consumer stands exactly where the producer does.
      for (const want of inRing) {
        const m = c.next();
        expect(m).not.toBeNull();
        expect(m!.payloadBytes).toBe(want.size);
        expect(m!.tag).toBe(want.seed);
        for (let i = 0; i < want.size; i++) expect(c.bytes[m!.offset + i]).toBe((want.seed + i) & 0xff);
      }
      expect(c.next()).toBeNull();
      expect(c.position).toBe(p.position);
    }), { numRuns: 500 });
  });

  it('reports full instead of overwriting unreleased bytes', () => {
    const sab = createRingBuffer(256);
    const p = new RingProducer(sab);
    const c = new RingConsumer(sab);
    let n = 0;
    while (p.tryReserve(24, n) >= 0) n++;
    p.publish();
    expect(n).toBe(256 / messageBytes(24));
    expect(c.next()!.tag).toBe(0);
    expect(p.tryReserve(24, 99)).toBe(-1); // consumed but not released: still not reusable
    c.release();
    expect(p.tryReserve(24, 99)).toBeGreaterThanOrEqual(0);
  });

  it('moves 1M frames between two threads with checksums intact', async () => {
    const FRAMES = 1_000_000;
    const sab = createRingBuffer(1 << 16);
    const worker = new Worker(new URL('./fixtures/ring-producer.mjs', import.meta.url), { workerData: { sab, frames: FRAMES } });
    const exited = new Promise<number>((r) => worker.once('exit', r));
    const c = new RingConsumer(sab);
    const positions = c.positions;
    let got = 0;
    let bad = 0;
    while (got < FRAMES) {
      const m = c.next();
      if (m === null) {
        c.release();
        Atomics.notify(positions, 16);
        // Block on the write position with the value just seen (a vitest fork may block).
        Atomics.wait(positions, 0, BigInt(c.position), 10);
        continue;
      }
      const body = c.bytes.subarray(m.offset, m.offset + m.payloadBytes - 4);
      const sum = new DataView(c.bytes.buffer, c.bytes.byteOffset + m.offset + m.payloadBytes - 4, 4).getUint32(0, true);
      if ((crc32(body) >>> 0) !== sum || m.tag !== (got & 0xffff)) bad++;
      got++;
      if ((got & 63) === 0) {
        c.release();
        Atomics.notify(positions, 16);
      }
    }
    c.release();
    expect(await exited).toBe(0);
    expect(bad).toBe(0);
    expect(got).toBe(FRAMES);
  }, 120_000);
});
