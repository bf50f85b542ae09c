// Redo record codec. A record is one change to one key; an MTR (a put, a delete or a whole
// transaction) is a run of records with consecutive LSNs whose last record carries MTR_END, and
// that last LSN is the MTR's consistency point (CPL).
//
// Layout, little endian, 8-byte aligned (the writer encodes straight into the log ring):
//   0  u32 recordBytes   header + key + value, padded to 8
//   4  u8  op            1 = put, 2 = delete
//   5  u8  flags         bit 0: MTR_END
//   6  u16 keyBytes
//   8  u64 lsn
//   16 u32 pageId        hash(key) & (pageCount - 1)
//   20 u32 valueBytes    0 for a delete
//   24 u32 valueChecksum valueChecksum(value), 0 for a delete: computed once by the writer, kept
//                        by every node next to the value's location, checked on every read
//   28 u32 reserved      0
//   32 key bytes, value bytes, zero padding
import { crc32 } from 'node:zlib';
import { assert } from '../assert.js';
import { errors } from '../errors.js';
import { readU64, writeU64 } from './u64.js';

export const RECORD_HEADER_BYTES = 32;
export const Op = { PUT: 1, DELETE: 2 } as const;
export type Op = (typeof Op)[keyof typeof Op];
export const RecordFlag = { MTR_END: 1 } as const;

export function recordBytes(keyBytes: number, valueBytes: number): number {
  return (RECORD_HEADER_BYTES + keyBytes + valueBytes + 7) & ~7;
}

/** Values up to this size are checksummed with FNV-1a in JS (a native call costs ~0.45 us). */
const CHECKSUM_FNV_BYTES_MAX = 4096;

/**
 * Checksum of a value: FNV-1a for <= 4 KiB (detects any change of a single byte), CRC-32 above.
 * Guards values read back from disk one by one, where no frame CRC is read with them.
 */
export function valueChecksum(v: Uint8Array): number {
  if (v.length > CHECKSUM_FNV_BYTES_MAX) return crc32(v) >>> 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < v.length; i++) {
    h ^= v[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** FNV-1a over the key: cheap, stable across versions (it decides on-disk page placement). */
export function keyHash(key: Uint8Array, start = 0, end = key.length): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= key[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A key's page: the low bits of its hash (so a page is a fixed set of the node index's buckets). */
export function pageIdOf(key: Uint8Array, pageCount: number): number {
  return keyHash(key) & (pageCount - 1);
}

/** Encodes one record at `offset` of `bytes` (a view the caller owns). Returns bytes written. */
export function encodeRecord(
  bytes: Uint8Array, view: DataView, offset: number,
  op: Op, mtrEnd: boolean, lsn: number, pageId: number, key: Uint8Array, value: Uint8Array | null,
): number {
  const valueBytes = value === null ? 0 : value.length;
  const size = recordBytes(key.length, valueBytes);
  assert(offset % 8 === 0 && offset + size <= bytes.length, 'record does not fit its buffer');
  assert(key.length <= 0xffff, 'key longer than a u16');
  view.setUint32(offset, size, true);
  view.setUint8(offset + 4, op);
  view.setUint8(offset + 5, mtrEnd ? RecordFlag.MTR_END : 0);
  view.setUint16(offset + 6, key.length, true);
  writeU64(view, offset + 8, lsn);
  view.setUint32(offset + 16, pageId, true);
  view.setUint32(offset + 20, valueBytes, true);
  view.setUint32(offset + 24, value === null ? 0 : valueChecksum(value), true);
  view.setUint32(offset + 28, 0, true);
  bytes.set(key, offset + RECORD_HEADER_BYTES);
  if (value !== null) bytes.set(value, offset + RECORD_HEADER_BYTES + key.length);
  const end = offset + RECORD_HEADER_BYTES + key.length + valueBytes;
  bytes.fill(0, end, offset + size); // padding is covered by the frame CRC: make it deterministic
  return size;
}

/** A decoded record; key and value are views into the source buffer (copy to keep them). */
export interface RedoRecord {
  op: Op;
  mtrEnd: boolean;
  lsn: number;
  pageId: number;
  key: Uint8Array;
  value: Uint8Array | null;
  valueChecksum: number;
  recordBytes: number;
}

/** Decodes the record at `offset`, checking it lies within [offset, end). */
export function decodeRecord(bytes: Uint8Array, view: DataView, offset: number, end: number): RedoRecord {
  if (offset + RECORD_HEADER_BYTES > end) throw errors.corruptRecord(`record header at ${offset} overruns its frame`);
  const size = view.getUint32(offset, true);
  const op = view.getUint8(offset + 4);
  const flags = view.getUint8(offset + 5);
  const keyBytes = view.getUint16(offset + 6, true);
  const valueBytes = view.getUint32(offset + 20, true);
  if (op !== Op.PUT && op !== Op.DELETE) throw errors.corruptRecord(`unknown op ${op} at ${offset}`);
  if ((flags & ~RecordFlag.MTR_END) !== 0) throw errors.corruptRecord(`unknown flags ${flags} at ${offset}`);
  if (op === Op.DELETE && valueBytes !== 0) throw errors.corruptRecord(`delete with a value at ${offset}`);
  if (size !== recordBytes(keyBytes, valueBytes) || offset + size > end) {
    throw errors.corruptRecord(`record size ${size} at ${offset} does not match its key and value`);
  }
  const keyStart = offset + RECORD_HEADER_BYTES;
  return {
    op: op as Op,
    mtrEnd: (flags & RecordFlag.MTR_END) !== 0,
    lsn: readU64(view, offset + 8),
    pageId: view.getUint32(offset + 16, true),
    key: bytes.subarray(keyStart, keyStart + keyBytes),
    value: op === Op.PUT ? bytes.subarray(keyStart + keyBytes, keyStart + keyBytes + valueBytes) : null,
    valueChecksum: view.getUint32(offset + 24, true),
    recordBytes: size,
  };
}
