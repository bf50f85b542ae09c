// What a storage node publishes in its line of the volume's control block when it (re)joins, and
// in which order. One function, so the order is decided once and can be tested.
import { ctl, type Control } from '../shared/control.js';

/**
 * Publishes a node's epoch, then its SCL (its chain end, the ack). A group-commit thread counts a
 * node's SCL only while the node publishes that thread's own epoch (it reads epoch, SCL, epoch).
 * SCL first would let a thread of the node's previous epoch read the old epoch on both sides of
 * the new SCL and count an SCL reached under a newer epoch for its own frames.
 */
export function publishChainEnd(control: Control, node: number, epoch: number, scl: number): void {
  // SCL 0 first: otherwise a thread of the new epoch could read the new epoch around the line's
  // old SCL (left by the node's previous run, or another chain) and count it.
  control.store64(ctl.nodeScl(node), 0);
  Atomics.store(control.i32, ctl.nodeEpoch(node), epoch);
  control.store64(ctl.nodeScl(node), scl);
}
