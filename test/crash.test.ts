// Goal: after kill -9 of the whole process at a random moment, every acknowledged write is there
// with its value, every value a read returned is there, and no transaction is partly visible.
// Method: src/cli/torture.ts — a child process writes with 32 in flight and reports acks over
// IPC; it is SIGKILLed at a random time and the volume is reopened here and checked. Small
// segments make coalescing and hot-log GC run (and get killed) within the cycles. Seeded: a
// failure names its seed; AURORAL_CRASH_SEED=<seed> replays the kill times.
import { describe, expect, it } from 'vitest';
import { torture } from '../src/cli/torture.js';
import { smallOptions, tempDir, waitFor } from './helpers.js';

const CYCLES = Number(process.env.AURORAL_CRASH_CYCLES ?? 12); // npm test keeps to 5 min; npm run torture runs hundreds
const SEED = Number(process.env.AURORAL_CRASH_SEED ?? Date.now() % 1_000_000);

describe('crash', () => {
  it(`keeps every acknowledged write across ${CYCLES} kill -9 cycles (seed ${SEED})`, async () => {
    const dir = tempDir();
    const { dir: _, ...options } = smallOptions(dir, { segmentBytes: 256 * 1024, groupCommit: { batchBytesMax: 32 * 1024 }, mtrBytesMax: 32 * 1024, valueBytesMax: 8 * 1024 });
    const results = await torture({
      dir, cycles: CYCLES, seed: SEED, open: options,
      afterCycle: async (db, r) => {
        if (r.cycle !== 0) return;
        // Make sure a coalescing cycle completes early, so that every later kill recovers from
        // page images plus a partly garbage-collected hot log.
        for (let b = 0; b < 10; b++) await Promise.all(Array.from({ length: 500 }, (_, i) => db.put(`warm-${b}-${i}`, 'w'.repeat(100))));
        await waitFor(() => db.stats().nodes.some((n) => n.coalesceLsn > 0), 10_000);
      },
    });
    for (const r of results) {
      expect(r.lost, `seed ${SEED} cycle ${r.cycle}: acknowledged writes or read values lost (replay: AURORAL_CRASH_SEED=${SEED})`).toEqual([]);
      expect(r.partial, `seed ${SEED} cycle ${r.cycle}: partial transactions`).toEqual([]);
    }
    expect(results.reduce((n, r) => n + r.acked, 0)).toBeGreaterThan(CYCLES); // really checked acknowledged writes
    expect(results.reduce((n, r) => n + r.readsChecked, 0)).toBeGreaterThan(0); // and values returned by reads
    expect(Math.max(...results.map((r) => r.coalesceLsn))).toBeGreaterThan(0); // and coalescing + GC ran between kills
  }, 240_000);
});
