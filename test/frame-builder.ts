// Builds valid frames for tests the same way the group-commit core does.
import { encodeRecord, Op, recordBytes } from '../src/log/record.js';
import { sealFrame } from '../src/log/frame.js';
import { FRAME_HEADER_BYTES } from '../src/config.js';
import { expect } from 'vitest';
import { decodeFrame } from '../src/log/frame.js';
import type { NodeCore } from '../src/node/core.js';

export interface TestRecord {
  key: string;
  value: string | null;
}

/** `vdlLag`: lsnPrev minus the VDL the sender knew (default: none known, the frame proves nothing acknowledged). */
export function buildFrame(records: TestRecord[], lsnFirst: number, lsnPrev: number, epoch = 1, batchSeq = 1, vdlLag = lsnPrev): Uint8Array {
  const enc = new TextEncoder();
  const parts = records.map((r) => ({ k: enc.encode(r.key), v: r.value === null ? null : enc.encode(r.value) }));
  const payload = parts.reduce((n, p) => n + recordBytes(p.k.length, p.v?.length ?? 0), 0);
  const bytes = new Uint8Array(FRAME_HEADER_BYTES + payload);
  const view = new DataView(bytes.buffer);
  let at = FRAME_HEADER_BYTES;
  parts.forEach((p, i) => {
    at += encodeRecord(bytes, view, at, p.v === null ? Op.DELETE : Op.PUT, i === parts.length - 1, lsnFirst + i, 0, p.k, p.v);
  });
  sealFrame(bytes, view, 0, {
    payloadBytes: payload, recordCount: records.length, epoch, batchSeq, lsnPrev, lsnFirst,
    lsnLast: lsnFirst + records.length - 1, lsnReadMin: 0, vdlLag,
  });
  return bytes;
}

/** Appends one frame of `records` from `lsnFirst` to `core` and acks it (read point: its end); its lsnLast. */
export function ackFrame(core: NodeCore, records: TestRecord[], lsnFirst: number): number {
  const bytes = buildFrame(records, lsnFirst, lsnFirst - 1, 1, lsnFirst);
  const header = decodeFrame(bytes);
  expect(core.receive([{ bytes, header }])).toBe(1);
  core.afterAck(header.lsnLast);
  return header.lsnLast;
}
