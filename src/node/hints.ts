// Hint files: what a node learned by reading one of its files, kept beside it, so that a restart
// loads that instead of reading and checking the whole file again (Bitcask's hint files; Aurora's
// storage nodes likewise do not replay or re-read their logs to come back):
//   segment hint  log/<seq>.hint     a sealed hot-log segment: each frame's header as checked, and
//                                    per record what the key index holds (key, LSN, where the
//                                    value is, its checksum); written when the node has indexed
//                                    the whole segment and the chain has moved on to the next one
//   block hint    blocks/<seq>.hint  a block file's page images, the same per entry; written by the
//                                    coalescing cycle that wrote the block file
// A hint is derived data, never the only copy of anything: written without fsync (a lost or torn
// one costs a read of its file), checked by its CRC and against the file it describes, removed
// before that file is removed or changed in place. In any doubt the file is read as before.
//
// Layout, little endian. Header, 32 bytes:
//   0 u32 magic 'AHNT'   4 u16 version   6 u16 kind (1 segment, 2 block)   8 u64 seq
//   16 u32 count (frames | entries)   20 u32 records (segment hints; 0)   24 u32 bodyBytes
//   28 u32 crc32 of bytes [0, 28) ++ body
// Segment body: per frame, u32 position, u32 recordCount, the 64 header bytes as they were checked,
//   then its records as entries.
// Block body: u64 coalesceLsn, u64 fileBytes, then the entries in the order the images hold them.
// Entry: u16 keyBytes, u8 op (1 put, 2 delete), u8 0, u32 valueBytes, u64 lsn, u64 valuePosition
//   (in the file), u32 value checksum, then the key bytes.
import { releaseArrayBuffer } from '../shared/release-buffer.js';
import { crc32 } from 'node:zlib';
import { FRAME_HEADER_BYTES } from '../config.js';
import { frameBytes, readFrameHeader } from '../log/frame.js';
import { Op } from '../log/record.js';
import type { ScannedFrame } from '../log/scanner.js';
import type { HotLog } from './hotlog.js';
import type { FsPort } from '../fs/port.js';
import { readU64, writeU64 } from '../log/u64.js';

export const HINT_MAGIC = 0x544e4841; // 'AHNT' little endian
const HINT_VERSION = 1;
const HEADER_BYTES = 32;
const ENTRY_HEADER_BYTES = 28;
const FRAME_ENTRY_BYTES = 8 + FRAME_HEADER_BYTES;
export const HintKind = { SEGMENT: 1, BLOCK: 2 } as const;
export type HintKind = (typeof HintKind)[keyof typeof HintKind];

export function hintFileName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.hint`;
}

/** Receives one entry: the key is bytes[keyStart, keyEnd) (valid during the call only). */
export type HintEntryFn = (bytes: Uint8Array, keyStart: number, keyEnd: number, op: number, valueBytes: number, lsn: number,
  valuePosition: number, checksum: number) => void;

/** Builds one hint in a growable buffer (reused: seal() returns a view valid until the next begin()). */
const HINT_BUFFER_BYTES_INITIAL = 1 << 16;

export class HintBuilder {
  private buf = new Uint8Array(HINT_BUFFER_BYTES_INITIAL);
  private view = new DataView(this.buf.buffer);
  private at = HEADER_BYTES;
  private kind: HintKind = HintKind.SEGMENT;
  private seq = -1;
  private count = 0;
  private records = 0;
  /** Where the current frame's record count goes (segment hints). */
  private frameAt = -1;
  private frameRecords = 0;

  begin(kind: HintKind, seq: number): void {
    this.kind = kind;
    this.seq = seq;
    this.at = kind === HintKind.BLOCK ? HEADER_BYTES + 16 : HEADER_BYTES; // block hints: room for the prefix
    this.count = 0;
    this.records = 0;
    this.frameAt = -1;
  }

  get bodyBytes(): number {
    return this.at - HEADER_BYTES;
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    grown.set(this.buf.subarray(0, this.at));
    releaseArrayBuffer(this.buf.buffer); // a view seal() returned is invalid from begin() on anyway
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  /** Bytes of its buffer (grown to the largest hint built: a block hint holds every live key). */
  get capacity(): number {
    return this.buf.length;
  }

  /** Gives a grown buffer back (between hints: a node gone quiet). */
  shrink(): void {
    if (this.buf.length <= HINT_BUFFER_BYTES_INITIAL) return;
    releaseArrayBuffer(this.buf.buffer);
    this.buf = new Uint8Array(HINT_BUFFER_BYTES_INITIAL);
    this.view = new DataView(this.buf.buffer);
    this.at = HEADER_BYTES;
  }

  /** Block hints: the body's prefix (known only when the cycle ends; any time before seal()). */
  blockPrefix(coalesceLsn: number, fileBytes: number): void {
    writeU64(this.view, HEADER_BYTES, coalesceLsn);
    writeU64(this.view, HEADER_BYTES + 8, fileBytes);
  }

  /** Segment hints: a frame, its header bytes at header[offset, offset + 64) as checked. */
  frame(position: number, header: Uint8Array, offset: number): void {
    this.closeFrame();
    this.room(FRAME_ENTRY_BYTES);
    this.view.setUint32(this.at, position, true);
    this.frameAt = this.at + 4;
    this.frameRecords = 0;
    this.buf.set(header.subarray(offset, offset + FRAME_HEADER_BYTES), this.at + 8);
    this.at += FRAME_ENTRY_BYTES;
    this.count++;
  }

  private closeFrame(): void {
    if (this.frameAt >= 0) this.view.setUint32(this.frameAt, this.frameRecords, true);
    this.frameAt = -1;
  }

  entry(key: Uint8Array, keyStart: number, keyEnd: number, op: number, valueBytes: number, lsn: number, valuePosition: number, checksum: number): void {
    const keyBytes = keyEnd - keyStart;
    this.room(ENTRY_HEADER_BYTES + keyBytes);
    const v = this.view;
    v.setUint16(this.at, keyBytes, true);
    v.setUint8(this.at + 2, op);
    v.setUint8(this.at + 3, 0);
    v.setUint32(this.at + 4, valueBytes, true);
    writeU64(v, this.at + 8, lsn);
    writeU64(v, this.at + 16, valuePosition);
    v.setUint32(this.at + 24, checksum >>> 0, true);
    this.buf.set(key.subarray(keyStart, keyEnd), this.at + ENTRY_HEADER_BYTES);
    this.at += ENTRY_HEADER_BYTES + keyBytes;
    if (this.kind === HintKind.SEGMENT) {
      this.frameRecords++;
      this.records++;
    } else {
      this.count++;
    }
  }

  seal(): Uint8Array {
    this.closeFrame();
    const v = this.view;
    v.setUint32(0, HINT_MAGIC, true);
    v.setUint16(4, HINT_VERSION, true);
    v.setUint16(6, this.kind, true);
    writeU64(v, 8, this.seq);
    v.setUint32(16, this.count, true);
    v.setUint32(20, this.records, true);
    v.setUint32(24, this.at - HEADER_BYTES, true);
    v.setUint32(28, hintCrc(this.buf, this.at), true);
    return this.buf.subarray(0, this.at);
  }
}

function hintCrc(bytes: Uint8Array, end: number): number {
  return crc32(bytes.subarray(HEADER_BYTES, end), crc32(bytes.subarray(0, 28))) >>> 0;
}

/** The header checks every hint passes: magic, version, kind, seq, length, CRC. */
function checkHeader(bytes: Uint8Array | null, kind: HintKind, seq: number): DataView | null {
  if (bytes === null || bytes.length < HEADER_BYTES) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== HINT_MAGIC || v.getUint16(4, true) !== HINT_VERSION || v.getUint16(6, true) !== kind) return null;
  if (readU64(v, 8) !== seq || HEADER_BYTES + v.getUint32(24, true) !== bytes.length) return null;
  if (hintCrc(bytes, bytes.length) !== v.getUint32(28, true)) return null;
  return v;
}

/** Walks `count` entries from `at`; null if one overruns `end`. */
function walkEntries(bytes: Uint8Array, v: DataView, at: number, end: number, count: number, fn: HintEntryFn | null): number | null {
  for (let i = 0; i < count; i++) {
    if (at + ENTRY_HEADER_BYTES > end) return null;
    const keyBytes = v.getUint16(at, true);
    const op = v.getUint8(at + 2);
    const keyStart = at + ENTRY_HEADER_BYTES;
    if (keyStart + keyBytes > end || (op !== Op.PUT && op !== Op.DELETE)) return null;
    fn?.(bytes, keyStart, keyStart + keyBytes, op, v.getUint32(at + 4, true), readU64(v, at + 8), readU64(v, at + 16), v.getUint32(at + 24, true));
    at = keyStart + keyBytes;
  }
  return at;
}

/** A segment hint, checked and parsed: its frames (as a scan would find them) and their records. */
export interface SegmentHint {
  seq: number;
  frames: ScannedFrame[];
  /** Raw header bytes of frame i at bytes[headerAt[i], +64), its records from recordsAt[i]. */
  headerAt: number[];
  recordsAt: number[];
  bytes: Uint8Array;
  /** lsnLast of its last frame. */
  lsnLast: number;
}

/** Parses a segment hint; null if it is absent, damaged, or not for segment `seq`. */
export function parseSegmentHint(bytes: Uint8Array | null, seq: number, segmentBytes: number): SegmentHint | null {
  const v = checkHeader(bytes, HintKind.SEGMENT, seq);
  if (v === null || bytes === null) return null;
  const frames: ScannedFrame[] = [];
  const headerAt: number[] = [];
  const recordsAt: number[] = [];
  const count = v.getUint32(16, true);
  if (count === 0) return null;
  let at = HEADER_BYTES;
  let records = 0;
  for (let i = 0; i < count; i++) {
    if (at + FRAME_ENTRY_BYTES > bytes.length) return null;
    const position = v.getUint32(at, true);
    const n = v.getUint32(at + 4, true);
    const header = readFrameHeader(v, at + 8);
    const size = frameBytes(header.payloadBytes);
    const prev = frames[frames.length - 1];
    // Frames back to back from the segment's start, each chained to the one before.
    if (header.recordCount !== n || position !== (prev === undefined ? 0 : prev.position + prev.bytes) || position + size > segmentBytes ||
      (prev !== undefined && (header.lsnPrev !== prev.header.lsnLast || header.epoch < prev.header.epoch))) return null;
    frames.push({ seq, position, bytes: size, header });
    headerAt.push(at + 8);
    recordsAt.push(at + FRAME_ENTRY_BYTES);
    const next = walkEntries(bytes, v, at + FRAME_ENTRY_BYTES, bytes.length, n, null);
    if (next === null) return null;
    at = next;
    records += n;
  }
  if (at !== bytes.length || records !== v.getUint32(20, true)) return null;
  return { seq, frames, headerAt, recordsAt, bytes, lsnLast: frames[frames.length - 1]!.header.lsnLast };
}

/** Calls `fn` for each record of frame `i` of a parsed segment hint (positions are in the segment). */
export function forEachHintRecord(hint: SegmentHint, i: number, fn: HintEntryFn): void {
  const v = new DataView(hint.bytes.buffer, hint.bytes.byteOffset, hint.bytes.byteLength);
  walkEntries(hint.bytes, v, hint.recordsAt[i]!, hint.bytes.length, hint.frames[i]!.header.recordCount, fn);
}

/**
 * Walks a block hint's entries if it is intact and describes block file `seq` as meta names it
 * (coalesce point, size); false (and nothing called) if not, and the caller reads the images.
 */
export function readBlockHint(bytes: Uint8Array | null, seq: number, coalesceLsn: number, fileBytes: number, fn: HintEntryFn): boolean {
  const v = checkHeader(bytes, HintKind.BLOCK, seq);
  if (v === null || bytes === null || bytes.length < HEADER_BYTES + 16) return false;
  if (readU64(v, HEADER_BYTES) !== coalesceLsn || readU64(v, HEADER_BYTES + 8) !== fileBytes) return false;
  // Checked whole before the first entry is handed out: a bad hint changes nothing.
  const count = v.getUint32(16, true);
  if (walkEntries(bytes, v, HEADER_BYTES + 16, bytes.length, count, null) !== bytes.length) return false;
  walkEntries(bytes, v, HEADER_BYTES + 16, bytes.length, count, fn);
  return true;
}

/**
 * The hints of `log`'s segments but the last (a hint is only ever written for a segment the chain
 * has left), parsed and checked against the segment itself: its first and last frame headers on
 * disk must be the bytes the hint recorded (a hint is removed before its segment changes in place;
 * this is the second line). A hint that fails is removed, and its segment read instead.
 */
export function loadSegmentHints(log: HotLog, payloadBytesMax: number): Map<number, SegmentHint> {
  const hints = new Map<number, SegmentHint>();
  const seqs = log.segments();
  for (let s = 0; s + 1 < seqs.length; s++) {
    const seq = seqs[s]!;
    const bytes = log.readHint(seq);
    if (bytes === null) continue;
    const hint = parseSegmentHint(bytes, seq, log.segmentBytes);
    if (hint !== null && hint.frames.every((f) => f.header.payloadBytes <= payloadBytesMax) && matchesDisk(log, hint)) {
      hints.set(seq, hint);
    } else {
      try {
        log.removeHint(seq);
      } catch {
        // a failed log refuses changes; the hint is simply not used
      }
    }
  }
  return hints;
}

function matchesDisk(log: HotLog, hint: SegmentHint): boolean {
  const scratch = new Uint8Array(FRAME_HEADER_BYTES);
  for (const i of [0, hint.frames.length - 1]) {
    const f = hint.frames[i]!;
    let disk: Uint8Array;
    try {
      disk = log.readInto(f.seq, f.position, FRAME_HEADER_BYTES, scratch);
    } catch {
      return false;
    }
    const at = hint.headerAt[i]!;
    for (let k = 0; k < FRAME_HEADER_BYTES; k++) if (disk[k] !== hint.bytes[at + k]) return false;
  }
  return true;
}

/** Writes a hint file whole, without fsync; false if it could not (a hint is optional). */
export function writeHintFile(io: FsPort, file: string, bytes: Uint8Array): boolean {
  try {
    const fd = io.openSync(file, 'w');
    try {
      let at = 0;
      while (at < bytes.length) at += io.writeSync(fd, bytes, at, bytes.length - at, at);
    } finally {
      io.closeSync(fd);
    }
    return true;
  } catch {
    return false; // without it, its file is read at the next start
  }
}

/** A hint file's bytes, or null if there is none or it cannot be read (its file is read instead). */
export function readHintFile(io: FsPort, file: string): Uint8Array | null {
  try {
    return io.readFileSync(file);
  } catch {
    return null;
  }
}
