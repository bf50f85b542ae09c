// Hot-log scanner: walks a node's segments in order and finds the valid chain of frames, its end
// (where the next append goes) and, if the walk stopped on a bad frame, whether that was a torn
// tail or corruption in the middle.
//
// Decision table, for the bytes at the scan position (frames are 8-aligned, segments zero-filled):
//
//   case            | bytes at position                             | action
//   ----------------+-----------------------------------------------+-------------------------------
//   VALID           | frame checks, epoch >= chain's, lsnPrev ==    | accept, advance past it
//                   | chain end (or first frame of the log)         |
//   SEGMENT_END     | zeros (never written) in segment N            | continue at segment N+1, pos 0
//   STALE           | a valid frame that does not chain (older      | end of log (nothing after it
//                   | epoch, or lsnPrev != chain end)               | can belong to this chain)
//   TORN_TAIL       | bad frame, and no valid frame with a higher   | end of log; the caller zeroes
//                   | LSN anywhere after it                         | from here (never acknowledged:
//                   |                                               | a later sync never completed)
//   CORRUPT_MIDDLE  | bad frame, but a valid frame with a higher    | end of chain; NOT truncated:
//                   | LSN exists after it                           | the bytes after may be committed
//                   |                                               | (repair from a peer, never guess)
import { frameBytes, checkFrame, FrameFault, lsnDurableOf, type FrameHeader } from './frame.js';
import type { HotLog } from '../node/hotlog.js';

export interface ScannedFrame {
  seq: number;
  position: number;
  bytes: number;
  header: FrameHeader;
}

export const ScanOutcome = {
  CLEAN: 'clean',
  STALE: 'stale',
  TORN_TAIL: 'torn-tail',
  CORRUPT_MIDDLE: 'corrupt-middle',
} as const;
export type ScanOutcome = (typeof ScanOutcome)[keyof typeof ScanOutcome];

export interface ScanResult {
  outcome: ScanOutcome;
  frames: ScannedFrame[];
  /** Where the next frame goes: the end of the chain. */
  endSeq: number;
  endPosition: number;
  /** lsnLast of the chain (0 if empty): the node's SCL. */
  lsnLast: number;
  epochLast: number;
  batchSeqLast: number;
  /** Highest lsnLast of any valid frame seen, chained or not (LSNs are never reused). */
  lsnSeenMax: number;
  /**
   * Highest LSN any valid frame seen (chained or not) proves acknowledged (lsnDurableOf). A
   * recovered VDL below it means acknowledged data is lost on every copy: beyond the fault model.
   */
  lsnDurableSeen: number;
  /** Set for TORN_TAIL and CORRUPT_MIDDLE. */
  fault: { seq: number; position: number; why: string } | null;
}

export function scanHotLog(log: HotLog, payloadBytesMax: number, onFrame?: (f: ScannedFrame, segment: Uint8Array) => void): ScanResult {
  const seqs = log.segments();
  const frames: ScannedFrame[] = [];
  let lsnLast = 0;
  let epochLast = 0;
  let batchSeqLast = 0;
  let lsnSeenMax = 0;
  let lsnDurableSeen = 0;
  let endSeq = seqs.length > 0 ? seqs[0]! : 0;
  let endPosition = 0;

  const result = (outcome: ScanOutcome, fault: ScanResult['fault']): ScanResult =>
    ({ outcome, frames, endSeq, endPosition, lsnLast, epochLast, batchSeqLast, lsnSeenMax, lsnDurableSeen, fault });

  for (let s = 0; s < seqs.length; s++) {
    const seq = seqs[s]!;
    const bytes = log.readSegment(seq);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    if (frames.length > 0 && s > 0 && seqs[s - 1] !== seq - 1) return result(ScanOutcome.STALE, null);
    for (;;) {
      const c = checkFrame(bytes, view, pos, bytes.length, payloadBytesMax);
      if (c.ok) {
        const h = c.header;
        lsnDurableSeen = Math.max(lsnDurableSeen, lsnDurableOf(h));
        const chains = frames.length === 0 || (h.lsnPrev === lsnLast && h.epoch >= epochLast);
        if (!chains) {
          lsnSeenMax = Math.max(lsnSeenMax, h.lsnLast);
          return result(ScanOutcome.STALE, null);
        }
        const f: ScannedFrame = { seq, position: pos, bytes: frameBytes(h.payloadBytes), header: h };
        frames.push(f);
        onFrame?.(f, bytes);
        lsnLast = h.lsnLast;
        epochLast = h.epoch;
        batchSeqLast = h.batchSeq;
        lsnSeenMax = Math.max(lsnSeenMax, h.lsnLast);
        pos += f.bytes;
        endSeq = seq;
        endPosition = pos;
        continue;
      }
      if (c.fault === FrameFault.ZERO) break; // SEGMENT_END
      // A bad frame: torn tail or corruption in the middle? Look for later valid frames.
      const later = findLaterValidFrame(log, seqs, s, bytes, pos + 8, lsnLast, payloadBytesMax);
      if (later.lsnLast > lsnSeenMax) lsnSeenMax = later.lsnLast;
      if (later.lsnDurable > lsnDurableSeen) lsnDurableSeen = later.lsnDurable;
      const fault = { seq, position: pos, why: `${c.fault}: ${c.why}` };
      endSeq = seq;
      endPosition = pos;
      return result(later.lsnLast > lsnLast ? ScanOutcome.CORRUPT_MIDDLE : ScanOutcome.TORN_TAIL, fault);
    }
    // Segment exhausted: the chain continues in the next segment, if any, at position 0.
    if (s + 1 < seqs.length && frames.length > 0) {
      endSeq = seqs[s + 1]!;
      endPosition = 0;
    }
  }
  // The end is where the last frame ended, unless the next segment has already begun.
  if (frames.length > 0) {
    const last = frames[frames.length - 1]!;
    if (endSeq === last.seq) endPosition = last.position + last.bytes;
  }
  return result(ScanOutcome.CLEAN, null);
}

/**
 * Highest lsnLast of a valid frame above `lsnAbove` at any 8-aligned position after a bad one,
 * and the highest LSN those frames prove durable.
 */
function findLaterValidFrame(log: HotLog, seqs: number[], s: number, bytes: Uint8Array, from: number, lsnAbove: number,
  payloadBytesMax: number): { lsnLast: number; lsnDurable: number } {
  let best = 0;
  let durable = 0;
  for (let i = s; i < seqs.length; i++) {
    const seg = i === s ? bytes : log.readSegment(seqs[i]!);
    const view = new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
    for (let pos = i === s ? from : 0; pos + 64 <= seg.length; pos += 8) {
      if (seg[pos] !== 0x41) continue; // cheap prefilter on the magic's first byte
      const c = checkFrame(seg, view, pos, seg.length, payloadBytesMax);
      if (!c.ok || c.header.lsnLast <= lsnAbove) continue;
      best = Math.max(best, c.header.lsnLast);
      durable = Math.max(durable, lsnDurableOf(c.header));
    }
  }
  return { lsnLast: best, lsnDurable: durable };
}
