// One simulator test file over a range of seeds (npm test splits its 160 seeds over two files so both
// test workers share them), in chunks of CHUNK seeds per test: a loaded machine slows a chunk, not
// a whole file against one timeout. A failure names the seed and the command that replays it.
import { describe, expect, it } from 'vitest';
import { replayCommand, runSeed, simDefaults } from '../src/sim/run.js';

const CHUNK = 20;

export function simSeeds(from: number, to: number): void {
  describe(`simulator seeds ${from}..${to}`, () => {
    for (let first = from; first <= to; first += CHUNK) {
      const last = Math.min(to, first + CHUNK - 1);
      it(`keeps the durability contract under crashes, failovers, I/O faults and a lossy network (seeds ${first}..${last})`, () => {
        const failures: string[] = [];
        let acked = 0;
        let crashes = 0;
        for (let seed = first; seed <= last; seed++) {
          const r = runSeed(seed);
          acked += r.stats.acked ?? 0;
          crashes += (r.stats.nodeCrashes ?? 0) + (r.stats.volumeCrashes ?? 0);
          if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]} (replay: ${replayCommand(seed, simDefaults)})`);
        }
        expect(failures).toEqual([]);
        // The runs did something: writes were acknowledged and faults were injected.
        expect(acked).toBeGreaterThan(500 * (last - first + 1));
        expect(crashes).toBeGreaterThan(5 * (last - first + 1));
      }, 300_000);
    }
  });
}
