// Storage-node recovery: what a node does at open and when a recovering writer fences it. Split
// from core.ts (which keeps the node's state, the append path and the failure latch) because these
// steps run rarely, decide what is truncated, and read best together with their decision table
// (recoverTo). Each function takes the NodeCore it acts on; NodeCore.recoverScan/fence/adopt/
// rejoinPoint/recoverTo delegate here. See docs/recovery.md for the protocol around them.
//
// Phase 1 recoverScan (find the chain, apply nothing); fence / adopt (durable epoch, no truncation);
// phase 2 recoverTo (truncate above the recovered VDL or catch up to it from a peer, then rebuild
// the index from the images and the log above them).
import { assert } from '../assert.js';
import { ErrorCode, errors, isAuroralError } from '../errors.js';
import { scanHotLog, ScanOutcome, type ScanResult, type ScannedFrame } from '../log/scanner.js';
import { cutFor, mergeHistory, type EpochRecord, type EpochState } from './epoch-store.js';
import type { HotLog } from './hotlog.js';
import { indexTo } from './indexing.js';
import { loadSegmentHints, type SegmentHint } from './hints.js';
import { checkFrame } from '../log/frame.js';
// Type only: core.ts imports this module at run time, never the reverse.
import type { FrameRef, NodeCore } from './core.js';

/**
 * Phase 1 of recovery: find the chain and its end; applies nothing yet.
 *
 * `history`: the volume's truncation history as the writer knows it (volume.json). The SCL this
 * reports already leaves out frames a recovery cut off while this node was away (rejoinPoint):
 * such frames must never make this node look longer than the volume's chain.
 */
export function recoverScan(core: NodeCore, history: readonly EpochRecord[] = []): ScanResult {
  const r = scanWithHints(core);
  core.scan = r;
  for (const f of r.frames) core.segmentLastLsn.set(f.seq, f.header.lsnLast);
  core.scl = r.lsnLast;
  const stored = loadEpochs(core);
  core.epoch = Math.max(r.epochLast, stored.epoch);
  core.history = mergeHistory(stored.history, history);
  core.recoveredEpoch = stored.recovered ?? 0;
  core.scl = rejoinPoint(core);
  core.lsnSeenMax = r.lsnSeenMax;
  core.batchSeqLast = r.batchSeqLast;
  core.seq = r.endSeq;
  core.position = r.endPosition;
  return r;
}

/**
 * The node's epoch state. An epoch file with neither slot intact cannot say which fences this node
 * acknowledged: the node is never restarted as if at epoch 0 (it could take a stale writer's
 * frames) but rebuilt from a peer, whose epoch file comes with its copy.
 */
function loadEpochs(core: NodeCore): EpochState {
  try {
    return core.epochs.load();
  } catch (e) {
    if (isAuroralError(e, ErrorCode.CORRUPT_RECORD)) throw errors.rebuildNeeded(core.config.nodeId, (e as Error).message);
    throw e;
  }
}

/**
 * The scan of a node's own log at start: sealed segments with an intact hint are not read (their
 * frames were checked when they were indexed, and the hint recorded them); the rest is read and
 * checked as always. A hint stands in for its segment only where this log proves every frame of it
 * acknowledged (lsnDurableSeen: on 4 nodes, so a peer holds a good copy of anything damaged since,
 * and reads, gossip and scrub check the bytes they use). A segment holding frames above that point
 * (the writer died just after the chain moved to the next segment) is read and checked, so a frame
 * damaged there can never make this node's chain, and so the volume's, look longer than it is.
 */
function scanWithHints(core: NodeCore): ScanResult {
  const hints = loadSegmentHints(core.log, core.config.payloadBytesMax);
  let r = scanHotLog(core.log, core.config.payloadBytesMax, undefined, (seq) => hints.get(seq) ?? null);
  const unproven = r.hinted.filter((seq) => hints.get(seq)!.lsnLast > r.lsnDurableSeen);
  if (unproven.length > 0) {
    const from = Math.min(...unproven);
    for (const seq of [...hints.keys()]) if (seq >= from) hints.delete(seq);
    r = scanHotLog(core.log, core.config.payloadBytesMax, undefined, (seq) => hints.get(seq) ?? null);
  }
  core.segmentHints.clear();
  for (const seq of r.hinted) core.segmentHints.set(seq, hints.get(seq)!);
  core.stats.segmentHintsLoaded += r.hinted.length;
  return r;
}

/**
 * Fencing, by a recovering writer: from now on refuse frames of epochs below `epoch`. Durable
 * before it returns. A writer whose epoch is below this node's is itself stale: FENCED.
 */
export function fence(core: NodeCore, epoch: number): { scl: number; lsnSeenMax: number; batchSeqLast: number } {
  if (core.failure !== null) throw core.failure; // fail-stop: writes nothing, counts for no fence quorum
  if (epoch < core.epoch) throw errors.fenced(epoch, core.epoch);
  if (epoch > core.epoch) {
    core.saveEpochs({ epoch, history: core.history, recovered: core.recoveredEpoch });
    core.epoch = epoch;
  }
  return { scl: core.scl, lsnSeenMax: Math.max(core.lsnSeenMax, core.scl), batchSeqLast: core.batchSeqLast };
}

/**
 * A live node learns the outcome of a recovery it was fenced for (writer failover): the new
 * epoch and the VDL it kept, durably. Its chain is at or below that VDL (the VDL is the longest
 * chain of the fenced nodes), so nothing is truncated; if behind, it catches up by gossip.
 */
export function adopt(core: NodeCore, epoch: number, history: readonly EpochRecord[]): void {
  if (core.failure !== null) throw core.failure; // fail-stop: writes nothing
  if (epoch < core.epoch) throw errors.fenced(epoch, core.epoch);
  // Checked before anything is saved: a chain longer than what the recovery kept (frames taken from
  // a peer after the fence) is not part of the volume; the writer must leave this node out rather
  // than count an SCL that covers LSNs its new writer will reuse.
  const cut = history.find((r) => r.epoch === epoch);
  if (cut !== undefined && core.scl > cut.vdl) {
    throw errors.recoveryFailed(`node ${core.config.nodeId}'s chain ends at ${core.scl}, above the VDL ${cut.vdl} the recovery at epoch ${epoch} kept`);
  }
  core.history = mergeHistory(core.history, history);
  const kept = core.history[core.history.length - 1];
  assert(kept === undefined || kept.epoch !== epoch || core.scl <= kept.vdl, `node ${core.config.nodeId} is at ${core.scl}, above the VDL ${kept?.vdl} recovery kept`);
  // Its chain is within what that recovery kept: the recovery is applied to this log.
  const applied = kept !== undefined && kept.epoch === epoch;
  if (applied && !core.tailUnchecked) core.recoveredEpoch = epoch;
  core.saveEpochs({ epoch, history: core.history, recovered: core.recoveredEpoch });
  core.epoch = epoch;
}

/**
 * Where a rejoining node's chain stops being the volume's: before the first frame that ends above
 * the VDL kept by a recovery that happened after that frame's epoch (it was cut off while this
 * node was away). The node's own SCL if there is none.
 */
export function rejoinPoint(core: NodeCore): number {
  const scan = core.scan;
  assert(scan !== null, 'rejoinPoint before recoverScan');
  for (const f of scan.frames) {
    const cut = cutFor(core.history, f.header.epoch, core.recoveredEpoch);
    if (cut === null) {
      // The recovery that decides whether this frame is the volume's is older than the history
      // kept (HISTORY_MAX): never guess; this node is rebuilt from a peer.
      throw errors.rebuildNeeded(core.config.nodeId, `its log holds a frame of epoch ${f.header.epoch} (ending at ${f.header.lsnLast}), ` +
        `older than the truncation history kept (from epoch ${core.history[0]?.epoch}), and it applied no recovery since`);
    }
    if (f.header.lsnLast > cut) return f.header.lsnPrev;
  }
  return scan.lsnLast;
}

/**
 * Phase 2: make the chain end exactly at `lsnKeep` (the recovered VDL, or the node's own chain
 * end when it rejoins a live volume), then rebuild pages. Above it: truncate (zero the tail,
 * durable, and drop later segments). Below it: `peer` (a read-only view of a node whose chain
 * reaches lsnKeep) supplies the missing frames.
 *
 * What follows the chain end on disk, and what happens to it:
 *   frames above lsnKeep or cut off by an earlier recovery | never acknowledged: zeroed
 *   a torn tail, stale bytes                               | never acknowledged: zeroed
 *   bytes after a frame corrupt in the middle              | may hold acknowledged frames: kept;
 *     (the chain itself is not cut)                        | the peer's copies (catch-up here, or
 *                                                          | gossip when live) overwrite them in
 *                                                          | place, then what is left above
 *                                                          | lsnKeep after a catch-up is zeroed
 */
export function recoverTo(core: NodeCore, lsnKeep: number, epoch: number, peer: HotLog | null, history: readonly EpochRecord[] = []): void {
  const scan = core.scan;
  assert(scan !== null, 'recoverTo before recoverScan');
  if (core.failure !== null) throw core.failure; // fail-stop: a failed fence is never retried here
  if (epoch < core.epoch) throw errors.fenced(epoch, core.epoch);
  // Durable before anything is truncated: the epoch (fencing) and what this recovery keeps.
  core.history = mergeHistory(core.history, history);
  core.saveEpochs({ epoch, history: core.history, recovered: core.recoveredEpoch });
  core.epoch = epoch;
  const meta = core.blocks.readMeta();
  if (lsnKeep >= 0 && lsnKeep < meta.coalesceLsn) {
    // Its own chain stops below what its page images hold (a damaged frame its GC had not yet let
    // go of): its files cannot rejoin as they are, and would fail the same way at every restart.
    if (lsnKeep === core.scl) throw errors.rebuildNeeded(core.config.nodeId, `its log's chain ends at ${core.scl}, below the point ${meta.coalesceLsn} its page images hold`);
    throw errors.recoveryFailed(`node ${core.config.nodeId}: recovered VDL ${lsnKeep} is below its coalesce point ${meta.coalesceLsn}`);
  }
  const first = scan.frames[0];
  if (first !== undefined && first.header.lsnPrev > meta.coalesceLsn) {
    throw errors.recoveryFailed(`node ${core.config.nodeId}: hot log starts at ${first.header.lsnPrev}, above its coalesce point ${meta.coalesceLsn} (a gap)`);
  }
  let frames = scan.frames;
  // The chain ends at the recovered VDL, or earlier where a past recovery cut it (rejoinPoint).
  const target = Math.min(rejoinPoint(core), lsnKeep);
  if (target < scan.lsnLast) {
    const keep = frames.findIndex((f) => f.header.lsnLast === target);
    if (target !== 0 && keep < 0 && target !== frames[0]?.header.lsnPrev) {
      throw errors.recoveryFailed(`node ${core.config.nodeId} has no frame ending at ${target} (recovered VDL ${lsnKeep})`);
    }
    frames = frames.slice(0, keep + 1);
    const last = frames[frames.length - 1];
    core.seq = last === undefined ? (scan.frames[0]?.seq ?? core.seq) : last.seq;
    core.position = last === undefined ? 0 : last.position + last.bytes;
    core.scl = last === undefined ? target : last.header.lsnLast;
    core.batchSeqLast = last === undefined ? 0 : last.header.batchSeq;
  }
  // Make the log end where the chain ends (see the table above).
  const cut = core.scl !== scan.lsnLast;
  const keepTail = !cut && scan.outcome === ScanOutcome.CORRUPT_MIDDLE;
  const dirty = cut || scan.outcome !== ScanOutcome.CLEAN || core.log.segments().some((s) => s > core.seq);
  // No hint describes the chain's last segment or anything after it (appends and catch-up write
  // there; bytes kept after a corrupt frame may be overwritten by other frames of a later epoch).
  core.dropHintsFrom(core.seq);
  if (dirty && !keepTail) {
    // A clean log usually holds nothing but the cut frames and then zeros after the new chain end
    // in its segment: zeroing those is enough, not the rest of a 16 MiB segment on every node that
    // had frames above VDL. Only if the rest is zeros: a clean scan also passes over frames after a
    // zero gap whose lsnLast is at most the chain's end (an older epoch's, left by a kept tail that
    // was overwritten in place), and those would be above the shorter chain's end after the cut
    // (a later scan would call the log corrupt in the middle).
    let upTo = core.log.segmentBytes;
    if (scan.outcome === ScanOutcome.CLEAN) {
      let end = core.position;
      for (const f of scan.frames) if (f.seq === core.seq) end = Math.max(end, f.position + f.bytes);
      if (zerosFrom(core, core.seq, end)) upTo = end;
    }
    zeroFrom(core, core.seq, core.position, upTo);
  }
  core.segmentsAhead.clear();
  for (const s of core.log.segments()) if (s > core.seq) core.segmentsAhead.add(s);
  for (const f of scan.frames) if (f.header.lsnLast > core.scl) core.segmentLastLsn.delete(f.seq);
  for (const f of frames) core.segmentLastLsn.set(f.seq, f.header.lsnLast);
  core.frameDir.clear();
  for (const f of frames) core.frameDir.add({ lsnPrev: f.header.lsnPrev, lsnLast: f.header.lsnLast, seq: f.seq, position: f.position, bytes: f.bytes });
  if (core.log.segments().length === 0) {
    core.log.createSegment(core.seq);
    core.stats.segmentsCreated++;
  }
  const behind = core.scl < lsnKeep;
  if (behind) {
    if (peer === null) throw errors.recoveryFailed(`node ${core.config.nodeId} is behind (${core.scl} < ${lsnKeep}) and has no peer to catch up from`);
    catchUpFrom(core, peer, lsnKeep); // historical frames keep their (older) epochs
    // With a peer, lsnKeep is the recovered VDL: what is left of this node's own bytes after it
    // (a kept tail beyond the copied frames) was never acknowledged.
    if (keepTail) {
      zeroFrom(core, core.seq, core.position);
      core.segmentsAhead.clear();
    }
  }
  core.tailUnchecked = keepTail && !behind; // after a catch-up the kept tail was zeroed above lsnKeep
  assert(core.scl === lsnKeep, `node ${core.config.nodeId} recovered to ${core.scl}, expected ${lsnKeep} ` +
    `(scan: ${scan.outcome}, chain ${scan.frames[0]?.header.lsnPrev ?? '-'}..${scan.lsnLast} in ${scan.frames.length} frames, ` +
    `fault ${scan.fault?.why ?? 'none'}, coalesceLsn ${meta.coalesceLsn}, segments ${core.log.segments().join(',')}, ` +
    `peer ${peer === null ? 'none' : `segments ${peer.segments().join(',')}`})`);
  rebuildIndex(core);
  core.scan = null;
  // The log now satisfies this recovery's cut (unless bytes after a corrupt frame were kept):
  // durable before any frame of this epoch is acknowledged.
  if (!core.tailUnchecked) {
    core.recoveredEpoch = epoch;
    core.saveEpochs({ epoch, history: core.history, recovered: epoch });
  }
}

/** True if segment `seq` holds only zeros from `position` to its end (read, not written: cheap). */
function zerosFrom(core: NodeCore, seq: number, position: number): boolean {
  if (!core.log.segments().includes(seq)) return true;
  const size = core.log.segmentBytes;
  const chunk = new Uint8Array(Math.min(1 << 20, size));
  const zeros = Buffer.alloc(chunk.length);
  for (let at = position; at < size; at += chunk.length) {
    const n = Math.min(chunk.length, size - at);
    let got: Uint8Array;
    try {
      got = core.log.readInto(seq, at, n, chunk);
    } catch {
      return false; // a short file or read error: zero the whole rest, as before
    }
    if (!Buffer.from(got.buffer, got.byteOffset, n).equals(zeros.subarray(0, n))) return false;
  }
  return true;
}

/** Zeros segment `seq` from `position` up to `upTo` (its end by default), durably, and drops every later segment. */
function zeroFrom(core: NodeCore, seq: number, position: number, upTo = core.log.segmentBytes): void {
  core.dropHintsFrom(seq); // before a byte of theirs changes
  const zeros = new Uint8Array(Math.min(1 << 20, core.log.segmentBytes));
  if (core.log.segments().includes(seq) && upTo > position) {
    for (let at = position; at < upTo; at += zeros.length) {
      core.log.write(seq, at, [zeros.subarray(0, Math.min(zeros.length, upTo - at))]);
    }
    core.log.sync(seq);
  }
  for (const s of core.log.segments()) if (s > seq) core.log.removeSegment(s);
}

function catchUpFrom(core: NodeCore, peer: HotLog, lsnTo: number): void {
  const batch: FrameRef[] = [];
  const view = whileTruncating(peer);
  // The peer's hints spare reading its sealed segments whole: only the frames this node lacks are
  // read (and checked: the hint vouches for nothing sent to a peer).
  const hints = loadPeerHints(view, core.config.payloadBytesMax);
  scanHotLog(view, core.config.payloadBytesMax, (f: ScannedFrame, segment: Uint8Array | null) => {
    if (!(f.header.lsnLast > core.scl && f.header.lsnLast <= lsnTo)) return;
    if (segment !== null) {
      batch.push({ bytes: segment.slice(f.position, f.position + f.bytes), header: f.header });
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = view.read(f.seq, f.position, f.bytes);
    } catch {
      return; // gone with a truncation: the chain comes up short, and that is decided below
    }
    const c = checkFrame(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, core.config.payloadBytesMax);
    if (c.ok && c.header.lsnLast === f.header.lsnLast) batch.push({ bytes, header: c.header });
  }, (seq) => hints.get(seq) ?? null);
  const accepted = core.receive(batch, true);
  if (core.failure !== null) throw core.failure;
  if (accepted !== batch.length || core.scl !== lsnTo) {
    // The peer no longer holds the frames after this node's chain end (it coalesced them into
    // pages): this node cannot catch up by log and must be rebuilt from a peer's copy.
    throw errors.rebuildNeeded(core.config.nodeId, `its chain ends at ${core.scl}, and the peer's hot log does not continue from there ` +
      `(accepted ${accepted} of ${batch.length} frames up to ${lsnTo})`);
  }
}

/** A peer's segment hints; none if they cannot be read (it may be truncating at the same time). */
function loadPeerHints(peer: HotLog, payloadBytesMax: number): Map<number, SegmentHint> {
  const readOnly = Object.create(peer) as HotLog;
  readOnly.removeHint = () => {}; // never change a peer's files from here
  try {
    return loadSegmentHints(readOnly, payloadBytesMax);
  } catch {
    return new Map();
  }
}

/**
 * The source's log as a catch-up at open reads it: the source recovers at the same time, truncating
 * above VDL and removing the segments after VDL's, so a segment listed a moment ago may be gone
 * (ENOENT). It reads as an empty segment instead of an error that would fail this node. That is
 * safe whatever the segment held: only frames up to lsnTo are taken, receive() appends only a frame
 * whose lsnPrev is this node's chain end (a gap is never bridged), and a chain that comes up short
 * of lsnTo is REBUILD_NEEDED (catchUpFrom).
 */
function whileTruncating(peer: HotLog): HotLog {
  const view = Object.create(peer) as HotLog;
  view.readSegment = (seq: number, out?: Uint8Array) => {
    try {
      return peer.readSegment(seq, out);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Uint8Array(0);
      throw e;
    }
  };
  return view;
}

/**
 * Images first (everything at or below the coalesce point, from the block file), then the log
 * above them, which is left as the node's indexing backlog (indexing.ts): the node opens without
 * reading its log a second time, and its tail is indexed when it is quiet, when a read at R needs
 * it (on demand), or past indexLagBytesMax (a few frames per append). Recovery time so depends on
 * the page images, not on the log written since the last coalescing cycle. With
 * indexLagBytesMax = 0 (eager indexing) the tail is indexed here, as before.
 */
function rebuildIndex(core: NodeCore): void {
  core.coalescer.recover();
  const from = core.coalescer.coalesceLsn;
  let tailBytes = 0;
  let chainEnd = from;
  for (let i = core.frameDir.indexAfter(from); i >= 0; i++) {
    const f = core.frameDir.at(i);
    if (f === undefined) break;
    tailBytes += f.bytes;
    chainEnd = f.lsnLast;
  }
  // The frame directory is the chain recoverTo just made the log end at: it must reach the SCL
  // from the coalesce point without a gap, or the node would acknowledge from a chain it lacks.
  if (chainEnd !== core.scl) {
    throw errors.recoveryFailed(`node ${core.config.nodeId}: after recovery its chain above the coalesce point ${from} ends at ${chainEnd} ` +
      `(segments ${core.log.segments().join(',')}), expected ${core.scl}`);
  }
  for (const [seq, hint] of core.segmentHints) if (hint.lsnLast <= from) core.segmentHints.delete(seq); // in the images already
  core.coalescer.bytesSinceCycle = tailBytes; // the log above the coalesce point: what a cycle would absorb
  core.indexBacklogFrom(from, tailBytes);
  if (core.indexLagBytesMax === 0 && indexTo(core, core.scl) !== 'indexed') {
    throw errors.recoveryFailed(`node ${core.config.nodeId}: its log above ${core.indexedLsn} could not be indexed (damaged or unreadable)`);
  }
}
