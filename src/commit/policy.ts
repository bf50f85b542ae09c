// When to cut a batch. Pure: the caller passes the batch's size and age and the pipeline state.
//
//   reason  | cut when
//   --------+------------------------------------------------------------------------------
//   bytes   | payload >= batchBytesMax
//   records | records >= batchRecordsMax
//   idle    | adaptive mode and fewer than framesInFlightMax frames await a write quorum: the
//           | nodes have room, so waiting would only add latency
//   time    | the oldest record has waited waitMicrosMax
//   close   | the engine is closing (the caller asks for it)
import type { GroupCommitMode } from '../config.js';

export const CutReason = { BYTES: 'bytes', RECORDS: 'records', IDLE: 'idle', TIME: 'time', CLOSE: 'close' } as const;
export type CutReason = (typeof CutReason)[keyof typeof CutReason];

export interface BatchPolicyConfig {
  batchBytesMax: number;
  batchRecordsMax: number;
  waitMicrosMax: number;
  mode: GroupCommitMode;
  framesInFlightMax: number;
}

export interface BatchState {
  payloadBytes: number;
  records: number;
  /** When the first record of the batch arrived (µs); ignored if records is 0. */
  startedMicros: number;
  /** Frames cut but not yet durable on a write quorum. */
  framesInFlight: number;
}

export type CutDecision = { cut: CutReason } | { cut: null; wakeAtMicros: number | null };

export function decideCut(c: BatchPolicyConfig, s: BatchState, nowMicros: number): CutDecision {
  if (s.records === 0) return { cut: null, wakeAtMicros: null };
  if (s.payloadBytes >= c.batchBytesMax) return { cut: CutReason.BYTES };
  if (s.records >= c.batchRecordsMax) return { cut: CutReason.RECORDS };
  if (windowOpen(c, s.framesInFlight)) return { cut: CutReason.IDLE };
  const due = s.startedMicros + c.waitMicrosMax;
  if (nowMicros >= due) return { cut: CutReason.TIME };
  return { cut: null, wakeAtMicros: due };
}

/**
 * Whether a record arriving now would be cut at once (adaptive mode with room in the window).
 * While it is not, a frame is in flight and its quorum ack will wake the group-commit thread; the
 * writer does not ring it for new records meanwhile (ctl.gcWindowFull), so they are drained, and
 * cut by any rule above, only at that wake-up.
 */
export function windowOpen(c: BatchPolicyConfig, framesInFlight: number): boolean {
  return c.mode === 'adaptive' && framesInFlight < c.framesInFlightMax;
}

/** Adaptive mode with every frame of the window in flight (timed mode has no window). */
export function windowFull(c: BatchPolicyConfig, framesInFlight: number): boolean {
  return c.mode === 'adaptive' && framesInFlight >= c.framesInFlightMax;
}
