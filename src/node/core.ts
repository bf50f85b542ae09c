// Storage-node core, sans-I/O: the decisions of one node over an injected HotLog.
//
// Foreground (the commit path): receive() takes the frames drained from the inbound ring, drops
// duplicates (lsnLast <= SCL), stops at a gap (lsnPrev != chain end) or a fenced epoch, appends
// every accepted frame in one write per segment, syncs, and only then raises the SCL that the
// shell publishes as this node's ack.
// Background (after the ack): apply() turns the accepted frames' records into page versions.
// Fail-stop: an error from write or sync (hot log, block files, meta, epoch file) or from a read
// fails the node for good, typed by errno (failWith); nothing is retried on that file, and a
// failed node writes and syncs nothing at all again (no repair, no preallocation, no epoch).
//
// This file owns the node's state (class NodeCore), the append path and the failure latch. The
// other concepts live beside it, as functions over a NodeCore, with one-line delegating methods
// here so that the API stays `core.x(...)`:
//   node-recovery.ts  recoverScan, fence, adopt, rejoinPoint, recoverTo (open, writer failover)
//   scrub.ts          scrub slices of idleWork, frame repair, block-value repair
//   node-reads.ts     read and scanPage (the writer's reads), framesAfter (gossip), readValue
// Members marked @internal are public only for those modules. They import this file for types
// only, so there is no import cycle at run time.
import { assert, fail } from '../assert.js';
import { asOperatingError, AuroralError, errors } from '../errors.js';
import { checkFrame, frameBytes, type FrameHeader } from '../log/frame.js';
import type { ScanResult } from '../log/scanner.js';
import type { HotLog } from './hotlog.js';
import { KeyIndex, keyHash, TOMBSTONE } from './key-index.js';
import { BLOCK_BIT, type BlockStorage } from './blocks.js';
import { Coalescer } from './coalescer.js';
import { FrameDirectory, type FrameLocation } from './frame-directory.js';
import { nodeStatKeys, type NodeStatKey } from '../shared/control.js';
import { FRAME_HEADER_BYTES } from '../config.js';
import { Op, RECORD_HEADER_BYTES, recordBytes } from '../log/record.js';
import { readU64 } from '../log/u64.js';
import { logGcBound, type LogGcNode } from './log-gc.js';
import { cutFor, MemEpochStore, type EpochRecord, type EpochState, type EpochStore } from './epoch-store.js';
import { adopt, fence, recoverScan, recoverTo, rejoinPoint } from './node-recovery.js';
import { addReplacement, damagedBlockValues, repairFrame, rewriteImages, scrubStep } from './scrub.js';
import { framesAfter, read, readValue, scanPage } from './node-reads.js';
import { indexAfterAppend, indexIdleSlice } from './indexing.js';
import { forEachHintRecord, HintBuilder, HintKind, type SegmentHint } from './hints.js';

export interface NodeCoreConfig {
  nodeId: number;
  pageCount: number;
  /**
   * Largest frame payload of the volume (recovery/volume.ts volumeFrameBytesMax - header): the
   * limit its files were written with, never this open's options alone.
   */
  payloadBytesMax: number;
  /**
   * What this node sees of every node of the volume (itself included, by index): hot-log GC never
   * outruns a peer that holds it back (log-gc.ts). Default: no peers.
   */
  logGcNodes?: () => readonly LogGcNode[];
  /** Time between scrub passes, microseconds (0: only when a read found a bad checksum). */
  scrubIntervalMicros?: number;
  /**
   * Bytes of appended frames the node may leave unindexed (indexing.ts), at most one segment.
   * Default 0: every frame is indexed right after its ack (unit tests); nodes run with the
   * volume's indexLagBytesMax.
   */
  indexLagBytesMax?: number;
  /** Bytes of source-file buffers a coalescing cycle may hold, kept ones included (default FILE_BUFFER_BYTES_MAX; smaller in tests). */
  coalesceBufferBytesMax?: number;
}

/** A frame as it sits in the inbound ring (or a peer's segment): a view of its bytes. */
export interface FrameRef {
  bytes: Uint8Array;
  header: FrameHeader;
}

/** Counters of a node (names and meanings: nodeStatKeys in shared/control.ts). */
export type NodeStats = Record<NodeStatKey, number>;

/** found: false = no version at or below the read point; value null = deleted. */
export type KeyRead = { found: false } | { found: true; lsn: number; value: Uint8Array | null };
/** Why a node does not answer a read: not caught up to the read point, failed, or a value failed its checksum. */
export type NodeRefusal = { status: 'behind'; scl: number } | { status: 'failed' } | { status: 'corrupt' };
export type NodeRead = { status: 'ok'; result: KeyRead } | NodeRefusal;
/** A page scan's answer (node-reads.ts scanPage): a packed chunk (scan-chunk.ts) and the cursor for the rest, or null. */
export type NodeScan = { status: 'ok'; chunk: Uint8Array; after: Uint8Array | null } | NodeRefusal;

export interface Clock {
  /** Monotonic microseconds. */
  nowMicros(): number;
}

export class NodeCore {
  readonly config: NodeCoreConfig;
  readonly log: HotLog;
  readonly index: KeyIndex;
  readonly stats: NodeStats = Object.fromEntries(nodeStatKeys.map((k) => [k, 0])) as NodeStats;
  readonly blocks: BlockStorage;
  readonly coalescer: Coalescer;
  /** @internal lsnLast of the last frame in each hot-log segment (for GC). */
  readonly segmentLastLsn = new Map<number, number>();
  /** Every frame of the chain still in the hot log (serves gossip). */
  readonly frameDir = new FrameDirectory();
  /** Set when receive() met a frame that does not chain: frames are missing here (fetch from a peer). */
  gapSeen = false;
  /** Set when a read found a bad value checksum: start a scrub pass now. */
  scrubSoon = false;
  /** Set when a page image failed its CRC or a value in the block file failed its checksum. */
  blockSuspect = false;
  /** Frames a scrub found damaged, waiting for a good copy from a peer. */
  readonly repairQueue: FrameLocation[] = [];
  /**
   * @internal Where the scrub pass in progress is (scrub.ts); null between passes. `index`: the
   * lsnLast of the last frame checked (log phase) or the byte position in block file `seq` (blocks phase).
   */
  scrubCursor: { phase: 'log' | 'blocks'; index: number; seq: number } | null = null;
  /** @internal When the next scrub pass is due (scrub.ts): one interval after the node starts, then after each pass. */
  scrubNextAtMicros: number;
  /** SCL: lsnLast of the last frame of the durable, gap-free chain. */
  scl = 0;
  /** Frames of an epoch below this are refused (fencing); durable in the epoch store. */
  epoch = 0;
  /** The volume's truncation history as this node knows it (see epoch-store.ts). */
  history: EpochRecord[] = [];
  /** The epoch of the last recovery applied to this node's log (EpochState.recovered). */
  recoveredEpoch = 0;
  /**
   * @internal
   * Segments after the chain's last one that recovery left in place (they follow a frame corrupt in
   * the middle and may hold acknowledged frames): appends reuse them, overwriting in place, instead
   * of creating them.
   */
  readonly segmentsAhead = new Set<number>();
  /**
   * @internal
   * True while bytes kept after a corrupt-middle frame may still be in the log: they were never
   * checked against the truncation history, so no recovery counts as applied to the whole log.
   */
  tailUnchecked = false;
  /** Highest LSN of any frame seen in the log at scan time or appended since. */
  lsnSeenMax = 0;
  batchSeqLast = 0;
  failure: AuroralError | null = null;
  /** @internal */
  readonly clock: Clock;
  /** The chain's records up to here (a frame end) are in the index; above it, only in the log (indexing.ts). */
  indexedLsn = 0;
  /** @internal Bytes of the frames above indexedLsn. */
  unindexedBytes = 0;
  /** @internal When receive() last appended a frame, on the injected clock. */
  lastAppendMicros = 0;
  /** @internal indexedLsn when the frame after it was found damaged (until repaired), else -1. */
  indexDamagedAt = -1;
  private scratchBytes = new Uint8Array(64 * 1024);

  /**
   * @internal The node's reused read buffer, at least `n` bytes (grown by doubling): indexing reads
   * frames back into it and scrub reads frames and page images; both are synchronous and keep no
   * view of it past the call, so one buffer serves them (a fresh one per read cost page faults).
   */
  scratch(n: number): Uint8Array {
    if (this.scratchBytes.length < n) this.scratchBytes = new Uint8Array(Math.max(n, 2 * this.scratchBytes.length));
    return this.scratchBytes;
  }

  /**
   * @internal Segment hints loaded at recovery (recoverScan), by segment: the frames of these
   * segments are indexed from them, without reading the log; dropped once their segment is indexed.
   */
  readonly segmentHints = new Map<number, SegmentHint>();
  /** The hint of the segment being indexed, while it is indexed from its first frame on. */
  private readonly hintBuilder = new HintBuilder();
  private hintSeq = -1;
  private hintFromStart = false;
  readonly indexLagBytesMax: number;
  /** @internal The append point: the segment and offset where the next accepted frame goes. */
  seq = 0;
  /** @internal */
  position = 0;

  /**
   * A slice of background work; true if more remains. `idle`: nothing waits in the foreground, so
   * coalescing may run; otherwise (a forced slice under load) only segment preallocation, which
   * must keep pace with appends.
   */
  idleWork(idle = true): boolean {
    if (this.failure !== null) return false;
    if (!idle) return this.preallocate();
    try {
      if (indexIdleSlice(this)) return true;
      if (this.coalescer.step()) return true;
      if (scrubStep(this)) return true;
    } catch (e) {
      // Fail-stop as for the log: the state of the block file or meta is unknown. Typed by errno
      // (IO_ERROR, DISK_FULL), so that a restart rebuilds this node from a peer.
      this.failWith(e, 'coalescing');
      return false;
    }
    return this.preallocate();
  }

  /** A slice of the log's preallocation; an I/O error there fails the node (the log latched it). */
  private preallocate(): boolean {
    try {
      return this.log.idleWork(this.position);
    } catch (e) {
      this.failWith(e, 'preallocation');
      return false;
    }
  }

  /**
   * Fail-stop: records the node's first failure, typed once for every path (an fs error by its
   * errno: IO_ERROR or DISK_FULL, which a restart answers with a rebuild; an AuroralError as it is;
   * anything else NODE_FAILED), and returns it. @internal (called by the node's other modules)
   */
  failWith(e: unknown, what: string): AuroralError {
    this.failure ??= asOperatingError(e) ?? errors.nodeFailed(this.config.nodeId, `${what}: ${(e as Error).message}`);
    return this.failure;
  }

  /**
   * Calls `io` (a read); an operating error from it (EIO on a read) fails the node as a write error
   * would, and is returned instead of thrown. A bug (an assertion) is thrown as it is. @internal
   */
  guardRead<T>(io: () => T): T | AuroralError {
    try {
      return io();
    } catch (e) {
      if (asOperatingError(e) === null) throw e;
      return this.failWith(e, 'read');
    }
  }

  /** @internal Saves the epoch file; an error fails the node (its state is unknown: it is never written again). */
  saveEpochs(s: EpochState): void {
    try {
      this.epochs.save(s);
    } catch (e) {
      if (asOperatingError(e) === null) throw e; // a bug
      throw this.failWith(e, 'epoch file');
    }
  }

  // ---- scrub and repair (scrub.ts) ---------------------------------------------------------

  /** Block repair, step 1: versions in the block file whose values fail their checksums (scrub.ts). */
  damagedBlockValues(limit: number): { key: Uint8Array; lsn: number }[] {
    return damagedBlockValues(this, limit);
  }

  /** Block repair, step 2: a good copy of version `lsn` (scrub.ts). */
  addReplacement(lsn: number, value: Uint8Array): void {
    addReplacement(this, lsn, value);
  }

  /** Block repair, step 3: rewrite every image now, with the replacements (scrub.ts). */
  rewriteImages(): void {
    rewriteImages(this);
  }

  /** Overwrites a damaged frame in place with a good copy (from a peer), and syncs (scrub.ts). */
  repairFrame(loc: FrameLocation, bytes: Uint8Array): boolean {
    return repairFrame(this, loc, bytes);
  }

  /** Counters, refreshed (cheap: called once per append group). */
  statsSnapshot(): NodeStats {
    const st = this.stats;
    const c = this.coalescer.stats;
    st.coalesceCycles = c.cycles;
    st.coalesceLsn = this.coalescer.coalesceLsn;
    st.blockBytes = c.blockBytes;
    st.blockHintsLoaded = c.blockHintsLoaded;
    st.segmentsDeleted = c.segmentsDeleted;
    st.blockValuesReplaced = c.valuesReplaced;
    st.indexedLsn = this.indexedLsn;
    st.indexLagBytes = this.unindexedBytes;
    st.hotLogSegments = this.segmentLastLsn.size;
    st.hotLogBytes = this.segmentLastLsn.size * this.log.segmentBytes; // segments are preallocated
    st.indexBytes = this.index.memoryBytes;
    st.fileBufferBytes = this.coalescer.bufferBytes;
    st.hintBufferBytes = this.hintBuilder.capacity;
    return st;
  }
  /** Where the frames accepted by the last receive() were written (their bytes valid until afterAck()). */
  private readonly accepted: { frame: FrameRef; seq: number; position: number }[] = [];

  /** The frames accepted by the last receive() (valid until afterAck()). */
  get acceptedFrames(): readonly { frame: FrameRef; seq: number; position: number }[] {
    return this.accepted;
  }

  /** Observer (per-stage metrics): each fdatasync's start and end, µs on the injected clock. */
  syncObserver: ((startMicros: number, endMicros: number) => void) | null = null;
  /** @internal The scan of the last recoverScan, until recoverTo applies it (node-recovery.ts). */
  scan: ScanResult | null = null;

  readonly epochs: EpochStore;

  constructor(config: NodeCoreConfig, log: HotLog, blocks: BlockStorage, clock: Clock, epochs: EpochStore = new MemEpochStore()) {
    this.config = config;
    this.epochs = epochs;
    this.log = log;
    this.blocks = blocks;
    this.clock = clock;
    // Not at once: right after an open every node would re-read its whole log and block file
    // while the first writes wait for their acks (a read that finds damage sets scrubSoon).
    this.scrubNextAtMicros = clock.nowMicros() + (config.scrubIntervalMicros ?? 0);
    this.index = new KeyIndex(Math.max(12, Math.log2(config.pageCount)));
    // At most one segment: coalescing and hot-log GC wait for indexing, so a lag bound above a
    // segment would keep that much more log on disk.
    this.indexLagBytesMax = Math.min(config.indexLagBytesMax ?? 0, log.segmentBytes);
    // A cycle's images hold every version at or below its LSN: only what is indexed.
    this.coalescer = new Coalescer(this.index, blocks, config.pageCount, log.segmentBytes, {
      scl: () => this.indexedLsn,
      unindexedBytes: () => this.unindexedBytes,
      readValue: (seq, position, valueBytes) => readValue(this, seq, position, valueBytes),
      fileBytes: (seq) => ((seq & BLOCK_BIT) !== 0 ? this.blocks.fileBytes(seq & ~BLOCK_BIT) : this.log.segmentBytes),
      readInto: (seq, position, out) => {
        if ((seq & BLOCK_BIT) !== 0) this.blocks.readInto(seq & ~BLOCK_BIT, position, out);
        else this.log.readInto(seq, position, out.length, out);
      },
      logGcBound: () => logGcBound(config.nodeId, config.logGcNodes?.() ?? [], [...this.segmentLastLsn.values()].sort((a, b) => a - b)),
      gcLogThrough: (lsn) => this.gcLogThrough(lsn),
      segmentCount: () => this.log.segments().length,
      nowMicros: () => this.clock.nowMicros(),
    }, config.coalesceBufferBytesMax);
  }

  /**
   * Deletes hot-log segments whose frames are all at or below `lsn`, except the segment holding
   * the chain's last frame (a restart must find its SCL) and any later one.
   */
  private gcLogThrough(lsn: number): number {
    let deleted = 0;
    for (const seq of this.log.segments()) {
      const last = this.segmentLastLsn.get(seq);
      if (seq >= this.seq || last === undefined || last > lsn || last >= this.scl) break;
      this.log.removeSegment(seq);
      this.segmentLastLsn.delete(seq);
      this.frameDir.dropSegmentsBelow(seq + 1);
      // A damaged frame there awaiting a peer's copy needs none now (its records are in the images):
      // a repair write into the removed file would fail the node.
      for (let i = this.repairQueue.length - 1; i >= 0; i--) if (this.repairQueue[i]!.seq === seq) this.repairQueue.splice(i, 1);
      deleted++;
    }
    return deleted;
  }

  // ---- recovery (node-recovery.ts) ---------------------------------------------------------

  /** Phase 1 of recovery: find the chain and its end; applies nothing yet (node-recovery.ts). */
  recoverScan(history: readonly EpochRecord[] = []): ScanResult {
    return recoverScan(this, history);
  }

  /** Fencing, by a recovering writer: refuse frames of epochs below `epoch`, durably (node-recovery.ts). */
  fence(epoch: number): { scl: number; lsnSeenMax: number; batchSeqLast: number } {
    return fence(this, epoch);
  }

  /** A live node learns the outcome of a recovery it was fenced for (node-recovery.ts). */
  adopt(epoch: number, history: readonly EpochRecord[]): void {
    adopt(this, epoch, history);
  }

  /** Where a rejoining node's chain stops being the volume's (node-recovery.ts). */
  rejoinPoint(): number {
    return rejoinPoint(this);
  }

  /** Phase 2: make the chain end exactly at `lsnKeep`, then rebuild the index (node-recovery.ts). */
  recoverTo(lsnKeep: number, epoch: number, peer: HotLog | null, history: readonly EpochRecord[] = []): void {
    recoverTo(this, lsnKeep, epoch, peer, history);
  }

  // ---- foreground: append + sync + ack ----------------------------------------------------

  /**
   * Checks a frame as received (header and CRC; the record chain is checked when applied).
   * Returns null for a corrupt frame, which is counted and never appended.
   */
  checkIncoming(bytes: Uint8Array, view: DataView, offset: number, end: number): FrameHeader | null {
    const c = checkFrame(bytes, view, offset, end, this.config.payloadBytesMax, false);
    if (!c.ok) {
      this.stats.framesCorrupt++;
      return null;
    }
    return c.header;
  }

  /**
   * Appends the frames that extend the chain, in one write per segment, and syncs. Returns how
   * many of `frames` were accepted (they are a prefix after dropping duplicates). On return the
   * new SCL is durable; the caller publishes it, then calls apply() with the same frames.
   *
   * Fencing applies to frames from a writer: one of an epoch below this node's is refused. Frames
   * from a peer (`fromPeer`: gossip, catch-up) are the volume's history and keep their epochs;
   * they are refused only if a recovery cut them off (they end above the VDL it kept).
   */
  receive(frames: readonly FrameRef[], fromPeer = false): number {
    if (this.failure !== null) return 0;
    let chainEnd = this.scl;
    let accepted = 0;
    let views: Uint8Array[] = [];
    let viewsBytes = 0;
    let touched = -1;
    this.accepted.length = 0;
    try {
      for (const f of frames) {
        const h = f.header;
        if (h.lsnLast <= chainEnd) {
          this.stats.framesDuplicate++;
          continue;
        }
        // From a peer: refused if a recovery cut it off, or if that cannot be known (history cap).
        if (fromPeer ? h.lsnLast > (cutFor(this.history, h.epoch, this.recoveredEpoch) ?? -1) : h.epoch < this.epoch) {
          this.stats.framesFenced++;
          break;
        }
        if (h.lsnPrev !== chainEnd) {
          this.stats.framesGap++;
          this.gapSeen = true;
          break;
        }
        assert(f.bytes.length === frameBytes(h.payloadBytes), 'frame view length mismatch');
        if (this.position + f.bytes.length > this.log.segmentBytes) {
          // Rotate: flush what this segment got, then continue in a fresh preallocated segment.
          if (views.length > 0) this.log.write(this.seq, this.position - viewsBytes, views);
          if (touched === this.seq) this.syncSegment(this.seq);
          views = [];
          viewsBytes = 0;
          this.seq++;
          this.position = 0;
          if (!this.segmentsAhead.delete(this.seq)) {
            this.log.createSegment(this.seq);
            this.stats.segmentsCreated++;
          }
        }
        this.accepted.push({ frame: f, seq: this.seq, position: this.position });
        this.frameDir.add({ lsnPrev: h.lsnPrev, lsnLast: h.lsnLast, seq: this.seq, position: this.position, bytes: f.bytes.length });
        this.unindexedBytes += f.bytes.length;
        this.segmentLastLsn.set(this.seq, h.lsnLast);
        this.coalescer.bytesSinceCycle += f.bytes.length;
        views.push(f.bytes);
        viewsBytes += f.bytes.length;
        this.position += f.bytes.length;
        touched = this.seq;
        chainEnd = h.lsnLast;
        if (h.epoch > this.epoch) this.epoch = h.epoch; // a newer writer's frame fences older ones
        this.batchSeqLast = h.batchSeq;
        if (h.lsnLast > this.lsnSeenMax) this.lsnSeenMax = h.lsnLast;
        this.stats.framesAppended++;
        this.stats.recordsAppended += h.recordCount;
        this.stats.bytesAppended += f.bytes.length;
        accepted++;
      }
      if (views.length > 0) this.log.write(this.seq, this.position - viewsBytes, views);
      if (touched === this.seq) this.syncSegment(this.seq);
    } catch (e) {
      // Fail-stop: the durable state of this file is unknown. Never sync it again, never ack.
      this.failWith(e, 'append');
      this.accepted.length = 0;
      return 0;
    }
    if (accepted > 0) {
      this.stats.groups++;
      this.scl = chainEnd;
      this.lastAppendMicros = this.clock.nowMicros();
    }
    return accepted;
  }

  private syncSegment(seq: number): void {
    const t0 = this.clock.nowMicros();
    this.log.sync(seq);
    const t1 = this.clock.nowMicros();
    this.stats.syncMicrosTotal += t1 - t0;
    this.stats.syncs++;
    this.syncObserver?.(t0, t1);
  }

  // ---- background: apply ------------------------------------------------------------------

  /**
   * After the ack of the frames the last receive() accepted (their bytes must still be valid, i.e.
   * the ring not yet released): index them now only if the backlog passed indexLagBytesMax
   * (indexing.ts); otherwise they wait for a quiet moment or a read. `readMin` is the PGMRPL
   * piggybacked on them.
   */
  afterAck(readMin: number): void {
    this.index.setReadMin(readMin);
    indexAfterAppend(this);
    this.accepted.length = 0;
  }

  /** @internal (indexing.ts) the chain is indexed up to `lsn`, a frame of `bytes` more. */
  noteIndexed(lsn: number, bytes: number): void {
    this.indexedLsn = lsn;
    this.unindexedBytes -= bytes;
  }

  /**
   * @internal (node-recovery.ts) the index holds the page images, which cover the chain up to
   * `lsn`; the `bytes` of frames above it are the indexing backlog.
   */
  indexBacklogFrom(lsn: number, bytes: number): void {
    this.indexedLsn = lsn;
    this.unindexedBytes = bytes;
    this.indexDamagedAt = -1;
  }

  /** Adds every record of a (checked) frame to the index, located at (seq, position). */
  /** @internal (also rebuilds the index in node-recovery.ts) */
  indexFrame(bytes: Uint8Array, h: FrameHeader, seq: number, position: number): void {
    this.hintFrame(seq, position, bytes, true);
    const hinting = this.hintFromStart;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = FRAME_HEADER_BYTES + h.payloadBytes;
    let at = FRAME_HEADER_BYTES;
    let count = 0;
    while (at < end) {
      const size = view.getUint32(at, true);
      const op = bytes[at + 4]!;
      const keyBytes = view.getUint16(at + 6, true);
      const valueBytes = view.getUint32(at + 20, true);
      if (size !== recordBytes(keyBytes, valueBytes) || at + size > end || (op !== Op.PUT && op !== Op.DELETE)) {
        throw errors.corruptRecord(`record at ${at} of frame ${h.lsnFirst}..${h.lsnLast} is malformed`);
      }
      const keyStart = at + RECORD_HEADER_BYTES;
      const keyEnd = keyStart + keyBytes;
      const lsn = readU64(view, at + 8);
      const checksum = view.getUint32(at + 24, true);
      this.index.insert(keyHash(bytes, keyStart, keyEnd), bytes, keyStart, keyEnd, lsn, seq,
        position + keyEnd, op === Op.PUT ? valueBytes : TOMBSTONE, checksum);
      if (hinting) this.hintBuilder.entry(bytes, keyStart, keyEnd, op, valueBytes, lsn, position + keyEnd, checksum);
      at += size;
      count++;
    }
    if (!(count === h.recordCount)) fail(`frame ${h.lsnFirst}..${h.lsnLast} holds ${count} records, header says ${h.recordCount}`);
    this.stats.recordsApplied += count;
  }

  /**
   * @internal (indexing.ts) Frame `i` of a segment hint loaded at recovery: its records enter the
   * index as indexFrame would put them there, read from the hint instead of the log.
   */
  indexFromHint(hint: SegmentHint, i: number): void {
    const f = hint.frames[i]!;
    this.hintFrame(f.seq, f.position, hint.bytes, false);
    forEachHintRecord(hint, i, (bytes, keyStart, keyEnd, op, valueBytes, lsn, valuePosition, checksum) => {
      this.index.insert(keyHash(bytes, keyStart, keyEnd), bytes, keyStart, keyEnd, lsn, f.seq, valuePosition,
        op === Op.PUT ? valueBytes : TOMBSTONE, checksum);
    });
    this.stats.recordsApplied += f.header.recordCount;
    this.stats.framesIndexedFromHints++;
    if (i === hint.frames.length - 1) this.segmentHints.delete(f.seq);
  }

  /**
   * Indexing is in chain order, so a segment indexed from its first frame up to the first frame of
   * the next segment has been seen whole: its hint is written then (the segment was synced before
   * the next one was started). A segment indexed from a hint, or from the middle (after a restart),
   * gets none from here.
   */
  private hintFrame(seq: number, position: number, header: Uint8Array, build: boolean): void {
    if (seq !== this.hintSeq) {
      // Not for a segment hot-log GC removed meanwhile (a cycle at exactly its last frame): that
      // hint would be an orphan file nothing reads or removes.
      if (this.hintFromStart && seq === this.hintSeq + 1 && position === 0 && this.segmentLastLsn.has(this.hintSeq) &&
        this.log.writeHint(this.hintSeq, this.hintBuilder.seal())) {
        this.stats.segmentHintsWritten++;
      }
      this.hintSeq = seq;
      this.hintFromStart = build && position === 0;
      if (this.hintFromStart) this.hintBuilder.begin(HintKind.SEGMENT, seq);
    }
    if (this.hintFromStart) {
      if (build) this.hintBuilder.frame(position, header, 0);
      else this.hintFromStart = false;
    }
  }

  /** @internal (node-recovery.ts) The log is about to change in place from segment `seq` on. */
  dropHintsFrom(seq: number): void {
    for (const s of this.log.segments()) if (s >= seq) this.log.removeHint(s);
    for (const s of [...this.segmentHints.keys()]) if (s >= seq) this.segmentHints.delete(s);
    if (this.hintSeq >= seq) this.hintFromStart = false;
  }

  // ---- serve reads and gossip (node-reads.ts) -----------------------------------------------

  /** Gossip, serving side: copies of this node's durable frames after `lsn` (node-reads.ts). */
  framesAfter(lsn: number, bytesMax: number): Uint8Array[] {
    return framesAfter(this, lsn, bytesMax);
  }

  /** The value of `key` as of `readPoint`, read from this node's log (node-reads.ts). */
  read(key: Uint8Array, readPoint: number): NodeRead {
    return read(this, key, readPoint);
  }

  /** The live keys of one page as of `readPoint`, one chunk of about `bytesMax` (node-reads.ts). */
  scanPage(pageId: number, readPoint: number, prefix: Uint8Array, after: Uint8Array | null, bytesMax: number): NodeScan {
    return scanPage(this, pageId, readPoint, prefix, after, bytesMax);
  }
}
