// Recovery paths with the storage nodes staying up: a writer killed without flushing and a new
// one attached (warm cache, no replay), and two writers on one volume (the older is fenced).
import { describe, expect, it } from 'vitest';
import { openVolume, isAuroralError } from '../src/index.js';
import { smallOptions, tempDir, text } from './helpers.js';

describe('writer restart and fencing', () => {
  it('re-attaches a writer after killing the old one: nothing acknowledged is lost, the cache is warm', async () => {
    const volume = await openVolume(smallOptions(tempDir(), { cacheBytesMax: 8 << 20 }));
    try {
      const w1 = await volume.attachWriter();
      const acked = new Map<string, string>();
      await Promise.all(Array.from({ length: 2000 }, async (_, i) => {
        await w1.put(`k${i}`, `v${i}`);
        acked.set(`k${i}`, `v${i}`);
      }));
      // Writes in flight when the writer dies: each either became durable or never will.
      const inFlight = Array.from({ length: 200 }, (_, i) => w1.put(`k${i}`, `new${i}`).then(() => 'ok', (e: unknown) => e));
      await w1.faults.killWriter();
      const outcomes = await Promise.all(inFlight);
      for (const o of outcomes) expect(o === 'ok' || isAuroralError(o, 'WRITER_KILLED')).toBe(true);
      await expect(w1.put('after', 'kill')).rejects.toMatchObject({ code: 'WRITER_KILLED' });
      expect(w1.state).toBe('killed');
      await w1.close(); // a killed writer's close is its kill: it stays killed
      expect(w1.state).toBe('killed');

      const t0 = performance.now();
      const w2 = await volume.attachWriter();
      const attachMs = performance.now() - t0;
      expect(w2.epoch).toBeGreaterThan(w1.epoch);
      const before = w2.stats().cache;
      for (const [k, v] of acked) {
        const got = text(await w2.get(k));
        const i = Number(k.slice(1));
        // A key overwritten in flight may hold the new value (it became durable) or the old one.
        if (i < 200) expect([v, `new${i}`]).toContain(got);
        else expect(got).toBe(v);
      }
      const after = w2.stats().cache;
      const hitRatio = (after.hits - before.hits) / (after.hits - before.hits + after.misses - before.misses);
      console.log(`writer restart: attach ${attachMs.toFixed(1)} ms (fence ${volume.lastAttach.fenceMs.toFixed(1)} ms), ` +
        `cache hit ratio just after restart ${(hitRatio * 100).toFixed(1)}%`);
      // Keys 200..1999 were cached by the killed writer at durable LSNs: they stay warm.
      expect(hitRatio).toBeGreaterThan(0.85);
      await w2.put('k0', 'after-restart');
      expect(text(await w2.get('k0'))).toBe('after-restart');
    } finally {
      await volume.close();
    }
  });

  it('fences the older of two writers on one volume: it gets FENCED and is never acknowledged again', async () => {
    const volume = await openVolume(smallOptions(tempDir()));
    try {
      const w1 = await volume.attachWriter();
      await w1.put('a', '1');
      const w2 = await volume.attachWriter();
      expect(w1.state).toBe('open'); // it learns at its next wake-up
      // The stale writer learns it was fenced (its group-commit thread sees a write quorum move on).
      const stale = await w1.put('b', 'stale').then(() => 'acknowledged', (e: unknown) => e);
      expect(isAuroralError(stale, 'FENCED')).toBe(true);
      await expect(w1.put('c', 'stale')).rejects.toMatchObject({ code: 'FENCED' });
      expect(w1.state).toBe('fenced');
      await w2.put('d', '2');
      expect(text(await w2.get('a'))).toBe('1');
      expect(await w2.get('b')).toBeUndefined();
      expect(text(await w2.get('d'))).toBe('2');
      const s = w2.stats();
      expect(s.epoch).toBe(w1.epoch + 1);
      await w1.close(); // stops its threads; it keeps failing with FENCED, not CLOSED
      expect(w1.state).toBe('closed');
      await expect(w1.put('e', 'stale')).rejects.toMatchObject({ code: 'FENCED' });
      expect(w2.state).toBe('open');
    } finally {
      await volume.close();
    }
  });
});
