// When a storage node indexes what it appended. Aurora's storage node does not apply redo on the
// commit path: it appends, syncs and acks, and materializes pages in the background or when a read
// needs them. Here the same: a frame is durable and acknowledged once it is in the hot log; its
// records enter the key index (key -> versions, key-index.ts) later, in chain order, when
//   - the node has been quiet (nothing appended) for INDEX_QUIET_MICROS: idle CPU, a slice at a time;
//   - a read at read point R finds the index below R: the frames up to R first (on demand);
//   - the frames not yet indexed exceed indexLagBytesMax: the oldest, just back under it (a few
//     frames per append, never a long stall on the ack path), so a long write burst neither holds
//     a huge backlog for the first read nor stops coalescing and hot-log GC for long (both work
//     only below the indexed point).
// Nothing is held in memory for it: frames not yet indexed are read back from the hot log (the
// page cache, normally), CRC-checked again, then indexed. With indexLagBytesMax = 0 every frame is
// indexed right after its ack, from the ring (the behaviour before; the benchmarks compare both).
//
// Six nodes on two cores pay every per-record cost six times; under a write burst this keeps the
// nodes to append + fdatasync + ack and leaves indexing to the quiet moments (docs/profiling.md).
import { fail } from '../assert.js';
import { AuroralError } from '../errors.js';
import { checkFrame } from '../log/frame.js';
import type { NodeCore } from './core.js';
import type { SegmentHint } from './hints.js';

/** Nothing appended for this long: the node is idle and indexes its backlog. */
export const INDEX_QUIET_MICROS = 20_000;
/**
 * Frames indexed per idle slice: each slice returns to the loop, which takes new frames first, so
 * a frame arriving during a slice waits for at most this many frames' indexing.
 */
const IDLE_FRAMES_PER_SLICE = 4;
/**
 * And at most about this many bytes (a frame past it at most): four 256 KiB frames of 4 KiB
 * values took 13-78 ms of wall time per slice on six nodes sharing two cores right after an open,
 * and the first puts waited for them (docs/results.md).
 */
export const IDLE_BYTES_PER_SLICE = 256 * 1024;

export type IndexStep = 'indexed' | 'none' | 'damaged' | 'failed';

/**
 * Indexes the next frame above the indexed point: from the last receive()'s frames while their
 * ring bytes are valid, else read back from the log and checked again (a frame damaged on disk
 * since it was appended is not indexed: 'damaged', and a scrub repairs it from a peer).
 */
export function indexNext(core: NodeCore): IndexStep {
  if (core.indexedLsn >= core.scl) return 'none';
  const lsn = core.indexedLsn;
  // A frame found damaged waits for its repair (scrub.ts repairFrame clears this), not re-read
  // and re-checked at every append and idle turn meanwhile.
  if (core.indexDamagedAt === lsn) return 'damaged';
  // The last receive()'s frames chain from the first one's backlink: skip them all when `lsn` is
  // before the first, else walk to the one whose backlink is `lsn` (they are few per group).
  const accepted = core.acceptedFrames;
  const first = accepted[0];
  if (first !== undefined && lsn >= first.frame.header.lsnPrev) {
    for (let i = 0; i < accepted.length; i++) {
      const a = accepted[i]!;
      if (a.frame.header.lsnPrev < lsn) continue;
      if (a.frame.header.lsnPrev !== lsn) break;
      core.indexFrame(a.frame.bytes, a.frame.header, a.seq, a.position);
      core.noteIndexed(a.frame.header.lsnLast, a.frame.bytes.length);
      return 'indexed';
    }
  }
  const f = core.frameDir.at(core.frameDir.indexAfter(lsn));
  if (f === undefined) fail(`node ${core.config.nodeId}: no frame after indexed point ${lsn} (SCL ${core.scl})`);
  // A sealed segment the node came back with: its hint holds the records (recovery checked it).
  const hint = core.segmentHints.get(f.seq);
  if (hint !== undefined) {
    const i = hintFrameAt(hint, f.position);
    if (i >= 0 && hint.frames[i]!.header.lsnPrev === lsn && hint.frames[i]!.header.lsnLast === f.lsnLast) {
      core.indexFromHint(hint, i);
      core.noteIndexed(f.lsnLast, f.bytes);
      return 'indexed';
    }
    core.segmentHints.delete(f.seq); // does not describe this chain: read the log instead
  }
  // Read into the node's scratch buffer: the index keeps locations and copies of keys, never a
  // view of these bytes.
  const scratch = core.scratch(f.bytes);
  const bytes = core.guardRead(() => core.log.readInto(f.seq, f.position, f.bytes, scratch));
  if (bytes instanceof AuroralError) return 'failed'; // the node failed itself
  const c = checkFrame(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, core.config.payloadBytesMax, false);
  if (!c.ok || c.header.lsnPrev !== lsn || c.header.lsnLast !== f.lsnLast) {
    core.scrubSoon = true; // never index bytes that fail their CRC: repair first
    core.indexDamagedAt = lsn;
    return 'damaged';
  }
  core.indexFrame(bytes, c.header, f.seq, f.position);
  core.noteIndexed(f.lsnLast, f.bytes);
  return 'indexed';
}

/** On demand: index up to `lsn` (a read point). 'indexed' once the index covers it. */
export function indexTo(core: NodeCore, lsn: number): IndexStep {
  while (core.indexedLsn < lsn) {
    const s = indexNext(core);
    if (s !== 'indexed') return s;
    core.stats.framesIndexedOnRead++;
  }
  return 'indexed';
}

/**
 * Frames indexed, beyond what the group added, after one append group when the backlog is over
 * indexLagBytesMax (with a bound above 0): a large backlog (the log tail a node opens with) shrinks
 * a few frames per append instead of stalling the first ack after a restart for the whole tail.
 */
export const OVER_LAG_FRAMES_PER_APPEND = 8;

/**
 * After an append group's ack: index only past the lag bound (or always, with a bound of 0). Past
 * it, the backlog is brought back under the bound, or, if it was over the bound already before
 * this group, at least back to where it was and OVER_LAG_FRAMES_PER_APPEND frames further: a group
 * can hold many frames (up to the worker's GROUP_FRAMES_MAX), and a fixed count per group let the
 * backlog, and the hot log that GC keeps for it, grow without bound under load.
 */
export function indexAfterAppend(core: NodeCore): void {
  const max = core.indexLagBytesMax;
  if (max === 0) {
    while (core.unindexedBytes > 0 && indexNext(core) === 'indexed');
    return;
  }
  let added = 0;
  for (const a of core.acceptedFrames) added += a.frame.bytes.length;
  const ceiling = Math.max(max, core.unindexedBytes - added); // never above the bound, or above the backlog before this group
  for (let n = 0; core.unindexedBytes > max && (n < OVER_LAG_FRAMES_PER_APPEND || core.unindexedBytes > ceiling); n++) {
    if (indexNext(core) !== 'indexed') return;
    core.stats.framesIndexedOverLag++;
  }
}

/** An idle slice: index some of the backlog if the node has been quiet. True if more remains. */
export function indexIdleSlice(core: NodeCore): boolean {
  if (core.unindexedBytes === 0 || core.clock.nowMicros() - core.lastAppendMicros < INDEX_QUIET_MICROS) return false;
  const backlog = core.unindexedBytes;
  for (let i = 0; i < IDLE_FRAMES_PER_SLICE && backlog - core.unindexedBytes < IDLE_BYTES_PER_SLICE; i++) {
    if (indexNext(core) !== 'indexed') return false;
  }
  return core.indexedLsn < core.scl;
}

/** Index of the hint's frame at `position` (frames are in position order), or -1. */
function hintFrameAt(hint: SegmentHint, position: number): number {
  let lo = 0;
  let hi = hint.frames.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const p = hint.frames[mid]!.position;
    if (p === position) return mid;
    if (p < position) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
