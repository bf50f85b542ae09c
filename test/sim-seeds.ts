// One simulator test over a range of seeds (npm test splits its 200 seeds over two files so both
// test workers share them). A failure names the seed and the command that replays it.
import { describe, expect, it } from 'vitest';
import { replayCommand, runSeed, simDefaults } from '../src/sim/run.js';

export function simSeeds(from: number, to: number): void {
  describe(`simulator seeds ${from}..${to}`, () => {
    it('keeps the durability contract under crashes, failovers, I/O faults and a lossy network', () => {
      const failures: string[] = [];
      let acked = 0;
      let crashes = 0;
      for (let seed = from; seed <= to; seed++) {
        const r = runSeed(seed);
        acked += r.stats.acked ?? 0;
        crashes += (r.stats.nodeCrashes ?? 0) + (r.stats.volumeCrashes ?? 0);
        if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]} (replay: ${replayCommand(seed, simDefaults)})`);
      }
      expect(failures).toEqual([]);
      // The runs did something: writes were acknowledged and faults were injected.
      expect(acked).toBeGreaterThan(10_000);
      expect(crashes).toBeGreaterThan(100);
    }, 120_000);
  });
}
