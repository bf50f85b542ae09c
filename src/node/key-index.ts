// A node's key index: key -> its versions, each a location in this node's hot log (segment,
// position, value length) and the LSN that wrote it. Values are not held in memory: a read finds
// the newest version at or below its read point and reads the value from the log (Bitcask's
// keydir over the "log is the database").
//
// Why typed arrays: every node indexes every record, six times per put on two cores. A Map with
// string keys and an object per version cost ~1-3 µs per record plus GC; this costs one hash, a
// short probe and a few stores, with no allocation. Layout: a bucket table of slot indexes and
// struct-of-arrays slots. A bucket chains distinct keys (nextInBucket); each key's head slot is
// its newest version, older versions hang off `prevVersion`. Versions older than the newest one
// at or below PGMRPL (lowest read point in use) can never be read again and are freed as new
// versions arrive. Key bytes are stored once per key in an append-only arena (a deleted key keeps
// its bytes until coalescing rewrites the index; see docs/architecture.md).
import { assert, fail } from '../assert.js';
import { releaseArrayBuffer } from '../shared/release-buffer.js';

const NONE = -1;
/** valueBytes of a tombstone (a delete). */
export const TOMBSTONE = -1;

export { keyHash } from '../log/record.js';

export interface VersionLocation {
  lsn: number;
  seq: number;
  /** Byte position of the value in segment `seq`. */
  position: number;
  /** TOMBSTONE for a delete. */
  valueBytes: number;
  valueChecksum: number;
}

export class KeyIndex {
  private buckets: Int32Array;
  private mask: number;
  // Slots (struct of arrays), grown by doubling.
  private hash: Uint32Array;
  private keyOff: Uint32Array;
  private keyLen: Uint16Array;
  private lsn: Float64Array;
  private seq: Uint32Array;
  private pos: Uint32Array;
  private valueBytes: Int32Array;
  private checksum: Uint32Array;
  private prevVersion: Int32Array;
  private nextInBucket: Int32Array;
  private slotsUsed = 0;
  private freeHead = NONE;
  private keyArena: Uint8Array;
  private keyArenaUsed = 0;
  private readMin = 0;
  /** While a coalesce cycle builds images at LSN C, versions are pruned at min(readMin, C). */
  private pruneCap = Number.POSITIVE_INFINITY;
  keys = 0;
  versions = 0;

  /** `bucketsLog2` must be >= log2(pageCount): a page's keys then live in a known set of buckets. */
  constructor(bucketsLog2 = 12, slots = 4096) {
    this.buckets = new Int32Array(1 << bucketsLog2).fill(NONE);
    this.mask = (1 << bucketsLog2) - 1;
    this.hash = new Uint32Array(slots);
    this.keyOff = new Uint32Array(slots);
    this.keyLen = new Uint16Array(slots);
    this.lsn = new Float64Array(slots);
    this.seq = new Uint32Array(slots);
    this.pos = new Uint32Array(slots);
    this.valueBytes = new Int32Array(slots);
    this.checksum = new Uint32Array(slots);
    this.prevVersion = new Int32Array(slots);
    this.nextInBucket = new Int32Array(slots);
    this.keyArena = new Uint8Array(64 * 1024);
  }

  /** Raises PGMRPL (read points only move forward). */
  setReadMin(lsn: number): void {
    if (lsn > this.readMin) this.readMin = lsn;
  }

  /** The slot before the last findHead() result in its bucket chain (NONE: it is the first). */
  private foundBefore = NONE;

  /**
   * Finds the head slot (newest version) of the key at key[start, end) with hash h; its
   * predecessor in the chain is left in foundBefore (no object per call: this runs per record).
   */
  private findHead(h: number, key: Uint8Array, start: number, end: number): number {
    let before = NONE;
    for (let s = this.buckets[h & this.mask]!; s !== NONE; s = this.nextInBucket[s]!) {
      if (this.hash[s] === h && this.keyEquals(s, key, start, end)) {
        this.foundBefore = before;
        return s;
      }
      before = s;
    }
    this.foundBefore = before;
    return NONE;
  }

  private keyEquals(s: number, key: Uint8Array, start: number, end: number): boolean {
    const len = end - start;
    if (this.keyLen[s] !== len) return false;
    const off = this.keyOff[s]!;
    const arena = this.keyArena;
    for (let i = 0; i < len; i++) if (arena[off + i] !== key[start + i]) return false;
    return true;
  }

  /** Records a version of key[start, end) written at `lsn`, its value at (seq, position). */
  insert(h: number, key: Uint8Array, start: number, end: number, lsn: number, seq: number, position: number, valueBytes: number, valueChecksum: number): void {
    const head = this.findHead(h, key, start, end);
    const before = this.foundBefore;
    const n = this.allocSlot();
    this.hash[n] = h;
    this.lsn[n] = lsn;
    this.seq[n] = seq;
    this.pos[n] = position;
    this.valueBytes[n] = valueBytes;
    this.checksum[n] = valueChecksum;
    this.keyLen[n] = end - start;
    this.versions++;
    const b = h & this.mask;
    if (head === NONE) {
      this.keyOff[n] = this.storeKey(key, start, end);
      this.prevVersion[n] = NONE;
      this.nextInBucket[n] = this.buckets[b]!;
      this.buckets[b] = n;
      this.keys++;
      if (this.keys > this.buckets.length) this.growBuckets();
      return;
    }
    if (!(lsn > this.lsn[head]!)) fail(`index versions out of LSN order: ${lsn} after ${this.lsn[head]}`);
    this.keyOff[n] = this.keyOff[head]!;
    this.prevVersion[n] = head;
    this.nextInBucket[n] = this.nextInBucket[head]!;
    if (before === NONE) this.buckets[b] = n;
    else this.nextInBucket[before] = n;
    this.prune(n);
  }

  setPruneCap(lsn: number): void {
    this.pruneCap = lsn;
  }

  get readMinLsn(): number {
    return this.readMin;
  }

  /** Keeps every version above min(readMin, pruneCap) plus the newest at or below it. */
  private prune(head: number): void {
    const floor = Math.min(this.readMin, this.pruneCap);
    let v = head;
    while (v !== NONE && this.lsn[v]! > floor) v = this.prevVersion[v]!;
    if (v !== NONE) this.freeOlderThan(v);
  }

  /** Frees every version older than `slot` of its key. */
  private freeOlderThan(slot: number): void {
    let old = this.prevVersion[slot]!;
    this.prevVersion[slot] = NONE;
    while (old !== NONE) {
      const next = this.prevVersion[old]!;
      this.freeSlot(old);
      old = next;
    }
  }

  /** The newest version of the key with lsn <= readPoint, or null. */
  lookup(h: number, key: Uint8Array, readPoint: number): VersionLocation | null {
    let v = this.findHead(h, key, 0, key.length);
    while (v !== NONE && this.lsn[v]! > readPoint) v = this.prevVersion[v]!;
    if (v === NONE) return null;
    return { lsn: this.lsn[v]!, seq: this.seq[v]!, position: this.pos[v]!, valueBytes: this.valueBytes[v]!, valueChecksum: this.checksum[v]! };
  }

  /**
   * Calls `fn` for every key of page `pageId` (pageCount pages) with its newest version at or
   * below `lsnMax`: (version slot, key bytes, lsn, seq, position, valueBytes). The key view is
   * valid only during the call.
   */
  forEachKeyInPage(pageId: number, pageCount: number, lsnMax: number,
    fn: (slot: number, key: Uint8Array, lsn: number, seq: number, position: number, valueBytes: number, valueChecksum: number) => void): void {
    assert(this.buckets.length >= pageCount && (this.buckets.length & (pageCount - 1)) === 0, 'fewer buckets than pages');
    for (let b = pageId; b < this.buckets.length; b += pageCount) {
      for (let head = this.buckets[b]!; head !== NONE; head = this.nextInBucket[head]!) {
        let v = head;
        while (v !== NONE && this.lsn[v]! > lsnMax) v = this.prevVersion[v]!;
        if (v === NONE) continue;
        const off = this.keyOff[v]!;
        fn(v, this.keyArena.subarray(off, off + this.keyLen[v]!), this.lsn[v]!, this.seq[v]!, this.pos[v]!, this.valueBytes[v]!, this.checksum[v]!);
      }
    }
  }

  /** Calls `fn` for every version whose value lives in location-file `seq` (key view valid during the call). */
  forEachVersionIn(seq: number, fn: (key: Uint8Array, lsn: number, position: number, valueBytes: number, valueChecksum: number) => void): void {
    for (let b = 0; b < this.buckets.length; b++) {
      for (let head = this.buckets[b]!; head !== NONE; head = this.nextInBucket[head]!) {
        for (let v = head; v !== NONE; v = this.prevVersion[v]!) {
          if (this.seq[v] !== seq || this.valueBytes[v] === TOMBSTONE) continue;
          const off = this.keyOff[v]!;
          fn(this.keyArena.subarray(off, off + this.keyLen[v]!), this.lsn[v]!, this.pos[v]!, this.valueBytes[v]!, this.checksum[v]!);
        }
      }
    }
  }

  /** Points a version at a new copy of its value, and frees every older version of its key. */
  relocate(slot: number, seq: number, position: number): void {
    this.seq[slot] = seq;
    this.pos[slot] = position;
    this.freeOlderThan(slot);
  }

  private storeKey(key: Uint8Array, start: number, end: number): number {
    const len = end - start;
    if (this.keyArenaUsed + len > this.keyArena.length) {
      const grown = new Uint8Array(Math.max(this.keyArena.length * 2, this.keyArenaUsed + len));
      grown.set(this.keyArena.subarray(0, this.keyArenaUsed));
      this.keyArena = grown;
    }
    const off = this.keyArenaUsed;
    const arena = this.keyArena;
    if (len <= 64) {
      for (let i = 0; i < len; i++) arena[off + i] = key[start + i]!; // no subarray object per key
    } else {
      arena.set(key.subarray(start, end), off);
    }
    this.keyArenaUsed += len;
    return off;
  }

  private allocSlot(): number {
    if (this.freeHead !== NONE) {
      const s = this.freeHead;
      this.freeHead = this.nextInBucket[s]!;
      return s;
    }
    if (this.slotsUsed === this.hash.length) this.growSlots();
    return this.slotsUsed++;
  }

  private freeSlot(s: number): void {
    this.nextInBucket[s] = this.freeHead;
    this.freeHead = s;
    this.versions--;
  }

  private growSlots(): void {
    const n = this.hash.length * 2;
    const grow = <T extends Uint32Array | Uint16Array | Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a as never);
      releaseArrayBuffer(a.buffer); // private to the index: nothing else views it (not so the key arena)
      return b;
    };
    this.hash = grow(this.hash, (k) => new Uint32Array(k));
    this.keyOff = grow(this.keyOff, (k) => new Uint32Array(k));
    this.keyLen = grow(this.keyLen, (k) => new Uint16Array(k));
    this.lsn = grow(this.lsn, (k) => new Float64Array(k));
    this.seq = grow(this.seq, (k) => new Uint32Array(k));
    this.pos = grow(this.pos, (k) => new Uint32Array(k));
    this.valueBytes = grow(this.valueBytes, (k) => new Int32Array(k));
    this.checksum = grow(this.checksum, (k) => new Uint32Array(k));
    this.prevVersion = grow(this.prevVersion, (k) => new Int32Array(k));
    this.nextInBucket = grow(this.nextInBucket, (k) => new Int32Array(k));
  }

  /** Doubles the bucket table and relinks every key's head slot (load factor <= 1). */
  private growBuckets(): void {
    const old = this.buckets;
    this.buckets = new Int32Array(old.length * 2).fill(NONE);
    this.mask = this.buckets.length - 1;
    // Each old chain splits between buckets b and b + old.length; relink in place, no list of heads
    // (a JS array of millions of slot numbers was most of an insert's amortized cost).
    for (let b = 0; b < old.length; b++) {
      let s = old[b]!;
      while (s !== NONE) {
        const next = this.nextInBucket[s]!;
        const nb = this.hash[s]! & this.mask;
        this.nextInBucket[s] = this.buckets[nb]!;
        this.buckets[nb] = s;
        s = next;
      }
    }
    releaseArrayBuffer(old.buffer);
  }

  get memoryBytes(): number {
    return this.buckets.byteLength + this.hash.length * 42 + this.keyArena.byteLength;
  }
}
