// The writers' page cache, in one SharedArrayBuffer that belongs to the volume, so it outlives a
// writer: a writer killed and re-attached (or any thread handed the buffer) finds it warm. Each
// cached entry is the NEWEST version of its key (the writer applies its own redo to the cache as it
// encodes, write-allocate), so a read at read point R may use an entry iff entry.lsn <= R.
// Eviction loses nothing: every version is on the nodes.
//
// Layout: a header, one write counter per page, an open-addressing slot table (key hash, LSN,
// where the record is) and a data arena used as a log: records (slot, size, key, value) are
// appended at the head and evicted at the tail, oldest first (FIFO: insertion order, refreshed on
// every write and fill). Bytes are bounded by the arena (cacheBytesMax) by construction.
//
// Miss fills race with writes: a value read from a node at R must not overwrite a newer write
// issued while the read was in flight. Every page counts the writes issued to it; a fill is
// dropped if the count moved since the read began.
//
// Single writer thread at a time (the lease, below): no locks; the buffer is shared so that it
// survives the writer, not so that two threads mutate it at once.

import { assert } from '../assert.js';
import { limits } from '../config.js';

/** Sizes kept in the Int32 header fields (H_SLOTS, H_ARENA, H_PAGES) must fit them. */
const HEADER_I32_MAX = 0x7fff_ffff;
assert(limits.cacheBytesMax <= HEADER_I32_MAX, 'limits.cacheBytesMax must fit the cache header (Int32)');

export interface CacheStats {
  hits: number;
  misses: number;
  fills: number;
  fillsDropped: number;
  evictedPages: number;
  evictedEntries: number;
  bytes: number;
}

interface Entry {
  lsn: number;
  /** null = deleted. A fresh copy (the arena is reused): the caller may keep it. */
  value: Uint8Array | null;
}

const H_OWNER = 0; // i32: epoch of the writer holding the lease
const H_SLOTS = 1; // i32: slot count (power of two)
const H_ARENA = 2; // i32: arena bytes
const H_PAGES = 3; // i32: page count
const H_USED = 4; // i32: slots not empty (live + deleted)
// f64 header: [0] arena head, [1] arena tail (byte counters, only grow), [2] live record bytes,
// [3] the highest LSN a writer applied (dropAbove walks the slots only if it is above the new VDL)
const HEADER_BYTES = 64;
// Record header: u32 slot (WRAP: skip to the arena's start), u32 value bytes (NULL_VALUE: a
// delete), u16 key bytes, u16 0, u32 record bytes (8-aligned); then key bytes, value bytes.
const RECORD_HEADER = 16;
const WRAP = 0xffffffff;
const NULL_VALUE = 0xffffffff;
const EMPTY = 0;
const LIVE = 1;
const DELETED = 2;

function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class PageCache {
  /** The shared buffer (null when the cache is disabled). Another PageCache may attach to it. */
  readonly sab: SharedArrayBuffer | null;
  private readonly counters = { hits: 0, misses: 0, fills: 0, fillsDropped: 0, evictedEntries: 0 };
  /** Walks of every slot by dropAbove (a test figure: none when nothing was written above VDL). */
  dropWalks = 0;
  private readonly writes: Uint32Array;
  private readonly h32: Int32Array;
  private readonly h64: Float64Array;
  private readonly hashes: Uint32Array;
  private readonly states: Uint8Array;
  private readonly lsns: Float64Array;
  private readonly recs: Float64Array;
  private readonly arena: Uint8Array;
  private readonly view: DataView;
  private readonly mask: number;
  private readonly arenaBytes: number;

  /** `sab`: attach to an existing cache buffer (its sizes win); otherwise a new one is made. */
  constructor(cacheBytesMax: number, pageCount: number, sab?: SharedArrayBuffer) {
    const head = sab === undefined ? null : new Int32Array(sab, 0, 8);
    const arenaBytes = head?.[H_ARENA] ?? Math.floor(cacheBytesMax / 8) * 8;
    const pages = head?.[H_PAGES] ?? pageCount;
    let slots = head?.[H_SLOTS] ?? 64;
    if (head === null) while (slots < arenaBytes / 64) slots *= 2;
    assert(Number.isInteger(arenaBytes) && arenaBytes >= 0 && arenaBytes <= HEADER_I32_MAX, `cache arena of ${arenaBytes} bytes does not fit its Int32 header`);
    assert(slots > 0 && slots <= HEADER_I32_MAX && (slots & (slots - 1)) === 0, `cache slot count ${slots} must be a power of two that fits its Int32 header`);
    const writesBytes = Math.ceil((pages * 4) / 8) * 8;
    const slotBytes = Math.ceil((slots * (8 + 8 + 4 + 1)) / 8) * 8;
    const total = HEADER_BYTES + writesBytes + slotBytes + arenaBytes;
    this.sab = sab ?? (cacheBytesMax === 0 ? null : new SharedArrayBuffer(total));
    const buf = this.sab ?? new SharedArrayBuffer(HEADER_BYTES + writesBytes + slotBytes);
    this.h32 = new Int32Array(buf, 0, 8);
    this.h64 = new Float64Array(buf, 32, 4);
    let at = HEADER_BYTES;
    this.writes = new Uint32Array(buf, at, pages);
    at += writesBytes;
    this.lsns = new Float64Array(buf, at, slots);
    at += slots * 8;
    this.recs = new Float64Array(buf, at, slots);
    at += slots * 8;
    this.hashes = new Uint32Array(buf, at, slots);
    at += slots * 4;
    this.states = new Uint8Array(buf, at, slots);
    at = HEADER_BYTES + writesBytes + slotBytes;
    this.arenaBytes = this.sab === null ? 0 : arenaBytes;
    this.arena = new Uint8Array(buf, at, this.arenaBytes);
    this.view = new DataView(buf, at, this.arenaBytes);
    this.mask = slots - 1;
    if (head === null) {
      this.h32[H_SLOTS] = slots;
      this.h32[H_ARENA] = this.arenaBytes;
      this.h32[H_PAGES] = pages;
    }
  }

  /** Epoch of the writer allowed to use it (see CacheLease); kept in the shared buffer. */
  get owner(): number {
    return this.h32[H_OWNER]!;
  }

  set owner(epoch: number) {
    this.h32[H_OWNER] = epoch;
  }

  get stats(): CacheStats {
    return { ...this.counters, evictedPages: 0, bytes: this.h64[2]! };
  }

  /** Write counter of a page: take it before a node read, hand it to fill(). */
  writeStamp(pageId: number): number {
    return this.writes[pageId]!;
  }

  /** The cached newest version of a key if it is visible at `readPoint`, else undefined. */
  lookup(_pageId: number, key: string, readPoint: number): Entry | undefined {
    const slot = this.arenaBytes === 0 ? -1 : this.find(key, hashKey(key));
    if (slot < 0 || this.lsns[slot]! > readPoint) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    const at = this.recs[slot]! % this.arenaBytes;
    const valueBytes = this.view.getUint32(at + 4, true);
    const from = at + RECORD_HEADER + this.view.getUint16(at + 8, true);
    return { lsn: this.lsns[slot]!, value: valueBytes === NULL_VALUE ? null : this.arena.slice(from, from + valueBytes) };
  }

  /** The writer encoded a write of `key` at `lsn`: it is now the key's newest version. */
  applyWrite(pageId: number, key: string, lsn: number, value: Uint8Array | null): void {
    this.writes[pageId] = (this.writes[pageId]! + 1) >>> 0;
    if (this.arenaBytes > 0) {
      if (lsn > this.h64[3]!) this.h64[3] = lsn;
      this.put(key, lsn, value);
    }
  }

  /** A node returned the newest version (as of a read point) of a key read since `stamp`. */
  fill(pageId: number, key: string, lsn: number, value: Uint8Array | null, stamp: number): void {
    if (this.arenaBytes === 0) return;
    if (this.writes[pageId] !== stamp) {
      this.counters.fillsDropped++;
      return;
    }
    this.counters.fills++;
    this.put(key, lsn, value);
  }

  /**
   * A new writer attached at `vdl`: entries above it are writes of the previous writer that never
   * became durable (the cache is write-allocate), so they go; everything else stays warm.
   */
  dropAbove(vdl: number): number {
    // An empty table (the first attach after an open): nothing to drop, and walking its slots (32 M
    // with the default 2 GiB arena, a fresh SharedArrayBuffer faulted in page by page) cost ~100 ms.
    if (this.h32[H_USED] === 0) return 0;
    // Fills are of durable versions (at or below a read point): only applied writes can be above
    // VDL. None was (the previous writer's writes all became durable, or it wrote nothing): no walk.
    if (this.h64[3]! <= vdl) return 0;
    this.dropWalks++;
    let dropped = 0;
    for (let i = 0; i <= this.mask && this.arenaBytes > 0; i++) {
      if (this.states[i] === LIVE && this.lsns[i]! > vdl) {
        this.unlink(i);
        dropped++;
      }
    }
    this.h64[3] = vdl;
    return dropped;
  }

  private find(key: string, hash: number): number {
    for (let i = hash & this.mask, n = 0; n <= this.mask; i = (i + 1) & this.mask, n++) {
      const st = this.states[i]!;
      if (st === EMPTY) return -1;
      if (st === LIVE && this.hashes[i] === hash && this.keyEquals(i, key)) return i;
    }
    return -1;
  }

  private keyEquals(slot: number, key: string): boolean {
    const at = this.recs[slot]! % this.arenaBytes;
    if (this.view.getUint16(at + 8, true) !== key.length) return false;
    const base = at + RECORD_HEADER;
    for (let i = 0; i < key.length; i++) if (this.arena[base + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  private unlink(slot: number): void {
    this.states[slot] = DELETED;
    this.h64[2] = this.h64[2]! - this.view.getUint32((this.recs[slot]! % this.arenaBytes) + 12, true);
  }

  /** Evicts the oldest records until the arena has room up to the byte counter `end`. */
  private evictUntil(end: number): void {
    let tail = this.h64[1]!;
    while (end - tail > this.arenaBytes) {
      const at = tail % this.arenaBytes;
      const slot = this.view.getUint32(at, true);
      if (slot === WRAP) {
        tail += this.arenaBytes - at;
        continue;
      }
      const size = this.view.getUint32(at + 12, true);
      if (this.states[slot] === LIVE && this.recs[slot] === tail) {
        this.unlink(slot);
        this.counters.evictedEntries++;
      }
      tail += size;
    }
    this.h64[1] = tail;
  }

  private evictOne(): void {
    const tail = this.h64[1]!;
    if (tail >= this.h64[0]!) return;
    const at = tail % this.arenaBytes;
    const slot = this.view.getUint32(at, true);
    const size = slot === WRAP ? this.arenaBytes - at : this.view.getUint32(at + 12, true);
    if (slot !== WRAP && this.states[slot] === LIVE && this.recs[slot] === tail) {
      this.unlink(slot);
      this.counters.evictedEntries++;
    }
    this.h64[1] = tail + size;
  }

  /** Too many deleted slots: re-insert the live ones into a clean table. */
  private rehash(): void {
    const live: [number, number, number][] = [];
    for (let i = 0; i <= this.mask; i++) if (this.states[i] === LIVE) live.push([this.hashes[i]!, this.lsns[i]!, this.recs[i]!]);
    this.states.fill(EMPTY);
    for (const [hash, lsn, rec] of live) this.insertSlot(hash, lsn, rec);
    this.h32[H_USED] = live.length;
  }

  private insertSlot(hash: number, lsn: number, rec: number): void {
    let slot = hash & this.mask;
    while (this.states[slot] === LIVE) slot = (slot + 1) & this.mask;
    if (this.states[slot] === EMPTY) this.h32[H_USED]!++;
    this.states[slot] = LIVE;
    this.hashes[slot] = hash;
    this.lsns[slot] = lsn;
    this.recs[slot] = rec;
    this.view.setUint32(rec % this.arenaBytes, slot, true);
  }

  private put(key: string, lsn: number, value: Uint8Array | null): void {
    const hash = hashKey(key);
    const old = this.find(key, hash);
    if (old >= 0) this.unlink(old);
    const size = Math.ceil((RECORD_HEADER + key.length + (value?.length ?? 0)) / 8) * 8;
    if (size > this.arenaBytes / 4 || key.length > 0xffff) return; // too big to cache; the stale entry is gone
    if (this.h32[H_USED]! + 1 > (this.mask + 1) * 0.7) {
      this.rehash();
      // Still full: the table, not the arena, is the limit (small entries). Evict the oldest tenth.
      for (let n = (this.mask + 1) >> 3; n > 0 && this.h32[H_USED]! + 1 > (this.mask + 1) * 0.6; n--) this.evictOne();
      this.rehash();
    }
    let head = this.h64[0]!;
    const at0 = head % this.arenaBytes;
    if (at0 + size > this.arenaBytes) {
      // Records never wrap: mark the rest of the arena as skipped and start over at its beginning.
      this.evictUntil(head + (this.arenaBytes - at0));
      this.view.setUint32(at0, WRAP, true);
      head += this.arenaBytes - at0;
      this.h64[0] = head;
    }
    this.evictUntil(head + size);
    const at = head % this.arenaBytes;
    this.view.setUint32(at + 4, value === null ? NULL_VALUE : value.length, true);
    this.view.setUint16(at + 8, key.length, true);
    this.view.setUint16(at + 10, 0, true);
    this.view.setUint32(at + 12, size, true);
    for (let i = 0; i < key.length; i++) this.arena[at + RECORD_HEADER + i] = key.charCodeAt(i);
    if (value !== null) this.arena.set(value, at + RECORD_HEADER + key.length);
    this.insertSlot(hash, lsn, head);
    this.h64[0] = head + size;
    this.h64[2] = this.h64[2]! + size;
  }
}

/**
 * A writer's use of the volume's page cache. The cache outlives writers (a re-attached writer
 * starts warm), but only the newest writer may use it: a stale writer's write-allocated entries
 * would otherwise be served to the new one. When a newer writer attaches, the old lease goes dead
 * (lookups miss, writes and fills are not cached).
 */
export class CacheLease {
  constructor(private readonly cache: PageCache, private readonly epoch: number) {
    cache.owner = epoch;
  }

  private get mine(): boolean {
    return this.cache.owner === this.epoch;
  }

  get stats(): CacheStats {
    return this.cache.stats;
  }

  writeStamp(pageId: number): number {
    return this.cache.writeStamp(pageId);
  }

  lookup(pageId: number, key: string, readPoint: number): ReturnType<PageCache['lookup']> {
    return this.mine ? this.cache.lookup(pageId, key, readPoint) : undefined;
  }

  applyWrite(pageId: number, key: string, lsn: number, value: Uint8Array | null): void {
    if (this.mine) this.cache.applyWrite(pageId, key, lsn, value);
  }

  fill(pageId: number, key: string, lsn: number, value: Uint8Array | null, stamp: number): void {
    if (this.mine) this.cache.fill(pageId, key, lsn, value, stamp);
  }
}
