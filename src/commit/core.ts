// Group-commit core, sans-I/O. It turns MTRs drained from the log ring into sealed frames, sends
// each frame to every node through injected links, keeps frames that a node has not made durable
// yet (so a paused or restarted node catches up), and derives VDL from the nodes' SCLs.
//
// Limits: a frame holds at most batchBytesMax-1 bytes plus one MTR; retained frames are bounded by
// retainBytesMax. Past that bound the laggard nodes are detached (they must catch up from a peer)
// as long as a write quorum stays attached; otherwise the core stops accepting MTRs, and
// back-pressure reaches the writer through the log ring.
import { assert, fail } from '../assert.js';
import { FRAME_HEADER_BYTES } from '../config.js';
import { sealFrame } from '../log/frame.js';
import { readU64 } from '../log/u64.js';
import { FrameSlab, type SlabFrame } from './frame-slab.js';
import { decideCut, windowFull, type BatchPolicyConfig, type CutReason } from './policy.js';
import { QuorumTracker } from './quorum.js';

export interface NodeLinks {
  /** True if node i can take frames now (running; its ring belongs to the current incarnation). */
  isLive(node: number): boolean;
  /** Copies a frame into node i's inbound ring; false if the ring is full. Not yet visible. */
  tryPush(node: number, frame: Uint8Array): boolean;
  /** Publishes pushed frames to node i and wakes it. */
  flush(node: number): void;
}

export interface GroupCommitConfig {
  nodes: number;
  writeQuorum: number;
  policy: BatchPolicyConfig;
  frameBytesMax: number;
  retainBytesMax: number;
  epoch: number;
  /** lsnLast of the last frame already in the volume log (the recovered VDL). */
  lsnPrev: number;
  batchSeqNext: number;
  /** Observer (per-stage metrics): a frame is about to be sealed. Called before the seal and copy. */
  onCut?: (batchSeq: number, lsnLast: number) => void;
}

interface RetainedFrame extends SlabFrame {
  lsnPrev: number;
  lsnLast: number;
}

export type CutCounts = Record<CutReason, number>;

export class GroupCommitCore {
  readonly quorum: QuorumTracker;
  readonly cuts: CutCounts = { bytes: 0, records: 0, idle: 0, time: 0, close: 0 };
  stats = { batches: 0, records: 0, mtrs: 0, payloadBytes: 0, nodesDetached: 0 };
  private readonly c: GroupCommitConfig;
  // The batch being built: records copied after a reserved header.
  private readonly scratch: Uint8Array;
  private readonly scratchView: DataView;
  private batchBytes = 0;
  private batchRecords = 0;
  private batchLsnFirst = 0;
  private batchLsnLast = 0;
  private batchStartedMicros = 0;
  private lsnPrev: number;
  private batchSeq: number;
  // Retention: frames [retainedBase, retainedBase + retained.length - retainedHead).
  private retained: RetainedFrame[] = [];
  private retainedHead = 0;
  private retainedBase = 0;
  private retainedBytesValue = 0;
  /** Where retained frames live (no allocation per frame). */
  private readonly slab: FrameSlab;
  /** Next frame number to send to each node; -1 while the node is not being fed. */
  private readonly next: number[];
  private readonly detached: boolean[];
  /** lsnLast of frames cut but not yet covered by VDL (for the adaptive policy). */
  private readonly inFlight: number[] = [];
  private inFlightHead = 0;

  constructor(c: GroupCommitConfig) {
    assert(c.frameBytesMax > FRAME_HEADER_BYTES, 'frameBytesMax too small');
    this.c = c;
    this.scratch = new Uint8Array(c.frameBytesMax);
    this.scratchView = new DataView(this.scratch.buffer);
    this.slab = new FrameSlab(c.frameBytesMax);
    this.lsnPrev = c.lsnPrev;
    this.batchSeq = c.batchSeqNext;
    this.quorum = new QuorumTracker(c.nodes, c.writeQuorum, c.lsnPrev);
    this.next = new Array<number>(c.nodes).fill(0);
    this.detached = new Array<boolean>(c.nodes).fill(false);
  }

  get vdl(): number {
    return this.quorum.vdl;
  }

  get retainedBytes(): number {
    return this.retainedBytesValue;
  }

  /** Slab chunks allocated so far (steady load allocates none). */
  get slabChunksAllocated(): number {
    return this.slab.chunksAllocated;
  }

  get retainedFrames(): number {
    return this.retained.length - this.retainedHead;
  }

  get framesInFlight(): number {
    return this.inFlight.length - this.inFlightHead;
  }

  /**
   * Adaptive mode with every frame of the window in flight: the writer stops ringing this thread
   * (ctl.gcWindowFull), so new records are drained, and cut for size or time, only when the ack
   * of a frame in flight wakes it (or the watchdog, without a quorum).
   */
  get windowFull(): boolean {
    return windowFull(this.c.policy, this.framesInFlight);
  }

  get pendingRecords(): number {
    return this.batchRecords;
  }

  /** False while retention is full: leave MTRs in the log ring (back-pressure). */
  canAccept(mtrBytes: number): boolean {
    if (FRAME_HEADER_BYTES + this.batchBytes + mtrBytes > this.scratch.length) return false;
    return this.retainedBytesValue < this.c.retainBytesMax || this.retainedFrames === 0;
  }

  /**
   * Adds one MTR (records with consecutive LSNs, the last an MTR end), copied from `payload`.
   * Cuts a frame first if the MTR would not fit; cuts after it if a size limit is reached.
   */
  addMtr(payload: Uint8Array, recordCount: number, nowMicros: number): void {
    assert(recordCount > 0 && payload.length > 0 && payload.length % 8 === 0, 'malformed MTR');
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const lsnFirst = readU64(view, 8);
    const lsnLast = lsnFirst + recordCount - 1;
    if (!(lsnFirst > Math.max(this.batchLsnLast, this.lsnPrev))) fail(`MTR LSN ${lsnFirst} not above ${Math.max(this.batchLsnLast, this.lsnPrev)}`);
    assert(FRAME_HEADER_BYTES + this.batchBytes + payload.length <= this.scratch.length, 'MTR does not fit the frame buffer');
    if (this.batchRecords === 0) {
      this.batchLsnFirst = lsnFirst;
      this.batchStartedMicros = nowMicros;
    } else {
      // Records within a frame must have consecutive LSNs (the writer allocates them so).
      if (!(lsnFirst === this.batchLsnLast + 1)) fail(`LSN gap inside a batch: ${this.batchLsnLast} -> ${lsnFirst}`);
    }
    this.scratch.set(payload, FRAME_HEADER_BYTES + this.batchBytes);
    this.batchBytes += payload.length;
    this.batchRecords += recordCount;
    this.batchLsnLast = lsnLast;
    this.stats.mtrs++;
    if (this.batchBytes >= this.c.policy.batchBytesMax) this.cut('bytes');
    else if (this.batchRecords >= this.c.policy.batchRecordsMax) this.cut('records');
  }

  /** Applies the cut policy; returns when to poll again (µs), or null if nothing is pending. */
  poll(nowMicros: number): number | null {
    const d = decideCut(this.c.policy, {
      payloadBytes: this.batchBytes, records: this.batchRecords,
      startedMicros: this.batchStartedMicros, framesInFlight: this.framesInFlight,
    }, nowMicros);
    if (d.cut !== null) {
      this.cut(d.cut);
      return null;
    }
    return d.wakeAtMicros;
  }

  /** Cuts whatever is pending (used at close). */
  flushPending(): void {
    if (this.batchRecords > 0) this.cut('close');
  }

  private cut(reason: CutReason): void {
    assert(this.batchRecords > 0, 'cut of an empty batch');
    this.c.onCut?.(this.batchSeq, this.batchLsnLast);
    const frameBytes = FRAME_HEADER_BYTES + this.batchBytes;
    sealFrame(this.scratch, this.scratchView, 0, {
      payloadBytes: this.batchBytes, recordCount: this.batchRecords, epoch: this.c.epoch,
      batchSeq: this.batchSeq, lsnPrev: this.lsnPrev, lsnFirst: this.batchLsnFirst, lsnLast: this.batchLsnLast,
      lsnReadMin: this.readPointMin, vdlLag: this.lsnPrev - this.quorum.vdl,
    });
    const { bytes, chunk } = this.slab.copy(this.scratch.subarray(0, frameBytes));
    this.retained.push({ bytes, chunk, lsnPrev: this.lsnPrev, lsnLast: this.batchLsnLast });
    this.retainedBytesValue += frameBytes;
    this.inFlight.push(this.batchLsnLast);
    this.cuts[reason]++;
    this.stats.batches++;
    this.stats.records += this.batchRecords;
    this.stats.payloadBytes += this.batchBytes;
    this.lsnPrev = this.batchLsnLast;
    this.batchSeq++;
    this.batchBytes = 0;
    this.batchRecords = 0;
  }

  /** PGMRPL as last published by the writer; piggybacked on each frame. */
  readPointMin = 0;

  /** Sends retained frames to every live, attached node in order, as far as its ring allows. */
  pump(links: NodeLinks): void {
    const end = this.retainedBase + this.retainedFrames;
    for (let i = 0; i < this.c.nodes; i++) {
      if (this.detached[i] || this.next[i]! < 0 || !links.isLive(i)) continue;
      let n = this.next[i]!;
      if (n >= end) continue;
      const start = n;
      while (n < end && links.tryPush(i, this.retained[this.retainedHead + n - this.retainedBase]!.bytes)) n++;
      this.next[i] = n;
      if (n > start) links.flush(i);
    }
  }

  /** Feeds node acks in; returns true if VDL advanced. Drops frames every attached node holds. */
  onAcks(scl: readonly number[]): boolean {
    let advanced = false;
    for (let i = 0; i < this.c.nodes; i++) if (scl[i] !== this.quorum.scl[i]) advanced = this.quorum.update(i, scl[i]!) || advanced;
    const vdl = this.quorum.vdl;
    while (this.inFlightHead < this.inFlight.length && this.inFlight[this.inFlightHead]! <= vdl) this.inFlightHead++;
    if (this.inFlightHead > 1024 && this.inFlightHead * 2 > this.inFlight.length) {
      this.inFlight.splice(0, this.inFlightHead);
      this.inFlightHead = 0;
    }
    this.trimRetained(scl);
    for (let i = 0; i < this.c.nodes; i++) if (this.detached[i]) this.reattach(i, scl[i]!);
    return advanced;
  }

  /** A detached node that caught up from peers (gossip) is fed again from the frame after its SCL. */
  private reattach(i: number, scl: number): void {
    const end = this.retainedBase + this.retainedFrames;
    if (scl >= this.lsnPrev) {
      this.next[i] = end;
      this.detached[i] = false;
      return;
    }
    const head = this.retained[this.retainedHead];
    if (head === undefined || scl < head.lsnPrev) return; // still behind retention: gossip goes on
    for (let n = this.retainedBase; n < end; n++) {
      if (this.retained[this.retainedHead + n - this.retainedBase]!.lsnPrev === scl) {
        this.next[i] = n;
        this.detached[i] = false;
        return;
      }
    }
  }

  private trimRetained(scl: readonly number[]): void {
    for (;;) {
      const head = this.retained[this.retainedHead];
      if (head === undefined) break;
      let needed = false;
      for (let i = 0; i < this.c.nodes && !needed; i++) needed = !this.detached[i] && scl[i]! < head.lsnLast;
      if (needed && this.retainedBytesValue > this.c.retainBytesMax) needed = this.detachLaggards(scl, head.lsnLast);
      if (needed) break;
      this.retained[this.retainedHead] = undefined as unknown as RetainedFrame;
      this.retainedHead++;
      this.retainedBase++;
      this.retainedBytesValue -= head.bytes.length;
      this.slab.release(head);
      for (let i = 0; i < this.c.nodes; i++) if (this.next[i]! >= 0 && this.next[i]! < this.retainedBase) this.next[i] = this.retainedBase;
    }
    if (this.retainedHead > 1024 && this.retainedHead * 2 > this.retained.length) {
      this.retained.splice(0, this.retainedHead);
      this.retainedHead = 0;
    }
  }

  /** Over the retention bound: detach nodes still missing `lsn` if a write quorum has it. */
  private detachLaggards(scl: readonly number[], lsn: number): boolean {
    let holders = 0;
    for (let i = 0; i < this.c.nodes; i++) if (scl[i]! >= lsn) holders++;
    if (holders < this.c.writeQuorum) return true; // the quorum itself is behind: keep the frame
    for (let i = 0; i < this.c.nodes; i++) {
      if (!this.detached[i] && scl[i]! < lsn) {
        this.detached[i] = true;
        this.next[i] = -1;
        this.stats.nodesDetached++;
      }
    }
    return false;
  }

  /** A node went away (crash, stop): stop feeding it; its frames stay retained. */
  nodeDown(i: number): void {
    this.next[i] = -1;
  }

  /**
   * A node (re)joined with chain end `scl`: feed it from the frame after `scl`. If that frame is
   * no longer retained the node is detached (it must catch up from a peer).
   */
  nodeUp(i: number, scl: number): void {
    const end = this.retainedBase + this.retainedFrames;
    if (scl >= this.lsnPrev) {
      this.next[i] = end;
      this.detached[i] = false;
      return;
    }
    for (let n = this.retainedBase; n < end; n++) {
      if (this.retained[this.retainedHead + n - this.retainedBase]!.lsnPrev === scl) {
        this.next[i] = n;
        this.detached[i] = false;
        return;
      }
    }
    this.detached[i] = true;
    this.next[i] = -1;
    this.stats.nodesDetached++;
  }

  isDetached(i: number): boolean {
    return this.detached[i]!;
  }
}
