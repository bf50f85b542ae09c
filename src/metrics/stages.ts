// Per-stage commit metrics on the writer thread: when a sampled commit is acknowledged, its
// latency is split into seven consecutive stages from the stage trace, each into its own HDR
// histogram. The stages partition the commit's latency exactly (they sum to it):
//
//   ringWait     commit() called → the group-commit thread drained its MTR from the log ring
//                (LSN allocation and ring back-pressure, plus the thread's wake-up)
//   batchForm    drained → its frame was cut (waiting for company: the batching policy)
//   framing      cut → the frame was sealed (CRC) and copied into every live node's ring
//   nodeAppend   copied → the first node to make it durable started its fdatasync (wake-up,
//                ring read, header check, write()); if that node started before the copy to
//                every ring ended, the overlap counts in framing
//   fdatasync    that node's fdatasync (the last of its group's, if the group spanned segments)
//   quorumWait   that node's ack → VDL covered the frame (waiting for write quorum - 1 more nodes,
//                and for the group-commit thread to notice)
//   ackDelivery  VDL published → the commit's promise resolved on the writer
import * as hdr from 'hdr-histogram-js';
import { ringPositionIndex } from '../ring/ring.js';
import { RING_HEADER_BYTES } from '../ring/ring.js';
import { StageTrace, LOG_BUCKETS, logBucketUpper } from './trace.js';

export const stageNames = ['ringWait', 'batchForm', 'framing', 'nodeAppend', 'fdatasync', 'quorumWait', 'ackDelivery'] as const;
export type StageName = (typeof stageNames)[number];

export interface Distribution {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface StageStats {
  enabled: boolean;
  sampleLsns: number;
  /** Commits broken down (samples); samplesLost: sampled commits whose trace slots had moved on. */
  samples: number;
  samplesLost: number;
  /** Per stage, µs. */
  micros: Record<StageName, Distribution>;
  /** Sum of the stages (the sampled commits' latency), µs. */
  totalMicros: Distribution;
  /** How often each node was the first to make a sampled frame durable. */
  firstDurableByNode: number[];
  /** Every fdatasync of each node (not only sampled ones), µs; buckets are quarter octaves. */
  fsyncPerNode: (Distribution & { buckets: { upperMicros: number; count: number }[] })[];
  /** Bytes in use, sampled when a sampled commit is encoded. */
  rings: { log: Distribution & { capacity: number }; nodes: (Distribution & { capacity: number })[] };
}

function newHist(highest: number): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: highest, numberOfSignificantValueDigits: 2, useWebAssembly: false });
}

function dist(h: hdr.Histogram): Distribution {
  if (h.totalCount === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  // A percentile is its bucket's highest equivalent value: never report it above the true maximum.
  const at = (p: number): number => Math.min(h.getValueAtPercentile(p), h.maxValue);
  return { count: h.totalCount, mean: h.mean, p50: at(50), p90: at(90), p99: at(99), max: h.maxValue };
}

/** Percentiles from log buckets (each value is its bucket's upper bound: within 19% above). */
function bucketDist(counts: number[]): Distribution & { buckets: { upperMicros: number; count: number }[] } {
  let count = 0;
  let sum = 0;
  let max = 0;
  const buckets: { upperMicros: number; count: number }[] = [];
  for (let b = 0; b < LOG_BUCKETS; b++) {
    const n = counts[b]!;
    if (n === 0) continue;
    count += n;
    sum += n * Math.sqrt(logBucketUpper(b) * logBucketUpper(b - 1));
    max = logBucketUpper(b);
    buckets.push({ upperMicros: Math.round(logBucketUpper(b)), count: n });
  }
  const at = (p: number): number => {
    if (count === 0) return 0;
    const want = Math.ceil((p / 100) * count);
    let seen = 0;
    for (const b of buckets) {
      seen += b.count;
      if (seen >= want) return b.upperMicros;
    }
    return Math.round(max);
  };
  return { count, mean: count === 0 ? 0 : sum / count, p50: at(50), p90: at(90), p99: at(99), max: Math.round(max), buckets };
}

/** Reads a ring's used bytes from its position words (any thread may). */
class RingGauge {
  private readonly positions: BigInt64Array;
  readonly capacity: number;
  constructor(readonly sab: SharedArrayBuffer) {
    this.positions = new BigInt64Array(sab, 0, RING_HEADER_BYTES / 8);
    this.capacity = sab.byteLength - RING_HEADER_BYTES;
  }
  used(): number {
    const w = Atomics.load(this.positions, ringPositionIndex.write);
    const r = Atomics.load(this.positions, ringPositionIndex.read);
    return Number(w - r);
  }
}

export class StageMetrics {
  readonly enabled: boolean;
  readonly sampleLsns: number;
  private readonly trace: StageTrace;
  private readonly nodes: number;
  private hists!: Record<StageName, hdr.Histogram>;
  private total!: hdr.Histogram;
  private logRing!: hdr.Histogram;
  private nodeRings!: hdr.Histogram[];
  private firstDurable!: number[];
  private samples = 0;
  private samplesLost = 0;
  /** Node sync counts at the last reset (the trace's counters only grow). */
  private syncBase: number[][] = [];
  private readonly logGauge: RingGauge;
  private readonly nodeGauges: RingGauge[];
  /** The writer link's node rings (a restarted node gets a new ring in the same array). */
  private readonly nodeRingSabs: SharedArrayBuffer[];

  constructor(trace: StageTrace, enabled: boolean, sampleLsns: number, logRing: SharedArrayBuffer, nodeRings: SharedArrayBuffer[]) {
    this.trace = trace;
    this.enabled = enabled;
    this.sampleLsns = sampleLsns;
    this.nodes = trace.nodes;
    this.logGauge = new RingGauge(logRing);
    this.nodeRingSabs = nodeRings;
    this.nodeGauges = nodeRings.map((r) => new RingGauge(r));
    this.reset();
  }

  /** Starts a new measurement window (a benchmark calls it after its warm-up). */
  reset(): void {
    this.hists = Object.fromEntries(stageNames.map((s) => [s, newHist(60_000_000)])) as Record<StageName, hdr.Histogram>;
    this.total = newHist(60_000_000);
    this.logRing = newHist(Math.max(2, this.logGauge.capacity));
    this.nodeRings = this.nodeGauges.map((g) => newHist(Math.max(2, g.capacity)));
    this.firstDurable = new Array<number>(this.nodes).fill(0);
    this.samples = 0;
    this.samplesLost = 0;
    this.syncBase = Array.from({ length: this.nodes }, (_, i) => this.trace.syncCounts(i));
  }

  /** A sampled commit was just encoded: sample the rings' occupancy. */
  onEncoded(logRingUsed: number): void {
    this.logRing.recordValue(Math.max(1, logRingUsed));
    for (let i = 0; i < this.nodes; i++) {
      if (this.nodeGauges[i]!.sab !== this.nodeRingSabs[i]) this.nodeGauges[i] = new RingGauge(this.nodeRingSabs[i]!);
      this.nodeRings[i]!.recordValue(Math.max(1, this.nodeGauges[i]!.used()));
    }
  }

  /** A sampled commit (its MTR ends at lsnLast, commit() was called at t0) is being resolved at `now`. */
  onAcknowledged(lsnLast: number, t0: number, now: number): void {
    const c = this.trace.readCommit(lsnLast, this.sampleLsns);
    const f = c === null ? null : this.trace.readFrame(c.batchSeq);
    if (c === null || f === null) {
      this.samplesLost++;
      return;
    }
    const marks = [t0, c.drainedAt, f.cutAt, f.pushedAt, f.syncStartAt, f.syncEndAt, f.durableAt, now];
    // Stages overlap when threads run in parallel: a node may start its fdatasync before the
    // group-commit thread has copied the frame into the last ring. Marks are made monotone (the
    // overlap counts in the earlier stage), so the stages still add up to the latency.
    for (let s = 1; s < marks.length; s++) if (marks[s]! < marks[s - 1]!) marks[s] = marks[s - 1]!;
    for (let s = 0; s < stageNames.length; s++) {
      this.hists[stageNames[s]!].recordValue(Math.max(1, Math.round(marks[s + 1]! - marks[s]!)));
    }
    this.total.recordValue(Math.max(1, Math.round(now - t0)));
    this.firstDurable[f.node]!++;
    this.samples++;
  }

  snapshot(): StageStats {
    const micros = Object.fromEntries(stageNames.map((s) => [s, dist(this.hists[s])])) as Record<StageName, Distribution>;
    return {
      enabled: this.enabled, sampleLsns: this.sampleLsns, samples: this.samples, samplesLost: this.samplesLost,
      micros, totalMicros: dist(this.total), firstDurableByNode: [...this.firstDurable],
      fsyncPerNode: Array.from({ length: this.nodes }, (_, i) => {
        const now = this.trace.syncCounts(i);
        return bucketDist(now.map((n, b) => n - this.syncBase[i]![b]!));
      }),
      rings: {
        log: { ...dist(this.logRing), capacity: this.logGauge.capacity },
        nodes: this.nodeRings.map((h, i) => ({ ...dist(h), capacity: this.nodeGauges[i]!.capacity })),
      },
    };
  }
}
