// Storage-node thread: a thin shell around NodeCore. Foreground per wake-up: drain the inbound
// ring, append + sync every new frame in one write, publish the SCL (the ack), wake the
// group-commit thread. Only then: apply records to pages, release ring space, answer reads, and
// do a slice of background work (preallocating the next segment).
//
// Start-up protocol with the writer (over `port`): scan -> 'scanned' -> 'recover' -> 'ready'.
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as path from 'node:path';
import { Control, ctl, NodeState, StatsBlock, nodeStatKeys } from '../shared/control.js';
import { RingConsumer, RING_HEADER_BYTES } from '../ring/ring.js';
import { NodeCore, type FrameRef } from './core.js';
import { FsHotLog } from './hotlog.js';
import { FsBlockStorage } from './blocks.js';
import type { Config } from '../config.js';
import { FRAME_HEADER_BYTES, frameBytesMax } from '../config.js';

export interface NodeWorkerData {
  nodeId: number;
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  config: Config;
  port: MessagePort;
}

export type NodeRequest =
  | { type: 'recover'; lsnKeep: number; epoch: number; peerNode: number | null }
  | { type: 'read'; id: number; key: Uint8Array; readPoint: number }
  | { type: 'close' };

export type NodeReply =
  | { type: 'scanned'; scl: number; lsnSeenMax: number; batchSeqLast: number; epoch: number; outcome: string; fault: string | null }
  | { type: 'ready'; scl: number }
  | { type: 'failed'; code: string; message: string }
  | { type: 'read-result'; id: number; status: 'ok' | 'behind' | 'failed'; value: Uint8Array | null; found: boolean; lsn: number };

/** At most this many frames per append group (bounds one writev and one apply pass). */
const GROUP_FRAMES_MAX = 1024;
const PARK_TIMEOUT_MS = 100;
/**
 * Under sustained load the loop is never idle, yet the next segment must be preallocated before
 * the current one fills (or the rotation would zero-fill it synchronously, stalling acks). So
 * every this many append groups, one slice of background work runs anyway.
 */
const GROUPS_PER_BACKGROUND_SLICE = 4;

export function nodeDir(dir: string, node: number): string {
  return path.join(dir, `node-${node}`);
}

export function nodeLogDir(dir: string, node: number): string {
  return path.join(nodeDir(dir, node), 'log');
}

function main(d: NodeWorkerData): void {
  const c = d.config;
  const port = d.port;
  const control = new Control(d.control);
  const stats = new StatsBlock(nodeStatKeys, d.stats);
  const log = new FsHotLog(nodeLogDir(c.dir, d.nodeId), c.segmentBytes, c.fsync);
  const sclMinAllNodes = (): number => {
    let min = Number.MAX_SAFE_INTEGER;
    for (let i = 0; i < c.nodes; i++) min = Math.min(min, control.load64(ctl.nodeScl(i)));
    return min;
  };
  const core = new NodeCore(
    { nodeId: d.nodeId, pageCount: c.pageCount, payloadBytesMax: frameBytesMax(c) - FRAME_HEADER_BYTES, sclMinAllNodes },
    log, new FsBlockStorage(nodeDir(c.dir, d.nodeId)), { nowMicros: () => performance.now() * 1000 },
  );
  const reply = (r: NodeReply) => port.postMessage(r);
  const fail = (e: unknown) => {
    const err = e as { code?: string; message?: string };
    Atomics.store(control.i32, ctl.nodeState(d.nodeId), NodeState.FAILED);
    control.ring(ctl.gcDoorbell);
    reply({ type: 'failed', code: err.code ?? 'NODE_FAILED', message: err.message ?? String(e) });
  };

  try {
    const s = core.recoverScan();
    reply({ type: 'scanned', scl: s.lsnLast, lsnSeenMax: s.lsnSeenMax, batchSeqLast: s.batchSeqLast, epoch: s.epochLast, outcome: s.outcome, fault: s.fault?.why ?? null });
  } catch (e) {
    fail(e);
    return;
  }
  // Before the loop the event loop is free: wait for the recovery decision the normal way.
  port.once('message', (msg: NodeRequest) => {
    if (msg.type !== 'recover') {
      log.close();
      port.close();
      return;
    }
    try {
      const peer = msg.peerNode === null ? null : new FsHotLog(nodeLogDir(c.dir, msg.peerNode), c.segmentBytes, c.fsync, true);
      core.recoverTo(msg.lsnKeep < 0 ? core.scl : msg.lsnKeep, msg.epoch, peer);
      // No read can use a read point below this (the recovered VDL at open, else the current PGMRPL).
      core.index.setReadMin(Math.min(core.scl, msg.lsnKeep < 0 ? control.load64(ctl.readPointMin) : msg.lsnKeep));
      peer?.close();
    } catch (e) {
      fail(e);
      log.close();
      port.close();
      return;
    }
    control.store64(ctl.nodeScl(d.nodeId), core.scl);
    stats.set(core.statsSnapshot());
    Atomics.store(control.i32, ctl.nodeState(d.nodeId), NodeState.RUNNING);
    control.ring(ctl.gcDoorbell);
    reply({ type: 'ready', scl: core.scl });
    port.unref(); // from here on messages are polled with receiveMessageOnPort
    loop(d, core, control, stats, reply, fail);
    log.close();
    core.blocks.close();
    port.close();
  });
}

/** True if at least writeQuorum nodes now hold `scl`-or-more while VDL is still below it. */
function mayAdvanceVdl(control: Control, nodes: number, writeQuorum: number, scl: number): boolean {
  const vdl = control.load64(ctl.vdl);
  if (vdl >= scl) return false;
  let holders = 0;
  for (let i = 0; i < nodes; i++) if (control.load64(ctl.nodeScl(i)) > vdl) holders++;
  return holders >= writeQuorum;
}

function loop(d: NodeWorkerData, core: NodeCore, control: Control, stats: StatsBlock<typeof nodeStatKeys[number]>,
  reply: (r: NodeReply) => void, fail: (e: unknown) => void): void {
  const ring = new RingConsumer(d.ring);
  const whole = new Uint8Array(ring.sab);
  const view = new DataView(ring.sab);
  const id = d.nodeId;
  const frames: FrameRef[] = [];
  let failed = false;
  let readMin = 0;
  let groupsSinceSlice = 0;
  for (;;) {
    const seen = Atomics.load(control.i32, ctl.nodeDoorbell(id));
    const paused = Atomics.load(control.i32, ctl.nodePaused(id)) !== 0;
    let busy = false;
    if (!paused) {
      for (let m = receiveMessageOnPort(d.port); m !== undefined; m = receiveMessageOnPort(d.port)) {
        const msg = m.message as NodeRequest;
        if (msg.type === 'close') return;
        if (msg.type === 'read') {
          if (Atomics.load(control.i32, ctl.nodeMuted(id)) !== 0) continue; // fault: drop it silently
          const r = core.read(msg.key, msg.readPoint);
          if (r.status === 'ok') {
            const res = r.result;
            reply({ type: 'read-result', id: msg.id, status: 'ok', found: res.found, value: res.found ? res.value : null, lsn: res.found ? res.lsn : 0 });
          } else {
            reply({ type: 'read-result', id: msg.id, status: r.status, found: false, value: null, lsn: 0 });
          }
        }
      }
    }
    if (!paused && !failed) {
      frames.length = 0;
      let m = frames.length < GROUP_FRAMES_MAX ? ring.next() : null;
      while (m !== null) {
        const abs = m.offset + RING_HEADER_BYTES; // message offsets are relative to the data area
        const h = core.checkIncoming(whole, view, abs, abs + m.payloadBytes);
        if (h === null) break;
        frames.push({ bytes: ring.bytes.subarray(m.offset, m.offset + m.payloadBytes), header: h });
        if (h.lsnReadMin > readMin) readMin = h.lsnReadMin;
        m = frames.length < GROUP_FRAMES_MAX ? ring.next() : null;
      }
      if (frames.length > 0) {
        busy = true;
        core.receive(frames);
        if (core.failure !== null) {
          failed = true;
          fail(core.failure);
        } else {
          control.store64(ctl.nodeScl(id), core.scl); // the ack: only after the sync returned
          // Wake the group-commit thread only if this ack may complete a write quorum; other acks
          // are picked up at its next wake-up (they only trim retention).
          if (mayAdvanceVdl(control, d.config.nodes, d.config.writeQuorum, core.scl)) control.ring(ctl.gcDoorbell);
          core.indexAccepted(readMin); // after the ack: off the commit's critical path
        }
        ring.release();
        stats.set(core.statsSnapshot());
        if (++groupsSinceSlice >= GROUPS_PER_BACKGROUND_SLICE) {
          groupsSinceSlice = 0;
          core.idleWork(false);
        }
      }
    }
    if (busy) continue;
    core.coalescer.paused = Atomics.load(control.i32, ctl.coalescePaused) !== 0;
    if (!paused && core.idleWork()) {
      stats.set(core.statsSnapshot());
      continue;
    }
    control.park(ctl.nodeDoorbell(id), seen, PARK_TIMEOUT_MS);
  }
}

main(workerData as NodeWorkerData);
