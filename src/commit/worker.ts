// Group-commit thread: a thin shell around GroupCommitCore. It owns no decisions; it moves bytes
// between the log ring, the core and the node rings, and sleeps on its doorbell between events.
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Control, ctl, NodeState, StatsBlock, gcStatKeys } from '../shared/control.js';
import { RingConsumer, RingProducer } from '../ring/ring.js';
import { GroupCommitCore, type NodeLinks } from './core.js';
import type { Config } from '../config.js';
import { frameBytesMax } from '../config.js';
import { checkLayout } from '../shared/layout.js';
import { readU64 } from '../log/u64.js';
import { Queue } from 'mnemonist';
import { StageTrace, isSampled } from '../metrics/trace.js';
import { monoMicros } from '../shared/mono-clock.js';
import { serializeError, type SerializedError } from '../errors.js';
import { ownTid } from '../metrics/thread-cpu.js';

export interface GcWorkerData {
  /** This writer's own control block (doorbells, VDL, PGMRPL, fencedBy). */
  control: SharedArrayBuffer;
  /** The volume's control block (node SCLs, states, epochs, doorbells). */
  volumeControl: SharedArrayBuffer;
  logRing: SharedArrayBuffer;
  nodeRings: SharedArrayBuffer[];
  stats: SharedArrayBuffer;
  /** The volume's stage trace (per-stage metrics). */
  trace: SharedArrayBuffer;
  config: Config;
  port: MessagePort;
  layout: string;
}

/** Where the writer's log starts: known once recovery decided it (sent in the 'start' message). */
export interface GcStart {
  epoch: number;
  lsnPrev: number;
  batchSeqNext: number;
}

export type GcMessage =
  | ({ type: 'start' } & GcStart)
  | { type: 'node-down'; node: number }
  | { type: 'node-up'; node: number; ring: SharedArrayBuffer }
  | { type: 'close' };

/** From the group-commit thread: it died of `error` (typed, see errors.ts serializeError). */
export type GcReply = { type: 'failed'; error: SerializedError };

/** Watchdog: even with no doorbell, look around this often (ms). */
const PARK_TIMEOUT_MS = 50;

/**
 * The thread is started before recovery has decided where its log starts (at open, in parallel
 * with the nodes' scans: a thread start costs tens of ms on two busy cores, and the first put
 * would wait for it). It waits here for 'start', or for 'close' if the open failed.
 */
function awaitStart(d: GcWorkerData, early: GcMessage[]): GcStart | null {
  const control = new Control(d.control);
  for (;;) {
    const seen = Atomics.load(control.i32, ctl.gcDoorbell);
    const m = receiveMessageOnPort(d.port)?.message as GcMessage | undefined;
    if (m === undefined) control.park(ctl.gcDoorbell, seen, PARK_TIMEOUT_MS);
    else if (m.type === 'start') return m;
    else if (m.type === 'close') return null;
    else early.push(m); // a node went down or came back before the start: handled first, in order
  }
}

function main(d: GcWorkerData, start: GcStart, early: GcMessage[]): void {
  checkLayout(d.layout, 'group-commit thread');
  const c = d.config;
  const control = new Control(d.control);
  const vol = new Control(d.volumeControl);
  Atomics.store(control.i32, ctl.gcTid, ownTid());
  // Nodes that moved to a newer epoch (a newer writer fenced them) can never ack this writer again;
  // once more than nodes - writeQuorum have, no write quorum is left: this writer is fenced.
  const fenceQuorum = c.nodes - c.writeQuorum + 1;
  const logRing = new RingConsumer(d.logRing);
  const logView = new DataView(logRing.bytes.buffer, logRing.bytes.byteOffset, logRing.bytes.byteLength);
  const rings = d.nodeRings.map((sab) => new RingProducer(sab));
  const stats = new StatsBlock(gcStatKeys, d.stats);
  const pendingUp = new Array<boolean>(c.nodes).fill(false);
  const down = new Array<boolean>(c.nodes).fill(false);
  const nowMicros = () => performance.now() * 1000;
  // Per-stage metrics: sampled MTRs of the batch being built wait here for their frame's number;
  // frames cut wait in `unpushed` for their copy to the nodes, then in `undurable` for VDL.
  const tracing = c.metrics.stages;
  const sampleLsns = c.metrics.sampleLsns;
  const trace = new StageTrace(c.nodes, d.trace);
  const sampledLsn: number[] = [];
  const sampledAt: number[] = [];
  const unpushed: number[] = [];
  const undurable = new Queue<{ batchSeq: number; lsnLast: number }>();
  const onCut = (batchSeq: number, lsnLast: number): void => {
    const at = monoMicros();
    trace.frameCut(batchSeq, at);
    for (let k = 0; k < sampledLsn.length; k++) trace.commitDrained(sampledLsn[k]!, sampleLsns, sampledAt[k]!, batchSeq);
    sampledLsn.length = 0;
    sampledAt.length = 0;
    unpushed.push(batchSeq);
    undurable.enqueue({ batchSeq, lsnLast });
  };
  const core = new GroupCommitCore({
    nodes: c.nodes, writeQuorum: c.writeQuorum, policy: c.groupCommit, frameBytesMax: frameBytesMax(c),
    retainBytesMax: c.retainBytesMax, epoch: start.epoch, lsnPrev: start.lsnPrev, batchSeqNext: start.batchSeqNext,
    ...(tracing ? { onCut } : {}),
  });
  const links: NodeLinks = {
    isLive: (i) => !down[i] && !pendingUp[i] && Atomics.load(vol.i32, ctl.nodeState(i)) === NodeState.RUNNING,
    tryPush: (i, frame) => {
      const ring = rings[i]!;
      const off = ring.tryReserve(frame.length, 0);
      if (off < 0) return false;
      ring.bytes.set(frame, off);
      return true;
    },
    flush: (i) => {
      rings[i]!.publish();
      vol.ring(ctl.nodeDoorbell(i));
    },
  };
  const scl = new Array<number>(c.nodes).fill(0);
  let wakeups = 0;
  let closing = false;

  for (;;) {
    const seen = Atomics.load(control.i32, ctl.gcDoorbell);
    wakeups++;
    const next = (): GcMessage | undefined => early.shift() ?? (receiveMessageOnPort(d.port)?.message as GcMessage | undefined);
    for (let msg = next(); msg !== undefined; msg = next()) {
      if (msg.type === 'start') continue; // cannot come twice
      if (msg.type === 'close') closing = true;
      else if (msg.type === 'node-down') {
        down[msg.node] = true;
        core.nodeDown(msg.node);
      } else {
        rings[msg.node] = new RingProducer(msg.ring);
        down[msg.node] = false;
        pendingUp[msg.node] = true;
        core.nodeDown(msg.node);
      }
    }
    // Acks first: they free retention and may open the adaptive window.
    let newer = 0;
    let newestEpoch = 0;
    for (let i = 0; i < c.nodes; i++) {
      // An SCL counts only if the node is in this writer's epoch before and after reading it: a
      // node fenced by a newer writer acks that writer's chain, which says nothing about ours.
      const e1 = Atomics.load(vol.i32, ctl.nodeEpoch(i));
      const s = vol.load64(ctl.nodeScl(i));
      const e2 = Atomics.load(vol.i32, ctl.nodeEpoch(i));
      if (e1 === start.epoch && e2 === start.epoch) scl[i] = s;
      if (e2 > start.epoch) {
        newer++;
        newestEpoch = Math.max(newestEpoch, e2);
      }
      const state = Atomics.load(vol.i32, ctl.nodeState(i));
      if (pendingUp[i] && state === NodeState.RUNNING) {
        pendingUp[i] = false;
        core.nodeUp(i, scl[i]!);
      } else if (state === NodeState.FAILED && !down[i]) {
        down[i] = true;
        core.nodeDown(i);
      }
    }
    if (newer >= fenceQuorum && Atomics.load(control.i32, ctl.fencedBy) === 0) {
      Atomics.store(control.i32, ctl.fencedBy, newestEpoch);
      control.ring(ctl.writerDoorbell);
    }
    if (core.onAcks(scl)) {
      if (tracing) {
        // Stamped before VDL is published, so the writer finds them when it acknowledges.
        const at = monoMicros();
        for (let f = undurable.peek(); f !== undefined && f.lsnLast <= core.vdl; f = undurable.peek()) {
          trace.frameDurable(undurable.dequeue()!.batchSeq, at);
        }
      }
      control.store64(ctl.vdl, core.vdl);
      control.ring(ctl.writerDoorbell);
    }
    core.readPointMin = control.load64(ctl.readPointMin);
    // Drain the log ring into batches (each MTR is one ring message; its tag is its record count).
    let drained = false;
    const now = nowMicros();
    for (;;) {
      if (!logRing.hasMessage()) break;
      // Peek the size before consuming: under back-pressure the MTR stays in the ring.
      const pos = logRing.position;
      const m = logRing.next()!;
      if (!core.canAccept(m.payloadBytes)) {
        core.poll(Number.MAX_SAFE_INTEGER); // make room: cut what is pending
        if (!core.canAccept(m.payloadBytes)) {
          logRing.rewind(pos);
          break;
        }
      }
      if (tracing) {
        const lsnFirst = readU64(logView, m.offset + 8);
        const lsnLast = lsnFirst + m.tag - 1;
        if (isSampled(lsnFirst, lsnLast, sampleLsns)) {
          sampledLsn.push(lsnLast);
          sampledAt.push(monoMicros());
        }
      }
      core.addMtr(logRing.bytes.subarray(m.offset, m.offset + m.payloadBytes), m.tag, now);
      drained = true;
    }
    if (drained) {
      logRing.release();
      if (Atomics.load(control.i32, ctl.writerWantsSpace) !== 0) control.ring(ctl.writerDoorbell);
    }
    if (closing) core.flushPending();
    const wakeAt = core.poll(nowMicros());
    core.pump(links);
    if (unpushed.length > 0) {
      const at = monoMicros();
      for (const b of unpushed) trace.framePushed(b, at);
      unpushed.length = 0;
    }
    stats.set({
      batches: core.stats.batches, records: core.stats.records, mtrs: core.stats.mtrs, payloadBytes: core.stats.payloadBytes,
      cutBytes: core.cuts.bytes, cutRecords: core.cuts.records, cutTime: core.cuts.time, cutIdle: core.cuts.idle,
      cutClose: core.cuts.close, framesRetained: core.retainedFrames, bytesRetained: core.retainedBytes,
      nodesDetached: core.stats.nodesDetached, wakeups,
    });
    control.store64(ctl.framesCut, core.stats.batches);
    if (closing && core.pendingRecords === 0) break;
    let timeoutMs = PARK_TIMEOUT_MS;
    if (wakeAt !== null) timeoutMs = Math.max(0, Math.min(timeoutMs, (wakeAt - nowMicros()) / 1000));
    if (timeoutMs > 0 || wakeAt === null) {
      // Set only across the park: while awake, a ring costs the writer no syscall anyway.
      const full = core.windowFull;
      if (full) Atomics.store(control.i32, ctl.gcWindowFull, 1);
      control.park(ctl.gcDoorbell, seen, timeoutMs);
      if (full) Atomics.store(control.i32, ctl.gcWindowFull, 0);
    }
  }
  d.port.close();
}

try {
  const d = workerData as GcWorkerData;
  const early: GcMessage[] = [];
  const start = awaitStart(d, early);
  if (start === null) d.port.close();
  else main(d, start, early);
} catch (e) {
  // Tell the writer why, with the error's code, before the thread dies of it.
  (workerData as GcWorkerData).port.postMessage({ type: 'failed', error: serializeError(e) } satisfies GcReply);
  throw e;
}
