// A read-only view at one read point: every get sees the volume as of that LSN while writes go on.
// It holds PGMRPL down (nodes keep the versions it can see) until release(); garbage collection of
// the object is not relied on, so an unreleased snapshot holds node memory until close().
import { errors } from '../errors.js';
import type { Key } from './database.js';
import { scanAt, scanPrefix, type ScanEntry, type ScanOptions } from './key-scan.js';
import { ownBytes } from './keys.js';
import type { Reader } from './reader.js';

export class Snapshot {
  readonly readPoint: number;
  private readonly reader: Reader;
  private readonly keyBytesMax: number;
  private released = false;

  /** @internal use db.snapshot() */
  constructor(reader: Reader, readPoint: number, keyBytesMax: number) {
    this.reader = reader;
    this.readPoint = readPoint;
    this.keyBytesMax = keyBytesMax;
    reader.hold(readPoint);
  }

  get(key: Key): Promise<Uint8Array | undefined> {
    if (this.released) return Promise.reject(errors.snapshotReleased(this.readPoint));
    let k: Uint8Array;
    try {
      k = ownBytes('key', key); // retried on another node after an await
      if (k.length === 0) throw errors.invalidArgument('key', 'must not be empty');
      if (k.length > this.keyBytesMax) throw errors.keyTooLarge(k.length, this.keyBytesMax);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.reader.getAt(k, this.readPoint);
  }

  /**
   * Every live key (deleted keys skipped) as of this snapshot's read point, with its value, each
   * exactly once, in no particular order; `prefix`: only keys starting with it. Fetches one chunk
   * (about 256 KiB) at a time. Bad options throw at the call; a released snapshot rejects the next
   * step with SNAPSHOT_RELEASED. Breaking out early leaves the snapshot held (release it).
   */
  scan(options?: ScanOptions): AsyncGenerator<ScanEntry, void, undefined> {
    const prefix = scanPrefix(options, this.keyBytesMax);
    return scanAt(this.reader, this.readPoint, prefix, () => {
      if (this.released) throw errors.snapshotReleased(this.readPoint);
    });
  }

  /** Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.reader.release(this.readPoint);
  }

  get isReleased(): boolean {
    return this.released;
  }
}
