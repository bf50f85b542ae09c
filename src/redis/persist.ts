// How the keyspace is laid out in Auroral keys: effects, not commands. Every Auroral key is
// <tag><u16 user-key length><user key><suffix>, so any user key (binary, empty) is unambiguous
// and all records of one user key share a prefix. One element of a collection is one Auroral key,
// so changing it logs that element only:
//   'v' key            -> string value
//   'e' key            -> expiry, absolute unix ms (f64 BE); absent when the key has no TTL
//   'h' key field      -> hash field value
//   'l' key pos(f64)   -> list element at position pos (order by pos; pushes take head-1 / tail+1)
//   's' key member     -> '' (set member)
//   'z' key member     -> score (f64 BE)
// A collection has no record of its own: its elements name its type, and it exists while it has one.
// Keys starting with byte 0 are the server's own: the journal of a command too big for one MTR
// (journal.ts) and the probe below.
import { recordBytes } from '../log/record.js';
import type { BatchOp } from '../index.js';

export const Tag = { STRING: 0x76, EXPIRE: 0x65, HASH: 0x68, LIST: 0x6c, SET: 0x73, ZSET: 0x7a } as const;
export type Tag = (typeof Tag)[keyof typeof Tag];

/**
 * Written after a failed write to learn when the log is whole again: once it is durable, so is
 * every LSN below it (VDL is contiguous). Not a layout key (tag 0): the reload skips it.
 */
export const PROBE_KEY = Buffer.from([0, 0xff, 0xff, ...Buffer.from('auroral-redis probe')]);

/** The engine's key and value limits below which the server's own records (PROBE_KEY and its
 * 13-digit time, a journal's 10-byte chunk keys and 8-byte commit value) could not be written. */
export const SERVER_KEY_BYTES_MIN = PROBE_KEY.length;
export const SERVER_VALUE_BYTES_MIN = 16;

/** Bytes an Auroral key adds around the user key and suffix. */
export const KEY_OVERHEAD = 3;

export function akey(tag: Tag, key: Buffer, suffix?: Buffer): Buffer {
  const sl = suffix === undefined ? 0 : suffix.length;
  const b = Buffer.allocUnsafe(KEY_OVERHEAD + key.length + sl);
  b[0] = tag;
  b.writeUInt16BE(key.length, 1);
  key.copy(b, KEY_OVERHEAD);
  if (suffix !== undefined) suffix.copy(b, KEY_OVERHEAD + key.length);
  return b;
}

export function f64(x: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleBE(x, 0);
  return b;
}

export interface DecodedKey {
  tag: number;
  key: Buffer;
  suffix: Buffer;
}

/** null for a key this layout did not write. */
export function decodeAkey(b: Uint8Array): DecodedKey | null {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length < KEY_OVERHEAD) return null;
  const n = buf.readUInt16BE(1);
  if (KEY_OVERHEAD + n > buf.length) return null;
  return { tag: buf[0]!, key: buf.subarray(KEY_OVERHEAD, KEY_OVERHEAD + n), suffix: buf.subarray(KEY_OVERHEAD + n) };
}

const EMPTY = Buffer.alloc(0);

/**
 * The effects of one command (or one EXEC, or one expiry cycle): the Auroral writes that make
 * the durable state match the in-memory one, and the user keys they touch (tracked until durable).
 */
export class Effects {
  readonly ops: BatchOp[] = [];
  /** keyId (latin1) of every user key written. */
  readonly keys = new Set<string>();
  /** True once a command's own write is here (not only lazy-expiry deletions): its reply waits. */
  written = false;
  bytes = 0;

  put(k: Buffer, v: Buffer, id: string): void {
    this.ops.push({ type: 'put', key: k, value: v });
    this.keys.add(id);
    this.bytes += recordBytes(k.length, v.length); // what the engine counts against mtrBytesMax
  }

  del(k: Buffer, id: string): void {
    this.ops.push({ type: 'del', key: k });
    this.keys.add(id);
    this.bytes += recordBytes(k.length, 0);
  }

  static readonly empty = EMPTY;
}
