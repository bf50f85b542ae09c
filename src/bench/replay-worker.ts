// Piscina task of the full-replay baseline: replays one byte range of a redo log (whole frames) the
// way an engine without Aurora's storage must at restart: read, check every frame's CRC, decode
// every record and apply it to the key's state. Returns the key -> last value map of its range.
// The range is read in chunks (one read of a range over 2 GiB fails: at 4 GB written and 2
// threads each range is that large), keeping a frame cut by a chunk's end for the next chunk.
import * as fs from 'node:fs';
import { checkFrame, forEachRecord } from '../log/frame.js';
import { FRAME_HEADER_BYTES } from '../config.js';

const CHUNK_BYTES = 64 << 20;

export default function replay({ file, start, end, chunkBytes = CHUNK_BYTES }: { file: string; start: number; end: number; chunkBytes?: number }):
  { applied: number; state: Map<string, Uint8Array | null> } {
  const fd = fs.openSync(file, 'r');
  const state = new Map<string, Uint8Array | null>();
  let applied = 0;
  try {
    let buf = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(end - start, 1)));
    let have = 0; // bytes of buf holding the file from `base` on
    let base = start;
    while (base < end) {
      // Fill the buffer (after the kept tail of a cut frame) as far as the range goes.
      const want = Math.min(buf.length - have, end - base - have);
      for (let got = 0; got < want;) {
        const n = fs.readSync(fd, buf, have + got, want - got, base + have + got);
        if (n === 0) throw new Error(`replay: ${file} ends at ${base + have + got}, before ${end}`);
        got += n;
      }
      have += want;
      const view = new DataView(buf.buffer, buf.byteOffset, have);
      let pos = 0;
      while (pos + FRAME_HEADER_BYTES <= have) {
        const frameBytes = FRAME_HEADER_BYTES + buf.readUInt32LE(pos + 8);
        if (pos + frameBytes > have) break;
        const c = checkFrame(buf, view, pos, have, 1 << 30);
        if (!c.ok) throw new Error(`replay: bad frame at ${base + pos}: ${c.why}`);
        forEachRecord(buf, view, pos, c.header, (r) => {
          // A copy: the buffer is reused for the next chunk (and Buffer#slice would only be a view).
          state.set(Buffer.from(r.key).toString('latin1'), r.value === null ? null : new Uint8Array(r.value));
          applied++;
        });
        pos += frameBytes;
      }
      if (pos === 0 && have === buf.length) {
        // One frame larger than the buffer: grow it.
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
        continue;
      }
      if (pos === 0 && base + have >= end) throw new Error(`replay: a cut frame at ${base} ends the range`);
      buf.copyWithin(0, pos, have);
      have -= pos;
      base += pos;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { applied, state };
}
