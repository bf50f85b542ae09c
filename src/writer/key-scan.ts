// Key enumeration: every live key of the volume, with its value, as of one read point (a
// snapshot's). For a consumer that must load a whole dataset, e.g. after a restart.
//
// The writer walks pages 0..pageCount-1 and asks a node for each page's live keys at R, in chunks
// of about SCAN_CHUNK_BYTES_MAX (node-reads.ts scanPage); a page too big for one chunk continues
// from a cursor (the last key, in byte order), so a chunk can be retried on, or the page continued
// from, any node. Each key lives in exactly one page and each page's chunks are disjoint and
// ordered by key, so each key comes out exactly once; the order is otherwise unspecified.
//
// Durability: R <= VDL (a snapshot's read point), so every version a scan can see is durable, and
// a write in flight (LSN > VDL >= R) is simply not visible at R. A get at R = VDL waits for a
// write of its key in flight because it promises the newest value; a scan promises the volume as
// of R, which nothing in flight can change, so it never waits. Values are served only by a node
// whose SCL covers R and only after their checksum matched (node-reads.ts); anything else sends
// the chunk to another node (Reader.fromNodes), exactly as for a get.
// Memory: one chunk at a time (the iterator asks for the next one only when the last is consumed).
import { errors } from '../errors.js';
import type { ScanEntry } from '../node/scan-chunk.js';
import type { Key } from './database.js';
import { ownBytes } from './keys.js';
import type { Reader } from './reader.js';

export type { ScanEntry } from '../node/scan-chunk.js';

export interface ScanOptions {
  /** Only keys that start with these bytes (a string is UTF-8). Default: every key. */
  prefix?: Key;
}

/**
 * About this many bytes of keys and values per node answer (a single larger entry comes alone).
 * A node serves a chunk inline in its loop, between appends, so this bounds the stall a scan adds
 * to its commit path, as well as the writer's memory per step of a scan.
 */
export const SCAN_CHUNK_BYTES_MAX = 256 * 1024;

const OPTION_NAMES = new Set(['prefix']);

/** Validates scan options at the call (typed errors naming the option); the prefix, as a private copy. */
export function scanPrefix(options: unknown, keyBytesMax: number): Uint8Array {
  if (options === undefined) return new Uint8Array(0);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw errors.invalidArgument('options', `must be an object like { prefix }, got ${options === null ? 'null' : typeof options}`);
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw errors.invalidArgument(`options.${name}`, 'is not a scan option (known: prefix)');
  }
  const p = (options as ScanOptions).prefix;
  if (p === undefined) return new Uint8Array(0);
  const prefix = ownBytes('options.prefix', p);
  if (prefix.length > keyBytesMax) throw errors.invalidArgument('options.prefix', `is ${prefix.length} bytes, limit is keyBytesMax=${keyBytesMax}`);
  return prefix;
}

/**
 * Every live key starting with `prefix` as of `readPoint`, with its value. `stillValid` runs
 * before each chunk is asked for and throws if the read point may no longer be read (its
 * snapshot was released): it must hold from that check to the request (both in one tick).
 */
export async function* scanAt(reader: Reader, readPoint: number, prefix: Uint8Array, stillValid: () => void): AsyncGenerator<ScanEntry, void, undefined> {
  for (let pageId = 0; pageId < reader.pageCount; pageId++) {
    let after: Uint8Array | null = null;
    do {
      stillValid();
      const chunk: { entries: ScanEntry[]; after: Uint8Array | null } = await reader.scanPage(pageId, readPoint, prefix, after, SCAN_CHUNK_BYTES_MAX);
      yield* chunk.entries;
      after = chunk.after;
    } while (after !== null);
  }
}
