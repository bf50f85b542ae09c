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
//   SEGMENT_END     | zeros (never written) in segment N, no valid  | continue at segment N+1, pos 0
//                   | higher-LSN frame later in N, and N+1 does not |
//                   | start with a frame beyond a gap               |
//   STALE           | a valid frame that does not chain (older      | end of log (nothing after it
//                   | epoch, or lsnPrev != chain end)               | can belong to this chain)
//   TORN_TAIL       | bad frame, and no valid frame with a higher   | end of log; the caller zeroes
//                   | LSN anywhere after it                         | from here (never acknowledged:
//                   |                                               | a later sync never completed)
//   CORRUPT_MIDDLE  | bad frame, but a valid frame with a higher    | end of chain; NOT truncated:
//                   | LSN exists after it; or zeros (a lost sector) | the bytes after may be committed
//                   | followed later in the segment by a valid      | (repair from a peer, never guess)
//                   | higher-LSN frame; or a segment whose first    |
//                   | frame chains to a frame missing here (gap)    |
//
// Zeros are normal only after the real end of a segment's frames (segments are zero-filled before
// use, and a segment is synced before the next one is started), so zeros with a valid frame of a
// higher LSN after them are lost bytes in the middle, never the end of the log.
import { frameBytes, checkFrame, FRAME_MAGIC, FrameFault, lsnDurableOf, type FrameHeader } from './frame.js';
import { readU64 } from './u64.js';
import { FRAME_HEADER_BYTES } from '../config.js';
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
  /** Segments whose frames came from their hint (not read, not checked again now). */
  hinted: number[];
}

/**
 * A sealed segment's frames as a hint recorded them when they were checked (node/hints.ts), or
 * null to read the segment. The scan takes them only where they continue the chain and the next
 * segment exists (the chain moved on, so this one was synced whole).
 */
export type SegmentHintFn = (seq: number) => { frames: ScannedFrame[] } | null;

/**
 * `onFrame` gets each chained frame with the bytes of its segment, or null for a frame taken from a
 * hint (read it with log.read if its bytes are needed).
 */
export function scanHotLog(log: HotLog, payloadBytesMax: number, onFrame?: (f: ScannedFrame, segment: Uint8Array | null) => void,
  hintFor?: SegmentHintFn): ScanResult {
  const seqs = log.segments();
  const frames: ScannedFrame[] = [];
  let lsnLast = 0;
  let epochLast = 0;
  let batchSeqLast = 0;
  let lsnSeenMax = 0;
  let lsnDurableSeen = 0;
  let endSeq = seqs.length > 0 ? seqs[0]! : 0;
  let endPosition = 0;

  const hinted: number[] = [];
  /** One buffer for every segment this scan reads whole (onFrame must copy what it keeps). */
  let buffer: Uint8Array | undefined;
  let scratch: { frame: Uint8Array; chunk: Uint8Array } | undefined;
  /** A frame joins the chain (from a hint, the frame-by-frame walk, or the full walk's bytes). */
  const take = (f: ScannedFrame, segment: Uint8Array | null): void => {
    frames.push(f);
    onFrame?.(f, segment);
    lsnDurableSeen = Math.max(lsnDurableSeen, lsnDurableOf(f.header));
    lsnLast = f.header.lsnLast;
    epochLast = f.header.epoch;
    batchSeqLast = f.header.batchSeq;
    lsnSeenMax = Math.max(lsnSeenMax, lsnLast);
  };
  const result = (outcome: ScanOutcome, fault: ScanResult['fault']): ScanResult =>
    ({ outcome, frames, endSeq, endPosition, lsnLast, epochLast, batchSeqLast, lsnSeenMax, lsnDurableSeen, fault, hinted });

  for (let s = 0; s < seqs.length; s++) {
    const seq = seqs[s]!;
    if (frames.length > 0 && s > 0 && seqs[s - 1] !== seq - 1) return result(ScanOutcome.STALE, null);
    const hint = s + 1 < seqs.length && seqs[s + 1] === seq + 1 ? hintFor?.(seq) ?? null : null;
    const first = hint?.frames[0]?.header;
    if (hint !== null && first !== undefined && (frames.length === 0 || (first.lsnPrev === lsnLast && first.epoch >= epochLast))) {
      for (const f of hint.frames) take(f, null);
      hinted.push(seq);
      endSeq = seqs[s + 1]!;
      endPosition = 0;
      continue;
    }
    // The usual segment: chained frames, then zeros to its end. Read frame by frame into a reused
    // buffer, and the zeros in chunks, instead of the whole segment into a fresh 16 MiB buffer
    // (~50 ms of page faults per node here); anything else is decided by the full walk below.
    scratch ??= { frame: new Uint8Array(64 * 1024), chunk: new Uint8Array(CHUNK_BYTES) };
    const fast = walkClean(log, seq, frames.length === 0, lsnLast, epochLast, payloadBytesMax, scratch);
    const fastLast = fast?.frames[fast.frames.length - 1]?.header;
    if (fast !== null && gapAtNextSegment(log, seqs, s, fastLast?.lsnLast ?? lsnLast, fastLast?.epoch ?? epochLast, payloadBytesMax) === null) {
      for (const f of fast.frames) {
        take(f, null);
        endSeq = seq;
        endPosition = f.position + f.bytes;
      }
      if (s + 1 < seqs.length && frames.length > 0) {
        endSeq = seqs[s + 1]!;
        endPosition = 0;
      }
      continue;
    }
    buffer ??= new Uint8Array(log.segmentBytes);
    const bytes = log.readSegment(seq, buffer);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
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
        take(f, bytes);
        pos += f.bytes;
        endSeq = seq;
        endPosition = pos;
        continue;
      }
      if (c.fault === FrameFault.ZERO) {
        // SEGMENT_END, unless a valid frame of a higher LSN follows later in this segment (lost
        // sectors in the middle) or the next segment continues from a frame missing here.
        const laterHere = findLaterValidFrame(log, seqs, s, bytes, pos + 8, lsnLast, payloadBytesMax, s + 1);
        const gapNext = laterHere.lsnLast > lsnLast ? null : gapAtNextSegment(log, seqs, s, lsnLast, epochLast, payloadBytesMax);
        if (laterHere.lsnLast <= lsnLast && gapNext === null) break;
        // Lost bytes: everything valid after them is seen (LSNs are never reused) and may prove acks.
        const later = findLaterValidFrame(log, seqs, s, bytes, pos + 8, lsnLast, payloadBytesMax);
        if (later.lsnLast > lsnSeenMax) lsnSeenMax = later.lsnLast;
        if (later.lsnDurable > lsnDurableSeen) lsnDurableSeen = later.lsnDurable;
        endSeq = seq;
        endPosition = pos;
        const why = gapNext === null ? 'zeroed header mid-segment with a valid frame of a higher LSN after it'
          : `segment ${seqs[s + 1]} starts after LSN ${gapNext.lsnPrev}, but this chain ends at ${lsnLast} (lost frames)`;
        return result(ScanOutcome.CORRUPT_MIDDLE, { seq, position: pos, why: `${c.fault}: ${why}` });
      }
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

const CHUNK_BYTES = 1 << 20;

/**
 * Segment `seq` read the cheap way, if it is the clean case: frames from its start, each valid and
 * continuing the chain (`empty`: no chain yet; else its end `lsnLast` and epoch), then zeros up to
 * its end with no byte that could start a frame at a frame position (the byte search the full walk's
 * findLaterValidFrame does first). Null for anything else: the full walk decides.
 */
function walkClean(log: HotLog, seq: number, empty: boolean, lsnLast: number, epochLast: number, payloadBytesMax: number,
  scratch: { frame: Uint8Array; chunk: Uint8Array }): { frames: ScannedFrame[] } | null {
  const size = log.segmentBytes;
  const frames: ScannedFrame[] = [];
  const readAt = (position: number, length: number, out: Uint8Array): Uint8Array | null => {
    try {
      const n = Math.min(length, size - position);
      const got = log.readInto(seq, position, n, out);
      return got;
    } catch {
      return null; // short file, read error: the full walk reads it (short files read as zeros there)
    }
  };
  let pos = 0;
  for (;;) {
    if (pos + FRAME_HEADER_BYTES > size) {
      // Less than a header left: zeros, or the full walk calls it a short (torn) frame.
      if (pos < size) {
        const rest = readAt(pos, size - pos, scratch.frame);
        if (rest === null || rest.some((b) => b !== 0)) return null;
      }
      return { frames };
    }
    const head = readAt(pos, FRAME_HEADER_BYTES, scratch.frame);
    if (head === null) return null;
    const hv = new DataView(head.buffer, head.byteOffset, FRAME_HEADER_BYTES);
    if (hv.getUint32(0, true) === 0 && hv.getUint32(8, true) === 0 && hv.getUint32(20, true) === 0) break; // zeros: the tail check below
    const payloadBytes = hv.getUint32(8, true);
    if (hv.getUint32(0, true) !== FRAME_MAGIC || payloadBytes > payloadBytesMax || pos + FRAME_HEADER_BYTES + payloadBytes > size) return null;
    const bytes = frameBytes(payloadBytes);
    if (scratch.frame.length < bytes) scratch.frame = new Uint8Array(Math.max(bytes, 2 * scratch.frame.length));
    const frame = readAt(pos, bytes, scratch.frame);
    if (frame === null) return null;
    const c = checkFrame(frame, new DataView(frame.buffer, frame.byteOffset, frame.byteLength), 0, bytes, payloadBytesMax);
    if (!c.ok) return null;
    const chains = empty && frames.length === 0 ? true : c.header.lsnPrev === lsnLast && c.header.epoch >= epochLast;
    if (!chains) return null;
    frames.push({ seq, position: pos, bytes, header: c.header });
    lsnLast = c.header.lsnLast;
    epochLast = c.header.epoch;
    pos += bytes;
  }
  // The rest must be zeros where a frame could start: search its chunks for the magic's first byte.
  for (let at = pos + 8; at < size; at += CHUNK_BYTES) {
    const chunk = readAt(at, CHUNK_BYTES, scratch.chunk);
    if (chunk === null) return null;
    const search = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let i = search.indexOf(0x41); i >= 0; i = search.indexOf(0x41, i + 1)) if ((at + i) % 8 === 0) return null;
  }
  return { frames };
}

/**
 * Highest lsnLast of a valid frame above `lsnAbove` at any 8-aligned position after a bad one
 * (in segments seqs[s] up to, not including, seqs[sEnd]), and the highest LSN those frames prove
 * durable.
 */
function findLaterValidFrame(log: HotLog, seqs: number[], s: number, bytes: Uint8Array, from: number, lsnAbove: number,
  payloadBytesMax: number, sEnd = seqs.length): { lsnLast: number; lsnDurable: number } {
  let best = 0;
  let durable = 0;
  for (let i = s; i < sEnd; i++) {
    const seg = i === s ? bytes : log.readSegment(seqs[i]!);
    const view = new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
    // Buffer's indexOf is memchr (~1 ms for 16 MiB of zeros here; a typed array's, ~90 ms).
    const search = Buffer.from(seg.buffer, seg.byteOffset, seg.byteLength);
    for (let pos = i === s ? from : 0; pos + 64 <= seg.length; pos += 8) {
      // Jump to the next byte that could start the magic (native search: the rest is mostly zeros).
      if (seg[pos] !== 0x41) {
        const next = search.indexOf(0x41, pos + 1);
        if (next < 0) break;
        pos = ((next + 7) & ~7) - 8; // the loop adds 8: resume at the first 8-aligned position >= next
        continue;
      }
      const c = checkFrame(seg, view, pos, seg.length, payloadBytesMax);
      if (!c.ok || c.header.lsnLast <= lsnAbove) continue;
      best = Math.max(best, c.header.lsnLast);
      durable = Math.max(durable, lsnDurableOf(c.header));
    }
  }
  return { lsnLast: best, lsnDurable: durable };
}

/**
 * When the chain's segment ends in zeros: does the next segment start with a frame of the chain's
 * epoch or later whose backlink is above the chain's end? Then frames in between were lost (the
 * next segment is started only after this one was synced, so this is not a torn tail).
 */
function gapAtNextSegment(log: HotLog, seqs: number[], s: number, lsnLast: number, epochLast: number,
  payloadBytesMax: number): { lsnPrev: number } | null {
  const next = seqs[s + 1];
  if (next === undefined || next !== seqs[s]! + 1 || lsnLast === 0) return null;
  // The header alone settles the usual case (the chain goes on: lsnPrev == lsnLast) without
  // reading the segment twice; only a header that claims a gap is read whole and checked.
  let head: Uint8Array;
  try {
    head = log.read(next, 0, FRAME_HEADER_BYTES);
  } catch {
    return null; // a short file: the walk reads it next (as zeros past its end) and decides there
  }
  const hv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (hv.getUint32(0, true) !== FRAME_MAGIC || readU64(hv, 32) <= lsnLast || hv.getUint32(16, true) < epochLast) return null;
  const payloadBytes = hv.getUint32(8, true);
  if (payloadBytes > payloadBytesMax || FRAME_HEADER_BYTES + payloadBytes > log.segmentBytes) return null;
  const bytes = log.read(next, 0, FRAME_HEADER_BYTES + payloadBytes);
  const c = checkFrame(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, payloadBytesMax);
  if (!c.ok || c.header.lsnPrev <= lsnLast || c.header.epoch < epochLast) return null;
  return { lsnPrev: c.header.lsnPrev };
}
