// A node's durable epoch and the volume's truncation history, as the node knows them.
//
// Fencing: a recovering writer raises the epoch on the nodes (durably, here) before it truncates
// anything; from then on the node refuses frames of older epochs, so a stale writer can never
// collect an acknowledgement from it.
//
// History: each recovery at epoch E records the VDL it kept (`vdl`): the volume's chain of epoch E
// continues from there, so any frame of an older epoch ending above it was never acknowledged and
// was cut off. A node that was down during that recovery finds such frames in its log when it
// rejoins and truncates them (rejoinPoint); otherwise it would count a cut-off frame as part of the
// chain and take newer frames reusing those LSNs for duplicates.
//
// Cap: the history keeps the newest HISTORY_MAX records. The record that decides a frame of epoch
// e is the first one after e; if the history was capped and that record may have been dropped,
// the answer is unknown and is never guessed (cutFor returns null): the node is rebuilt from a
// peer (REBUILD_NEEDED). A node that itself applied a recovery after e (`recovered`) needs no
// record: its log was cut to that recovery's VDL then, so its frames of epoch e are the volume's.
import * as path from 'node:path';
import { mkdirDurable, readText, writeFileAtomic } from '../shared/fsync-dir.js';
import { nodeFs } from '../fs/node-fs.js';
import type { FsPort } from '../fs/port.js';

export interface EpochRecord {
  /** The epoch a recovery opened. */
  epoch: number;
  /** The VDL it kept: frames of older epochs ending above this are not part of the volume. */
  vdl: number;
}

export interface EpochState {
  epoch: number;
  history: EpochRecord[];
  /**
   * The epoch of the last recovery this node applied to its own log (recoverTo finished, or adopt):
   * every frame of an older epoch still in its log is part of the volume. 0 if none (or unknown:
   * epoch.json files written before this field).
   */
  recovered?: number;
}

export interface EpochStore {
  load(): EpochState;
  /** Durable when it returns (a crash leaves the old or the new state). */
  save(s: EpochState): void;
}

/** History entries kept (one per recovery); a node down for more recoveries than this is rebuilt. */
export const HISTORY_MAX = 4096;

/** Merges two histories (union by epoch, ascending), keeping the newest HISTORY_MAX entries. */
export function mergeHistory(a: readonly EpochRecord[], b: readonly EpochRecord[]): EpochRecord[] {
  const byEpoch = new Map<number, EpochRecord>();
  for (const r of [...a, ...b]) byEpoch.set(r.epoch, r);
  return [...byEpoch.values()].sort((x, y) => x.epoch - y.epoch).slice(-HISTORY_MAX);
}

/**
 * The highest LSN a frame of epoch `epoch` may end at and still be part of the volume: the lowest
 * VDL kept by any recovery after that epoch. Not simply the first one's: a recovery is recorded
 * before its writer opens, and if that attach then fails (too few nodes reach its VDL in time, a
 * crash meanwhile), the next recovery may keep less (nothing above was ever acknowledged) and
 * cuts the frame even though the first record kept it.
 * `recovered`: the epoch of the last recovery applied to the log holding the frame (see
 * EpochState). null: unknown, because a deciding record may be one the cap dropped.
 */
export function cutFor(history: readonly EpochRecord[], epoch: number, recovered = 0): number | null {
  const oldest = history[0];
  if (oldest !== undefined && history.length >= HISTORY_MAX && epoch + 1 < oldest.epoch) {
    // Records with epochs in (epoch, oldest.epoch) may have been dropped by the cap.
    return epoch < recovered ? Number.MAX_SAFE_INTEGER : null;
  }
  let cut = Number.MAX_SAFE_INTEGER;
  for (const r of history) if (r.epoch > epoch && r.vdl < cut) cut = r.vdl;
  return cut;
}

export class MemEpochStore implements EpochStore {
  private state: EpochState = { epoch: 0, history: [] };
  load(): EpochState {
    return { epoch: this.state.epoch, history: [...this.state.history], recovered: this.state.recovered ?? 0 };
  }
  save(s: EpochState): void {
    this.state = { epoch: s.epoch, history: [...s.history], recovered: s.recovered ?? 0 };
  }
}

export class FsEpochStore implements EpochStore {
  private readonly file: string;
  private readonly io: FsPort;
  constructor(nodeDir: string, io: FsPort = nodeFs) {
    this.file = path.join(nodeDir, 'epoch.json');
    this.io = io;
  }
  load(): EpochState {
    try {
      const s = JSON.parse(readText(this.file, this.io)) as EpochState;
      return { epoch: s.epoch, history: s.history ?? [], recovered: s.recovered ?? 0 };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { epoch: 0, history: [], recovered: 0 };
      throw e;
    }
  }
  save(s: EpochState): void {
    mkdirDurable(path.dirname(this.file), this.io);
    writeFileAtomic(this.file, JSON.stringify(s), this.io);
  }
}
