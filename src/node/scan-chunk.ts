// A page scan's reply (node -> writer): the live keys of one page at a read point, with their
// values, packed into one buffer that is transferred, not cloned (a structured clone of two arrays
// per entry would cost far more than one copy into one buffer).
//
// Layout, per entry, little-endian, no padding:
//   0  u16 keyBytes     (keys are at most 65535 bytes: limits.keyBytesMax)
//   2  u32 valueBytes
//   6  key, then value
// The buffer never crosses a disk: it is built by the serving node and read by the writer in the
// same process, so it carries no checksum; every value in it was checked against its record's
// checksum before it was packed (node-reads.ts).
import { assert } from '../assert.js';

export const SCAN_ENTRY_HEADER_BYTES = 6;

export interface ScanEntry {
  key: Uint8Array;
  value: Uint8Array;
}

/** What one entry costs in a chunk (the unit of a scan request's byte limit). */
export function scanEntryBytes(keyBytes: number, valueBytes: number): number {
  return SCAN_ENTRY_HEADER_BYTES + keyBytes + valueBytes;
}

export function encodeScanChunk(entries: readonly ScanEntry[]): Uint8Array {
  let total = 0;
  for (const e of entries) total += scanEntryBytes(e.key.length, e.value.length);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const e of entries) {
    assert(e.key.length > 0 && e.key.length <= 0xffff, `scan entry key of ${e.key.length} bytes`);
    view.setUint16(at, e.key.length, true);
    view.setUint32(at + 2, e.value.length, true);
    out.set(e.key, at + SCAN_ENTRY_HEADER_BYTES);
    out.set(e.value, at + SCAN_ENTRY_HEADER_BYTES + e.key.length);
    at += scanEntryBytes(e.key.length, e.value.length);
  }
  assert(at === total, 'scan chunk size mismatch');
  return out;
}

/** The entries of a chunk, each key and value a private copy (the caller may keep any of them). */
export function decodeScanChunk(chunk: Uint8Array): ScanEntry[] {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const out: ScanEntry[] = [];
  let at = 0;
  while (at < chunk.length) {
    assert(at + SCAN_ENTRY_HEADER_BYTES <= chunk.length, `scan chunk truncated in an entry header at ${at}`);
    const keyBytes = view.getUint16(at, true);
    const valueBytes = view.getUint32(at + 2, true);
    const keyAt = at + SCAN_ENTRY_HEADER_BYTES;
    const end = keyAt + keyBytes + valueBytes;
    assert(keyBytes > 0 && end <= chunk.length, `scan chunk entry at ${at} overruns the chunk`);
    // Copies, not views (not .slice(): on a Buffer that is a view too): a kept value must not pin
    // the whole chunk.
    out.push({ key: new Uint8Array(chunk.subarray(keyAt, keyAt + keyBytes)), value: new Uint8Array(chunk.subarray(keyAt + keyBytes, end)) });
    at = end;
  }
  return out;
}
