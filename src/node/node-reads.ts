// Storage-node reads: what a node serves, to the writer (read: a key at a read point) and to its
// peers (framesAfter: gossip). Split from core.ts (which keeps the node's state, the append path
// and the failure latch) because serving never changes the chain: it only reads, refuses what it
// cannot vouch for, and fails the node on a read error (NodeCore.guardRead).
//
// Never serve non-durable or corrupt bytes: a read above the SCL answers 'behind', a value that
// fails its checksum answers 'corrupt' (and starts a scrub); a failed node serves nothing.
import { AuroralError } from '../errors.js';
import { valueChecksum } from '../log/record.js';
import { BLOCK_BIT } from './blocks.js';
import { keyHash, TOMBSTONE } from './key-index.js';
import { indexTo } from './indexing.js';
// Type only: core.ts imports this module at run time, never the reverse.
import type { NodeCore, NodeRead } from './core.js';

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

/** The value of `key` as of `readPoint`, read from this node's log. */
export function read(core: NodeCore, key: Uint8Array, readPoint: number): NodeRead {
  if (core.failure !== null) return { status: 'failed' };
  if (readPoint > core.scl) return { status: 'behind', scl: core.scl };
  if (core.indexedLsn < readPoint) {
    // Durable here but not indexed yet (indexing.ts): index up to the read point first.
    const s = indexTo(core, readPoint);
    if (s === 'failed') return { status: 'failed' };
    if (s === 'damaged') return { status: 'corrupt' }; // another node serves it; scrub repairs this one
  }
  core.stats.reads++;
  const v = core.index.lookup(keyHash(key), key, readPoint);
  if (v === null) return { status: 'ok', result: { found: false } };
  if (v.valueBytes === TOMBSTONE) return { status: 'ok', result: { found: true, lsn: v.lsn, value: null } };
  const value = core.guardRead(() => readValue(core, v.seq, v.position, v.valueBytes));
  if (value instanceof AuroralError) return { status: 'failed' };
  if (valueChecksum(value) !== v.valueChecksum) {
    // Never serve corrupt bytes: the writer reads from another node; scrub repairs this one.
    core.stats.readsCorrupt++;
    core.scrubSoon = true;
    if ((v.seq & BLOCK_BIT) !== 0) core.blockSuspect = true;
    return { status: 'corrupt' };
  }
  return { status: 'ok', result: { found: true, lsn: v.lsn, value } };
}
