// Hot-log GC policy: how far a node may delete its hot log on account of its peers. Pure: the
// node shell passes what it sees of every node, the node core its own segments.
//
// A coalescing cycle at coalesce point C may delete hot-log segments wholly at or below
// min(C, logGcBound(...)). For each other node, the bound asks whether it holds GC back:
//
//   case     | the node is                                        | holds GC back?
//   ---------+----------------------------------------------------+--------------------------------
//   SELF     | this node                                          | no (C is at or below its own SCL,
//            |                                                    | and the segment holding its chain
//            |                                                    | end is never deleted)
//   DOWN     | not live: crashed, failed (EIO, ENOSPC,            | no: it cannot fetch now. When it
//            | REBUILD_NEEDED), left out at open                  | returns, restart lets it catch up
//            |                                                    | from a peer's log if one still
//            |                                                    | holds its chain end, else rebuilds
//            |                                                    | it from a peer's copy
//   TOO_FAR  | live, but this node holds more than                | no: as if down. If its peers' logs
//            | logGcLagSegmentsMax segments of log above its SCL  | no longer reach it, it fails with
//            |                                                    | REBUILD_NEEDED and restart rebuilds it
//   HOLDS    | live (running, or starting: a restart between its  | yes, at its (last published) SCL:
//            | check that a peer's log reaches it and its first   | it catches up by gossip from this
//            | fetch), at most logGcLagSegmentsMax segments behind| node's log
//
// Without DOWN and TOO_FAR one node that is down or cut off keeps every peer's log for ever
// (disk grows without bound); with them a node's disk stays within its coalescing bound plus
// logGcLagSegmentsMax segments.
import { assert } from '../assert.js';

/** What a node sees of another node. */
export interface LogGcNode {
  /** Running, or starting (a restart: it will fetch from its peers as soon as it runs). */
  live: boolean;
  /** Its published SCL. */
  scl: number;
}

export const LogGcHold = { SELF: 'self', DOWN: 'down', TOO_FAR: 'too-far', HOLDS: 'holds' } as const;
export type LogGcHold = (typeof LogGcHold)[keyof typeof LogGcHold];

/**
 * Segments of hot log a node keeps for a live peer that is behind (it catches up from them by
 * gossip). Twice the default retention bound (retainBytesMax 64 MiB = 4 segments of 16 MiB): a
 * node the group-commit thread detached still finds its frames in its peers' logs.
 */
export const logGcLagSegmentsMax = 8;

/**
 * Segments of this node's hot log holding frames above `scl`. `segmentLastLsns`: lsnLast of the
 * last frame of each segment holding frames, ascending.
 */
export function segmentsAbove(segmentLastLsns: readonly number[], scl: number): number {
  let n = 0;
  for (let k = segmentLastLsns.length - 1; k >= 0 && segmentLastLsns[k]! > scl; k--) n++;
  return n;
}

/** Whether node `j` holds back hot-log GC on node `self` (the decision table above). */
export function logGcHoldOf(self: number, j: number, node: LogGcNode, segmentLastLsns: readonly number[], lagSegmentsMax: number): LogGcHold {
  if (j === self) return LogGcHold.SELF;
  if (!node.live) return LogGcHold.DOWN;
  if (segmentsAbove(segmentLastLsns, node.scl) > lagSegmentsMax) return LogGcHold.TOO_FAR;
  return LogGcHold.HOLDS;
}

/**
 * The highest LSN node `self` may delete its hot log through on account of its peers: the lowest
 * SCL among the nodes that hold GC back, or Number.MAX_SAFE_INTEGER if none does.
 */
export function logGcBound(self: number, nodes: readonly LogGcNode[], segmentLastLsns: readonly number[],
  lagSegmentsMax = logGcLagSegmentsMax): number {
  assert(Number.isInteger(lagSegmentsMax) && lagSegmentsMax >= 0, `logGcLagSegmentsMax must be a non-negative integer, got ${lagSegmentsMax}`);
  let bound = Number.MAX_SAFE_INTEGER;
  for (let j = 0; j < nodes.length; j++) {
    const node = nodes[j]!;
    switch (logGcHoldOf(self, j, node, segmentLastLsns, lagSegmentsMax)) {
      case LogGcHold.HOLDS:
        bound = Math.min(bound, node.scl);
        break;
      case LogGcHold.SELF:
      case LogGcHold.DOWN:
      case LogGcHold.TOO_FAR:
        break;
    }
  }
  return bound;
}
