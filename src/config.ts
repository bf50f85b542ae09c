// Options of `open()`, their defaults, and validation. Every limit of the engine is named here;
// relationships between limits are checked once, at open, with a message naming the option.
import { errors } from './errors.js';

export type GroupCommitMode = 'adaptive' | 'timed';
export type FsyncMode = 'fdatasync' | 'fsync' | 'none';

export interface GroupCommitOptions {
  /** Cut a batch once its redo payload reaches this many bytes. */
  batchBytesMax?: number;
  /** Cut a batch once it holds this many records. */
  batchRecordsMax?: number;
  /** Longest time the first record of a batch may wait for company, in microseconds. */
  waitMicrosMax?: number;
  /**
   * 'adaptive': send at once while no frame is in flight, accumulate while frames are in flight
   * (no induced latency). 'timed': always wait up to waitMicrosMax unless a size limit is hit.
   */
  mode?: GroupCommitMode;
  /** Frames sent but not yet durable on a write quorum; adaptive mode accumulates beyond this. */
  framesInFlightMax?: number;
}

export interface MetricsOptions {
  /**
   * Per-stage commit metrics (db.stats().stages): frame timestamps on the group-commit thread and
   * the nodes, a stage breakdown of sampled commits on the writer, per-node fdatasync histograms.
   */
  stages?: boolean;
  /** A commit is sampled if its LSN range holds a multiple of this (so 1 in N single-record puts). */
  sampleLsns?: number;
}

export interface OpenOptions {
  dir: string;
  nodes?: number;
  writeQuorum?: number;
  readQuorum?: number;
  groupCommit?: GroupCommitOptions;
  /** 'none' skips fdatasync: UNSAFE, for measuring CPU cost only; stats report it. */
  fsync?: FsyncMode;
  /** Writer → group-commit ring, bytes, power of two. */
  logRingBytes?: number;
  /** Group-commit → each node ring, bytes, power of two. */
  nodeRingBytes?: number;
  /** A commit not durable within this time rejects with QUORUM_UNAVAILABLE. */
  commitTimeoutMs?: number;
  /** A page read not answered within this time is retried on another node. */
  readTimeoutMs?: number;
  keyBytesMax?: number;
  valueBytesMax?: number;
  /** Largest redo of one MTR (a put or a whole transaction), bytes. */
  mtrBytesMax?: number;
  /** LSN allocation limit: the writer never runs more than this many LSNs past VDL. */
  lsnAllocationLimit?: number;
  /** Hot-log segment size, bytes; segments are preallocated (zero-filled, synced). */
  segmentBytes?: number;
  /** Frames kept by the group-commit thread for nodes that fell behind, bytes. */
  retainBytesMax?: number;
  /** Pages per node (hash buckets of keys); power of two. */
  pageCount?: number;
  /** The writer's page cache, bytes (0 disables it). */
  cacheBytesMax?: number;
  /** Time between background scrub passes on each node, ms; the first one interval after the node starts (0: only after a corrupt read). */
  scrubIntervalMs?: number;
  /**
   * Bytes of durable, acknowledged frames a node may leave unindexed while writes keep coming
   * (it indexes when quiet, or when a read needs it); 0 = index every frame right after its ack.
   * Capped at segmentBytes: coalescing and hot-log GC wait for indexing.
   */
  indexLagBytesMax?: number;
  metrics?: MetricsOptions;
}

export interface Config {
  dir: string;
  nodes: number;
  writeQuorum: number;
  readQuorum: number;
  groupCommit: Required<GroupCommitOptions>;
  fsync: FsyncMode;
  logRingBytes: number;
  nodeRingBytes: number;
  commitTimeoutMs: number;
  readTimeoutMs: number;
  keyBytesMax: number;
  valueBytesMax: number;
  mtrBytesMax: number;
  lsnAllocationLimit: number;
  segmentBytes: number;
  retainBytesMax: number;
  pageCount: number;
  cacheBytesMax: number;
  scrubIntervalMs: number;
  indexLagBytesMax: number;
  metrics: Required<MetricsOptions>;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Hard ceilings; options may go lower, never higher. */
export const limits = {
  nodesMax: 16,
  keyBytesMax: 0xffff, // u16 in the record header
  valueBytesMax: 64 * MiB,
  ringBytesMax: 1024 * MiB,
  ringBytesMin: 64 * KiB,
  segmentBytesMax: 1024 * MiB,
  waitMicrosMax: 1_000_000,
  batchRecordsMax: 1_000_000,
  lsnAllocationLimitMax: 1 << 24,
  /**
   * The page cache keeps its arena size and slot count in Int32 fields of its shared header
   * (writer/page-cache.ts asserts this fits): 2 GiB would wrap to a negative size.
   */
  cacheBytesMax: 0x7fff_fff8,
} as const;

export const defaults = {
  nodes: 6,
  writeQuorum: 4,
  readQuorum: 3,
  groupCommit: {
    batchBytesMax: 256 * KiB,
    batchRecordsMax: 4096,
    waitMicrosMax: 200,
    mode: 'adaptive' as GroupCommitMode,
    framesInFlightMax: 1,
  },
  fsync: 'fdatasync' as FsyncMode,
  logRingBytes: 32 * MiB,
  nodeRingBytes: 16 * MiB,
  commitTimeoutMs: 5_000,
  readTimeoutMs: 1_000,
  keyBytesMax: 1 * KiB,
  valueBytesMax: 1 * MiB,
  mtrBytesMax: 4 * MiB,
  lsnAllocationLimit: 1 << 16,
  segmentBytes: 16 * MiB,
  retainBytesMax: 64 * MiB,
  pageCount: 1024,
  cacheBytesMax: 64 * MiB,
  scrubIntervalMs: 60_000,
  indexLagBytesMax: 16 * MiB,
  metrics: { stages: true, sampleLsns: 32 },
};

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function int(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw errors.invalidOption(name, `must be an integer, got ${String(v)}`);
  if (v < min || v > max) throw errors.invalidOption(name, `must be between ${min} and ${max}, got ${v}`);
  return v;
}

function pow2(name: string, v: unknown, min: number, max: number): number {
  const n = int(name, v, min, max);
  if (!isPow2(n)) throw errors.invalidOption(name, `must be a power of two, got ${n}`);
  return n;
}

function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw errors.invalidOption(name, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${String(v)}`);
  }
  return v as T;
}

const knownOptions = new Set([
  'dir', 'nodes', 'writeQuorum', 'readQuorum', 'groupCommit', 'fsync', 'logRingBytes', 'nodeRingBytes',
  'commitTimeoutMs', 'readTimeoutMs', 'keyBytesMax', 'valueBytesMax', 'mtrBytesMax', 'lsnAllocationLimit',
  'segmentBytes', 'retainBytesMax', 'pageCount', 'cacheBytesMax', 'scrubIntervalMs', 'indexLagBytesMax', 'metrics',
]);
const knownGroupCommit = new Set(['batchBytesMax', 'batchRecordsMax', 'waitMicrosMax', 'mode', 'framesInFlightMax']);
const knownMetrics = new Set(['stages', 'sampleLsns']);

function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw errors.invalidOption(name, `must be true or false, got ${String(v)}`);
  return v;
}

/** Frame header bytes (log/frame.ts asserts this matches its layout). */
export const FRAME_HEADER_BYTES = 64;

/** Largest frame the group-commit thread can produce under a config. */
export function frameBytesMax(c: Pick<Config, 'groupCommit' | 'mtrBytesMax'>): number {
  // A batch is cut at batchBytesMax, but one MTR is never split, so a frame may hold
  // batchBytesMax - 1 bytes plus one whole MTR.
  return FRAME_HEADER_BYTES + c.groupCommit.batchBytesMax + c.mtrBytesMax;
}

export function resolveConfig(options: OpenOptions): Config {
  if (options === null || typeof options !== 'object') throw errors.invalidOption('options', 'must be an object');
  for (const k of Object.keys(options)) if (!knownOptions.has(k)) throw errors.invalidOption(k, 'is not a known option');
  if (typeof options.dir !== 'string' || options.dir.length === 0) throw errors.invalidOption('dir', 'is required and must be a non-empty string');
  const gcIn = options.groupCommit ?? {};
  if (gcIn === null || typeof gcIn !== 'object') throw errors.invalidOption('groupCommit', 'must be an object');
  for (const k of Object.keys(gcIn)) if (!knownGroupCommit.has(k)) throw errors.invalidOption(`groupCommit.${k}`, 'is not a known option');
  const mIn = options.metrics ?? {};
  if (mIn === null || typeof mIn !== 'object') throw errors.invalidOption('metrics', 'must be an object');
  for (const k of Object.keys(mIn)) if (!knownMetrics.has(k)) throw errors.invalidOption(`metrics.${k}`, 'is not a known option');

  const nodes = int('nodes', options.nodes ?? defaults.nodes, 1, limits.nodesMax);
  const writeQuorum = int('writeQuorum', options.writeQuorum ?? Math.min(defaults.writeQuorum, nodes), 1, nodes);
  const readQuorum = int('readQuorum', options.readQuorum ?? Math.min(defaults.readQuorum, nodes), 1, nodes);
  if (2 * writeQuorum <= nodes) {
    throw errors.invalidOption('writeQuorum', `must be a majority of nodes (2 x ${writeQuorum} <= ${nodes}): two write quorums must overlap`);
  }
  if (readQuorum + writeQuorum <= nodes) {
    throw errors.invalidOption('readQuorum', `+ writeQuorum must exceed nodes (${readQuorum} + ${writeQuorum} <= ${nodes}): a read quorum must see every acknowledged write`);
  }
  const groupCommit = {
    batchBytesMax: int('groupCommit.batchBytesMax', gcIn.batchBytesMax ?? defaults.groupCommit.batchBytesMax, 256, 64 * MiB),
    batchRecordsMax: int('groupCommit.batchRecordsMax', gcIn.batchRecordsMax ?? defaults.groupCommit.batchRecordsMax, 1, limits.batchRecordsMax),
    waitMicrosMax: int('groupCommit.waitMicrosMax', gcIn.waitMicrosMax ?? defaults.groupCommit.waitMicrosMax, 0, limits.waitMicrosMax),
    mode: oneOf('groupCommit.mode', gcIn.mode ?? defaults.groupCommit.mode, ['adaptive', 'timed'] as const),
    framesInFlightMax: int('groupCommit.framesInFlightMax', gcIn.framesInFlightMax ?? defaults.groupCommit.framesInFlightMax, 1, 1024),
  };
  const c: Config = {
    dir: options.dir,
    nodes,
    writeQuorum,
    readQuorum,
    groupCommit,
    fsync: oneOf('fsync', options.fsync ?? defaults.fsync, ['fdatasync', 'fsync', 'none'] as const),
    logRingBytes: pow2('logRingBytes', options.logRingBytes ?? defaults.logRingBytes, limits.ringBytesMin, limits.ringBytesMax),
    nodeRingBytes: pow2('nodeRingBytes', options.nodeRingBytes ?? defaults.nodeRingBytes, limits.ringBytesMin, limits.ringBytesMax),
    commitTimeoutMs: int('commitTimeoutMs', options.commitTimeoutMs ?? defaults.commitTimeoutMs, 1, 3_600_000),
    readTimeoutMs: int('readTimeoutMs', options.readTimeoutMs ?? defaults.readTimeoutMs, 1, 3_600_000),
    keyBytesMax: int('keyBytesMax', options.keyBytesMax ?? defaults.keyBytesMax, 1, limits.keyBytesMax),
    valueBytesMax: int('valueBytesMax', options.valueBytesMax ?? defaults.valueBytesMax, 0, limits.valueBytesMax),
    mtrBytesMax: int('mtrBytesMax', options.mtrBytesMax ?? defaults.mtrBytesMax, 64, limits.valueBytesMax * 2),
    lsnAllocationLimit: int('lsnAllocationLimit', options.lsnAllocationLimit ?? defaults.lsnAllocationLimit, 16, limits.lsnAllocationLimitMax),
    segmentBytes: int('segmentBytes', options.segmentBytes ?? defaults.segmentBytes, 64 * KiB, limits.segmentBytesMax),
    retainBytesMax: int('retainBytesMax', options.retainBytesMax ?? defaults.retainBytesMax, 0, 4096 * MiB),
    pageCount: pow2('pageCount', options.pageCount ?? defaults.pageCount, 1, 1 << 20),
    cacheBytesMax: int('cacheBytesMax', options.cacheBytesMax ?? defaults.cacheBytesMax, 0, limits.cacheBytesMax),
    scrubIntervalMs: int('scrubIntervalMs', options.scrubIntervalMs ?? defaults.scrubIntervalMs, 0, 24 * 3_600_000),
    indexLagBytesMax: int('indexLagBytesMax', options.indexLagBytesMax ?? defaults.indexLagBytesMax, 0, 4096 * MiB),
    metrics: {
      stages: bool('metrics.stages', mIn.stages ?? defaults.metrics.stages),
      sampleLsns: int('metrics.sampleLsns', mIn.sampleLsns ?? defaults.metrics.sampleLsns, 1, 1 << 20),
    },
  };
  if (c.segmentBytes % 4096 !== 0) throw errors.invalidOption('segmentBytes', `must be a multiple of 4096, got ${c.segmentBytes}`);
  // Relationships between limits: one record and one frame must always fit where they go.
  const recordMax = 32 + c.keyBytesMax + c.valueBytesMax;
  if (c.mtrBytesMax < recordMax) {
    throw errors.invalidOption('mtrBytesMax', `must hold one record of keyBytesMax + valueBytesMax (>= ${recordMax}), got ${c.mtrBytesMax}`);
  }
  if (c.logRingBytes < 2 * (c.mtrBytesMax + 16)) {
    throw errors.invalidOption('logRingBytes', `must hold two MTRs of mtrBytesMax (>= ${2 * (c.mtrBytesMax + 16)}), got ${c.logRingBytes}`);
  }
  const frameMax = frameBytesMax(c);
  if (c.nodeRingBytes < 2 * (frameMax + 16)) {
    throw errors.invalidOption('nodeRingBytes', `must hold two frames of batchBytesMax + mtrBytesMax (>= ${2 * (frameMax + 16)}), got ${c.nodeRingBytes}`);
  }
  if (c.segmentBytes < 2 * frameMax) {
    throw errors.invalidOption('segmentBytes', `must hold two frames of batchBytesMax + mtrBytesMax (>= ${2 * frameMax}), got ${c.segmentBytes}`);
  }
  return c;
}
