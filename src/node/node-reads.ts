// Storage-node reads: what a node serves, to the writer (read: a key at a read point; scanPage:
// the live keys of one page at a read point) and to its peers (framesAfter: gossip). Split from
// core.ts (which keeps the node's state, the append path and the failure latch) because serving
// never changes the chain: it only reads, refuses what it cannot vouch for, and fails the node on
// a read error (NodeCore.guardRead).
//
// Never serve non-durable or corrupt bytes: a read above the SCL answers 'behind', a value that
// fails its checksum answers 'corrupt' (and starts a scrub); a failed node serves nothing.
import { assert } from '../assert.js';
import { AuroralError } from '../errors.js';
import { valueChecksum } from '../log/record.js';
import { BLOCK_BIT } from './blocks.js';
import { keyHash, TOMBSTONE } from './key-index.js';
import { indexTo } from './indexing.js';
import { encodeScanChunk, scanEntryBytes, type ScanEntry } from './scan-chunk.js';
// Type only: core.ts imports this module at run time, never the reverse.
import type { NodeCore, NodeRead, NodeRefusal, NodeScan } from './core.js';

/** A value's bytes, in the block file (`seq` has BLOCK_BIT) or in the hot log. */
export function readValue(core: NodeCore, seq: number, position: number, valueBytes: number): Uint8Array {
  return (seq & BLOCK_BIT) !== 0 ? core.blocks.read(seq & ~BLOCK_BIT, position, valueBytes) : core.log.read(seq, position, valueBytes);
}

/**
 * Gossip, serving side: copies of this node's durable frames after `lsn` (the first one's
 * backlink is `lsn`), up to about `bytesMax`. Empty if `lsn` is not a frame end here.
 */
export function framesAfter(core: NodeCore, lsn: number, bytesMax: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (core.failure !== null) return out;
  let total = 0;
  for (let i = core.frameDir.indexAfter(lsn); i >= 0; i++) {
    const f = core.frameDir.at(i);
    if (f === undefined || f.lsnLast > core.scl || (total > 0 && total + f.bytes > bytesMax)) break;
    const bytes = core.guardRead(() => core.log.read(f.seq, f.position, f.bytes));
    if (bytes instanceof AuroralError) return []; // the node failed itself: it serves nothing
    out.push(bytes);
    total += f.bytes;
  }
  core.stats.framesServed += out.length;
  return out;
}

/**
 * Whether this node may answer a read at `readPoint`: null if it may, else its refusal. The one
 * check every read of the key index makes (read, scanPage): the node's durable, gap-free chain must
 * reach R (SCL >= R), and its index must hold every record up to R. A node indexes lazily
 * (indexing.ts), so here, and nowhere else, it brings its index up to R first: every node whose
 * SCL covers R then holds the same live keys at R, never a partial index.
 */
export function refuseReadAt(core: NodeCore, readPoint: number): NodeRefusal | null {
  if (core.failure !== null) return { status: 'failed' };
  if (readPoint > core.scl) return { status: 'behind', scl: core.scl };
  if (core.indexedLsn < readPoint) {
    // Durable here but not indexed yet (indexing.ts): index up to the read point first.
    const s = indexTo(core, readPoint);
    if (s === 'failed') return { status: 'failed' };
    if (s === 'damaged') { // a frame up to R fails its CRC: another node serves the read, scrub repairs this one
      core.stats.readsCorrupt++;
      return { status: 'corrupt' };
    }
  }
  return null;
}

/** Where a version's value is and what its checksum must be. */
interface ValueRef {
  seq: number;
  position: number;
  valueBytes: number;
  valueChecksum: number;
}

/**
 * A version's value, read and checked against its record's checksum: 'failed' if the read failed
 * (the node failed itself), 'corrupt' if the bytes are wrong (never served: the writer asks another
 * node, and a scrub repairs this one).
 */
function checkedValue(core: NodeCore, v: ValueRef): Uint8Array | 'failed' | 'corrupt' {
  const value = core.guardRead(() => readValue(core, v.seq, v.position, v.valueBytes));
  if (value instanceof AuroralError) return 'failed';
  if (valueChecksum(value) !== v.valueChecksum) {
    core.stats.readsCorrupt++;
    core.scrubSoon = true;
    if ((v.seq & BLOCK_BIT) !== 0) core.blockSuspect = true;
    return 'corrupt';
  }
  return value;
}

/** The value of `key` as of `readPoint`, read from this node's log. */
export function read(core: NodeCore, key: Uint8Array, readPoint: number): NodeRead {
  const refused = refuseReadAt(core, readPoint);
  if (refused !== null) return refused;
  core.stats.reads++;
  const v = core.index.lookup(keyHash(key), key, readPoint);
  if (v === null) return { status: 'ok', result: { found: false } };
  if (v.valueBytes === TOMBSTONE) return { status: 'ok', result: { found: true, lsn: v.lsn, value: null } };
  const value = checkedValue(core, v);
  if (typeof value === 'string') return { status: value };
  return { status: 'ok', result: { found: true, lsn: v.lsn, value } };
}

/** Byte order of keys (memcmp, shorter first on a tie): the order of a page scan's cursor. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function hasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

/**
 * The live keys of page `pageId` as of `readPoint` that start with `prefix` and come after `after`
 * (byte order; null: from the start), with their values, packed up to about `bytesMax` (always at
 * least one entry). `after` in the answer is the cursor for the rest of the page, or null if the
 * page is done. Deleted keys (a tombstone as the newest version at or below R) are skipped.
 *
 * The cursor is a key, not a position in this node's index, so the writer may ask the rest of a page
 * of any node: every node whose index covers R holds the same live keys at R. Sorting is needed only
 * when the page does not fit in one answer; the cost is a walk of the page's index buckets per
 * answer (one page is 1/pageCount of the keys).
 */
export function scanPage(core: NodeCore, pageId: number, readPoint: number, prefix: Uint8Array, after: Uint8Array | null, bytesMax: number): NodeScan {
  assert(Number.isInteger(pageId) && pageId >= 0 && pageId < core.config.pageCount, `page ${pageId} of ${core.config.pageCount}`);
  assert(bytesMax > 0, 'scan bytesMax must be positive');
  const refused = refuseReadAt(core, readPoint);
  if (refused !== null) return refused;
  const found: (ValueRef & { key: Uint8Array })[] = [];
  let bytes = 0;
  core.index.forEachKeyInPage(pageId, core.config.pageCount, readPoint, (_slot, key, _lsn, seq, position, valueBytes, valueChecksum) => {
    if (valueBytes === TOMBSTONE || !hasPrefix(key, prefix) || (after !== null && compareKeys(key, after) <= 0)) return;
    found.push({ key: key.slice(), seq, position, valueBytes, valueChecksum }); // the view is valid only during the call
    bytes += scanEntryBytes(key.length, valueBytes);
  });
  let take = found;
  let next: Uint8Array | null = null;
  if (bytes > bytesMax) {
    found.sort((a, b) => compareKeys(a.key, b.key));
    let total = 0;
    let n = 0;
    for (; n < found.length; n++) {
      const size = scanEntryBytes(found[n]!.key.length, found[n]!.valueBytes);
      if (n > 0 && total + size > bytesMax) break;
      total += size;
    }
    take = found.slice(0, n);
    next = take[n - 1]!.key;
  }
  const entries: ScanEntry[] = [];
  for (const f of take) {
    const value = checkedValue(core, f);
    if (typeof value === 'string') return { status: value }; // the whole answer: the writer asks another node
    entries.push({ key: f.key, value });
  }
  core.stats.reads++;
  return { status: 'ok', chunk: encodeScanChunk(entries), after: next };
}
