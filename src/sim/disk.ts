// A simulated disk under one node's hot log. Writes land in a volatile copy; sync makes a
// segment's written sectors durable. A crash keeps, drops or tears each unsynced 4 KiB sector
// (drawn from the run's generator), as a real disk may after a power cut. Faults on demand: EIO on
// the k-th sync, ENOSPC at the next segment creation, and bit flips in durable bytes.
//
// Segment creation and removal are durable at once (the real log fsyncs the directory for both).
import { assert } from '../assert.js';
import { AuroralError, ErrorCode } from '../errors.js';
import type { HotLog } from '../node/hotlog.js';
import type { Random } from '../shared/random.js';

export const SECTOR_BYTES = 4096;

export class SimDisk implements HotLog {
  readonly segmentBytes: number;
  private live = new Map<number, Uint8Array>();
  private durable = new Map<number, Uint8Array>();
  private dirty = new Map<number, Set<number>>();
  /** Fail the sync this many syncs from now with EIO (0: the next one); -1: never. */
  failSyncIn = -1;
  /** The next segment creation fails with ENOSPC. */
  full = false;
  syncs = 0;

  constructor(segmentBytes: number) {
    assert(segmentBytes % SECTOR_BYTES === 0, 'segmentBytes must be whole sectors');
    this.segmentBytes = segmentBytes;
  }

  segments(): number[] {
    return [...this.live.keys()].sort((a, b) => a - b);
  }

  readSegment(seq: number): Uint8Array {
    return this.segment(seq).slice();
  }

  read(seq: number, position: number, length: number): Uint8Array {
    const s = this.segment(seq);
    assert(position + length <= s.length, `read past the end of segment ${seq}`);
    return s.slice(position, position + length);
  }

  createSegment(seq: number): void {
    if (this.full) throw new AuroralError(ErrorCode.DISK_FULL, `create segment ${seq}: ENOSPC (simulated)`);
    assert(!this.live.has(seq), `segment ${seq} exists`);
    this.live.set(seq, new Uint8Array(this.segmentBytes));
    this.durable.set(seq, new Uint8Array(this.segmentBytes));
  }

  write(seq: number, position: number, views: readonly Uint8Array[]): void {
    const s = this.segment(seq);
    let dirty = this.dirty.get(seq);
    if (dirty === undefined) this.dirty.set(seq, (dirty = new Set()));
    let at = position;
    for (const v of views) {
      assert(at + v.length <= s.length, 'write past the end of a segment');
      s.set(v, at);
      for (let sec = Math.floor(at / SECTOR_BYTES); sec * SECTOR_BYTES < at + v.length; sec++) dirty.add(sec);
      at += v.length;
    }
  }

  sync(seq: number): void {
    this.syncs++;
    if (this.failSyncIn === 0) {
      this.failSyncIn = -1;
      // What reached the platter is unknown: the dirty sectors stay dirty until a crash decides.
      throw new AuroralError(ErrorCode.IO_ERROR, `fdatasync of segment ${seq}: EIO (simulated)`);
    }
    if (this.failSyncIn > 0) this.failSyncIn--;
    const s = this.segment(seq);
    this.durable.set(seq, s.slice());
    this.dirty.delete(seq);
  }

  removeSegment(seq: number): void {
    this.live.delete(seq);
    this.durable.delete(seq);
    this.dirty.delete(seq);
  }

  idleWork(): boolean {
    return false;
  }

  close(): void {}

  /** Power cut: each unsynced sector is kept, lost, or torn (a prefix of 512-byte blocks kept). */
  crash(rng: Random): void {
    for (const [seq, sectors] of this.dirty) {
      const live = this.live.get(seq)!;
      const durable = this.durable.get(seq)!;
      for (const sec of [...sectors].sort((a, b) => a - b)) {
        const at = sec * SECTOR_BYTES;
        const r = rng.next();
        if (r < 0.4) durable.set(live.subarray(at, at + SECTOR_BYTES), at);
        else if (r < 0.8) continue;
        else {
          const keep = 512 * (1 + rng.int(7));
          durable.set(live.subarray(at, at + keep), at);
        }
      }
    }
    this.dirty.clear();
    this.live = new Map([...this.durable].map(([seq, b]) => [seq, b.slice()]));
  }

  /** Flips one bit of durable (and live) bytes: silent corruption. */
  flipBit(seq: number, offset: number, bit: number): void {
    for (const m of [this.live, this.durable]) {
      const s = m.get(seq);
      if (s !== undefined) s[offset] = s[offset]! ^ (1 << bit);
    }
  }

  /** A copy of another disk's durable state (rebuilding a failed node from a peer). */
  copyFrom(other: SimDisk): void {
    this.live = new Map([...other.durable].map(([seq, b]) => [seq, b.slice()]));
    this.durable = new Map([...other.durable].map(([seq, b]) => [seq, b.slice()]));
    this.dirty.clear();
    this.failSyncIn = -1;
    this.full = false;
  }

  private segment(seq: number): Uint8Array {
    const s = this.live.get(seq);
    assert(s !== undefined, `no segment ${seq}`);
    return s;
  }
}
