// The simulator's full scan of one node (every page, chunk by chunk through the cursor, as the
// writer's key-scan.ts asks for them), for the oracle's scan check. Chunks are kept tiny so that
// pages continue from a cursor. (The simulator's 24 keys happen to fall in 24 distinct pages, so a
// page here never holds two live keys: test/scan.test.ts checks the cursor over crowded pages.)
import type { NodeCore } from '../node/core.js';
import { decodeScanChunk } from '../node/scan-chunk.js';

const SIM_SCAN_CHUNK_BYTES_MAX = 128;

export type NodeScanAll =
  | { status: 'ok'; entries: Map<string, Uint8Array>; duplicates: string[] }
  | { status: 'behind' | 'failed' | 'corrupt' };

export function scanAll(core: NodeCore, readPoint: number, pageCount: number): NodeScanAll {
  const entries = new Map<string, Uint8Array>();
  const duplicates: string[] = [];
  const decoder = new TextDecoder();
  for (let pageId = 0; pageId < pageCount; pageId++) {
    let after: Uint8Array | null = null;
    do {
      const r = core.scanPage(pageId, readPoint, new Uint8Array(0), after, SIM_SCAN_CHUNK_BYTES_MAX);
      if (r.status !== 'ok') return { status: r.status };
      for (const e of decodeScanChunk(r.chunk)) {
        const key = decoder.decode(e.key);
        if (entries.has(key)) duplicates.push(key);
        entries.set(key, e.value);
      }
      after = r.after;
    } while (after !== null);
  }
  return { status: 'ok', entries, duplicates };
}
