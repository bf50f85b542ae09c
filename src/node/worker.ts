// Storage-node thread: a thin shell around NodeCore. Foreground per wake-up: drain the inbound
// ring, append + sync every new frame in one write, publish the SCL (the ack), wake the
// group-commit thread. Only then: apply records to pages, release ring space, answer reads, and
// do a slice of background work (preallocating the next segment).
//
// Start-up protocol with the writer (over `port`): scan -> 'scanned' -> 'recover' -> 'ready'.
// What is decided lives in cores the simulator runs too, NodeCore (append, recovery, scrub, reads)
// and Gossip (which peer, when); this file wires them to the writer's ring (RingFeed), the ports
// and the control block.
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { Control, ctl, NodeState, StatsBlock, nodeStatKeys } from '../shared/control.js';
import { RingFeed } from './ring-feed.js';
import { NodeCore, type FrameRef } from './core.js';
import { Gossip, GOSSIP_DEFAULTS, type GossipLinks, type GossipMessage } from './gossip.js';
import { publishChainEnd } from './publish.js';
import { FsHotLog } from './hotlog.js';
import { FsEpochStore, type EpochRecord } from './epoch-store.js';
import { FsBlockStorage } from './blocks.js';
import { checkLayout } from '../shared/layout.js';
import { nodeDir, nodeLogDir } from './paths.js';
import { StageTrace } from '../metrics/trace.js';
import { monoMicros } from '../shared/mono-clock.js';
import { ownTid } from '../metrics/thread-cpu.js';
import { INDEX_QUIET_MICROS } from './indexing.js';
import type { Config } from '../config.js';
import { FRAME_HEADER_BYTES } from '../config.js';
import { readVolume, volumeFrameBytesMax } from '../recovery/volume.js';
import type { LogGcNode } from './log-gc.js';
import { logFromOf, settleRebuild, SnapshotHolds, type DurablePoint, type LogRange } from './rebuild.js';
import { errors, serializeError, type SerializedError } from '../errors.js';

export interface NodeWorkerData {
  nodeId: number;
  /** The volume's control block (node lines). */
  control: SharedArrayBuffer;
  /** The attached writer's control block (its group-commit doorbell, VDL, PGMRPL); replaced by 'fence'. */
  writerControl: SharedArrayBuffer;
  /** Inbound ring from the attached writer's group-commit thread; replaced by 'fence'. */
  ring: SharedArrayBuffer;
  /** The volume's truncation history (volume.json), applied to the scan. */
  history: EpochRecord[];
  stats: SharedArrayBuffer;
  /** The volume's stage trace (per-stage metrics). */
  trace: SharedArrayBuffer;
  config: Config;
  port: MessagePort;
  /** One port per peer node (null for itself and for peers not running): the gossip links. */
  peerPorts: (MessagePort | null)[];
  layout: string;
}

export type { GossipMessage } from './gossip.js';

export type NodeRequest =
  | { type: 'recover'; lsnKeep: number; epoch: number; peerNode: number | null; history: EpochRecord[] }
  /** A new writer attaches: refuse older epochs from now on (durably), then take frames from its ring. */
  | { type: 'fence'; epoch: number; ring: SharedArrayBuffer; writerControl: SharedArrayBuffer }
  /** The new writer's recovery outcome: its epoch and the VDL it kept, in the history. */
  | { type: 'adopt'; epoch: number; history: EpochRecord[] }
  | { type: 'read'; id: number; key: Uint8Array; readPoint: number }
  /** One chunk of a page scan (node-reads.ts scanPage): keys after `after` (null: from the start). */
  | { type: 'scan-page'; id: number; pageId: number; readPoint: number; prefix: Uint8Array; after: Uint8Array | null; bytesMax: number }
  | { type: 'peer-port'; peer: number; port: MessagePort }
  /** Rebuild source (rebuild.ts): hold still and answer a SnapshotReply on `reply`; held until the release of `id`. */
  | { type: 'snapshot-hold'; id: number; reply: MessagePort }
  | { type: 'snapshot-release'; id: number }
  /** Restart of a peer: answer a LogRangeReply on `reply` (can it still catch up from this log?). */
  | { type: 'log-range'; reply: MessagePort }
  | { type: 'close' };

/** Answers on a request's own reply port (rebuild.ts). */
export type SnapshotReply = ({ ok: true } & DurablePoint) | { ok: false; code: string; message: string };
export type LogRangeReply = LogRange & { running: boolean };

export type NodeReply =
  | { type: 'scanned'; scl: number; lsnSeenMax: number; lsnDurableSeen: number; batchSeqLast: number; epoch: number; outcome: string; fault: string | null;
      /** Start-up timing, wall-clock ms (comparable across threads): modules loaded, scan done. */
      timing: { loadedAt: number; scannedAt: number } }
  | { type: 'ready'; scl: number; recoverMs: number }
  | { type: 'fenced'; scl: number; lsnSeenMax: number; batchSeqLast: number; epoch: number }
  | { type: 'adopted'; scl: number }
  /**
   * `fatal`: the node failed itself (state FAILED, it never acks again) or could not start; else
   * only the step asked for (fence, adopt) was refused and the node runs on.
   */
  | { type: 'failed'; error: SerializedError; fatal: boolean }
  | { type: 'read-result'; id: number; status: 'ok' | 'behind' | 'failed' | 'corrupt'; value: Uint8Array | null; found: boolean; lsn: number }
  /** `chunk` (status ok only) is transferred: a packed scan chunk (scan-chunk.ts); `after`: the cursor for the rest of the page, or null. */
  | { type: 'scan-result'; id: number; status: 'ok' | 'behind' | 'failed' | 'corrupt'; chunk: Uint8Array | null; after: Uint8Array | null };

/** At most this many frames per append group (bounds one writev and one apply pass). */
const GROUP_FRAMES_MAX = 1024;
const PARK_TIMEOUT_MS = 100;
/**
 * Under sustained load the loop is never idle, yet the next segment must be preallocated before
 * the current one fills (or the rotation would zero-fill it synchronously, stalling acks). So
 * every this many append groups, one slice of background work runs anyway.
 */
const GROUPS_PER_BACKGROUND_SLICE = 4;
/** With gossip under way (a fetch to time out, a lag to watch), the loop wakes up at least this often. */
const GOSSIP_WAKE_MS = GOSSIP_DEFAULTS.lagMicros / 1000;


let heapAt = Number.NEGATIVE_INFINITY;
let heapBytes = 0;
let externalBytes = 0;
/** The core's stats and this thread's V8 memory (getHeapStatistics costs µs: sampled at most every 250 ms). */
function snapshot(core: NodeCore): ReturnType<NodeCore['statsSnapshot']> {
  const s = core.statsSnapshot();
  const now = monoMicros();
  if (now - heapAt >= 250_000) {
    heapAt = now;
    const h = getHeapStatistics();
    heapBytes = h.used_heap_size;
    externalBytes = h.external_memory;
  }
  s.heapBytes = heapBytes;
  s.externalBytes = externalBytes;
  return s;
}

function main(d: NodeWorkerData, loadedAt: number): void {
  checkLayout(d.layout, `storage node ${d.nodeId}`);
  const c = d.config;
  const port = d.port;
  const control = new Control(d.control);
  const stats = new StatsBlock(nodeStatKeys, d.stats);
  const i32 = control.i32;
  Atomics.store(i32, ctl.nodeTid(d.nodeId), ownTid());
  settleRebuild(nodeDir(c.dir, d.nodeId)); // before anything opens (or creates) the node's files
  const log = new FsHotLog(nodeLogDir(c.dir, d.nodeId), c.segmentBytes, c.fsync, false, {
    slowSyncMicros: () => Atomics.load(i32, ctl.nodeSlowSyncMicros(d.nodeId)),
    // k > 0: the k-th sync from when it was set fails; each sync counts down to it.
    failThisSync: () => Atomics.load(i32, ctl.nodeFailSyncIn(d.nodeId)) > 0 && Atomics.sub(i32, ctl.nodeFailSyncIn(d.nodeId), 1) === 1,
    diskFull: () => Atomics.load(i32, ctl.nodeDiskFull(d.nodeId)) !== 0,
    tearThisWrite: () => Atomics.compareExchange(i32, ctl.nodeTearNext(d.nodeId), 1, 0) === 1,
  });
  const logGcNodes = (): LogGcNode[] => Array.from({ length: c.nodes }, (_, i) => {
    const state = Atomics.load(i32, ctl.nodeState(i));
    return { live: state === NodeState.RUNNING || state === NodeState.STARTING, scl: control.load64(ctl.nodeScl(i)) };
  });
  // Frames are checked against the largest any open of the volume allowed, never this open's
  // options alone (a smaller limit would call intact, acknowledged frames torn).
  const payloadBytesMax = volumeFrameBytesMax(readVolume(c.dir), c) - FRAME_HEADER_BYTES;
  const core = new NodeCore(
    { nodeId: d.nodeId, pageCount: c.pageCount, payloadBytesMax, logGcNodes,
      scrubIntervalMicros: c.scrubIntervalMs * 1000, indexLagBytesMax: c.indexLagBytesMax },
    log, new FsBlockStorage(nodeDir(c.dir, d.nodeId)), { nowMicros: monoMicros },
    new FsEpochStore(nodeDir(c.dir, d.nodeId)),
  );
  const reply = (r: NodeReply, transfer: ArrayBuffer[] = []) => port.postMessage(r, transfer);
  const link = { writer: new Control(d.writerControl) }; // the attached writer's block (replaced by 'fence')
  const fail = (e: unknown) => {
    Atomics.store(control.i32, ctl.nodeState(d.nodeId), NodeState.FAILED);
    link.writer.ring(ctl.gcDoorbell);
    reply({ type: 'failed', error: serializeError(e), fatal: true });
  };

  try {
    const s = core.recoverScan(d.history);
    reply({ type: 'scanned', scl: core.scl, lsnSeenMax: s.lsnSeenMax, lsnDurableSeen: s.lsnDurableSeen, batchSeqLast: s.batchSeqLast,
      epoch: core.epoch, outcome: s.outcome, fault: s.fault?.why ?? null,
      timing: { loadedAt, scannedAt: performance.timeOrigin + performance.now() } });
  } catch (e) {
    fail(e);
    for (const p of d.peerPorts) p?.close();
    return;
  }
  // Before the loop the event loop is free: wait for the recovery decision the normal way.
  const onStartup = (msg: NodeRequest): void => {
    if (msg.type === 'peer-port') {
      d.peerPorts[msg.peer]?.close();
      d.peerPorts[msg.peer] = msg.port;
      return;
    }
    if (msg.type === 'fence') {
      // At open: the recovering writer raises the epoch on enough nodes before any truncation.
      try {
        const f = core.fence(msg.epoch);
        reply({ type: 'fenced', ...f, epoch: core.epoch });
      } catch (e) {
        // An I/O error on the epoch file failed the node (fatal; the writer sends it no 'recover').
        if (core.failure !== null) fail(core.failure);
        else reply({ type: 'failed', error: serializeError(e), fatal: false });
      }
      return;
    }
    port.off('message', onStartup);
    if (msg.type !== 'recover') {
      for (const p of d.peerPorts) p?.close();
      log.close();
      port.close();
      return;
    }
    const recoverAt = performance.now();
    try {
      const peer = msg.peerNode === null ? null : new FsHotLog(nodeLogDir(c.dir, msg.peerNode), c.segmentBytes, c.fsync, true);
      core.recoverTo(msg.lsnKeep < 0 ? core.scl : msg.lsnKeep, msg.epoch, peer, msg.history);
      // No read can use a read point below this (the recovered VDL at open, else the current PGMRPL).
      core.index.setReadMin(Math.min(core.scl, msg.lsnKeep < 0 ? link.writer.load64(ctl.readPointMin) : msg.lsnKeep));
      peer?.close();
    } catch (e) {
      fail(e);
      for (const p of d.peerPorts) p?.close();
      log.close();
      port.close();
      return;
    }
    publishChainEnd(control, d.nodeId, core.epoch, core.scl); // epoch first, then the SCL
    stats.set(snapshot(core));
    Atomics.store(control.i32, ctl.nodeState(d.nodeId), NodeState.RUNNING);
    link.writer.ring(ctl.gcDoorbell);
    reply({ type: 'ready', scl: core.scl, recoverMs: performance.now() - recoverAt });
    port.unref(); // from here on messages are polled with receiveMessageOnPort
    loop(d, core, control, link, stats, reply, fail);
    for (const p of d.peerPorts) p?.close();
    log.close();
    core.blocks.close();
    port.close();
  };
  port.on('message', onStartup);
}

/** A rebuild's requests to this node (rebuild.ts), answered on their own reply ports. */
function answerRebuildRequest(msg: Extract<NodeRequest, { type: 'snapshot-hold' | 'snapshot-release' | 'log-range' }>, core: NodeCore,
  holds: SnapshotHolds, control: Control, id: number): void {
  if (msg.type === 'snapshot-release') {
    holds.release(msg.id);
    return;
  }
  if (msg.type === 'log-range') {
    const running = Atomics.load(control.i32, ctl.nodeState(id)) === NodeState.RUNNING && core.failure === null;
    msg.reply.postMessage({ scl: core.scl, logFrom: logFromOf(core), running } satisfies LogRangeReply);
    return;
  }
  let answer: SnapshotReply;
  try {
    // A node that failed itself since it was chosen (its state says so first) is no source.
    if (Atomics.load(control.i32, ctl.nodeState(id)) !== NodeState.RUNNING) throw errors.nodeFailed(id, 'not running');
    answer = { ok: true, ...holds.hold(msg.id, core) };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    answer = { ok: false, code: err.code ?? 'NODE_FAILED', message: err.message ?? String(e) };
  }
  msg.reply.postMessage(answer); // the asker closes the channel
}

/** True if at least writeQuorum nodes now hold `scl`-or-more while VDL is still below it. */
function mayAdvanceVdl(control: Control, writer: Control, nodes: number, writeQuorum: number, scl: number): boolean {
  const vdl = writer.load64(ctl.vdl);
  if (vdl >= scl) return false;
  let holders = 0;
  for (let i = 0; i < nodes; i++) if (control.load64(ctl.nodeScl(i)) > vdl) holders++;
  return holders >= writeQuorum;
}

function loop(d: NodeWorkerData, core: NodeCore, control: Control, link: { writer: Control }, stats: StatsBlock<typeof nodeStatKeys[number]>,
  reply: (r: NodeReply, transfer?: ArrayBuffer[]) => void, fail: (e: unknown) => void): void {
  const feed = new RingFeed(d.ring, d.nodeId, GROUP_FRAMES_MAX);
  const id = d.nodeId;
  const c = d.config;
  const peers = d.peerPorts;
  let failed = false;
  let groupsSinceSlice = 0;
  /** Held as a rebuild source: coalescing (and so log GC) stays stopped (rebuild.ts). */
  const holds = new SnapshotHolds();
  // Per-stage metrics: when this group was drained from the ring, and its (last) fdatasync.
  const tracing = c.metrics.stages;
  const trace = new StageTrace(c.nodes, d.trace);
  let recvAt = 0;
  let syncStartAt = 0;
  let syncEndAt = 0;
  if (tracing) {
    core.syncObserver = (t0, t1) => {
      syncStartAt = t0;
      syncEndAt = t1;
      trace.recordSync(id, t1 - t0);
    };
  }

  /** Appends frames (from the ring or a peer), acks, indexes. Returns how many were accepted. */
  /**
   * Reports the node's failure (state FAILED, a fatal reply) the first time it is seen after a
   * call into the core (append, idle work, a read, a fetch, a repair, a fence); from then on the
   * loop does no more work. True if the node has failed.
   */
  const noticeFailure = (): boolean => {
    if (core.failure !== null && !failed) {
      failed = true;
      fail(core.failure);
    }
    return failed;
  };

  /**
   * A fence or adopt refused with `e`: fatal if the node has failed (an I/O error on its epoch file,
   * or before), else only the step was refused (a stale epoch, a chain beyond the kept VDL).
   */
  const refuseStep = (e: unknown, fallback?: Parameters<typeof serializeError>[1]): void => {
    if (core.failure === null) reply({ type: 'failed', error: serializeError(e, fallback), fatal: false });
    else if (failed) reply({ type: 'failed', error: serializeError(core.failure), fatal: true });
    else noticeFailure();
  };

  const absorb = (refs: FrameRef[], fromPeer: boolean): number => {
    const accepted = core.receive(refs, fromPeer);
    if (noticeFailure()) return 0;
    if (accepted > 0) {
      if (tracing && !fromPeer) {
        for (const a of core.acceptedFrames) trace.nodeSynced(id, a.frame.header.batchSeq, recvAt, syncStartAt, syncEndAt);
      }
      control.store64(ctl.nodeScl(id), core.scl); // the ack: only after the sync returned
      // Wake the group-commit thread only if this ack may complete a write quorum; other acks
      // are picked up at its next wake-up (they only trim retention).
      if (mayAdvanceVdl(control, link.writer, c.nodes, c.writeQuorum, core.scl)) link.writer.ring(ctl.gcDoorbell);
    }
    core.afterAck(feed.readMin); // indexing waits for a quiet moment or a read (indexing.ts)
    return accepted;
  };

  const links: GossipLinks = {
    nodes: c.nodes,
    running: (i) => Atomics.load(control.i32, ctl.nodeState(i)) === NodeState.RUNNING,
    reachable: (i) => peers[i] !== null && peers[i] !== undefined && links.running(i),
    scl: (i) => control.load64(ctl.nodeScl(i)),
    send: (i, msg) => {
      // Frames go by transfer (each is its own copy: framesAfter), not by a second copy.
      peers[i]?.postMessage(msg, msg.type === 'frames' ? msg.frames.map((f) => f.buffer as ArrayBuffer) : []);
      control.ring(ctl.nodeDoorbell(i));
    },
  };
  const gossip = new Gossip(id, core, links, {
    absorb: (refs) => absorb(refs, true),
    noticeFailure,
    fail: (e) => {
      failed = true;
      fail(e);
    },
    statsChanged: () => stats.set(snapshot(core)),
  });

  for (;;) {
    const seen = Atomics.load(control.i32, ctl.nodeDoorbell(id));
    const paused = Atomics.load(control.i32, ctl.nodePaused(id)) !== 0;
    let busy = false;
    // Reads served this turn: their counters (reads, readsCorrupt) are published before the node
    // parks, not at its next frame (an idle node's stats stayed stale for good).
    let served = false;
    // Control messages are read even while paused: a paused node must still obey close.
    for (let m = receiveMessageOnPort(d.port); m !== undefined; m = receiveMessageOnPort(d.port)) {
      const msg = m.message as NodeRequest;
      if (msg.type === 'close') {
        for (const p of peers) p?.close();
        return;
      }
      if (msg.type === 'peer-port') {
        peers[msg.peer]?.close();
        peers[msg.peer] = msg.port;
        gossip.peerRestarted(msg.peer); // restarted, maybe rebuilt: ask it again
        continue;
      }
      if (msg.type === 'snapshot-hold' || msg.type === 'snapshot-release' || msg.type === 'log-range') {
        answerRebuildRequest(msg, core, holds, control, id);
        continue;
      }
      if (msg.type === 'fence') {
        // Durable before the reply: from here on the old writer's frames are refused.
        try {
          const f = core.fence(msg.epoch);
          Atomics.store(control.i32, ctl.nodeEpoch(id), core.epoch);
          feed.replace(msg.ring);
          link.writer = new Control(msg.writerControl);
          reply({ type: 'fenced', ...f, epoch: core.epoch });
        } catch (e) {
          refuseStep(e);
        }
        continue;
      }
      if (msg.type === 'adopt') {
        try {
          core.adopt(msg.epoch, msg.history); // refused if its chain is beyond the VDL kept
          reply({ type: 'adopted', scl: core.scl });
        } catch (e) {
          refuseStep(e, 'RECOVERY_FAILED');
        }
        continue;
      }
      if (msg.type === 'read') {
        // Paused (cut off) or muted (fault): the request is lost; the writer times out and retries.
        if (paused || Atomics.load(control.i32, ctl.nodeMuted(id)) !== 0) continue;
        const r = core.read(msg.key, msg.readPoint); // an I/O error fails the node: answered 'failed'
        served = true;
        noticeFailure();
        if (r.status === 'ok') {
          const res = r.result;
          reply({ type: 'read-result', id: msg.id, status: 'ok', found: res.found, value: res.found ? res.value : null, lsn: res.found ? res.lsn : 0 });
        } else {
          reply({ type: 'read-result', id: msg.id, status: r.status, found: false, value: null, lsn: 0 });
        }
      }
      if (msg.type === 'scan-page') {
        // As a read: lost while paused or muted. Served inline, between appends: bytesMax bounds the stall.
        if (paused || Atomics.load(control.i32, ctl.nodeMuted(id)) !== 0) continue;
        const r = core.scanPage(msg.pageId, msg.readPoint, msg.prefix, msg.after, msg.bytesMax);
        served = true;
        noticeFailure();
        if (r.status === 'ok') reply({ type: 'scan-result', id: msg.id, status: 'ok', chunk: r.chunk, after: r.after }, [r.chunk.buffer as ArrayBuffer]);
        else reply({ type: 'scan-result', id: msg.id, status: r.status, chunk: null, after: null });
      }
    }
    if (!paused) {
      for (let i = 0; i < peers.length; i++) {
        const p = peers[i];
        if (p === null || p === undefined) continue;
        for (let m = receiveMessageOnPort(p); m !== undefined; m = receiveMessageOnPort(p)) gossip.onMessage(i, m.message as GossipMessage);
      }
    }
    if (!paused && !failed) {
      const frames = feed.take(core, Atomics.load(control.i32, ctl.nodeDropPermille(id)));
      if (tracing && frames !== null) recvAt = monoMicros();
      if (feed.pending) {
        busy = true;
        if (frames !== null && frames.length > 0) absorb(frames, false);
        feed.release();
        stats.set(snapshot(core));
        if (++groupsSinceSlice >= GROUPS_PER_BACKGROUND_SLICE) {
          groupsSinceSlice = 0;
          core.idleWork(false);
          noticeFailure();
        }
      }
      if (!failed) gossip.tick(monoMicros(), !busy);
    }
    if (busy) continue;
    core.coalescer.paused = Atomics.load(control.i32, ctl.coalescePaused) !== 0 || holds.held;
    // Held as a rebuild source: only segment preallocation (no cycle, no scrub pass) while a peer copies.
    const more = !paused && core.idleWork(!holds.held);
    // A block-file, meta or scrub-read error fails the node now, not at its next append.
    if (noticeFailure() || more || served) {
      stats.set(snapshot(core));
      if (more) continue;
    }
    // With a fetch outstanding, wake up to time it out even if nothing rings; with frames not yet
    // indexed, to index them once the node has been quiet for INDEX_QUIET_MICROS.
    const wakeMs = Math.min(core.unindexedBytes > 0 ? INDEX_QUIET_MICROS / 1000 : PARK_TIMEOUT_MS, gossip.wantsSoon ? GOSSIP_WAKE_MS : PARK_TIMEOUT_MS);
    // Quiet nodes publish too, at the heap-sampling pace: their buffers were given back while idle.
    if (monoMicros() - heapAt >= 250_000) stats.set(snapshot(core));
    control.park(ctl.nodeDoorbell(id), seen, wakeMs);
  }
}

/** workerData of a spare thread (Cluster.scheduleSpareNode): no node yet. */
export interface SpareNodeData { standby: true }
/** What turns a spare thread into node `data.nodeId` (its ports in the transfer list). */
export interface SpareNodeMessage { type: 'begin'; data: NodeWorkerData }

const loadedAt = performance.timeOrigin + performance.now();
const initial = workerData as NodeWorkerData | SpareNodeData;
if ('standby' in initial) {
  // Node and this bundle are loaded: wait, without a ref on the loop, for the node to become.
  const port = parentPort!;
  port.unref();
  port.once('message', (m: SpareNodeMessage) => main(m.data, performance.timeOrigin + performance.now()));
} else {
  main(initial, loadedAt);
}
