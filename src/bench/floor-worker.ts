// The floor pipeline's threads (see floor-pipeline.ts). The group-commit thread publishes every
// record the writer has put as one frame, waits until `quorum` nodes hold it durably and tells the
// writer; each node writes the frame's slots straight from the writer's shared ring into its own
// preallocated file with pwrite and fdatasyncs. One frame in flight by default, as baseline (b)
// and the engine's default (framesInFlight: up to that many). No framing, checksums, indexes,
// epochs, stats or gossip: what is left is what the design itself needs (eight threads, their wake-ups, six writes and fdatasyncs per frame).
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { ownTid } from '../metrics/thread-cpu.js';
import {
  C_ACKED, C_DURABLE, C_GC_BELL, C_GC_SLEEPERS, C_HEAD, C_NODE_SLEEPERS, C_PUBLISHED, C_STOP,
  FLOOR_FILE_BYTES, FLOOR_SLOT_BYTES, FLOOR_SLOTS, park, ring, type FloorWorkerData,
} from './floor-layout.js';

const data = workerData as FloorWorkerData;
const ctl = new Int32Array(data.control);
parentPort!.postMessage({ tid: ownTid() });

/** The end (a record count) everything below which is on `quorum` nodes: the quorum-th highest durable end (nodes write in order). */
const durable = new Int32Array(data.nodes);
function onQuorum(): number {
  for (let i = 0; i < data.nodes; i++) durable[i] = Atomics.load(ctl, C_DURABLE + i);
  durable.sort();
  return durable[data.nodes - data.quorum]!;
}

function groupCommit(): void {
  /** Ends of the frames published and not yet on a quorum, oldest first. */
  const inFlight: number[] = [];
  let published = 0;
  while (Atomics.load(ctl, C_STOP) === 0) {
    const bell = Atomics.load(ctl, C_GC_BELL);
    let progressed = false;
    if (inFlight.length > 0) {
      const q = onQuorum();
      if (q > Atomics.load(ctl, C_ACKED)) {
        while (inFlight.length > 0 && inFlight[0]! <= q) inFlight.shift();
        Atomics.store(ctl, C_ACKED, q);
        Atomics.notify(ctl, C_ACKED); // the writer's Atomics.waitAsync
        progressed = true;
      }
    }
    if (inFlight.length < data.framesInFlight) {
      const head = Atomics.load(ctl, C_HEAD);
      if (head > published) {
        published = head;
        inFlight.push(published);
        Atomics.store(ctl, C_PUBLISHED, published);
        if (Atomics.load(ctl, C_NODE_SLEEPERS) !== 0) Atomics.notify(ctl, C_PUBLISHED);
        progressed = true;
      }
    }
    if (!progressed) park(ctl, C_GC_BELL, C_GC_SLEEPERS, bell);
  }
}

function node(): void {
  const fd = fs.openSync(data.file, 'r+');
  const bytes = new Uint8Array(data.ring);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let written = 0;
  try {
    while (Atomics.load(ctl, C_STOP) === 0) {
      const end = Atomics.load(ctl, C_PUBLISHED);
      if (end === written) {
        park(ctl, C_PUBLISHED, C_NODE_SLEEPERS, end);
        continue;
      }
      if (data.delayMs > 0) Atomics.wait(nap, 0, 0, data.delayMs);
      // The frame's slots, in at most two runs (the ring wraps); the file mirrors the ring.
      while (written < end) {
        const slot = written % FLOOR_SLOTS;
        const run = Math.min(end - written, FLOOR_SLOTS - slot);
        const off = slot * FLOOR_SLOT_BYTES;
        const len = run * FLOOR_SLOT_BYTES;
        for (let done = 0; done < len;) done += fs.writeSync(fd, bytes, off + done, len - done, (off + done) % FLOOR_FILE_BYTES);
        written += run;
      }
      if (data.fsync === 'fdatasync') fs.fdatasyncSync(fd);
      Atomics.store(ctl, C_DURABLE + data.index, written);
      // Wake the group-commit thread only if the quorum now covers more than it acked: one wake
      // per frame, not six. The node whose store completes a quorum sees the stores before it
      // (sequentially consistent atomics), so some node always rings for a new quorum.
      if (onQuorum() > Atomics.load(ctl, C_ACKED)) ring(ctl, C_GC_BELL, C_GC_SLEEPERS);
    }
  } finally {
    fs.closeSync(fd);
  }
}

if (data.role === 'group-commit') groupCommit();
else node();
