// Piscina task of the full-replay baseline: replays one byte range of a redo log (whole frames) the
// way an engine without Aurora's storage must at restart: read, check every frame's CRC, decode
// every record and apply it to the key's state. Returns the key -> last value map of its range.
import * as fs from 'node:fs';
import { checkFrame, forEachRecord } from '../log/frame.js';

export default function replay({ file, start, end }: { file: string; start: number; end: number }): { applied: number; state: Map<string, Uint8Array | null> } {
  const fd = fs.openSync(file, 'r');
  const bytes = Buffer.allocUnsafe(end - start);
  try {
    let at = 0;
    while (at < bytes.length) at += fs.readSync(fd, bytes, at, bytes.length - at, start + at);
  } finally {
    fs.closeSync(fd);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const state = new Map<string, Uint8Array | null>();
  let applied = 0;
  for (let pos = 0; pos < bytes.length;) {
    const c = checkFrame(bytes, view, pos, bytes.length, 1 << 30);
    if (!c.ok) throw new Error(`replay: bad frame at ${start + pos}: ${c.why}`);
    forEachRecord(bytes, view, pos, c.header, (r) => {
      state.set(Buffer.from(r.key).toString('latin1'), r.value === null ? null : r.value.slice());
      applied++;
    });
    pos += 64 + c.header.payloadBytes;
  }
  return { applied, state };
}
