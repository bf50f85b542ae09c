// The deterministic simulator: the writer's commit pipeline (the real CommitPipeline), the group-commit core and six node cores
// in one thread, over simulated disks (disk.ts), a simulated clock and a simulated network that
// delays, drops and reorders, every choice drawn from one seeded generator. Faults: node crashes
// (unsynced sectors kept, lost or torn), whole-volume crashes with recovery, writer failover with
// the old writer left running (a zombie that must be fenced), EIO on a sync, a full disk, gossip,
// bit flips on one node's durable log. The oracle (oracle.ts) checks the durability contract as the
// run goes; after the faults stop, every node must converge to the same log up to VDL.
//
// Recovery here is the same sequence the real open() runs (scan, fence at least V - Vw + 1 nodes,
// plan, record the cut in the history, truncate / catch up), over the same sans-I/O cores.
import { Heap } from 'mnemonist';
import { GroupCommitCore, type NodeLinks } from '../commit/core.js';
import { CommitPipeline } from '../writer/commits.js';
import { FRAME_HEADER_BYTES } from '../config.js';
import { asOperatingError, errors } from '../errors.js';
import { checkFrame } from '../log/frame.js';
import { encodeRecord, Op, pageIdOf, recordBytes } from '../log/record.js';
import { FsBlockStorage } from '../node/blocks.js';
import { FsHotLog, segmentFileName } from '../node/hotlog.js';
import { FaultFs } from '../fs/fault-fs.js';
import { NodeCore, type FrameRef } from '../node/core.js';
import { FsEpochStore, type EpochRecord } from '../node/epoch-store.js';
import { planRecovery, type NodeScan } from '../recovery/plan.js';
import { canCatchUpByLog, chooseRebuildSource, copyNodeFiles, installRebuild, logFromOf, settleRebuild, SnapshotHolds } from '../node/rebuild.js';
import { Oracle, type SimWrite } from './oracle.js';
import { Random } from '../shared/random.js';

export interface SimOptions {
  seed: number;
  /** Simulated milliseconds with faults, then a quiet phase to converge. */
  faultMillis: number;
  keys: number;
  /**
   * Power-cut torture (npm run torture -- --power-cut): the only fault is a power cut of the whole
   * volume, this many times, each followed by the open() recovery and the oracle's checks; then
   * the quiet phase. faultMillis is ignored.
   */
  powerCuts?: number;
}

/** Power-cut mode: a cut every ~50 ms of simulated writing (several frames, segments and coalescing cycles). */
const POWER_CUT_CHANCE_PER_TICK = 0.002;
/** After the faults stop, every node must converge within this long (simulated). */
const QUIET_MICROS_MAX = 2_000_000;

export interface SimResult {
  seed: number;
  violations: string[];
  stats: Record<string, number>;
}

const NODES = 6;
const WRITE_QUORUM = 4;
const READ_QUORUM = 3;
const SEGMENT_BYTES = 32 * 1024;
const BATCH_BYTES_MAX = 2048;
const FRAME_BYTES_MAX = 8192;
const PAGE_COUNT = 64;
const TICK_MICROS = 100;

/** A view of exactly these bytes (reads from the real hot log are Buffers from a shared pool). */
function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
const VOLUME_DIR = '/vol';
const LSN_ALLOCATION_LIMIT = 4096;
/** Simulated; a commit that times out is "outcome unknown" (the oracle keeps it as maybe-durable). */
const COMMIT_TIMEOUT_MS = 30;

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

/**
 * One writer: its group-commit core and the real writer's commit pipeline (LSN allocation under the
 * LAL, commits resolved strictly in LSN order once VDL covers them, timeouts), the same class the
 * main thread runs.
 */
interface Writer {
  gc: GroupCommitCore;
  epoch: number;
  commits: CommitPipeline;
  /** Latest SCL this writer has heard from each node (acks of its own epoch only). */
  scl: number[];
  /** Publication number of the ack each scl[i] came from: a late, older ack is ignored. */
  sclStamp: number[];
  zombie: boolean;
}

interface SimNode {
  core: NodeCore | null;
  /** The node's directory on the volume's FaultFs (its own simulated disk: cut on its own). */
  dir: string;
  inbox: FrameRef[];
  runScheduled: boolean;
  /** Bumped at each crash: messages to an earlier incarnation are lost with it. */
  incarnation: number;
  /** Failed by an I/O error: its disk is not trusted; rebuilt from a peer at restart. */
  ioFailed: boolean;
  fetching: boolean;
}

export class World {
  readonly rng: Random;
  readonly oracle = new Oracle();
  readonly stats: Record<string, number> = {
    puts: 0, txns: 0, acked: 0, reads: 0, readsCorrupt: 0, nodeCrashes: 0, volumeCrashes: 0, failovers: 0,
    timedOut: 0, nodesCutWithImages: 0, eio: 0, enospc: 0, bitFlips: 0, rebuilds: 0, rebuildsNeeded: 0, opensRetried: 0, framesDropped: 0, gossipFetches: 0, zombieFramesFenced: 0,
  };
  private now = 0;
  private eventSeq = 0;
  private readonly events = new Heap<Event>((a, b) => a.at - b.at || a.seq - b.seq);
  private readonly nodes: SimNode[] = [];
  private writer: Writer | null = null;
  private zombie: Writer | null = null;
  private volumeEpoch = 0;
  private history: EpochRecord[] = [];
  /** The one node whose durable log may be hit by bit flips (corruption on one copy is in the model). */
  private readonly flipNode: number;
  private faults = true;
  private faultsStoppedAt = 0;
  private readonly keys: string[];
  private txnId = 0;
  private ackStamp = 0;
  private readonly encoder = new TextEncoder();
  /**
   * Every node's files, written by the real storage code (FsHotLog, FsBlockStorage, FsEpochStore,
   * the rebuild copy) over a file system with power-cut semantics: unsynced sectors kept, lost or
   * torn, names lost unless their directory was synced, EIO that drops dirty pages.
   */
  private readonly io = new FaultFs();

  constructor(private readonly o: SimOptions) {
    this.rng = new Random(o.seed);
    this.keys = Array.from({ length: o.keys }, (_, i) => `key-${i}`);
    this.flipNode = this.rng.int(NODES);
    for (let i = 0; i < NODES; i++) {
      this.nodes.push({ core: null, dir: `${VOLUME_DIR}/node-${i}`, inbox: [], runScheduled: false, incarnation: 0, ioFailed: false, fetching: false });
    }
  }

  run(): SimResult {
    this.recoverVolume();
    const faultEnd = this.o.powerCuts === undefined ? this.o.faultMillis * 1000 : Number.POSITIVE_INFINITY;
    this.at(0, () => this.tick());
    while (this.events.size > 0 && this.oracle.violations.length === 0) {
      const e = this.events.pop()!;
      this.now = e.at;
      if (this.faults && (this.now >= faultEnd || (this.o.powerCuts !== undefined && this.stats.volumeCrashes! >= this.o.powerCuts))) this.stopFaults();
      e.run();
      if (!this.faults && this.now > this.faultsStoppedAt + QUIET_MICROS_MAX) break;
    }
    if (this.oracle.violations.length === 0) this.checkConverged();
    return { seed: this.o.seed, violations: this.oracle.violations, stats: { ...this.stats, vdl: this.writer?.gc.vdl ?? 0, epoch: this.volumeEpoch } };
  }

  private at(delayMicros: number, run: () => void): void {
    this.events.push({ at: this.now + delayMicros, seq: this.eventSeq++, run });
  }

  // ---- the main loop: writer, group commit, faults, reads, gossip --------------------------------

  private tick(): void {
    const w = this.writer;
    if (w !== null) {
      if (this.faults && w.commits.pending < 64 && this.rng.chance(0.5)) this.issue(w); // quiet phase: drain
      this.pumpWriter(w);
    }
    const z = this.zombie;
    if (z !== null) {
      if (this.rng.chance(0.2)) this.issue(z);
      this.pumpWriter(z);
    }
    if (this.rng.chance(0.3)) this.read();
    for (let i = 0; i < NODES; i++) this.background(i);
    if (this.faults) this.maybeFault();
    if (!this.faults && this.quiet()) return; // converged: stop scheduling
    this.at(TICK_MICROS, () => this.tick());
  }

  private quiet(): boolean {
    const w = this.writer;
    if (w === null || w.commits.pending > 0 || w.gc.pendingRecords > 0) return false;
    return this.nodes.every((n) => n.core !== null && n.core.failure === null && n.core.scl === w.gc.vdl);
  }

  /** A put, a delete or a multi-key transaction: one MTR, encoded as the real writer does. */
  private issue(w: Writer): void {
    const txn = ++this.txnId;
    const count = this.rng.chance(0.3) ? 2 + this.rng.int(3) : 1;
    const picked = new Set<string>();
    while (picked.size < count) picked.add(this.keys[this.rng.int(this.keys.length)]!);
    const values = [...picked].map(() => (this.rng.chance(0.1) ? null : this.rng.bytes(8 + this.rng.int(300))));
    let bytes = 0;
    [...picked].forEach((key, i) => (bytes += recordBytes(key.length, values[i]?.length ?? 0)));
    if (!w.gc.canAccept(bytes)) {
      w.gc.poll(Number.MAX_SAFE_INTEGER);
      if (!w.gc.canAccept(bytes)) return; // back-pressure (the ring is full): not issued
    }
    if (!w.commits.canAllocate(count)) return; // the LAL: not issued
    const lsnFirst = w.commits.allocate(count);
    const writes: SimWrite[] = [...picked].map((key, i) => ({ key, value: values[i]!, lsn: lsnFirst + i, txn, epoch: w.epoch }));
    const payload = new Uint8Array(bytes);
    const view = new DataView(payload.buffer);
    let at = 0;
    writes.forEach((wr, i) => {
      const k = this.encoder.encode(wr.key);
      at += encodeRecord(payload, view, at, wr.value === null ? Op.DELETE : Op.PUT, i === writes.length - 1, wr.lsn, pageIdOf(k, PAGE_COUNT), k, wr.value);
    });
    w.gc.addMtr(payload, writes.length, this.now);
    // Issued before it can be acknowledged: the oracle must know the writes when the ack arrives.
    this.oracle.issued(writes, w.zombie);
    w.commits.add(writes[writes.length - 1]!.lsn, [...picked], this.now / 1000, () => {
      this.oracle.acknowledged(writes, w.zombie);
      this.stats.acked!++;
    }, () => {
      this.stats.timedOut!++; // outcome unknown: the oracle keeps treating the writes as maybe-durable
    });
    if (count > 1) this.stats.txns!++;
    else this.stats.puts!++;
  }

  private pumpWriter(w: Writer): void {
    w.commits.expire(this.now / 1000);
    w.gc.readPointMin = w.gc.vdl;
    w.gc.poll(this.now);
    w.gc.pump(this.links(w));
  }

  private links(w: Writer): NodeLinks {
    return {
      isLive: (i) => this.nodes[i]!.core !== null && this.nodes[i]!.core!.failure === null,
      tryPush: (i, frame) => {
        const n = this.nodes[i]!;
        if (n.inbox.length > 256) return false; // the node's ring is full
        if (this.faults && this.rng.chance(0.02)) {
          this.stats.framesDropped!++;
          return true; // lost on the way: the node sees a gap and gossips
        }
        const copy = new Uint8Array(frame); // a private copy (frame may be a Buffer view)
        const inc = n.incarnation;
        this.at(this.delay(), () => {
          if (n.incarnation !== inc || n.core === null) return;
          const h = n.core.checkIncoming(copy, viewOf(copy), 0, copy.length);
          if (h === null) return;
          if (w.zombie && h.epoch < n.core.epoch) this.stats.zombieFramesFenced!++;
          n.inbox.push({ bytes: copy, header: h });
          this.scheduleNode(i);
        });
        return true;
      },
      flush: () => {},
    };
  }

  private delay(): number {
    return 20 + this.rng.int(this.rng.chance(0.1) ? 3000 : 400); // sometimes slow: reorders
  }

  private scheduleNode(i: number): void {
    const n = this.nodes[i]!;
    if (n.runScheduled) return;
    n.runScheduled = true;
    const inc = n.incarnation;
    this.at(10 + this.rng.int(100), () => {
      n.runScheduled = false;
      if (n.incarnation === inc) this.runNode(i);
    });
  }

  /**
   * A node's foreground: append + sync what arrived, then ack and index. The simulated network
   * reorders (a ring does not), so frames that arrived early wait here, in LSN order, for the ones
   * before them (bounded: past that, the node relies on gossip).
   */
  private runNode(i: number): void {
    const n = this.nodes[i]!;
    const core = n.core;
    if (core === null || n.inbox.length === 0) return;
    const frames = n.inbox.sort((a, b) => a.header.lsnLast - b.header.lsnLast || a.header.epoch - b.header.epoch);
    n.inbox = [];
    this.absorb(i, frames, false);
    if (n.core === null) return;
    const scl = n.core.scl;
    n.inbox = frames.filter((f) => f.header.lsnLast > scl && f.header.epoch >= n.core!.epoch).slice(-128);
  }

  private absorb(i: number, frames: FrameRef[], fromPeer: boolean): void {
    const n = this.nodes[i]!;
    const core = n.core!;
    const accepted = core.receive(frames, fromPeer);
    if (core.failure !== null) {
      this.nodeFailed(i);
      return;
    }
    if (accepted > 0) {
      core.indexAccepted(this.writer?.gc.vdl ?? 0);
      this.ack(i);
    }
  }

  /** Publishes node i's (SCL, epoch); each writer hears it after a delay and keeps it if the epoch is its own. */
  private ack(i: number): void {
    const core = this.nodes[i]!.core!;
    const scl = core.scl;
    const epoch = core.epoch;
    // The real SCL is one shared word that a writer reads when it likes: the newest value wins.
    const stamp = ++this.ackStamp;
    for (const w of [this.writer, this.zombie]) {
      if (w === null) continue;
      this.at(this.delay(), () => {
        if (w !== this.writer && w !== this.zombie) return; // that writer is gone
        if (epoch !== w.epoch) return; // an ack of another epoch's chain says nothing about this writer's frames
        if (stamp < w.sclStamp[i]!) return;
        w.sclStamp[i] = stamp;
        w.scl[i] = scl;
        if (w.gc.onAcks(w.scl)) this.acknowledge(w);
      });
    }
  }

  private acknowledge(w: Writer): void {
    const vdl = w.gc.vdl;
    this.oracle.vdlAdvanced(vdl, w.zombie, w.epoch);
    w.commits.advance(vdl);
  }

  private read(): void {
    const w = this.writer;
    if (w === null) return;
    const key = this.keys[this.rng.int(this.keys.length)]!;
    const readPoint = w.gc.vdl;
    const order = Array.from({ length: NODES }, (_, i) => (i + this.rng.int(NODES)) % NODES);
    for (const i of order) {
      const core = this.nodes[i]!.core;
      if (core === null) continue;
      const r = core.read(this.encoder.encode(key), readPoint);
      if (r.status === 'corrupt') {
        this.stats.readsCorrupt!++;
        continue;
      }
      if (r.status !== 'ok') continue;
      this.stats.reads!++;
      this.oracle.checkRead(`node ${i}`, key, readPoint, r.result);
      return;
    }
  }

  /** Background: coalescing, scrub, and gossip when the node is behind or saw a gap. */
  private background(i: number): void {
    const n = this.nodes[i]!;
    const core = n.core;
    if (core === null) return;
    if (this.rng.chance(0.2)) {
      core.idleWork(true);
      if (core.failure !== null) return this.nodeFailed(i);
    }
    const repair = core.repairQueue[0];
    if (repair !== undefined && this.rng.chance(0.2)) {
      const peer = this.pickPeer(i, repair.lsnLast);
      const good = peer?.framesAfter(repair.lsnPrev, repair.bytes)[0];
      if (good !== undefined) core.repairFrame(repair, good);
      if (core.failure !== null) return this.nodeFailed(i);
    }
    if (n.fetching || !this.rng.chance(core.gapSeen ? 0.3 : 0.05)) return;
    const peer = this.pickPeer(i, core.scl + 1);
    if (peer === null) return;
    n.fetching = true;
    this.stats.gossipFetches!++;
    const from = core.scl;
    const inc = n.incarnation;
    const frames = peer.framesAfter(from, 16 * 1024).map((b) => new Uint8Array(b));
    this.at(this.delay(), () => {
      n.fetching = false;
      if (n.incarnation !== inc || n.core === null || n.core.scl !== from) return;
      const refs: FrameRef[] = [];
      for (const f of frames) {
        const h = n.core.checkIncoming(f, viewOf(f), 0, f.length);
        if (h === null) break;
        refs.push({ bytes: f, header: h });
      }
      if (refs.length > 0) {
        n.core.gapSeen = false;
        this.absorb(i, refs, true);
      }
    });
  }

  private pickPeer(i: number, sclAtLeast: number): NodeCore | null {
    const start = this.rng.int(NODES);
    for (let k = 0; k < NODES; k++) {
      const j = (start + k) % NODES;
      const c = this.nodes[j]!.core;
      if (j !== i && c !== null && c.failure === null && c.scl >= sclAtLeast) return c;
    }
    return null;
  }

  // ---- faults ------------------------------------------------------------------------------------

  private down(): number {
    return this.nodes.filter((n) => n.core === null).length;
  }

  private maybeFault(): void {
    if (this.o.powerCuts !== undefined) {
      if (this.rng.chance(POWER_CUT_CHANCE_PER_TICK)) this.crashVolume();
      return;
    }
    const r = this.rng.next();
    if (r < 0.004 && this.down() < 2) this.crashNode(this.rng.int(NODES));
    else if (r < 0.0045) this.crashVolume();
    else if (r < 0.005) this.failover();
    else if (r < 0.0055 && this.down() < 2) this.injectIoFault();
    else if (r < 0.0058) this.flipBit();
  }

  private crashNode(i: number): void {
    const n = this.nodes[i]!;
    if (n.core === null) return;
    this.stats.nodeCrashes!++;
    this.takeDown(i);
    this.io.powerCut(this.rng, n.dir);
    this.at(500 + this.rng.int(20_000), () => this.restartNode(i));
  }

  private takeDown(i: number): void {
    const n = this.nodes[i]!;
    n.core = null;
    n.inbox = [];
    n.incarnation++;
    n.fetching = false;
    n.runScheduled = false;
    for (const w of [this.writer, this.zombie]) w?.gc.nodeDown(i);
  }

  /** The node failed itself (EIO, ENOSPC): it stops at once; its disk is rebuilt at restart. */
  private nodeFailed(i: number): void {
    const n = this.nodes[i]!;
    if (n.core === null) return;
    n.ioFailed = true;
    this.takeDown(i);
    this.io.powerCut(this.rng, n.dir);
    this.at(1000 + this.rng.int(20_000), () => this.restartNode(i));
  }

  private injectIoFault(): void {
    const i = this.rng.int(NODES);
    const n = this.nodes[i]!;
    if (n.core === null) return;
    if (this.rng.chance(0.5)) {
      this.io.failSyncAfterOk(n.dir, this.rng.int(5));
      this.stats.eio!++;
    } else {
      this.io.setFull(n.dir, true);
      this.stats.enospc!++;
    }
  }

  private flipBit(): void {
    const n = this.nodes[this.flipNode]!;
    const core = n.core;
    if (core === null || core.frameDir.size === 0) return;
    const f = core.frameDir.at(core.frameDir.first + this.rng.int(core.frameDir.size));
    if (f === undefined || f.lsnLast > core.scl) return;
    this.io.flipBit(`${n.dir}/log/${segmentFileName(f.seq)}`, f.position + this.rng.int(f.bytes), this.rng.int(8));
    core.scrubSoon = true;
    this.stats.bitFlips!++;
  }

  /** Restarts a node from its own disk (or, after an I/O failure, from a copy of a healthy peer's). */
  private restartNode(i: number): void {
    const n = this.nodes[i]!;
    if (n.core !== null) return;
    if (n.ioFailed) {
      const src = chooseRebuildSource(i, this.nodes.map((p, j) => ({ healthy: p.core !== null && p.core.failure === null && j !== this.flipNode, scl: p.core?.scl ?? 0 })));
      if (src === null) {
        this.at(5000, () => this.restartNode(i));
        return;
      }
      // The real rebuild: hold the source still at its durable point, copy it durably, swap it in
      // (the node gets a new disk: its injected faults end).
      const p = this.nodes[src]!;
      const holds = new SnapshotHolds();
      const point = holds.hold(1, p.core!);
      try {
        this.io.clearFaults(n.dir);
        copyNodeFiles(p.dir, n.dir, point, SEGMENT_BYTES, this.io);
      } finally {
        holds.release(1);
        p.core!.coalescer.paused = false;
      }
      installRebuild(n.dir, this.io);
      n.ioFailed = false;
      this.stats.rebuilds!++;
    }
    const core = this.newCore(i);
    try {
      core.recoverScan(this.history);
      core.recoverTo(core.scl, this.volumeEpoch, null, this.history);
    } catch (e) {
      // A coded failure (I/O, or a log it cannot catch up) is the node's: rebuild it from a peer.
      // Anything else (an assertion) is a bug.
      if (asOperatingError(e) === null) return this.oracle.violation(`node ${i} failed to rejoin: ${(e as Error).stack}`);
      n.ioFailed = true;
      this.stats.rebuildsNeeded!++;
      this.at(5000, () => this.restartNode(i));
      return;
    }
    // Peers' GC let go of the frames after its chain end (log-gc.ts): it can only be rebuilt.
    const ranges = this.nodes.flatMap((p, j) => (j !== i && p.core !== null && p.core.failure === null ? [{ scl: p.core.scl, logFrom: logFromOf(p.core) }] : []));
    if (!canCatchUpByLog(core.scl, ranges)) {
      n.ioFailed = true;
      this.stats.rebuildsNeeded!++;
      this.at(1000, () => this.restartNode(i));
      return;
    }
    n.core = core;
    for (const w of [this.writer, this.zombie]) w?.gc.nodeUp(i, core.scl);
    this.ack(i);
  }

  private hotLog(nodeDir: string, readOnly: boolean): FsHotLog {
    return new FsHotLog(`${nodeDir}/log`, SEGMENT_BYTES, 'fdatasync', readOnly, null, this.io);
  }

  /** A node's core over its files, as its thread starts it: a rebuild a crash interrupted is settled first. */
  private newCore(i: number): NodeCore {
    const n = this.nodes[i]!;
    this.io.processCrash(n.dir); // the previous incarnation's descriptors
    settleRebuild(n.dir, this.io);
    return new NodeCore({
      nodeId: i, pageCount: PAGE_COUNT, payloadBytesMax: FRAME_BYTES_MAX - FRAME_HEADER_BYTES,
      logGcNodes: () => this.nodes.map((m) => ({ live: m.core !== null, scl: m.core?.scl ?? 0 })), scrubIntervalMicros: 0,
    }, this.hotLog(n.dir, false), new FsBlockStorage(n.dir, this.io), { nowMicros: () => this.now }, new FsEpochStore(n.dir, this.io));
  }

  /** Power cut of the whole volume (writer and every node), then the open() recovery sequence. */
  private crashVolume(): void {
    this.stats.volumeCrashes!++;
    for (let i = 0; i < NODES; i++) {
      const n = this.nodes[i]!;
      if (n.core !== null) {
        // Cuts that hit page images (a node recovering from block files plus the log above them).
        if (n.core.coalescer.coalesceLsn > 0) this.stats.nodesCutWithImages!++;
        this.takeDown(i);
      }
    }
    this.io.powerCut(this.rng, VOLUME_DIR);
    // The machine comes back with its disks working (an operator freed space, replaced a disk).
    this.io.clearFaults(VOLUME_DIR);
    this.writer = null;
    this.zombie = null;
    this.events.clear();
    this.recoverVolume();
    this.at(TICK_MICROS, () => this.tick());
  }

  /** The open() sequence: scan, fence, plan, record the cut, truncate / catch up, start writing. */
  private recoverVolume(): void {
    const scans: NodeScan[] = [];
    const cores: (NodeCore | null)[] = [];
    // Up to two nodes may be slow to come back: the volume opens without them (open() needs
    // max(Vw, Vr) = 4), and they rejoin later, possibly holding frames this recovery cuts off.
    const late = new Set<number>();
    if (this.faults && this.rng.chance(0.4)) for (let k = 1 + this.rng.int(2); k > 0; k--) late.add(this.rng.int(NODES));
    for (let i = 0; i < NODES; i++) {
      if (late.has(i)) {
        cores.push(null);
        this.at(2000 + this.rng.int(20_000), () => this.restartNode(i));
        continue;
      }
      const core = this.newCore(i);
      let s;
      try {
        s = core.recoverScan(this.history);
      } catch (e) {
        // Its own disk failed it (as a thread that fails its scan is left out at open): rebuilt later.
        if (asOperatingError(e) === null) return this.oracle.violation(`node ${i} failed to scan: ${(e as Error).stack}`);
        cores.push(null);
        this.nodes[i]!.ioFailed = true;
        this.stats.rebuildsNeeded!++;
        this.at(5000, () => this.restartNode(i));
        continue;
      }
      cores.push(core);
      scans.push({ node: i, scl: core.scl, lsnSeenMax: s.lsnSeenMax, lsnDurableSeen: s.lsnDurableSeen, batchSeqLast: s.batchSeqLast });
      this.volumeEpoch = Math.max(this.volumeEpoch, core.epoch);
    }
    const epoch = this.volumeEpoch + 1;
    for (const c of cores) c?.fence(epoch);
    this.open(epoch, scans, (i, vdl, source) => {
      const core = cores[i]!;
      core.recoverTo(vdl, epoch, core.scl < vdl ? this.hotLog(this.nodes[source]!.dir, true) : null, this.history);
      const n = this.nodes[i]!;
      n.core = core;
      n.ioFailed = false;
    });
  }

  /**
   * Writer failover: a new writer takes over the running nodes (fence, plan from their SCLs, record
   * the cut); the old one may keep running as a zombie whose frames every fenced node refuses.
   */
  private failover(): void {
    const old = this.writer;
    if (old === null) return;
    const live = this.nodes.map((n, i) => ({ n, i })).filter(({ n }) => n.core !== null);
    if (live.length < Math.max(WRITE_QUORUM, READ_QUORUM)) return;
    this.stats.failovers!++;
    const epoch = Math.max(this.volumeEpoch, ...live.map(({ n }) => n.core!.epoch)) + 1;
    const scans: NodeScan[] = [];
    for (const { n, i } of live) {
      try {
        const f = n.core!.fence(epoch);
        scans.push({ node: i, scl: f.scl, lsnSeenMax: f.lsnSeenMax, lsnDurableSeen: 0, batchSeqLast: f.batchSeqLast });
      } catch (e) {
        // Fail closed, as a live attach does: a node that cannot be fenced is stopped, never left
        // running at the old epoch (its disk failed it: rebuilt at restart).
        if (asOperatingError(e) === null) return this.oracle.violation(`node ${i} failed to fence: ${(e as Error).stack}`);
        this.nodeFailed(i);
      }
    }
    // The old writer's unacknowledged commits are settled by the recovery below (kept or cut off).
    old.zombie = true;
    this.zombie = this.rng.chance(0.5) ? old : null;
    if (scans.length < Math.max(WRITE_QUORUM, READ_QUORUM)) {
      // Too few nodes to decide (the attach fails with RECOVERY_FAILED): the volume is recovered again.
      this.stats.opensRetried!++;
      this.writer = null;
      this.at(5000, () => this.crashVolume());
      return;
    }
    this.open(epoch, scans, (i, vdl, source) => {
      const core = this.nodes[i]!.core!;
      core.adopt(epoch, this.history);
      // The kept VDL may be on the source alone: bring every node to it before the writer opens.
      const src = this.nodes[source]!.core!;
      while (core.scl < vdl) {
        const refs = src.framesAfter(core.scl, 64 * 1024).map((b) => ({ bytes: b, header: core.checkIncoming(b, viewOf(b), 0, b.length)! }));
        const scl = core.scl;
        if (refs.length === 0 || refs.some((r) => r.header === null) || core.receive(refs, true) === 0 || core.scl === scl) {
          if (core.failure !== null) throw core.failure;
          throw errors.rebuildNeeded(i, `cannot catch up from node ${source} (at ${core.scl}, VDL ${vdl})`);
        }
        core.indexAccepted(vdl);
      }
    });
  }

  private open(epoch: number, scans: NodeScan[], recover: (i: number, vdl: number, source: number) => void): void {
    let plan;
    try {
      plan = planRecovery(scans, WRITE_QUORUM, READ_QUORUM);
    } catch (e) {
      this.oracle.violation(`recovery failed: ${(e as Error).message}`);
      return;
    }
    this.volumeEpoch = epoch;
    this.history = [...this.history, { epoch, vdl: plan.vdl }];
    this.oracle.recovered(plan.vdl, epoch);
    let ready = 0;
    for (const s of scans) {
      try {
        recover(s.node, plan.vdl, plan.sourceNode);
        ready++;
      } catch (e) {
        if (asOperatingError(e) === null) return this.oracle.violation(`node ${s.node} failed to recover to ${plan.vdl}: ${(e as Error).stack}`);
        // Its own failure (see restartNode): it stays down and is rebuilt from a peer.
        const n = this.nodes[s.node]!;
        if (n.core !== null) this.takeDown(s.node);
        n.ioFailed = true;
        this.stats.rebuildsNeeded!++;
        this.at(5000, () => this.restartNode(s.node));
      }
    }
    if (ready < WRITE_QUORUM) {
      // Not a safety problem (nothing was opened): the volume stays closed and is recovered again.
      this.stats.opensRetried!++;
      this.writer = null;
      this.at(5000, () => this.crashVolume());
      return;
    }
    const gc = new GroupCommitCore({
      nodes: NODES, writeQuorum: WRITE_QUORUM, epoch, lsnPrev: plan.vdl, batchSeqNext: plan.batchSeqNext,
      frameBytesMax: FRAME_BYTES_MAX, retainBytesMax: 256 * 1024,
      policy: { batchBytesMax: BATCH_BYTES_MAX, batchRecordsMax: 64, waitMicrosMax: 300, mode: 'adaptive', framesInFlightMax: 4 },
    });
    this.writer = { gc, epoch, commits: new CommitPipeline(plan.vdl, plan.lsnNext, LSN_ALLOCATION_LIMIT, COMMIT_TIMEOUT_MS), scl: new Array<number>(NODES).fill(plan.vdl),
      sclStamp: new Array<number>(NODES).fill(0), zombie: false };
    for (let i = 0; i < NODES; i++) {
      const core = this.nodes[i]!.core;
      if (core === null) gc.nodeDown(i);
      else gc.nodeUp(i, core.scl);
    }
    for (const s of scans) if (this.nodes[s.node]!.core !== null) this.ack(s.node);
    // Every key must read back as the oracle expects, on every recovered node at the recovered VDL.
    for (const s of scans) {
      const core = this.nodes[s.node]!.core;
      if (core === null || core.scl < plan.vdl) continue;
      for (const key of this.keys) {
        const r = core.read(this.encoder.encode(key), plan.vdl);
        if (r.status === 'ok') this.oracle.checkRead(`node ${s.node} after recovery`, key, plan.vdl, r.result);
      }
    }
  }

  // ---- the end: faults stop, everything heals, nodes must converge ------------------------------------

  private stopFaults(): void {
    this.faults = false;
    this.faultsStoppedAt = this.now;
    for (let i = 0; i < NODES; i++) {
      const n = this.nodes[i]!;
      this.io.clearFaults(n.dir);
      if (n.core === null) this.at(100, () => this.restartNode(i));
    }
    this.zombie = null;
  }

  private checkConverged(): void {
    const w = this.writer;
    if (w === null) return this.oracle.violation('no writer at the end');
    if (!this.quiet()) {
      const state = this.nodes.map((n, i) => `node ${i}: ${n.core === null ? 'down' : `scl ${n.core.scl}${n.core.failure ? ' failed' : ''}`}`).join(', ');
      return this.oracle.violation(`did not converge within ${QUIET_MICROS_MAX / 1e6} s of the faults stopping (VDL ${w.gc.vdl}, pending ${w.commits.pending}; ${state})`);
    }
    const vdl = w.gc.vdl;
    // Identical logs up to VDL: every frame two nodes both still hold is byte-for-byte the same.
    const frames = new Map<number, Uint8Array>();
    for (let i = 0; i < NODES; i++) {
      const core = this.nodes[i]!.core!;
      for (let k = core.frameDir.first; k < core.frameDir.first + core.frameDir.size; k++) {
        const f = core.frameDir.at(k)!;
        const bytes = core.log.read(f.seq, f.position, f.bytes);
        const c = checkFrame(bytes, viewOf(bytes), 0, bytes.length, FRAME_BYTES_MAX);
        if (!c.ok) {
          if (i !== this.flipNode) this.oracle.violation(`node ${i}: frame ending at ${f.lsnLast} is corrupt at the end (${c.why})`);
          continue;
        }
        const seen = frames.get(f.lsnLast);
        if (seen === undefined) frames.set(f.lsnLast, bytes);
        else if (Buffer.compare(seen, bytes) !== 0) this.oracle.violation(`node ${i}: frame ending at ${f.lsnLast} differs from another node's`);
      }
      for (const key of this.keys) {
        const r = core.read(this.encoder.encode(key), vdl);
        if (r.status === 'ok') this.oracle.checkRead(`node ${i} at the end`, key, vdl, r.result);
        else if (r.status !== 'corrupt' || i !== this.flipNode) this.oracle.violation(`node ${i} at the end: read of ${key} -> ${r.status}`);
      }
    }
  }
}
