// The deterministic simulator: the writer's commit pipeline (the real CommitPipeline), the group-commit core and six node cores
// in one thread, over simulated disks (disk.ts), a simulated clock and a simulated network that
// delays, drops and reorders, every choice drawn from one seeded generator. Faults: node crashes
// (unsynced sectors kept, lost or torn), whole-volume crashes with recovery, writer failover with
// the old writer left running (a zombie that must be fenced), EIO on a sync, a full disk, gossip,
// bit flips on one node's durable log. The oracle (oracle.ts) checks the durability contract as the
// run goes; after the faults stop, every node must converge to the same log up to VDL.
//
// Recovery, writer failover and node restarts run the very sequences the thread shell runs
// (recovery/sequence.ts: openSequence, attachSequence, restartSequence), and gossip the very core
// the node threads run (node/gossip.ts); this file only carries out their steps, with calls into
// node cores and simulated time instead of messages to threads.
import { Heap } from 'mnemonist';
import { GroupCommitCore, type NodeLinks } from '../commit/core.js';
import { CommitPipeline } from '../writer/commits.js';
import { FRAME_HEADER_BYTES } from '../config.js';
import { asOperatingError, errors, isAuroralError, ErrorCode } from '../errors.js';
import { checkFrame } from '../log/frame.js';
import { encodeRecord, Op, pageIdOf, recordBytes } from '../log/record.js';
import { FsBlockStorage } from '../node/blocks.js';
import { FsHotLog, segmentFileName } from '../node/hotlog.js';
import { FaultFs } from '../fs/fault-fs.js';
import { NodeCore, type FrameRef } from '../node/core.js';
import { FsEpochStore, type EpochRecord } from '../node/epoch-store.js';
import type { RecoveryPlan } from '../recovery/plan.js';
import { attachSequence, attempt, needsRebuild, nextEpoch, openSequence, restartSequence, runWith, type Outcome, type Quorums, type Recovered, type RecoveryStep, type ScanReport } from '../recovery/sequence.js';
import { chooseRebuildSource, copyNodeFiles, installRebuild, logFromOf, settleRebuild, SnapshotHolds } from '../node/rebuild.js';
import { Gossip, GOSSIP_DEFAULTS, type GossipMessage } from '../node/gossip.js';
import { Oracle, type SimWrite } from './oracle.js';
import { scanAll } from './scan-check.js';
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
const QUORUMS: Quorums = { nodes: NODES, writeQuorum: WRITE_QUORUM, readQuorum: READ_QUORUM };
/** A live attach waits this long (simulated) for a write quorum to reach VDL by gossip (the shell: commitTimeoutMs). */
const ATTACH_CATCH_UP_MICROS = 200_000;
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
  /** The running core's gossip (node/gossip.ts), as its thread runs it. */
  gossip: Gossip | null;
  /** The node's directory on the volume's FaultFs (its own simulated disk: cut on its own). */
  dir: string;
  inbox: FrameRef[];
  runScheduled: boolean;
  /** Bumped at each crash: messages to an earlier incarnation are lost with it. */
  incarnation: number;
  /** Why it failed itself (I/O error, REBUILD_NEEDED), until restarted: restartSequence decides a rebuild from it. */
  failure: Error | null;
  /** A restart is scheduled or under way. */
  restarting: boolean;
}

const INDEX_LAG_BY_SEED = [0, 4096, 64 * 1024, 1 << 30];

export class World {
  readonly rng: Random;
  readonly oracle = new Oracle();
  readonly stats: Record<string, number> = {
    puts: 0, txns: 0, acked: 0, reads: 0, readsCorrupt: 0, nodeCrashes: 0, volumeCrashes: 0, failovers: 0,
    timedOut: 0, nodesCutWithImages: 0, eio: 0, enospc: 0, bitFlips: 0, rebuilds: 0, rebuildsNeeded: 0, opensRetried: 0, framesDropped: 0, gossipFetches: 0, zombieFramesFenced: 0,
    nodesExcluded: 0, segmentHintsLoaded: 0, blockHintsLoaded: 0, framesIndexedOnRead: 0, nodeKills: 0,
  };

  /** A node's scan at start (recoverScan), counting the segment hints it came back with. */
  private scanOf(core: NodeCore): ReturnType<NodeCore['recoverScan']> {
    const r = core.recoverScan(this.history);
    this.stats.segmentHintsLoaded! += r.hinted.length;
    return r;
  }

  /** recoverTo, counting a block file whose hint was loaded instead of its images. */
  private recoverOf(core: NodeCore, ...a: Parameters<NodeCore['recoverTo']>): void {
    core.recoverTo(...a);
    this.stats.blockHintsLoaded! += core.coalescer.stats.blockHintsLoaded;
  }
  private now = 0;
  private eventSeq = 0;
  private readonly events = new Heap<Event>((a, b) => a.at - b.at || a.seq - b.seq);
  private readonly nodes: SimNode[] = [];
  private writer: Writer | null = null;
  private zombie: Writer | null = null;
  /** The epoch volume.json records (the last recovery's). */
  private volumeEpoch = 0;
  /**
   * The volume's newest epoch as the shell knows it (Cluster.epoch): recorded, or claimed by an
   * attach (before its fence) even if that attach then failed. A node restarts at it, so it refuses
   * the frames of a writer such an attach fenced elsewhere.
   */
  private epochClaimed = 0;
  private history: EpochRecord[] = [];
  /** The one node whose durable log may be hit by bit flips (corruption on one copy is in the model). */
  private readonly flipNode: number;
  private faults = true;
  /** A live attach is under way (restarts wait for it, as Cluster.exclusive makes them). */
  private attaching = false;
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
      this.nodes.push({ core: null, gossip: null, dir: `${VOLUME_DIR}/node-${i}`, inbox: [], runScheduled: false, incarnation: 0, failure: null, restarting: false });
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
    for (const n of this.nodes) this.noteIndexing(n.core);
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

  private absorb(i: number, frames: FrameRef[], fromPeer: boolean): number {
    const n = this.nodes[i]!;
    const core = n.core!;
    const accepted = core.receive(frames, fromPeer);
    if (core.failure !== null) {
      this.nodeFailed(i);
      return 0;
    }
    if (accepted > 0) {
      core.afterAck(this.writer?.gc.vdl ?? 0);
      this.ack(i);
    }
    return accepted;
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
      if (core.failure !== null) {
        this.nodeFailed(i); // an I/O error on the read fails the node, as its thread reports it
        continue;
      }
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

  /** Background: coalescing and scrub, and gossip (the node threads' core: node/gossip.ts). */
  private background(i: number): void {
    const n = this.nodes[i]!;
    const core = n.core;
    if (core === null) return;
    if (this.rng.chance(0.2)) {
      core.idleWork(true);
      if (core.failure !== null) return this.nodeFailed(i);
    }
    n.gossip!.tick(this.now, !n.runScheduled); // idle: no frames from the writer waiting to be taken
  }

  /** Node i starts running `core`: it serves, acks and gossips. */
  private bringUp(i: number, core: NodeCore): void {
    const n = this.nodes[i]!;
    n.core = core;
    n.failure = null;
    n.gossip = new Gossip(i, core, {
      nodes: NODES,
      running: (j) => this.nodes[j]!.core !== null && this.nodes[j]!.core!.failure === null,
      reachable: (j) => this.nodes[j]!.core !== null && this.nodes[j]!.core!.failure === null,
      scl: (j) => this.nodes[j]!.core?.scl ?? 0,
      send: (j, msg) => this.sendGossip(i, j, msg),
    }, {
      absorb: (refs) => (n.core === core ? this.absorb(i, refs, true) : 0),
      noticeFailure: () => {
        if (core.failure === null) return false;
        if (n.core === core) this.nodeFailed(i);
        return true;
      },
      fail: (e) => {
        if (n.core === core) this.nodeFailed(i, e);
      },
      statsChanged: () => {},
    }, GOSSIP_DEFAULTS);
    // Its peers ask it again (a restarted or rebuilt node's log is not the one they heard about).
    this.nodes.forEach((p, j) => { if (j !== i) p.gossip?.peerRestarted(i); });
  }

  /** A gossip message from node i to node j, over the simulated network (a private copy of any frame). */
  private sendGossip(i: number, j: number, msg: GossipMessage): void {
    if (msg.type === 'fetch') this.stats.gossipFetches!++;
    const copy: GossipMessage = msg.type === 'frames' ? { ...msg, frames: msg.frames.map((f) => new Uint8Array(f)) }
      : msg.type === 'values' ? { ...msg, items: msg.items.map((it) => ({ lsn: it.lsn, value: it.value === null ? null : new Uint8Array(it.value) })) }
      : msg;
    const to = this.nodes[j]!;
    const inc = to.incarnation;
    this.at(this.delay(), () => {
      if (to.incarnation === inc && to.gossip !== null) to.gossip.onMessage(i, copy);
    });
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
    // Half are a power cut of its disk, half a kill -9 of its process: everything it wrote stays
    // (the page cache), unsynced hint files included, and its restart loads them.
    if (this.rng.next() < 0.5) this.io.powerCut(this.rng, n.dir);
    else this.stats.nodeKills!++;
    this.scheduleRestart(i, 500 + this.rng.int(20_000));
  }

  /** A node's frames indexed because a read needed them (right after a recovery: reads served while it loads). */
  private noteIndexing(core: NodeCore | null): void {
    if (core !== null) this.stats.framesIndexedOnRead! += core.stats.framesIndexedOnRead;
  }

  private takeDown(i: number): void {
    const n = this.nodes[i]!;
    this.noteIndexing(n.core);
    n.core = null;
    n.gossip = null;
    n.inbox = [];
    n.incarnation++;
    n.runScheduled = false;
    for (const w of [this.writer, this.zombie]) w?.gc.nodeDown(i);
  }

  /**
   * The node failed itself (EIO, ENOSPC: its core's failure; or `why`, REBUILD_NEEDED from gossip):
   * it stops at once; its restart rebuilds it from a peer. A failed disk also loses what it had not synced.
   */
  private nodeFailed(i: number, why?: Error): void {
    const n = this.nodes[i]!;
    const core = n.core;
    if (core === null) return;
    this.takeDown(i);
    n.failure = why ?? core.failure ?? errors.nodeFailed(i, 'failed');
    if (why === undefined) this.io.powerCut(this.rng, n.dir);
    this.scheduleRestart(i, 1000 + this.rng.int(20_000));
  }

  private scheduleRestart(i: number, delayMicros: number): void {
    const n = this.nodes[i]!;
    if (n.restarting) return;
    n.restarting = true;
    this.at(delayMicros, () => this.restartNode(i));
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

  /** Restarts node i: restartSequence, the steps carried out on its files and core. */
  private restartNode(i: number): void {
    const n = this.nodes[i]!;
    if (n.core !== null) {
      n.restarting = false;
      return;
    }
    if (this.attaching) return void this.at(1000, () => this.restartNode(i)); // restarts wait for an attach
    let core: NodeCore | null = null; // started by 'scan'
    runWith(restartSequence(i, n.failure), (step, answer) => {
      switch (step.kind) {
        case 'rebuild':
          return answer(attempt(() => this.rebuild(i)));
        case 'scan':
          core = this.newCore(i);
          return answer(attempt(() => scanReport(core!, this.scanOf(core!))));
        case 'log-ranges':
          return answer(this.nodes.flatMap((p, j) => (j !== i && p.core !== null && p.core.failure === null ? [{ scl: p.core.scl, logFrom: logFromOf(p.core) }] : [])));
        case 'stop':
          core = null;
          return answer(undefined);
        case 'rejoin':
          return answer(attempt(() => this.recoverOf(core!, core!.scl, this.epochClaimed, null, this.history)));
        default:
          throw new Error(`step ${step.kind} in a restart`);
      }
    }, (r) => {
      n.restarting = false;
      if (!r.ok) {
        // A coded failure (I/O, no source to rebuild from) leaves it down; it is restarted again later
        // (a rebuild if that failure calls for one). Anything else (an assertion) is a bug.
        if (asOperatingError(r.error) === null) return this.oracle.violation(`node ${i} failed to rejoin: ${r.error.stack}`);
        // As the shell records the thread's latest failure; a rebuild that found no source keeps the
        // failure that calls for one.
        if (n.failure === null || needsRebuild(r.error)) n.failure = r.error;
        if (isAuroralError(r.error, ErrorCode.REBUILD_NEEDED)) this.stats.rebuildsNeeded!++;
        return this.scheduleRestart(i, 5000);
      }
      this.bringUp(i, core!);
      for (const w of [this.writer, this.zombie]) w?.gc.nodeUp(i, core!.scl);
      this.ack(i);
    });
  }

  /**
   * The real rebuild (node/rebuild.ts): the source holds still at its durable point, the copy is
   * taken durably and swapped in; the node gets a new disk (its injected faults end).
   */
  private rebuild(i: number): void {
    const n = this.nodes[i]!;
    // The node whose log takes bit flips is no source (corruption on one copy is in the model, not on two).
    const src = chooseRebuildSource(i, this.nodes.map((p, j) => ({ healthy: p.core !== null && p.core.failure === null && j !== this.flipNode, scl: p.core?.scl ?? 0 })));
    if (src === null) throw errors.recoveryFailed(`node ${i} must be rebuilt from a peer and no healthy peer is running`);
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
    n.failure = null;
    this.stats.rebuilds!++;
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
      // Both indexing policies (node/indexing.ts), by seed: after every ack, and lagging behind by
      // a few frames, a few hundred, or without bound until a quiet moment or a read.
      indexLagBytesMax: INDEX_LAG_BY_SEED[this.o.seed % INDEX_LAG_BY_SEED.length]!,
    }, this.hotLog(n.dir, false), new FsBlockStorage(n.dir, this.io), { nowMicros: () => this.now }, new FsEpochStore(n.dir, this.io));
  }

  /** Power cut of the whole volume (writer and every node), then the open() recovery sequence. */
  private crashVolume(): void {
    this.stats.volumeCrashes!++;
    for (let i = 0; i < NODES; i++) {
      const n = this.nodes[i]!;
      n.restarting = false; // its scheduled restart is cleared with every other event
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
    this.attaching = false;
    this.epochClaimed = this.volumeEpoch; // a new process knows what volume.json says
    this.events.clear();
    this.recoverVolume();
    this.at(TICK_MICROS, () => this.tick());
  }

  /** The open(): every node scans, then openSequence, its steps carried out on the scanned cores. */
  private recoverVolume(): void {
    const cores: (NodeCore | null)[] = [];
    const scans: Outcome<ScanReport>[] = [];
    // Up to two nodes may be slow to come back: the volume opens without them (open() needs
    // max(Vw, Vr) = 4), and they rejoin later, possibly holding frames this recovery cuts off.
    const late = new Set<number>();
    if (this.faults && this.rng.chance(0.4)) for (let k = 1 + this.rng.int(2); k > 0; k--) late.add(this.rng.int(NODES));
    for (let i = 0; i < NODES; i++) {
      if (late.has(i)) {
        cores.push(null);
        scans.push({ ok: false, error: errors.nodeFailed(i, 'late') });
        this.scheduleRestart(i, 2000 + this.rng.int(20_000));
        continue;
      }
      const core = this.newCore(i);
      const s = attempt(() => scanReport(core, this.scanOf(core)));
      scans.push(s);
      cores.push(s.ok ? core : null);
      // Its own disk failed it (as a thread that fails its scan is left out at open): restarted later.
      if (!s.ok) this.leftOut(i, s.error, 'scan');
    }
    const epochRecorded = this.volumeEpoch;
    runWith(openSequence(QUORUMS, scans, epochRecorded, this.history), (step, answer) => {
      switch (step.kind) {
        case 'fence':
          return answer(step.nodes.map((i) => {
            const f = attempt(() => cores[i]!.fence(step.epoch));
            if (!f.ok) this.leftOut(i, f.error, 'fence');
            return f;
          }));
        case 'record':
          return answer(this.record(step.epoch, step.history));
        case 'recover':
          return answer(step.nodes.map((i, j) => {
            const core = cores[i]!;
            const source = step.sources[j]!;
            const r = attempt(() => this.recoverOf(core, step.vdl, step.epoch, source === null ? null : this.hotLog(this.nodes[source]!.dir, true), step.history));
            if (r.ok) this.bringUp(i, core);
            else this.leftOut(i, r.error, 'recover');
            return r;
          }));
        default:
          throw new Error(`step ${step.kind} in an open`);
      }
    }, (r) => this.opened(r));
  }

  /** Node i failed a recovery step with a coded error (its own disk): it stays down and is restarted later. */
  private leftOut(i: number, e: Error, step: string): void {
    if (asOperatingError(e) === null) return this.oracle.violation(`node ${i} failed to ${step}: ${e.stack}`);
    const n = this.nodes[i]!;
    if (n.core !== null) this.takeDown(i);
    n.failure = e;
    this.stats.rebuildsNeeded!++;
    this.scheduleRestart(i, 5000);
  }

  /** The 'record' step: the volume's epoch and truncation history (volume.json). */
  private record(epoch: number, history: EpochRecord[]): undefined {
    this.volumeEpoch = epoch;
    this.epochClaimed = Math.max(this.epochClaimed, epoch);
    this.history = history;
    this.oracle.recovered(history.find((h) => h.epoch === epoch)!.vdl, epoch);
    return undefined;
  }

  /**
   * Writer failover: a new writer takes over the running nodes (attachSequence: fence, plan from their
   * SCLs, record the cut, adopt, wait for a write quorum at VDL); the old one may keep running as a
   * zombie whose frames every fenced node refuses.
   */
  private failover(): void {
    const old = this.writer;
    if (old === null || this.attaching) return;
    const live = this.nodes.filter((n) => n.core !== null);
    if (live.length < Math.max(WRITE_QUORUM, READ_QUORUM)) return;
    this.stats.failovers!++;
    const epoch = nextEpoch(this.epochClaimed, this.nodes.map((n) => n.core?.epoch ?? 0));
    this.epochClaimed = epoch; // claimed before the fence, as Cluster.claimEpoch
    // The old writer's unacknowledged commits are settled by the recovery (kept or cut off).
    old.zombie = true;
    this.zombie = this.rng.chance(0.5) ? old : null;
    this.writer = null;
    this.attaching = true;
    runWith(attachSequence(QUORUMS, epoch, this.history), (step, answer) => this.attachStep(step, answer), (r) => {
      this.attaching = false;
      this.opened(r);
    });
  }

  private attachStep(step: RecoveryStep, answer: (reply: unknown) => void): void {
    const running = (i: number) => this.nodes[i]!.core;
    switch (step.kind) {
      case 'fence':
        return answer(step.nodes.map((i) => {
          const core = running(i);
          return core === null ? { ok: false, error: errors.nodeFailed(i, 'not running') } : this.coded(i, 'fence', attempt(() => core.fence(step.epoch)));
        }));
      case 'record':
        return answer(this.record(step.epoch, step.history));
      case 'adopt':
        return answer(step.nodes.map((i) => {
          const core = running(i);
          return core === null ? { ok: false, error: errors.nodeFailed(i, 'not running') } : this.coded(i, 'adopt', attempt(() => core.adopt(step.epoch, step.history)));
        }));
      case 'exclude':
        // Stopped, as the shell terminates its thread: one that failed itself is rebuilt at its
        // restart, the others restart from their own files (a refused chain is cut by the history).
        for (const i of step.nodes) {
          const core = running(i);
          if (core === null) continue;
          this.stats.nodesExcluded!++;
          if (core.failure !== null) this.nodeFailed(i);
          else {
            this.takeDown(i);
            this.scheduleRestart(i, 1000 + this.rng.int(10_000));
          }
        }
        return answer(undefined);
      case 'await-holders': {
        const deadline = this.now + ATTACH_CATCH_UP_MICROS;
        const poll = (): void => {
          let holders = 0;
          for (const i of step.nodes) {
            const c = running(i);
            if (c !== null && c.failure === null && c.epoch === step.epoch && c.scl >= step.vdl) holders++;
          }
          if (holders >= step.quorum || this.now >= deadline) answer(holders);
          else this.at(TICK_MICROS, poll);
        };
        return poll();
      }
      default:
        throw new Error(`step ${step.kind} in an attach`);
    }
  }

  /** A node's step outcome; an uncoded failure (an assertion, not the node's disk or a refusal) is a bug. */
  private coded<T>(i: number, step: string, o: Outcome<T>): Outcome<T> {
    if (!o.ok && asOperatingError(o.error) === null) this.oracle.violation(`node ${i} failed to ${step}: ${o.error.stack}`);
    return o;
  }

  /** An open or an attach finished: start the new writer, or recover the volume again. */
  private opened(r: Outcome<Recovered>): void {
    if (!r.ok) {
      // Too few nodes to decide or to hold VDL (RECOVERY_FAILED): not a safety problem, nothing
      // was opened; the volume is recovered again. Anything else (VOLUME_CORRUPT, an assertion) is.
      if (!isAuroralError(r.error, ErrorCode.RECOVERY_FAILED)) return this.oracle.violation(`recovery failed: ${r.error.stack}`);
      this.stats.opensRetried!++;
      this.writer = null;
      this.at(5000, () => this.crashVolume());
      return;
    }
    this.startWriter(r.value.epoch, r.value.plan, r.value.members);
  }

  private startWriter(epoch: number, plan: RecoveryPlan, members: number[]): void {
    this.oracle.opened(plan.vdl);
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
    for (const i of members) if (this.nodes[i]!.core !== null) this.ack(i);
    // Every key must read back as the oracle expects, on every member at the recovered VDL.
    for (const i of members) {
      const core = this.nodes[i]!.core;
      if (core === null || core.scl < plan.vdl) continue;
      for (const key of this.keys) {
        const r = core.read(this.encoder.encode(key), plan.vdl);
        if (r.status === 'ok') this.oracle.checkRead(`node ${i} after recovery`, key, plan.vdl, r.result);
      }
      const scan = scanAll(core, plan.vdl, PAGE_COUNT);
      if (scan.status === 'ok') this.oracle.checkScan(`node ${i} after recovery`, plan.vdl, scan.entries, scan.duplicates);
    }
  }

  // ---- the end: faults stop, everything heals, nodes must converge ------------------------------------

  private stopFaults(): void {
    this.faults = false;
    this.faultsStoppedAt = this.now;
    for (let i = 0; i < NODES; i++) {
      const n = this.nodes[i]!;
      this.io.clearFaults(n.dir);
      if (n.core === null) {
        n.restarting = false; // restarted now, whatever was scheduled
        this.scheduleRestart(i, 100);
      }
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
      const scan = scanAll(core, vdl, PAGE_COUNT);
      if (scan.status === 'ok') this.oracle.checkScan(`node ${i} at the end`, vdl, scan.entries, scan.duplicates);
      else if (scan.status !== 'corrupt' || i !== this.flipNode) this.oracle.violation(`node ${i} at the end: scan -> ${scan.status}`);
    }
  }
}

function scanReport(core: NodeCore, s: { lsnSeenMax: number; lsnDurableSeen: number; batchSeqLast: number }): ScanReport {
  return { scl: core.scl, lsnSeenMax: s.lsnSeenMax, lsnDurableSeen: s.lsnDurableSeen, batchSeqLast: s.batchSeqLast, epoch: core.epoch };
}
