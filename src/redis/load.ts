// Reading the whole dataset back at start-up: every live Auroral key and its value.
//
// The engine's db.scan() (an async iterator of { key, value } at a snapshot) is being built on
// another branch. Until it lands, TEMPORARY FALLBACK (tests only; to be deleted at the merge):
// before open, list candidate keys from every node's files (page images and hot-log records, read
// only), then after open db.get() each one, so only durable, live values come back. Slow (a read
// per key) and it reads node files directly, which is why it must not outlive the merge.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Database } from '../index.js';
import { scanHotLog } from '../log/scanner.js';
import { decodeRecord } from '../log/record.js';
import { FRAME_HEADER_BYTES } from '../config.js';
import { readImages } from '../node/blocks.js';
import { FsHotLog } from '../node/hotlog.js';
import { nodeDir, nodeLogDir } from '../node/paths.js';
import { readVolume } from '../recovery/volume.js';
import { keyId } from '../writer/keys.js';

export interface KeyValue {
  key: Uint8Array;
  value: Uint8Array;
}

type Scannable = Database & { scan?: (opts?: { prefix?: Uint8Array }) => AsyncIterable<KeyValue> };

/** What must be read before open (fallback only; null once db.scan exists). */
export type PreOpen = Map<string, Uint8Array> | null;

export function beforeOpen(dir: string): PreOpen {
  if (typeof (Database.prototype as Partial<Scannable>).scan === 'function') return null;
  return fallbackCandidates(dir);
}

/** Fallback only: remember keys written while serving, so a reload after a failed write sees them. */
export function rememberWrites(pre: PreOpen, ops: readonly { key: string | Uint8Array }[]): void {
  if (pre === null) return;
  for (const o of ops) {
    const k = typeof o.key === 'string' ? Buffer.from(o.key) : o.key;
    const id = keyId(k);
    if (!pre.has(id)) pre.set(id, new Uint8Array(k));
  }
}

/** Every live key of the volume with its value. */
export async function* scanAll(db: Database, pre: PreOpen): AsyncIterable<KeyValue> {
  const s = db as Scannable;
  if (typeof s.scan === 'function') {
    yield* s.scan();
    return;
  }
  if (pre === null) throw new Error('no db.scan() and no fallback candidates');
  const keys = [...pre.values()];
  const width = 256;
  for (let i = 0; i < keys.length; i += width) {
    const part = keys.slice(i, i + width);
    const vals = await Promise.all(part.map((k) => db.get(k)));
    for (let j = 0; j < part.length; j++) if (vals[j] !== undefined) yield { key: part[j]!, value: vals[j]! };
  }
}

function fallbackCandidates(dir: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const v = readVolume(dir);
  if (v === null) return out;
  const add = (k: Uint8Array): void => {
    const id = keyId(k);
    if (!out.has(id)) out.set(id, new Uint8Array(k));
  };
  for (let node = 0; node < v.nodes; node++) {
    const nd = nodeDir(dir, node);
    try {
      const metaPath = path.join(nd, 'meta');
      if (fs.existsSync(metaPath)) {
        const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as { blockSeq: number };
        if (meta.blockSeq >= 0) {
          const file = path.join(nd, 'blocks', `${String(meta.blockSeq).padStart(16, '0')}.blk`);
          readImages(new Uint8Array(fs.readFileSync(file)), (_p, e) => add(e.key));
        }
      }
      if (!fs.existsSync(nodeLogDir(dir, node))) continue;
      const log = new FsHotLog(nodeLogDir(dir, node), v.segmentBytes, 'none', true);
      scanHotLog(log, v.segmentBytes, (f, seg) => {
        const view = new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
        let at = f.position + FRAME_HEADER_BYTES;
        const end = f.position + FRAME_HEADER_BYTES + f.header.payloadBytes;
        for (let i = 0; i < f.header.recordCount && at < end; i++) {
          const r = decodeRecord(seg, view, at, end);
          add(r.key);
          at += r.recordBytes;
        }
      });
    } catch {
      // A damaged node: the others hold every durable key (4 of 6 copies).
    }
  }
  return out;
}
