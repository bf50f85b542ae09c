// Storage-node scrub and repair: background checks of what the node already acknowledged, and
// the repair of what they find. Split from core.ts (which keeps the node's state, the append path
// and the failure latch) because none of it is on the commit path: NodeCore.idleWork runs a
// scrubStep slice when nothing waits, and the shell drives repair with copies from peers.
//
// A scrub pass re-reads the hot log's frames (CRC, record chain) and the block file's images (CRC).
// A damaged frame is queued (repairQueue) and overwritten in place with a peer's copy (repairFrame).
// Damaged block values are found (damagedBlockValues), replaced with peers' copies
// (addReplacement) and the images rewritten (rewriteImages). A failed node repairs nothing.
import { checkFrame } from '../log/frame.js';
import { valueChecksum } from '../log/record.js';
import { blockLocation, IMAGE_HEADER_BYTES, readImages } from './blocks.js';
import type { FrameLocation } from './frame-directory.js';
// Type only: core.ts imports this module at run time, never the reverse.
import type { NodeCore } from './core.js';

/**
 * Bytes a scrub step reads (plus at most one frame or image past it): a step is a slice of idle
 * work the node takes frames between. Reading a whole block file (64 MB) or 32 large frames in one
 * step kept every node from its ring for 100-290 ms right after an open (docs/results.md).
 */
export const SCRUB_STEP_BYTES = 1 << 20;
const FRAMES_PER_STEP = 32;

/**
 * One slice of a scrub pass: re-reads hot-log frames (CRC and record chain) and then the block
 * file's images (CRC), about SCRUB_STEP_BYTES at a time. A bad frame is queued for repair from a
 * peer; a bad image is counted (values in it are still refused by their checksums on read). True
 * if more remains.
 */
export function scrubStep(core: NodeCore): boolean {
  const now = core.clock.nowMicros();
  if (core.scrubCursor === null) {
    const interval = core.config.scrubIntervalMicros ?? 0;
    if (!core.scrubSoon && (interval === 0 || now < core.scrubNextAtMicros)) return false;
    core.scrubSoon = false;
    core.scrubCursor = { phase: 'log', index: core.frameDir.at(core.frameDir.first)?.lsnPrev ?? core.scl, seq: -1 };
  }
  const cur = core.scrubCursor;
  if (cur.phase === 'log') {
    // The cursor is an LSN, not a directory index: hot-log GC between steps drops frames from the
    // directory and compacts it (indexes shift), and an index cursor then skipped unchecked frames.
    let i = core.frameDir.indexAfter(cur.index);
    const oldest = core.frameDir.at(core.frameDir.first);
    if (i < 0 && oldest !== undefined && oldest.lsnPrev > cur.index) i = core.frameDir.first; // GC took the frames after it
    let read = 0;
    for (let n = 0; n < FRAMES_PER_STEP && read < SCRUB_STEP_BYTES; n++, i++) {
      const f = i < 0 ? undefined : core.frameDir.at(i);
      if (f === undefined || f.lsnLast > core.scl) {
        cur.phase = 'blocks';
        cur.index = 0;
        cur.seq = core.coalescer.blockSeq;
        return true;
      }
      cur.index = f.lsnLast;
      const bytes = core.log.readInto(f.seq, f.position, f.bytes, core.scratch(f.bytes));
      read += f.bytes;
      const c = checkFrame(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, core.config.payloadBytesMax);
      if (!c.ok || c.header.lsnLast !== f.lsnLast) {
        core.stats.scrubErrors++;
        if (!core.repairQueue.some((r) => r.lsnLast === f.lsnLast)) core.repairQueue.push(f);
      }
    }
    return true;
  }
  // The block file meta names, image by image. A cycle that finished meanwhile replaced it (and
  // removed this one): the pass ends there, the new file was just written and synced.
  if (cur.seq >= 0 && cur.seq === core.coalescer.blockSeq) {
    try {
      const size = core.blocks.fileBytes(cur.seq);
      for (let read = 0; cur.index < size && read < SCRUB_STEP_BYTES;) {
        if (cur.index + IMAGE_HEADER_BYTES > size) throw new Error('truncated image header');
        const head = core.scratch(IMAGE_HEADER_BYTES).subarray(0, IMAGE_HEADER_BYTES);
        core.blocks.readInto(cur.seq, cur.index, head);
        const imageBytes = IMAGE_HEADER_BYTES + new DataView(head.buffer, head.byteOffset, IMAGE_HEADER_BYTES).getUint32(16, true);
        if (cur.index + imageBytes > size) throw new Error('image overruns the file');
        const image = core.scratch(imageBytes).subarray(0, imageBytes);
        core.blocks.readInto(cur.seq, cur.index, image);
        readImages(image, () => {}); // magic, length, CRC, entries
        cur.index += imageBytes;
        read += imageBytes;
      }
      if (cur.index < size) return true;
    } catch {
      core.stats.scrubBlockErrors++;
      core.blockSuspect = true;
    }
  }
  core.stats.scrubPasses++;
  core.scrubCursor = null;
  core.scrubNextAtMicros = now + (core.config.scrubIntervalMicros ?? 0);
  core.coalescer.waitForScrub = false;
  return false;
}

/**
 * Block repair, step 1: the versions stored in the current block file whose values fail their
 * checksums (key, LSN), minus those already replaced. Empty means the images can be rewritten
 * from what this node has (damage in keys or headers only: the index holds the keys).
 */
export function damagedBlockValues(core: NodeCore, limit: number): { key: Uint8Array; lsn: number }[] {
  const out: { key: Uint8Array; lsn: number }[] = [];
  const seq = core.coalescer.blockSeq;
  if (seq < 0) return out;
  core.index.forEachVersionIn(blockLocation(seq), (key, lsn, position, valueBytes, checksum) => {
    if (out.length >= limit || core.coalescer.replacements.has(lsn)) return;
    if (valueChecksum(core.blocks.read(seq, position, valueBytes)) !== checksum) out.push({ key: key.slice(), lsn });
  });
  return out;
}

/** Block repair, step 2: a good copy of version `lsn` (checked against the index's checksum by the cycle). */
export function addReplacement(core: NodeCore, lsn: number, value: Uint8Array): void {
  core.coalescer.replacements.set(lsn, value);
}

/** Block repair, step 3: rewrite every image now, with the replacements. */
export function rewriteImages(core: NodeCore): void {
  core.coalescer.force = true;
  core.coalescer.waitForScrub = false;
  core.blockSuspect = false;
  core.stats.blockRepairs++;
}

/** Overwrites a damaged frame in place with a good copy (from a peer), and syncs. Never on a failed node. */
export function repairFrame(core: NodeCore, loc: FrameLocation, bytes: Uint8Array): boolean {
  if (core.failure !== null) return false; // fail-stop: its files are never written or synced again
  const c = checkFrame(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, core.config.payloadBytesMax);
  if (!c.ok || c.header.lsnLast !== loc.lsnLast || c.header.lsnPrev !== loc.lsnPrev || bytes.length !== loc.bytes) return false;
  // Still where it was queued? GC may have removed its segment since (gcLogThrough drops it from
  // the queue; a copy already on its way arrives anyway): never write into a file that is gone.
  const here = core.frameDir.at(core.frameDir.indexAfter(loc.lsnPrev));
  if (here === undefined || here.seq !== loc.seq || here.position !== loc.position || here.bytes !== loc.bytes) return false;
  try {
    core.log.write(loc.seq, loc.position, [bytes]);
    core.log.sync(loc.seq);
  } catch (e) {
    core.failWith(e, 'frame repair');
    return false;
  }
  const i = core.repairQueue.findIndex((r) => r.lsnLast === loc.lsnLast);
  if (i >= 0) core.repairQueue.splice(i, 1);
  if (core.indexDamagedAt === loc.lsnPrev) core.indexDamagedAt = -1; // indexing may read it again
  core.stats.scrubRepairs++;
  return true;
}
