// The stage trace: one SharedArrayBuffer per volume where the group-commit thread and the storage
// nodes leave timestamps (monoMicros) of each frame's journey, so the writer can break a sampled
// commit's latency down into stages when it acknowledges it (an analogue of Aurora's Performance
// Insights wait events).
//
//   frame slot (batchSeq mod FRAME_SLOTS)   written by
//     cutAt, pushedAt, durableAt            the group-commit thread; its tag last, at durableAt
//     node i: recvAt, syncStartAt, syncEndAt  node i; its tag last, before it publishes its SCL
//   commit slot (sample number mod COMMIT_SLOTS)
//     drainedAt, batchSeq                   the group-commit thread; its tag (the MTR's last LSN) last
//   sync histogram of node i                node i (log-scaled buckets, counts only)
//
// Each field has one writing thread. Timestamps are plain Float64 stores; the tag after them is an
// Atomics.store and the reader loads the tag first (Atomics.load), so a reader that sees the tag
// sees the timestamps (the JS memory model's synchronizes-with on atomics). A slot reused by a
// newer frame simply fails the tag check: that sample is counted as lost, never misread.
//
// Which commits are sampled is decided by LSN alone, so every thread agrees without messages:
// an MTR is sampled if its LSN range contains a multiple of sampleLsns.
import { assert } from '../assert.js';

export const FRAME_SLOTS = 4096;
export const COMMIT_SLOTS = 2048;
/** Quarter-octave buckets: bucket b holds durations in [2^(b/4), 2^((b+1)/4)) µs; 128 reach ~2^32 µs. */
export const LOG_BUCKETS = 128;

const GC_F64 = 3; // cutAt, pushedAt, durableAt
const NODE_F64 = 3; // recvAt, syncStartAt, syncEndAt

/** True if the MTR with LSNs [lsnFirst, lsnLast] is a sampled one. */
export function isSampled(lsnFirst: number, lsnLast: number, sampleLsns: number): boolean {
  return Math.floor(lsnLast / sampleLsns) * sampleLsns >= lsnFirst;
}

function commitSlot(lsnLast: number, sampleLsns: number): number {
  return Math.floor(lsnLast / sampleLsns) % COMMIT_SLOTS;
}

/** Tags are 32-bit; a slot is reused long before LSNs or batch numbers wrap 2^32 around it. */
const tagOf = (n: number): number => n | 0;

export function logBucket(micros: number): number {
  if (micros < 1) return 0;
  return Math.min(LOG_BUCKETS - 1, Math.floor(Math.log2(micros) * 4));
}

/** Upper bound of bucket b, µs. */
export function logBucketUpper(b: number): number {
  return 2 ** ((b + 1) / 4);
}

export class StageTrace {
  readonly sab: SharedArrayBuffer;
  readonly nodes: number;
  private readonly frameF64: Float64Array;
  private readonly frameTags: Int32Array;
  private readonly commitF64: Float64Array;
  private readonly commitTags: Int32Array;
  private readonly syncHist: Int32Array;
  private readonly frameStride: number;

  static bytes(nodes: number): number {
    return FRAME_SLOTS * (GC_F64 + NODE_F64 * nodes) * 8 + COMMIT_SLOTS * 2 * 8 + FRAME_SLOTS * (1 + nodes) * 4 + COMMIT_SLOTS * 4 + nodes * LOG_BUCKETS * 4;
  }

  constructor(nodes: number, sab?: SharedArrayBuffer) {
    this.nodes = nodes;
    this.sab = sab ?? new SharedArrayBuffer(StageTrace.bytes(nodes));
    assert(this.sab.byteLength === StageTrace.bytes(nodes), 'stage trace size mismatch');
    this.frameStride = GC_F64 + NODE_F64 * nodes;
    let at = 0;
    this.frameF64 = new Float64Array(this.sab, at, FRAME_SLOTS * this.frameStride);
    at += this.frameF64.byteLength;
    this.commitF64 = new Float64Array(this.sab, at, COMMIT_SLOTS * 2);
    at += this.commitF64.byteLength;
    this.frameTags = new Int32Array(this.sab, at, FRAME_SLOTS * (1 + nodes));
    at += this.frameTags.byteLength;
    this.commitTags = new Int32Array(this.sab, at, COMMIT_SLOTS);
    at += this.commitTags.byteLength;
    this.syncHist = new Int32Array(this.sab, at, nodes * LOG_BUCKETS);
  }

  private frameBase(batchSeq: number): number {
    return (batchSeq % FRAME_SLOTS) * this.frameStride;
  }

  private tagIndex(batchSeq: number, who: number): number {
    return (batchSeq % FRAME_SLOTS) * (1 + this.nodes) + who;
  }

  // ---- group-commit thread ----------------------------------------------------------------

  /** A sampled MTR went into frame `batchSeq`; it had been drained from the log ring at `drainedAt`. */
  commitDrained(lsnLast: number, sampleLsns: number, drainedAt: number, batchSeq: number): void {
    const s = commitSlot(lsnLast, sampleLsns);
    this.commitF64[2 * s] = drainedAt;
    this.commitF64[2 * s + 1] = batchSeq;
    Atomics.store(this.commitTags, s, tagOf(lsnLast));
  }

  frameCut(batchSeq: number, at: number): void {
    this.frameF64[this.frameBase(batchSeq)] = at;
  }

  framePushed(batchSeq: number, at: number): void {
    this.frameF64[this.frameBase(batchSeq) + 1] = at;
  }

  /** VDL covers the frame: the last group-commit stamp, then its tag. */
  frameDurable(batchSeq: number, at: number): void {
    this.frameF64[this.frameBase(batchSeq) + 2] = at;
    Atomics.store(this.frameTags, this.tagIndex(batchSeq, 0), tagOf(batchSeq));
  }

  // ---- storage node i ---------------------------------------------------------------------

  nodeSynced(node: number, batchSeq: number, recvAt: number, syncStartAt: number, syncEndAt: number): void {
    const b = this.frameBase(batchSeq) + GC_F64 + NODE_F64 * node;
    this.frameF64[b] = recvAt;
    this.frameF64[b + 1] = syncStartAt;
    this.frameF64[b + 2] = syncEndAt;
    Atomics.store(this.frameTags, this.tagIndex(batchSeq, 1 + node), tagOf(batchSeq));
  }

  recordSync(node: number, micros: number): void {
    Atomics.add(this.syncHist, node * LOG_BUCKETS + logBucket(micros), 1);
  }

  // ---- the writer (reader) ----------------------------------------------------------------

  /** The sampled MTR ending at lsnLast: when it was drained and its frame, or null if the slot moved on. */
  readCommit(lsnLast: number, sampleLsns: number): { drainedAt: number; batchSeq: number } | null {
    const s = commitSlot(lsnLast, sampleLsns);
    if (Atomics.load(this.commitTags, s) !== tagOf(lsnLast)) return null;
    const r = { drainedAt: this.commitF64[2 * s]!, batchSeq: this.commitF64[2 * s + 1]! };
    return Atomics.load(this.commitTags, s) === tagOf(lsnLast) ? r : null;
  }

  /**
   * Frame `batchSeq`'s group-commit stamps and the node that made it durable first (the smallest
   * syncEndAt among nodes that tagged it), or null if the frame slot moved on.
   */
  readFrame(batchSeq: number): { cutAt: number; pushedAt: number; durableAt: number; node: number; recvAt: number; syncStartAt: number; syncEndAt: number } | null {
    const tag = tagOf(batchSeq);
    if (Atomics.load(this.frameTags, this.tagIndex(batchSeq, 0)) !== tag) return null;
    const b = this.frameBase(batchSeq);
    const f = this.frameF64;
    let node = -1;
    let syncEndAt = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.nodes; i++) {
      if (Atomics.load(this.frameTags, this.tagIndex(batchSeq, 1 + i)) !== tag) continue;
      const end = f[b + GC_F64 + NODE_F64 * i + 2]!;
      if (end < syncEndAt) {
        syncEndAt = end;
        node = i;
      }
    }
    if (node < 0) return null;
    const n = b + GC_F64 + NODE_F64 * node;
    return { cutAt: f[b]!, pushedAt: f[b + 1]!, durableAt: f[b + 2]!, node, recvAt: f[n]!, syncStartAt: f[n + 1]!, syncEndAt };
  }

  /** Node i's fdatasync duration counts per bucket (a copy). */
  syncCounts(node: number): number[] {
    const out = new Array<number>(LOG_BUCKETS);
    for (let b = 0; b < LOG_BUCKETS; b++) out[b] = Atomics.load(this.syncHist, node * LOG_BUCKETS + b);
    return out;
  }
}
