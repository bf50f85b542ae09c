// Batch frame codec: the unit the group-commit thread ships to every node and every node appends
// to its hot log. A frame is self-identifying and checksummed so a scanner can tell valid data,
// a torn tail and corruption apart (see docs/format.md).
//
// Header, 64 bytes, little endian; the payload (redo records, 8-aligned) follows:
//   0  u32 magic          'AURF'
//   4  u16 version        FRAME_VERSION
//   6  u16 headerBytes    64
//   8  u32 payloadBytes   multiple of 8 (aligned: never torn by a sector write)
//   12 u32 recordCount
//   16 u32 epoch          volume epoch of the sender (fencing)
//   20 u32 crc            crc32 of header bytes [0,20) ++ [24,64) ++ payload
//   24 u32 batchSeq       node-independent batch sequence number (wraps; informational)
//   28 u32 vdlLag         lsnPrev - VDL the sender knew when it cut this frame (saturates): every
//                         intact frame proves lsnPrev - vdlLag was acknowledged (recovery's check)
//   32 u64 lsnPrev        lsnLast of the previous frame of the volume log (backlink; 0 = none)
//   40 u64 lsnFirst       LSN of the first record
//   48 u64 lsnLast        LSN of the last record; always an MTR end (a CPL)
//   56 u64 lsnReadMin     PGMRPL: lowest read point in use (<= VDL) when cut
import { crc32 } from 'node:zlib';
import { assert, fail } from '../assert.js';
import { FRAME_HEADER_BYTES } from '../config.js';
import { errors } from '../errors.js';
import { decodeRecord, type RedoRecord } from './record.js';
import { readU64, writeU64 } from './u64.js';

export const FRAME_MAGIC = 0x46525541; // 'AURF' little endian
export const FRAME_VERSION = 2;
assert(FRAME_HEADER_BYTES === 64, 'frame header layout is 64 bytes');

export interface FrameHeader {
  payloadBytes: number;
  recordCount: number;
  epoch: number;
  batchSeq: number;
  lsnPrev: number;
  lsnFirst: number;
  lsnLast: number;
  lsnReadMin: number;
  /** lsnPrev - the VDL known when the frame was cut (0..2^32-1). */
  vdlLag: number;
}

/** The LSN a frame proves durable: the VDL its sender knew when it cut it. */
export function lsnDurableOf(h: FrameHeader): number {
  return h.lsnPrev - h.vdlLag;
}

const U32_MAX = 0xffffffff;

export function frameBytes(payloadBytes: number): number {
  return FRAME_HEADER_BYTES + payloadBytes;
}

function frameCrc(bytes: Uint8Array, offset: number, payloadBytes: number): number {
  let c = crc32(bytes.subarray(offset, offset + 20));
  c = crc32(bytes.subarray(offset + 24, offset + FRAME_HEADER_BYTES + payloadBytes), c);
  return c >>> 0;
}

/**
 * Writes a frame header at `offset` for the payload already in place after it, and seals it with
 * the CRC. The caller guarantees the payload is a valid run of records.
 */
export function sealFrame(bytes: Uint8Array, view: DataView, offset: number, h: FrameHeader): void {
  assert(h.payloadBytes % 8 === 0 && h.payloadBytes > 0, 'frame payload must be non-empty and 8-aligned');
  assert(h.recordCount > 0, 'frame must hold a record');
  if (!(h.lsnPrev < h.lsnFirst && h.lsnFirst <= h.lsnLast)) fail(`frame LSNs out of order: prev ${h.lsnPrev} first ${h.lsnFirst} last ${h.lsnLast}`);
  assert(offset + FRAME_HEADER_BYTES + h.payloadBytes <= bytes.length, 'frame does not fit its buffer');
  view.setUint32(offset, FRAME_MAGIC, true);
  view.setUint16(offset + 4, FRAME_VERSION, true);
  view.setUint16(offset + 6, FRAME_HEADER_BYTES, true);
  view.setUint32(offset + 8, h.payloadBytes, true);
  view.setUint32(offset + 12, h.recordCount, true);
  view.setUint32(offset + 16, h.epoch, true);
  view.setUint32(offset + 24, h.batchSeq >>> 0, true);
  assert(h.vdlLag >= 0, 'vdlLag is negative');
  view.setUint32(offset + 28, Math.min(h.vdlLag, U32_MAX), true);
  writeU64(view, offset + 32, h.lsnPrev);
  writeU64(view, offset + 40, h.lsnFirst);
  writeU64(view, offset + 48, h.lsnLast);
  writeU64(view, offset + 56, h.lsnReadMin);
  view.setUint32(offset + 20, frameCrc(bytes, offset, h.payloadBytes), true);
}

/** The header fields at `offset`, unchecked (checkFrame checks them; hints.ts stores checked copies). */
export function readFrameHeader(view: DataView, offset: number): FrameHeader {
  return {
    payloadBytes: view.getUint32(offset + 8, true),
    recordCount: view.getUint32(offset + 12, true),
    epoch: view.getUint32(offset + 16, true),
    batchSeq: view.getUint32(offset + 24, true),
    vdlLag: view.getUint32(offset + 28, true),
    lsnPrev: readU64(view, offset + 32),
    lsnFirst: readU64(view, offset + 40),
    lsnLast: readU64(view, offset + 48),
    lsnReadMin: readU64(view, offset + 56),
  };
}

/** Why bytes at a position are not a valid frame; the scanner's decision table uses these. */
export const FrameFault = {
  /** All zero where a header would start: the preallocated, never-written end of a segment. */
  ZERO: 'zero',
  /** Fewer bytes than the header or the declared payload: a torn write or a short buffer. */
  SHORT: 'short',
  /** Magic, version or a length field is wrong. */
  BAD_HEADER: 'bad-header',
  /** Well-formed lengths but the CRC does not match. */
  BAD_CRC: 'bad-crc',
  /** CRC matches but the records inside contradict the header (an encoder bug). */
  BAD_RECORDS: 'bad-records',
} as const;
export type FrameFault = (typeof FrameFault)[keyof typeof FrameFault];

export type FrameCheck = { ok: true; header: FrameHeader } | { ok: false; fault: FrameFault; why: string };

/**
 * Checks the frame at `offset` within `bytes[offset, end)` without throwing: header, lengths,
 * CRC, then the record chain (LSNs consecutive-increasing from lsnFirst to lsnLast, the last
 * record an MTR end, the count as declared).
 */
export function checkFrame(bytes: Uint8Array, view: DataView, offset: number, end: number, payloadBytesMax: number, checkChain = true): FrameCheck {
  if (end - offset < FRAME_HEADER_BYTES) {
    for (let i = offset; i < end; i++) if (bytes[i] !== 0) return { ok: false, fault: FrameFault.SHORT, why: 'fewer bytes than a frame header' };
    return { ok: false, fault: FrameFault.ZERO, why: 'end of data' };
  }
  const magic = view.getUint32(offset, true);
  if (magic !== FRAME_MAGIC) {
    if (magic === 0 && view.getUint32(offset + 8, true) === 0 && view.getUint32(offset + 20, true) === 0) {
      return { ok: false, fault: FrameFault.ZERO, why: 'zeroed header' };
    }
    return { ok: false, fault: FrameFault.BAD_HEADER, why: `bad magic 0x${magic.toString(16)}` };
  }
  const version = view.getUint16(offset + 4, true);
  if (version !== FRAME_VERSION) return { ok: false, fault: FrameFault.BAD_HEADER, why: `unsupported frame version ${version}` };
  if (view.getUint16(offset + 6, true) !== FRAME_HEADER_BYTES) return { ok: false, fault: FrameFault.BAD_HEADER, why: 'bad header length' };
  const payloadBytes = view.getUint32(offset + 8, true);
  if (payloadBytes === 0 || payloadBytes % 8 !== 0 || payloadBytes > payloadBytesMax) {
    return { ok: false, fault: FrameFault.BAD_HEADER, why: `bad payload length ${payloadBytes}` };
  }
  if (offset + FRAME_HEADER_BYTES + payloadBytes > end) {
    return { ok: false, fault: FrameFault.SHORT, why: `payload of ${payloadBytes} bytes runs past the end of data` };
  }
  const crc = view.getUint32(offset + 20, true);
  if (frameCrc(bytes, offset, payloadBytes) !== crc) return { ok: false, fault: FrameFault.BAD_CRC, why: 'CRC mismatch' };
  const header = readFrameHeader(view, offset);
  if (!(header.lsnPrev < header.lsnFirst && header.lsnFirst <= header.lsnLast) || header.vdlLag > header.lsnPrev) {
    return { ok: false, fault: FrameFault.BAD_RECORDS, why: 'LSN range out of order' };
  }
  const why = checkChain ? checkRecords(bytes, view, offset, header) : null;
  if (why !== null) return { ok: false, fault: FrameFault.BAD_RECORDS, why };
  return { ok: true, header };
}

function checkRecords(bytes: Uint8Array, view: DataView, offset: number, h: FrameHeader): string | null {
  if (!(h.lsnPrev < h.lsnFirst && h.lsnFirst <= h.lsnLast)) return 'LSN range out of order';
  const end = offset + FRAME_HEADER_BYTES + h.payloadBytes;
  let at = offset + FRAME_HEADER_BYTES;
  let count = 0;
  let lsnExpected = h.lsnFirst;
  let last: RedoRecord | null = null;
  try {
    while (at < end) {
      const r = decodeRecord(bytes, view, at, end);
      if (r.lsn !== lsnExpected) return `record LSN ${r.lsn}, expected ${lsnExpected}`;
      lsnExpected++;
      at += r.recordBytes;
      count++;
      last = r;
    }
  } catch (e) {
    return (e as Error).message;
  }
  if (count !== h.recordCount) return `holds ${count} records, header says ${h.recordCount}`;
  if (last === null || last.lsn !== h.lsnLast || !last.mtrEnd) return 'last record is not the MTR end at lsnLast';
  return null;
}

/** Decodes a frame or throws CORRUPT_FRAME: a corrupt frame never yields records. */
export function decodeFrame(bytes: Uint8Array, offset = 0, end = bytes.length, payloadBytesMax = 0xffffffff): FrameHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const c = checkFrame(bytes, view, offset, end, payloadBytesMax);
  if (!c.ok) throw errors.corruptFrame(`frame at ${offset}: ${c.why}`);
  return c.header;
}

/** Calls `fn` for each record of a frame already checked by checkFrame/decodeFrame. */
export function forEachRecord(bytes: Uint8Array, view: DataView, offset: number, h: FrameHeader, fn: (r: RedoRecord) => void): void {
  const end = offset + FRAME_HEADER_BYTES + h.payloadBytes;
  let at = offset + FRAME_HEADER_BYTES;
  while (at < end) {
    const r = decodeRecord(bytes, view, at, end);
    fn(r);
    at += r.recordBytes;
  }
}
