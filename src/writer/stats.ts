// db.stats(): one snapshot of the writer's, the group-commit thread's and every node's counters.
import type { Config } from '../config.js';
import type { ErrorCode } from '../errors.js';
import { ctl, NodeState, type NodeStatKey } from '../shared/control.js';
import type { Cluster, WriterLink } from './cluster.js';
import type { CacheLease, CacheStats } from './page-cache.js';
import type { Reader } from './reader.js';
import type { StageStats } from '../metrics/stages.js';
import { ownTid } from '../metrics/thread-cpu.js';

/** One node in db.stats(): its identity and state, plus every counter in nodeStatKeys. */
export type NodeStatsSnapshot = Record<NodeStatKey, number> & {
  node: number;
  /** Availability zone: floor(node / 2). */
  az: number;
  state: 'starting' | 'running' | 'failed' | 'stopped';
  paused: boolean;
  /** Segment complete LSN: this node's ack. */
  scl: number;
  /** The epoch the node publishes (it refuses writer frames below it). */
  epoch: number;
  /** Why the node failed itself, until it is restarted: its code, and the full message. */
  failureCode: ErrorCode | null;
  failure: string | null;
  syncMicrosMean: number;
};

export interface DatabaseStats {
  epoch: number;
  vdl: number;
  lsnNext: number;
  fsync: Config['fsync'];
  /** True when fsync is 'none': nothing acknowledged is actually durable. */
  unsafeNoFsync: boolean;
  uptimeMs: number;
  commits: { acknowledged: number; timedOut: number; pending: number };
  groupCommit: {
    mode: Config['groupCommit']['mode'];
    batches: number;
    records: number;
    recordsPerBatch: number;
    payloadBytes: number;
    cuts: { bytes: number; records: number; time: number; idle: number; close: number };
    framesRetained: number;
    bytesRetained: number;
    nodesDetached: number;
    wakeups: number;
    logRingBytesUsed: number;
  };
  nodes: NodeStatsSnapshot[];
  reads: {
    /** Requests sent to nodes (cache misses, snapshot reads, scan chunks), in total and per node. */
    nodeReads: number;
    perNode: number[];
    /** Reads retried on another node after an error, a timeout or a node that was behind. */
    retries: number;
    waitedForDurable: number;
    /** Latency estimate per node (EWMA of observed reads), microseconds. */
    latencyMicros: number[];
  };
  cache: CacheStats & { hitRatio: number; bytesMax: number };
  /** Per-stage commit metrics since open or the last resetStageMetrics() (see metrics/stages.ts). */
  stages: StageStats;
  /**
   * The kernel thread id of each Auroral thread ('writer' is the calling thread, i.e. the process's
   * main thread), for per-thread CPU accounting (metrics/thread-cpu.ts). Empty off Linux; a thread
   * not started yet is missing.
   */
  threads: { thread: string; tid: number }[];
}

const stateNames = { [NodeState.STARTING]: 'starting', [NodeState.RUNNING]: 'running', [NodeState.FAILED]: 'failed', [NodeState.STOPPED]: 'stopped' } as const;

function threadIds(config: Config, cluster: Cluster, link: WriterLink): { thread: string; tid: number }[] {
  const out: { thread: string; tid: number }[] = [];
  const writer = ownTid();
  if (writer < 0) return out;
  out.push({ thread: 'writer', tid: writer });
  const gc = Atomics.load(link.control.i32, ctl.gcTid);
  if (gc > 0) out.push({ thread: 'group-commit', tid: gc });
  for (let i = 0; i < config.nodes; i++) {
    const tid = Atomics.load(cluster.control.i32, ctl.nodeTid(i));
    if (tid > 0) out.push({ thread: `node-${i}`, tid });
  }
  return out;
}

export function collectStats(config: Config, cluster: Cluster, link: WriterLink, w: {
  epoch: number; vdl: number; lsnNext: number; acknowledged: number; timedOut: number; pending: number;
  reader: Reader; cache: CacheLease; uptimeMs: number; ringBytesUsed: number; stages: StageStats;
}): DatabaseStats {
  const g = link.gcStats.read();
  const nodes: NodeStatsSnapshot[] = [];
  for (let i = 0; i < config.nodes; i++) {
    const s = cluster.nodeStats[i]!.read();
    const state = Atomics.load(cluster.control.i32, ctl.nodeState(i)) as NodeState;
    nodes.push({
      ...s, node: i, az: Math.floor(i / 2), state: stateNames[state], paused: cluster.paused[i]!, scl: cluster.scl(i),
      epoch: cluster.nodeEpoch(i), failureCode: cluster.failures[i]?.code ?? null, failure: cluster.failures[i]?.message ?? null, syncMicrosMean: s.syncs === 0 ? 0 : s.syncMicrosTotal / s.syncs,
    });
  }
  return {
    epoch: w.epoch, vdl: w.vdl, lsnNext: w.lsnNext, fsync: config.fsync, unsafeNoFsync: config.fsync === 'none',
    uptimeMs: w.uptimeMs,
    commits: { acknowledged: w.acknowledged, timedOut: w.timedOut, pending: w.pending },
    groupCommit: {
      mode: config.groupCommit.mode, batches: g.batches, records: g.records,
      recordsPerBatch: g.batches === 0 ? 0 : g.records / g.batches, payloadBytes: g.payloadBytes,
      cuts: { bytes: g.cutBytes, records: g.cutRecords, time: g.cutTime, idle: g.cutIdle, close: g.cutClose },
      framesRetained: g.framesRetained, bytesRetained: g.bytesRetained, nodesDetached: g.nodesDetached, wakeups: g.wakeups,
      logRingBytesUsed: w.ringBytesUsed,
    },
    nodes,
    reads: { ...w.reader.stats, perNode: [...w.reader.stats.perNode], latencyMicros: w.reader.latencies() },
    cache: {
      ...w.cache.stats, bytesMax: config.cacheBytesMax,
      hitRatio: w.cache.stats.hits + w.cache.stats.misses === 0 ? 0 : w.cache.stats.hits / (w.cache.stats.hits + w.cache.stats.misses),
    },
    stages: w.stages,
    threads: threadIds(config, cluster, link),
  };
}
