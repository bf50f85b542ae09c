// Writer recovery plan, from what each node's scan reported. No redo is replayed: the plan only
// picks the recovered VDL and the LSN to continue from; nodes then truncate or catch up.
//
//   case                         | decision
//   -----------------------------+--------------------------------------------------------------
//   fewer than writeQuorum nodes | RECOVERY_FAILED: cannot accept writes safely
//   scanned                      |
//   otherwise                    | VDL = the longest chain end among scanned nodes. Every
//                                | acknowledged write is on >= writeQuorum nodes' chains, so on at
//                                | least one scanned node (readQuorum + writeQuorum > nodes);
//                                | anything kept beyond what was acknowledged was never promised,
//                                | and is re-replicated to every node before the volume opens.
//   a frame anywhere proves an   | VOLUME_CORRUPT: acknowledged data is damaged or missing on
//   LSN acknowledged (its VDL    | every copy (beyond the fault model); the volume halts rather
//   when cut) above that VDL     | than open without it
//   LSN to continue from         | above every LSN any node has seen (LSNs are never reused)
import { errors } from '../errors.js';

export interface NodeScan {
  node: number;
  scl: number;
  lsnSeenMax: number;
  /** Highest LSN any intact frame on the node proves acknowledged (ScanResult.lsnDurableSeen). */
  lsnDurableSeen: number;
  batchSeqLast: number;
}

export interface RecoveryPlan {
  vdl: number;
  /** A node whose chain reaches vdl: the others copy missing frames from it. */
  sourceNode: number;
  lsnNext: number;
  batchSeqNext: number;
}

export function planRecovery(scans: readonly NodeScan[], writeQuorum: number, readQuorum: number): RecoveryPlan {
  const need = Math.max(writeQuorum, readQuorum);
  if (scans.length < need) {
    throw errors.recoveryFailed(`only ${scans.length} node(s) recovered; at least ${need} are needed to open`);
  }
  let source = scans[0]!;
  for (const s of scans) if (s.scl > source.scl) source = s;
  let lsnSeenMax = 0;
  let batchSeqLast = 0;
  const proven = scans.reduce((m, s) => Math.max(m, s.lsnDurableSeen), 0);
  if (proven > source.scl) {
    throw errors.volumeCorrupt(`LSN ${proven} was acknowledged but no node's intact chain reaches it (longest: node ${source.node} at ${source.scl})`);
  }
  for (const s of scans) {
    lsnSeenMax = Math.max(lsnSeenMax, s.lsnSeenMax, s.scl);
    batchSeqLast = Math.max(batchSeqLast, s.batchSeqLast);
  }
  return { vdl: source.scl, sourceNode: source.node, lsnNext: lsnSeenMax + 1, batchSeqNext: batchSeqLast + 1 };
}
