// Goal: across power cuts of the whole volume, every acknowledged write is there with its value, no
// transaction is partly kept and nothing above VDL is visible, with the real file code underneath.
// Method: src/sim/power-cut.ts: the simulator's cores and the real FsHotLog, FsBlockStorage,
// FsEpochStore and rebuild copy over FaultFs; at each cut every unsynced sector is kept, lost or
// torn and every name not synced in its directory is lost; the oracle checks each recovery.
// 20 cuts per seed here; `npm run torture -- --power-cut --cycles 500` is the long run.
import { describe, expect, it } from 'vitest';
import { runPowerCutTorture } from '../src/sim/power-cut.js';

describe('power-cut torture', () => {
  for (const seed of [1, 2]) {
    it(`keeps every acknowledged write and whole transactions across 20 power cuts (seed ${seed})`, () => {
      const r = runPowerCutTorture({ seed, cycles: 20 });
      expect(r.violations, `replay: npm run torture -- --power-cut --cycles 20 --seed ${seed}`).toEqual([]);
      expect(r.stats.volumeCrashes).toBe(20);
      expect(r.stats.acked).toBeGreaterThan(1000); // really checked acknowledged writes
      expect(r.stats.txns).toBeGreaterThan(100);
      expect(r.stats.nodesCutWithImages).toBeGreaterThan(0); // cuts hit page images too, not only the log
    });
  }
});
