// Power-cut torture: the simulator's world with one fault only, a power cut of the whole volume,
// repeated `cycles` times. Every node's files are written by the real storage code (FsHotLog,
// FsBlockStorage, FsEpochStore, writeFileAtomic) over FaultFs, so at each cut every unsynced sector
// is kept, lost or torn and every name not yet synced in its directory is lost; then the open()
// recovery runs and the oracle checks that every acknowledged write is there with its value,
// nothing above VDL is visible and no transaction is partly kept. A kill -9 keeps the OS page
// cache, so it can never find a missing fsync; this can.
import { World, type SimResult } from './world.js';

export interface PowerCutOptions {
  seed: number;
  cycles: number;
  keys?: number;
}

export function runPowerCutTorture(o: PowerCutOptions): SimResult {
  try {
    return new World({ seed: o.seed, faultMillis: 0, keys: o.keys ?? 24, powerCuts: o.cycles }).run();
  } catch (e) {
    // An assertion inside the real code is a violation too: report it with the seed.
    return { seed: o.seed, violations: [`threw: ${(e as Error).stack ?? String(e)}`], stats: {} };
  }
}
