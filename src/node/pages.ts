// A node's in-memory page state: for each page (a hash bucket of keys), each key's recent versions
// newest first. A read at read point R returns the newest version with lsn <= R. Versions older
// than the newest one at or below PGMRPL (the lowest read point in use) can never be read again
// and are dropped as records are applied.
import { Op, type RedoRecord } from '../log/record.js';

interface Version {
  lsn: number;
  /** null = deleted at this LSN. */
  value: Uint8Array | null;
}

export type PageRead = { found: true; value: Uint8Array | null } | { found: false };

function keyString(key: Uint8Array): string {
  // latin1 maps bytes 1:1 to chars: a cheap, exact Map key for arbitrary key bytes.
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export class PageStore {
  private readonly pages: Map<string, Version[]>[];
  private readMin = 0;
  keyCount = 0;

  constructor(pageCount: number) {
    this.pages = Array.from({ length: pageCount }, () => new Map());
  }

  /** Raises PGMRPL (never lowers it: read points only move forward). */
  setReadMin(lsn: number): void {
    if (lsn > this.readMin) this.readMin = lsn;
  }

  apply(r: RedoRecord): void {
    const page = this.pages[r.pageId];
    if (page === undefined) throw new Error(`page ${r.pageId} out of range`);
    const k = keyString(r.key);
    const v: Version = { lsn: r.lsn, value: r.op === Op.PUT ? r.value!.slice() : null };
    const versions = page.get(k);
    if (versions === undefined) {
      page.set(k, [v]);
      this.keyCount++;
      return;
    }
    versions.unshift(v);
    // Keep every version above readMin plus the newest one at or below it.
    let i = 0;
    while (i < versions.length && versions[i]!.lsn > this.readMin) i++;
    if (i + 1 < versions.length) versions.length = i + 1;
  }

  read(pageId: number, key: Uint8Array, readPoint: number): PageRead {
    const versions = this.pages[pageId]?.get(keyString(key));
    if (versions === undefined) return { found: false };
    for (const v of versions) if (v.lsn <= readPoint) return { found: true, value: v.value };
    return { found: false };
  }

  /** Drops every version above `lsn` (truncation at recovery). */
  truncateAbove(lsn: number): void {
    for (const page of this.pages) {
      for (const [k, versions] of page) {
        while (versions.length > 0 && versions[0]!.lsn > lsn) versions.shift();
        if (versions.length === 0) {
          page.delete(k);
          this.keyCount--;
        }
      }
    }
  }
}
