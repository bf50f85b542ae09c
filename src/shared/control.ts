// The volume control block: one SharedArrayBuffer that the writer, the group-commit thread and
// every node share. Each field has exactly one writing thread (no locks in shared memory: a
// terminated worker would hold them forever), and each writer's fields sit on their own 64-byte
// line so acks from six nodes do not bounce one cache line between cores.
//
// Doorbells are eventcounts: a waiter loads the counter, checks its conditions, and waits on the
// value it loaded; a ringer bumps the counter and notifies. An event between check and wait
// changes the counter, so the wait returns at once: no wake-up is lost.
import { assert } from '../assert.js';
import { limits } from '../config.js';

const LINE_BYTES = 64;
const I32_PER_LINE = LINE_BYTES / 4;
const I64_PER_LINE = LINE_BYTES / 8;

// Line 0: group-commit thread's inbox. Line 1: writer's inbox. Line 2: VDL & co (written by the
// group-commit thread). Line 3: written by the writer. Lines 4..: one per node.
const LINE_GC = 0;
const LINE_WRITER = 1;
const LINE_DURABLE = 2;
const LINE_WRITER_OUT = 3;
const LINE_NODE0 = 4;

export const NodeState = {
  STARTING: 0,
  RUNNING: 1,
  /** Failed itself (write/sync error): never acks again until rebuilt. */
  FAILED: 2,
  /** Crashed (fault hook) or closed: not consuming. */
  STOPPED: 3,
} as const;
export type NodeState = (typeof NodeState)[keyof typeof NodeState];

export const ctl = {
  /** i32: bumped by anyone with work for the group-commit thread. */
  gcDoorbell: LINE_GC * I32_PER_LINE + 0,
  /** i32: set by the writer while it waits for log-ring space; the gc then rings the writer. */
  writerWantsSpace: LINE_GC * I32_PER_LINE + 1,
  /** i32: bumped by the gc when VDL advances (or ring space frees for a waiting writer). */
  writerDoorbell: LINE_WRITER * I32_PER_LINE + 0,
  /** i64: volume durable LSN, written by the gc. */
  vdl: LINE_DURABLE * I64_PER_LINE + 0,
  /** i64: frames cut so far (for stats), written by the gc. */
  framesCut: LINE_DURABLE * I64_PER_LINE + 1,
  /** i64: PGMRPL, lowest read point in use, written by the writer, piggybacked on frames. */
  readPointMin: LINE_WRITER_OUT * I64_PER_LINE + 0,
  /** i32: 1 while coalescing is paused on every node (benchmark control), written by the writer. */
  coalescePaused: LINE_WRITER_OUT * I32_PER_LINE + 4,
  /** i64: SCL of node i, written by node i after its sync. */
  nodeScl: (i: number) => (LINE_NODE0 + i) * I64_PER_LINE + 0,
  /** i32: node i's doorbell. */
  nodeDoorbell: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 2,
  /** i32: NodeState of node i, written by node i (or by the writer when it crashes it). */
  nodeState: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 3,
  /** i32: 1 while node i is paused (fault hook), written by the writer. */
  nodePaused: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 4,
  /** i32: 1 while node i silently drops read requests (fault hook), written by the writer. */
  nodeMuted: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 5,
  /** i32: frames lost on the way to node i, per mille (fault hook), written by the writer. */
  nodeDropPermille: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 6,
  /** i32: node i's epoch (it refuses writer frames below it), written by node i before any ack of it. */
  nodeEpoch: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 7,
  /** i32: fault hook: microseconds added to each of node i's fdatasyncs. */
  nodeSlowSyncMicros: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 8,
  /** i32: fault hook: node i's k-th fdatasync from now fails with EIO (0 = off; counts down). */
  nodeFailSyncIn: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 9,
  /** i32: fault hook: 1 = node i's disk is full (writes and segment creation fail with ENOSPC). */
  nodeDiskFull: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 10,
  /** i32: fault hook: 1 = node i's next append is torn (half written) and the node dies before syncing. */
  nodeTearNext: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 11,
  /**
   * i32, in a writer's own control block: set by its group-commit thread to the newer epoch that
   * fenced it (a write quorum of nodes moved on); the writer then fails everything with FENCED.
   */
  fencedBy: LINE_DURABLE * I32_PER_LINE + 4,
  /**
   * i32, in a writer's own control block: 1 while its group-commit thread sleeps with its window
   * full (GroupCommitCore.windowFull): an ack will wake it, so the writer does not ring it for new
   * records (a ring of a sleeping thread is a futex syscall; ~14% of serve's main thread at -P 16).
   */
  gcWindowFull: LINE_DURABLE * I32_PER_LINE + 6,
  /** i32, in a writer's own control block: its group-commit thread's kernel tid (metrics/thread-cpu.ts), written by that thread. */
  gcTid: LINE_DURABLE * I32_PER_LINE + 5,
  /** i32: node i's kernel tid (metrics/thread-cpu.ts), written by node i at start. */
  nodeTid: (i: number) => (LINE_NODE0 + i) * I32_PER_LINE + 12,
};

export const CONTROL_BYTES = (LINE_NODE0 + limits.nodesMax) * LINE_BYTES;
assert(ctl.nodeTid(0) % I32_PER_LINE < I32_PER_LINE - 1 && ctl.gcTid % I32_PER_LINE < I32_PER_LINE - 1 && ctl.writerWantsSpace % I32_PER_LINE < I32_PER_LINE - 1,
  'a field in a doorbell\'s sleeper slot');
assert(ctl.nodeTid(limits.nodesMax - 1) * 4 < CONTROL_BYTES && 12 < I32_PER_LINE, 'control block too small');
assert(ctl.writerDoorbell * 4 >= LINE_BYTES && ctl.vdl * 8 >= 2 * LINE_BYTES, 'control lines overlap');

/**
 * The sleeper count of a doorbell: the last i32 of the doorbell's line (one doorbell per line, and
 * no field uses that slot; asserted below). Written by the threads blocked on the doorbell.
 */
export function sleepersOf(doorbell: number): number {
  return doorbell - (doorbell % I32_PER_LINE) + I32_PER_LINE - 1;
}

export class Control {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;

  constructor(sab: SharedArrayBuffer = new SharedArrayBuffer(CONTROL_BYTES)) {
    assert(sab.byteLength === CONTROL_BYTES, 'control block size mismatch');
    this.sab = sab;
    this.i32 = new Int32Array(sab);
    this.i64 = new BigInt64Array(sab);
  }

  load64(index: number): number {
    return Number(Atomics.load(this.i64, index));
  }

  store64(index: number, value: number): void {
    Atomics.store(this.i64, index, BigInt(value));
  }

  /**
   * Bumps the doorbell, and wakes its thread only if it is blocked on it: Atomics.notify is a
   * futex syscall (~5-10 µs here), and most rings find the thread awake. No wake-up is lost: a
   * waiter counts itself in sleepersOf(doorbell) before it checks the doorbell and blocks, all
   * with sequentially consistent atomics, so a ringer that reads no sleeper rang before that
   * check, and the waiter's Atomics.wait sees the moved counter and returns at once.
   */
  ring(doorbell: number): void {
    Atomics.add(this.i32, doorbell, 1);
    if (Atomics.load(this.i32, sleepersOf(doorbell)) !== 0) Atomics.notify(this.i32, doorbell);
  }

  /**
   * Worker-side park: spin briefly (a wake costs ~5-20 µs, a short spin is cheaper when the event
   * is imminent), then block until the doorbell moves past `seen` or `timeoutMs` passes.
   */
  park(doorbell: number, seen: number, timeoutMs: number, spins = 64): void {
    for (let i = 0; i < spins; i++) if (Atomics.load(this.i32, doorbell) !== seen) return;
    const sleepers = sleepersOf(doorbell);
    Atomics.add(this.i32, sleepers, 1);
    Atomics.wait(this.i32, doorbell, seen, timeoutMs);
    Atomics.sub(this.i32, sleepers, 1);
  }
}

/**
 * Per-thread stats block: counters as Float64 (exact to 2^53), each written by its owning thread
 * only and read by the writer for db.stats(). Plain stores, not Atomics on BigInt64: a BigInt per
 * counter per wake-up was a measurable share of the group-commit thread's CPU. An aligned 8-byte
 * store is one instruction on every platform Node runs on, and a counter read while it moves is
 * only a snapshot a moment older or newer.
 */
export class StatsBlock<K extends string> {
  readonly sab: SharedArrayBuffer;
  private readonly f64: Float64Array;
  private readonly index: Record<K, number>;
  private readonly keys: readonly K[];

  constructor(keys: readonly K[], sab?: SharedArrayBuffer) {
    this.sab = sab ?? new SharedArrayBuffer(keys.length * 8);
    assert(this.sab.byteLength === keys.length * 8, 'stats block size mismatch');
    this.f64 = new Float64Array(this.sab);
    this.keys = keys;
    this.index = Object.fromEntries(keys.map((k, i) => [k, i])) as Record<K, number>;
  }

  set(values: Partial<Record<K, number>>): void {
    for (const k in values) this.f64[this.index[k]] = Math.round(values[k]!);
  }

  /** One counter by its position in the key list (no object per call: hot loops). */
  setAt(i: number, value: number): void {
    this.f64[i] = value;
  }

  read(): Record<K, number> {
    const out = {} as Record<K, number>;
    for (const k of this.keys) out[k] = this.f64[this.index[k]]!;
    return out;
  }
}

/**
 * A storage node's counters: the layout of its stats block, the node core's `stats` and the
 * counters of each node in db.stats() all come from this one list.
 */
export const nodeStatKeys = [
  // append path
  'groups', 'syncs', 'syncMicrosTotal', 'framesAppended', 'recordsAppended', 'bytesAppended',
  'framesDuplicate', 'framesGap', 'framesFenced', 'framesCorrupt', 'recordsApplied',
  // hot log: segments created / deleted by GC, segments holding frames and their (preallocated) bytes
  'segmentsCreated', 'segmentsDeleted', 'hotLogSegments', 'hotLogBytes',
  // gossip: frames fetched from peers, served to peers, lost on the way here (dropFrames fault)
  'framesFetched', 'framesServed', 'framesDropped',
  // indexing (node/indexing.ts): the chain is indexed up to indexedLsn; bytes of frames above it;
  // frames indexed because a read needed them, and because the backlog passed indexLagBytesMax
  'indexedLsn', 'indexLagBytes', 'framesIndexedOnRead', 'framesIndexedOverLag',
  // hint files (node/hints.ts): segment hints written; frames indexed from a hint instead of the
  // log; segments and block files whose hint recovery loaded instead of reading them
  'segmentHintsWritten', 'framesIndexedFromHints', 'segmentHintsLoaded', 'blockHintsLoaded',
  // reads served; reads refused because a value, or a frame not yet indexed, failed its checksum
  // (another node serves them)
  'reads', 'readsCorrupt',
  // scrub: passes; damaged hot-log frames found and repaired in place from a peer; page images
  // failing their CRC; image rewrites after damage; damaged values replaced by a peer's exact version
  'scrubPasses', 'scrubErrors', 'scrubRepairs', 'scrubBlockErrors', 'blockRepairs', 'blockValuesReplaced',
  // coalescing: cycles done; everything at or below coalesceLsn is in the page images; their bytes
  'coalesceCycles', 'coalesceLsn', 'blockBytes',
  // memory: the key index's typed arrays (capacity), coalescing's buffers in use and kept (file
  // buffers, the block hint's), the current segment's hint builder (about half a segment: kept,
  // it is mostly partway through a hint),
  // the node thread's V8 heap in use and the ArrayBuffer memory its isolate holds (V8's
  // external_memory: the index, file buffers, and any dropped but not yet collected), sampled at
  // most every 250 ms
  'indexBytes', 'fileBufferBytes', 'hintBufferBytes', 'heapBytes', 'externalBytes',
] as const;
export type NodeStatKey = (typeof nodeStatKeys)[number];

export const gcStatKeys = [
  'batches', 'records', 'mtrs', 'payloadBytes', 'cutBytes', 'cutRecords', 'cutTime', 'cutIdle', 'cutClose',
  'framesRetained', 'bytesRetained', 'nodesDetached', 'wakeups',
] as const;
export type GcStatKey = (typeof gcStatKeys)[number];
