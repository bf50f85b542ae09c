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
import { assert } from '../assert.js';
import { asOperatingError, AuroralError, errors } from '../errors.js';
import { checkFrame, frameBytes, type FrameHeader } from '../log/frame.js';
import { scanHotLog, ScanOutcome, type ScanResult, type ScannedFrame } from '../log/scanner.js';
import type { HotLog } from './hotlog.js';
import { KeyIndex, keyHash, TOMBSTONE } from './key-index.js';
import { BLOCK_BIT, blockLocation, type BlockStorage } from './blocks.js';
import { Coalescer } from './coalescer.js';
import { FrameDirectory, type FrameLocation } from './frame-directory.js';
import { nodeStatKeys, type NodeStatKey } from '../shared/control.js';
import { readImages } from './blocks.js';
import { FRAME_HEADER_BYTES } from '../config.js';
import { Op, RECORD_HEADER_BYTES, recordBytes, valueChecksum } from '../log/record.js';
import { readU64 } from '../log/u64.js';
import { logGcBound, type LogGcNode } from './log-gc.js';
import { cutFor, MemEpochStore, mergeHistory, type EpochRecord, type EpochState, type EpochStore } from './epoch-store.js';

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
export type NodeRead = { status: 'ok'; result: KeyRead } | { status: 'behind'; scl: number } | { status: 'failed' } | { status: 'corrupt' };

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
  /** lsnLast of the last frame in each hot-log segment (for GC). */
  private readonly segmentLastLsn = new Map<number, number>();
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
  private scrubCursor: { phase: 'log' | 'blocks'; index: number } | null = null;
  private scrubNextAtMicros = 0;
  /** SCL: lsnLast of the last frame of the durable, gap-free chain. */
  scl = 0;
  /** Frames of an epoch below this are refused (fencing); durable in the epoch store. */
  epoch = 0;
  /** The volume's truncation history as this node knows it (see epoch-store.ts). */
  history: EpochRecord[] = [];
  /** The epoch of the last recovery applied to this node's log (EpochState.recovered). */
  recoveredEpoch = 0;
  /**
   * Segments after the chain's last one that recovery left in place (they follow a frame corrupt in
   * the middle and may hold acknowledged frames): appends reuse them, overwriting in place, instead
   * of creating them.
   */
  private readonly segmentsAhead = new Set<number>();
  /**
   * True while bytes kept after a corrupt-middle frame may still be in the log: they were never
   * checked against the truncation history, so no recovery counts as applied to the whole log.
   */
  private tailUnchecked = false;
  /** Highest LSN of any frame seen in the log at scan time or appended since. */
  lsnSeenMax = 0;
  batchSeqLast = 0;
  failure: AuroralError | null = null;
  private readonly clock: Clock;
  private seq = 0;
  private position = 0;

  /**
   * A slice of background work; true if more remains. `idle`: nothing waits in the foreground, so
   * coalescing may run; otherwise (a forced slice under load) only segment preallocation, which
   * must keep pace with appends.
   */
  idleWork(idle = true): boolean {
    if (this.failure !== null) return false;
    if (!idle) return this.log.idleWork(this.position);
    try {
      if (this.coalescer.step()) return true;
      if (this.scrubStep()) return true;
    } catch (e) {
      // Fail-stop as for the log: the state of the block file or meta is unknown. Typed by errno
      // (IO_ERROR, DISK_FULL), so that a restart rebuilds this node from a peer.
      this.failWith(e, 'coalescing');
      return false;
    }
    return this.log.idleWork(this.position);
  }

  /**
   * Fail-stop: records the node's first failure, typed once for every path (an fs error by its
   * errno: IO_ERROR or DISK_FULL, which a restart answers with a rebuild; an AuroralError as it is;
   * anything else NODE_FAILED), and returns it.
   */
  private failWith(e: unknown, what: string): AuroralError {
    this.failure ??= asOperatingError(e) ?? errors.nodeFailed(this.config.nodeId, `${what}: ${(e as Error).message}`);
    return this.failure;
  }

  /**
   * Calls `io` (a read); an operating error from it (EIO on a read) fails the node as a write error
   * would, and is returned instead of thrown. A bug (an assertion) is thrown as it is.
   */
  private guardRead<T>(io: () => T): T | AuroralError {
    try {
      return io();
    } catch (e) {
      if (asOperatingError(e) === null) throw e;
      return this.failWith(e, 'read');
    }
  }

  /** Saves the epoch file; an error fails the node (its state is unknown: it is never written again). */
  private saveEpochs(s: EpochState): void {
    try {
      this.epochs.save(s);
    } catch (e) {
      if (asOperatingError(e) === null) throw e; // a bug
      throw this.failWith(e, 'epoch file');
    }
  }

  /**
   * One slice of a scrub pass: re-reads hot-log frames (CRC and record chain) and then the block
   * file's images (CRC). A bad frame is queued for repair from a peer; a bad image is counted
   * (values in it are still refused by their checksums on read). True if more remains.
   */
  private scrubStep(): boolean {
    const now = this.clock.nowMicros();
    if (this.scrubCursor === null) {
      const interval = this.config.scrubIntervalMicros ?? 0;
      if (!this.scrubSoon && (interval === 0 || now < this.scrubNextAtMicros)) return false;
      this.scrubSoon = false;
      this.scrubCursor = { phase: 'log', index: this.frameDir.first };
    }
    const cur = this.scrubCursor;
    if (cur.phase === 'log') {
      for (let n = 0; n < 32; n++) {
        if (cur.index < this.frameDir.first) cur.index = this.frameDir.first; // GC moved on
        const f = this.frameDir.at(cur.index);
        if (f === undefined || f.lsnLast > this.scl) {
          cur.phase = 'blocks';
          return true;
        }
        cur.index++;
        const bytes = this.log.read(f.seq, f.position, f.bytes);
        const c = checkFrame(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, this.config.payloadBytesMax);
        if (!c.ok || c.header.lsnLast !== f.lsnLast) {
          this.stats.scrubErrors++;
          if (!this.repairQueue.some((r) => r.lsnLast === f.lsnLast)) this.repairQueue.push(f);
        }
      }
      return true;
    }
    const seq = this.coalescer.blockSeq;
    if (seq >= 0) {
      try {
        readImages(this.blocks.readAll(seq), () => {});
      } catch {
        this.stats.scrubBlockErrors++;
        this.blockSuspect = true;
      }
    }
    this.stats.scrubPasses++;
    this.scrubCursor = null;
    this.scrubNextAtMicros = now + (this.config.scrubIntervalMicros ?? 0);
    this.coalescer.waitForScrub = false;
    return false;
  }

  /**
   * Block repair, step 1: the versions stored in the current block file whose values fail their
   * checksums (key, LSN), minus those already replaced. Empty means the images can be rewritten
   * from what this node has (damage in keys or headers only: the index holds the keys).
   */
  damagedBlockValues(limit: number): { key: Uint8Array; lsn: number }[] {
    const out: { key: Uint8Array; lsn: number }[] = [];
    const seq = this.coalescer.blockSeq;
    if (seq < 0) return out;
    this.index.forEachVersionIn(blockLocation(seq), (key, lsn, position, valueBytes, checksum) => {
      if (out.length >= limit || this.coalescer.replacements.has(lsn)) return;
      if (valueChecksum(this.blocks.read(seq, position, valueBytes)) !== checksum) out.push({ key: key.slice(), lsn });
    });
    return out;
  }

  /** Block repair, step 2: a good copy of version `lsn` (checked against the index's checksum by the cycle). */
  addReplacement(lsn: number, value: Uint8Array): void {
    this.coalescer.replacements.set(lsn, value);
  }

  /** Block repair, step 3: rewrite every image now, with the replacements. */
  rewriteImages(): void {
    this.coalescer.force = true;
    this.coalescer.waitForScrub = false;
    this.blockSuspect = false;
    this.stats.blockRepairs++;
  }

  /** Overwrites a damaged frame in place with a good copy (from a peer), and syncs. Never on a failed node. */
  repairFrame(loc: FrameLocation, bytes: Uint8Array): boolean {
    if (this.failure !== null) return false; // fail-stop: its files are never written or synced again
    const c = checkFrame(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, this.config.payloadBytesMax);
    if (!c.ok || c.header.lsnLast !== loc.lsnLast || c.header.lsnPrev !== loc.lsnPrev || bytes.length !== loc.bytes) return false;
    try {
      this.log.write(loc.seq, loc.position, [bytes]);
      this.log.sync(loc.seq);
    } catch (e) {
      this.failWith(e, 'frame repair');
      return false;
    }
    const i = this.repairQueue.findIndex((r) => r.lsnLast === loc.lsnLast);
    if (i >= 0) this.repairQueue.splice(i, 1);
    this.stats.scrubRepairs++;
    return true;
  }

  /** Counters, refreshed (cheap: called once per append group). */
  statsSnapshot(): NodeStats {
    const st = this.stats;
    const c = this.coalescer.stats;
    st.coalesceCycles = c.cycles;
    st.coalesceLsn = this.coalescer.coalesceLsn;
    st.blockBytes = c.blockBytes;
    st.segmentsDeleted = c.segmentsDeleted;
    st.blockValuesReplaced = c.valuesReplaced;
    st.hotLogSegments = this.segmentLastLsn.size;
    st.hotLogBytes = this.segmentLastLsn.size * this.log.segmentBytes; // segments are preallocated
    return st;
  }
  /** Where the frames accepted by the last receive() were written: indexed after the ack. */
  private readonly accepted: { frame: FrameRef; seq: number; position: number }[] = [];

  /** The frames accepted by the last receive() (valid until indexAccepted()). */
  get acceptedFrames(): readonly { frame: FrameRef }[] {
    return this.accepted;
  }

  /** Observer (per-stage metrics): each fdatasync's start and end, µs on the injected clock. */
  syncObserver: ((startMicros: number, endMicros: number) => void) | null = null;
  private scan: ScanResult | null = null;

  readonly epochs: EpochStore;

  constructor(config: NodeCoreConfig, log: HotLog, blocks: BlockStorage, clock: Clock, epochs: EpochStore = new MemEpochStore()) {
    this.config = config;
    this.epochs = epochs;
    this.log = log;
    this.blocks = blocks;
    this.clock = clock;
    this.index = new KeyIndex(Math.max(12, Math.log2(config.pageCount)));
    this.coalescer = new Coalescer(this.index, blocks, config.pageCount, log.segmentBytes, {
      scl: () => this.scl,
      readValue: (seq, position, valueBytes) => this.readValue(seq, position, valueBytes),
      fileBytes: (seq) => ((seq & BLOCK_BIT) !== 0 ? this.blocks.fileBytes(seq & ~BLOCK_BIT) : this.log.segmentBytes),
      readFile: (seq) => ((seq & BLOCK_BIT) !== 0 ? this.blocks.readAll(seq & ~BLOCK_BIT) : this.log.readSegment(seq)),
      logGcBound: () => logGcBound(config.nodeId, config.logGcNodes?.() ?? [], [...this.segmentLastLsn.values()].sort((a, b) => a - b)),
      gcLogThrough: (lsn) => this.gcLogThrough(lsn),
      segmentCount: () => this.log.segments().length,
    });
  }

  private readValue(seq: number, position: number, valueBytes: number): Uint8Array {
    return (seq & BLOCK_BIT) !== 0 ? this.blocks.read(seq & ~BLOCK_BIT, position, valueBytes) : this.log.read(seq, position, valueBytes);
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
      deleted++;
    }
    return deleted;
  }

  // ---- recovery ---------------------------------------------------------------------------

  /** Phase 1 of recovery: find the chain and its end; applies nothing yet. */
  /**
   * `history`: the volume's truncation history as the writer knows it (volume.json). The SCL this
   * reports already leaves out frames a recovery cut off while this node was away (rejoinPoint):
   * such frames must never make this node look longer than the volume's chain.
   */
  recoverScan(history: readonly EpochRecord[] = []): ScanResult {
    const r = scanHotLog(this.log, this.config.payloadBytesMax);
    this.scan = r;
    for (const f of r.frames) this.segmentLastLsn.set(f.seq, f.header.lsnLast);
    this.scl = r.lsnLast;
    const stored = this.epochs.load();
    this.epoch = Math.max(r.epochLast, stored.epoch);
    this.history = mergeHistory(stored.history, history);
    this.recoveredEpoch = stored.recovered ?? 0;
    this.scl = this.rejoinPoint();
    this.lsnSeenMax = r.lsnSeenMax;
    this.batchSeqLast = r.batchSeqLast;
    this.seq = r.endSeq;
    this.position = r.endPosition;
    return r;
  }

  /**
   * Fencing, by a recovering writer: from now on refuse frames of epochs below `epoch`. Durable
   * before it returns. A writer whose epoch is below this node's is itself stale: FENCED.
   */
  fence(epoch: number): { scl: number; lsnSeenMax: number; batchSeqLast: number } {
    if (this.failure !== null) throw this.failure; // fail-stop: writes nothing, counts for no fence quorum
    if (epoch < this.epoch) throw errors.fenced(epoch, this.epoch);
    if (epoch > this.epoch) {
      this.saveEpochs({ epoch, history: this.history, recovered: this.recoveredEpoch });
      this.epoch = epoch;
    }
    return { scl: this.scl, lsnSeenMax: Math.max(this.lsnSeenMax, this.scl), batchSeqLast: this.batchSeqLast };
  }

  /**
   * A live node learns the outcome of a recovery it was fenced for (writer failover): the new
   * epoch and the VDL it kept, durably. Its chain is at or below that VDL (the VDL is the longest
   * chain of the fenced nodes), so nothing is truncated; if behind, it catches up by gossip.
   */
  adopt(epoch: number, history: readonly EpochRecord[]): void {
    if (this.failure !== null) throw this.failure; // fail-stop: writes nothing
    if (epoch < this.epoch) throw errors.fenced(epoch, this.epoch);
    this.history = mergeHistory(this.history, history);
    const kept = this.history[this.history.length - 1];
    assert(kept === undefined || kept.epoch !== epoch || this.scl <= kept.vdl, `node ${this.config.nodeId} is at ${this.scl}, above the VDL ${kept?.vdl} recovery kept`);
    // Its chain is within what that recovery kept: the recovery is applied to this log.
    const applied = kept !== undefined && kept.epoch === epoch;
    if (applied && !this.tailUnchecked) this.recoveredEpoch = epoch;
    this.saveEpochs({ epoch, history: this.history, recovered: this.recoveredEpoch });
    this.epoch = epoch;
  }

  /**
   * Where a rejoining node's chain stops being the volume's: before the first frame that ends above
   * the VDL kept by a recovery that happened after that frame's epoch (it was cut off while this
   * node was away). The node's own SCL if there is none.
   */
  rejoinPoint(): number {
    const scan = this.scan;
    assert(scan !== null, 'rejoinPoint before recoverScan');
    for (const f of scan.frames) {
      const cut = cutFor(this.history, f.header.epoch, this.recoveredEpoch);
      if (cut === null) {
        // The recovery that decides whether this frame is the volume's is older than the history
        // kept (HISTORY_MAX): never guess; this node is rebuilt from a peer.
        throw errors.rebuildNeeded(this.config.nodeId, `its log holds a frame of epoch ${f.header.epoch} (ending at ${f.header.lsnLast}), ` +
          `older than the truncation history kept (from epoch ${this.history[0]?.epoch}), and it applied no recovery since`);
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
  recoverTo(lsnKeep: number, epoch: number, peer: HotLog | null, history: readonly EpochRecord[] = []): void {
    const scan = this.scan;
    assert(scan !== null, 'recoverTo before recoverScan');
    if (this.failure !== null) throw this.failure; // fail-stop: a failed fence is never retried here
    if (epoch < this.epoch) throw errors.fenced(epoch, this.epoch);
    // Durable before anything is truncated: the epoch (fencing) and what this recovery keeps.
    this.history = mergeHistory(this.history, history);
    this.saveEpochs({ epoch, history: this.history, recovered: this.recoveredEpoch });
    this.epoch = epoch;
    const meta = this.blocks.readMeta();
    if (lsnKeep >= 0 && lsnKeep < meta.coalesceLsn) {
      throw errors.recoveryFailed(`node ${this.config.nodeId}: recovered VDL ${lsnKeep} is below its coalesce point ${meta.coalesceLsn}`);
    }
    const first = scan.frames[0];
    if (first !== undefined && first.header.lsnPrev > meta.coalesceLsn) {
      throw errors.recoveryFailed(`node ${this.config.nodeId}: hot log starts at ${first.header.lsnPrev}, above its coalesce point ${meta.coalesceLsn} (a gap)`);
    }
    let frames = scan.frames;
    // The chain ends at the recovered VDL, or earlier where a past recovery cut it (rejoinPoint).
    const target = Math.min(this.rejoinPoint(), lsnKeep);
    if (target < scan.lsnLast) {
      const keep = frames.findIndex((f) => f.header.lsnLast === target);
      if (target !== 0 && keep < 0 && target !== frames[0]?.header.lsnPrev) {
        throw errors.recoveryFailed(`node ${this.config.nodeId} has no frame ending at ${target} (recovered VDL ${lsnKeep})`);
      }
      frames = frames.slice(0, keep + 1);
      const last = frames[frames.length - 1];
      this.seq = last === undefined ? (scan.frames[0]?.seq ?? this.seq) : last.seq;
      this.position = last === undefined ? 0 : last.position + last.bytes;
      this.scl = last === undefined ? target : last.header.lsnLast;
      this.batchSeqLast = last === undefined ? 0 : last.header.batchSeq;
    }
    // Make the log end where the chain ends (see the table above).
    const cut = this.scl !== scan.lsnLast;
    const keepTail = !cut && scan.outcome === ScanOutcome.CORRUPT_MIDDLE;
    const dirty = cut || scan.outcome !== ScanOutcome.CLEAN || this.log.segments().some((s) => s > this.seq);
    if (dirty && !keepTail) this.zeroFrom(this.seq, this.position);
    this.segmentsAhead.clear();
    for (const s of this.log.segments()) if (s > this.seq) this.segmentsAhead.add(s);
    for (const f of scan.frames) if (f.header.lsnLast > this.scl) this.segmentLastLsn.delete(f.seq);
    for (const f of frames) this.segmentLastLsn.set(f.seq, f.header.lsnLast);
    this.frameDir.clear();
    for (const f of frames) this.frameDir.add({ lsnPrev: f.header.lsnPrev, lsnLast: f.header.lsnLast, seq: f.seq, position: f.position, bytes: f.bytes });
    if (this.log.segments().length === 0) {
      this.log.createSegment(this.seq);
      this.stats.segmentsCreated++;
    }
    const behind = this.scl < lsnKeep;
    if (behind) {
      if (peer === null) throw errors.recoveryFailed(`node ${this.config.nodeId} is behind (${this.scl} < ${lsnKeep}) and has no peer to catch up from`);
      this.catchUpFrom(peer, lsnKeep); // historical frames keep their (older) epochs
      // With a peer, lsnKeep is the recovered VDL: what is left of this node's own bytes after it
      // (a kept tail beyond the copied frames) was never acknowledged.
      if (keepTail) {
        this.zeroFrom(this.seq, this.position);
        this.segmentsAhead.clear();
      }
    }
    this.tailUnchecked = keepTail && !behind; // after a catch-up the kept tail was zeroed above lsnKeep
    assert(this.scl === lsnKeep, `node ${this.config.nodeId} recovered to ${this.scl}, expected ${lsnKeep} ` +
      `(scan: ${scan.outcome}, chain ${scan.frames[0]?.header.lsnPrev ?? '-'}..${scan.lsnLast} in ${scan.frames.length} frames, ` +
      `fault ${scan.fault?.why ?? 'none'}, coalesceLsn ${meta.coalesceLsn}, segments ${this.log.segments().join(',')}, ` +
      `peer ${peer === null ? 'none' : `segments ${peer.segments().join(',')}`})`);
    this.rebuildIndex();
    this.scan = null;
    // The log now satisfies this recovery's cut (unless bytes after a corrupt frame were kept):
    // durable before any frame of this epoch is acknowledged.
    if (!this.tailUnchecked) {
      this.recoveredEpoch = epoch;
      this.saveEpochs({ epoch, history: this.history, recovered: epoch });
    }
  }

  private zeroFrom(seq: number, position: number): void {
    const zeros = new Uint8Array(Math.min(1 << 20, this.log.segmentBytes));
    if (this.log.segments().includes(seq)) {
      for (let at = position; at < this.log.segmentBytes; at += zeros.length) {
        this.log.write(seq, at, [zeros.subarray(0, Math.min(zeros.length, this.log.segmentBytes - at))]);
      }
      this.log.sync(seq);
    }
    for (const s of this.log.segments()) if (s > seq) this.log.removeSegment(s);
  }

  private catchUpFrom(peer: HotLog, lsnTo: number): void {
    const batch: FrameRef[] = [];
    scanHotLog(peer, this.config.payloadBytesMax, (f: ScannedFrame, segment: Uint8Array) => {
      if (f.header.lsnLast > this.scl && f.header.lsnLast <= lsnTo) {
        batch.push({ bytes: segment.slice(f.position, f.position + f.bytes), header: f.header });
      }
    });
    const accepted = this.receive(batch, true);
    if (this.failure !== null) throw this.failure;
    if (accepted !== batch.length || this.scl !== lsnTo) {
      // The peer no longer holds the frames after this node's chain end (it coalesced them into
      // pages): this node cannot catch up by log and must be rebuilt from a peer's copy.
      throw errors.rebuildNeeded(this.config.nodeId, `its chain ends at ${this.scl}, and the peer's hot log does not continue from there ` +
        `(accepted ${accepted} of ${batch.length} frames up to ${lsnTo})`);
    }
  }

  /**
   * Images first (everything at or below the coalesce point), then the log above it. The same
   * scan proves the log on disk ends exactly at the SCL this node is about to report: a recovery
   * step that damaged its own log fails loudly here instead of acknowledging from memory.
   */
  private rebuildIndex(): void {
    this.coalescer.recover();
    const from = this.coalescer.coalesceLsn;
    this.coalescer.bytesSinceCycle = 0; // the log above the coalesce point: what a cycle would absorb
    const r = scanHotLog(this.log, this.config.payloadBytesMax, (f, segment) => {
      if (f.header.lsnLast <= from || f.header.lsnLast > this.scl) return;
      this.coalescer.bytesSinceCycle += f.bytes;
      this.indexFrame(segment.subarray(f.position, f.position + f.bytes), f.header, f.seq, f.position);
    });
    if (r.lsnLast !== this.scl && !(r.frames.length === 0 && this.scl === from)) {
      throw errors.recoveryFailed(`node ${this.config.nodeId}: after recovery its log ends at ${r.lsnLast} (${r.outcome}, ` +
        `${r.frames.length} frames, fault ${r.fault?.why ?? 'none'}, segments ${this.log.segments().join(',')}), expected ${this.scl}`);
    }
  }

  /** Adds every record of a (checked) frame to the index, located at (seq, position). */
  private indexFrame(bytes: Uint8Array, h: FrameHeader, seq: number, position: number): void {
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
      this.index.insert(keyHash(bytes, keyStart, keyEnd), bytes, keyStart, keyEnd, readU64(view, at + 8), seq,
        position + keyEnd, op === Op.PUT ? valueBytes : TOMBSTONE, view.getUint32(at + 24, true));
      at += size;
      count++;
    }
    assert(count === h.recordCount, `frame ${h.lsnFirst}..${h.lsnLast} holds ${count} records, header says ${h.recordCount}`);
    this.stats.recordsApplied += count;
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

  // ---- background: apply, serve reads -----------------------------------------------------

  /**
   * Indexes the frames accepted by the last receive() (after its ack; their bytes must still be
   * valid, i.e. the ring not yet released). `readMin` is the PGMRPL piggybacked on them.
   */
  indexAccepted(readMin: number): void {
    this.index.setReadMin(readMin);
    for (const a of this.accepted) this.indexFrame(a.frame.bytes, a.frame.header, a.seq, a.position);
    this.accepted.length = 0;
  }

  /**
   * Gossip, serving side: copies of this node's durable frames after `lsn` (the first one's
   * backlink is `lsn`), up to about `bytesMax`. Empty if `lsn` is not a frame end here.
   */
  framesAfter(lsn: number, bytesMax: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (this.failure !== null) return out;
    let total = 0;
    for (let i = this.frameDir.indexAfter(lsn); i >= 0; i++) {
      const f = this.frameDir.at(i);
      if (f === undefined || f.lsnLast > this.scl || (total > 0 && total + f.bytes > bytesMax)) break;
      const bytes = this.guardRead(() => this.log.read(f.seq, f.position, f.bytes));
      if (bytes instanceof AuroralError) return []; // the node failed itself: it serves nothing
      out.push(bytes);
      total += f.bytes;
    }
    this.stats.framesServed += out.length;
    return out;
  }

  /** The value of `key` as of `readPoint`, read from this node's log. */
  read(key: Uint8Array, readPoint: number): NodeRead {
    if (this.failure !== null) return { status: 'failed' };
    if (readPoint > this.scl) return { status: 'behind', scl: this.scl };
    this.stats.reads++;
    const v = this.index.lookup(keyHash(key), key, readPoint);
    if (v === null) return { status: 'ok', result: { found: false } };
    if (v.valueBytes === TOMBSTONE) return { status: 'ok', result: { found: true, lsn: v.lsn, value: null } };
    const value = this.guardRead(() => this.readValue(v.seq, v.position, v.valueBytes));
    if (value instanceof AuroralError) return { status: 'failed' };
    if (valueChecksum(value) !== v.valueChecksum) {
      // Never serve corrupt bytes: the writer reads from another node; scrub repairs this one.
      this.stats.readsCorrupt++;
      this.scrubSoon = true;
      if ((v.seq & BLOCK_BIT) !== 0) this.blockSuspect = true;
      return { status: 'corrupt' };
    }
    return { status: 'ok', result: { found: true, lsn: v.lsn, value } };
  }
}
