// Runs simulator seeds: one exactly (a replay), or a range. A failing seed prints the command that
// replays it.
import { World, type SimResult } from './world.js';

export interface SimRunOptions {
  faultMillis: number;
  keys: number;
}

export const simDefaults: SimRunOptions = { faultMillis: 300, keys: 24 };

export function runSeed(seed: number, o: SimRunOptions = simDefaults): SimResult {
  try {
    return new World({ seed, ...o }).run();
  } catch (e) {
    // An assertion inside a core is a violation too: report it with the seed, never lose it.
    return { seed, violations: [`threw: ${(e as Error).stack ?? String(e)}`], stats: {} };
  }
}

export function replayCommand(seed: number, o: SimRunOptions): string {
  const extra = o.faultMillis !== simDefaults.faultMillis ? ` --fault-ms ${o.faultMillis}` : '';
  return `npm run sim -- --seed ${seed}${extra}`;
}
