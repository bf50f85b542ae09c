// The writer's page cache: an LRU (mnemonist) of pages, bounded by bytes. A page (keys hashing to
// one pageId) holds cached key versions; each cached entry is the NEWEST version of its key (the
// writer applies its own redo to the cache as it encodes, write-allocate), so a read at read point
// R may use an entry iff entry.lsn <= R. Eviction loses nothing: every version is on the nodes.
//
// Bytes bound: mnemonist's LRU is bounded by count, so each page gets a fixed byte budget
// (cacheBytesMax / pages) and the LRU holds at most `pages` pages; a page over its budget drops
// its oldest entries. Total cached bytes <= cacheBytesMax by construction.
//
// Miss fills race with writes: a value read from a node at R must not overwrite a newer write
// issued while the read was in flight. Every page counts the writes issued to it (never evicted,
// one u32 per page); a fill is dropped if the count moved since the read began.
import { LRUMapWithDelete } from 'mnemonist';

interface Entry {
  lsn: number;
  /** null = deleted. */
  value: Uint8Array | null;
  bytes: number;
}

interface Page {
  entries: Map<string, Entry>;
  bytes: number;
}

/** Estimated fixed cost of one entry besides its key and value bytes. */
const ENTRY_OVERHEAD_BYTES = 64;

export interface CacheStats {
  hits: number;
  misses: number;
  fills: number;
  fillsDropped: number;
  evictedPages: number;
  evictedEntries: number;
  bytes: number;
}

export class PageCache {
  readonly pageBytesMax: number;
  /** Epoch of the writer allowed to use it (see CacheLease). */
  owner = 0;
  readonly stats: CacheStats = { hits: 0, misses: 0, fills: 0, fillsDropped: 0, evictedPages: 0, evictedEntries: 0, bytes: 0 };
  private readonly lru: LRUMapWithDelete<number, Page> | null;
  private readonly writes: Uint32Array;

  constructor(cacheBytesMax: number, pageCount: number) {
    this.writes = new Uint32Array(pageCount);
    if (cacheBytesMax === 0) {
      this.lru = null;
      this.pageBytesMax = 0;
      return;
    }
    // At least 4 KiB a page; fewer pages than the volume has if the budget is small.
    this.pageBytesMax = Math.max(4096, Math.floor(cacheBytesMax / pageCount));
    const pages = Math.max(1, Math.min(pageCount, Math.floor(cacheBytesMax / this.pageBytesMax)));
    this.lru = new LRUMapWithDelete<number, Page>(pages);
  }

  /** Write counter of a page: take it before a node read, hand it to fill(). */
  writeStamp(pageId: number): number {
    return this.writes[pageId]!;
  }

  /** The cached newest version of a key if it is visible at `readPoint`, else undefined. */
  lookup(pageId: number, key: string, readPoint: number): Entry | undefined {
    const page = this.lru?.get(pageId);
    const e = page?.entries.get(key);
    if (e === undefined || e.lsn > readPoint) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    return e;
  }

  /**
   * A new writer attached at `vdl`: entries above it are writes of the previous writer that never
   * became durable (the cache is write-allocate), so they go; everything else stays warm.
   */
  dropAbove(vdl: number): number {
    if (this.lru === null) return 0;
    let dropped = 0;
    this.lru.forEach((page) => {
      for (const [k, e] of page.entries) {
        if (e.lsn <= vdl) continue;
        page.entries.delete(k);
        page.bytes -= e.bytes;
        this.stats.bytes -= e.bytes;
        dropped++;
      }
    });
    return dropped;
  }

  /** The writer encoded a write of `key` at `lsn`: it is now the key's newest version. */
  applyWrite(pageId: number, key: string, lsn: number, value: Uint8Array | null): void {
    this.writes[pageId] = (this.writes[pageId]! + 1) >>> 0;
    if (this.lru === null) return;
    this.put(pageId, key, lsn, value);
  }

  /** A node returned the newest version (as of a read point) of a key read since `stamp`. */
  fill(pageId: number, key: string, lsn: number, value: Uint8Array | null, stamp: number): void {
    if (this.lru === null) return;
    if (this.writes[pageId] !== stamp) {
      this.stats.fillsDropped++;
      return;
    }
    this.stats.fills++;
    this.put(pageId, key, lsn, value);
  }

  private put(pageId: number, key: string, lsn: number, value: Uint8Array | null): void {
    const bytes = ENTRY_OVERHEAD_BYTES + key.length + (value?.length ?? 0);
    let page = this.lru!.get(pageId);
    if (page === undefined) {
      if (bytes > this.pageBytesMax) return;
      page = { entries: new Map(), bytes: 0 };
      const evicted = this.lru!.setpop(pageId, page);
      if (evicted !== null && evicted !== undefined && evicted.evicted) {
        this.stats.evictedPages++;
        this.stats.bytes -= evicted.value.bytes;
      }
    }
    const old = page.entries.get(key);
    if (old !== undefined) {
      page.bytes -= old.bytes;
      this.stats.bytes -= old.bytes;
      page.entries.delete(key); // re-inserted last: Map order is the page's age order
    }
    if (bytes > this.pageBytesMax) return; // too big to cache; the stale entry is gone
    page.entries.set(key, { lsn, value, bytes });
    page.bytes += bytes;
    this.stats.bytes += bytes;
    for (const [k, e] of page.entries) {
      if (page.bytes <= this.pageBytesMax) break;
      page.entries.delete(k);
      page.bytes -= e.bytes;
      this.stats.bytes -= e.bytes;
      this.stats.evictedEntries++;
    }
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
