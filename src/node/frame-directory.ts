// Where each frame of a node's chain lives in its hot log, in LSN order: lets the node serve
// "frames after LSN x" to a peer (gossip) with one lookup and a pread per frame.
import { fail } from '../assert.js';

export interface FrameLocation {
  lsnPrev: number;
  lsnLast: number;
  seq: number;
  position: number;
  bytes: number;
}

export class FrameDirectory {
  private entries: FrameLocation[] = [];
  private head = 0;

  get size(): number {
    return this.entries.length - this.head;
  }

  add(f: FrameLocation): void {
    const last = this.entries[this.entries.length - 1];
    if (!(last === undefined || this.entries.length === this.head || f.lsnPrev === last.lsnLast)) fail(`frame directory broken: ${f.lsnPrev} after ${last?.lsnLast}`);
    this.entries.push(f);
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
  }

  /** Forgets frames in segments below `seq` (they were garbage-collected). */
  dropSegmentsBelow(seq: number): void {
    while (this.head < this.entries.length && this.entries[this.head]!.seq < seq) this.head++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Index of the frame whose backlink is `lsn` (the frame right after it), or -1. */
  indexAfter(lsn: number): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.lsnLast <= lsn) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.entries.length && this.entries[lo]!.lsnPrev === lsn ? lo : -1;
  }

  /** Index of the oldest frame still present. */
  get first(): number {
    return this.head;
  }

  at(i: number): FrameLocation | undefined {
    return i >= this.head ? this.entries[i] : undefined;
  }
}
