// Keys and values at the API boundary: strings (UTF-8) or bytes, validated against the limits.
//
// Copy what you keep: the engine uses a key or value after the call returns (a transaction's writes
// until it commits, an MTR blocked on LSNs or ring space until it is encoded, a read waiting for a
// write in flight, the page cache), and a caller may reuse its buffer as soon as the call returns.
// So every key and value that crosses the API is taken with ownBytes(), at the call.
import { errors } from '../errors.js';

/** The caller's string or bytes, as bytes the engine owns: a fresh encoding or a private copy. */
export function ownBytes(name: 'key' | 'value' | 'options.prefix', v: unknown): Uint8Array {
  if (typeof v === 'string') return Buffer.from(v, 'utf8'); // fresh; nobody else holds it
  if (v instanceof Uint8Array) return copyBytes(v);
  throw errors.invalidArgument(name, `must be a string or a Uint8Array, got ${v === null ? 'null' : typeof v}`);
}

/**
 * The caller's string or bytes as bytes, without a copy of a Uint8Array: only for bytes used
 * before the call returns (a single put encoded at once; commit() copies what must wait). Bytes
 * in a SharedArrayBuffer are copied all the same: another thread may change them between the
 * reads of one encode (the value's checksum, the copy into the ring, the cache), and an
 * acknowledged record whose value fails its own checksum could never be read.
 */
export function borrowBytes(name: 'key' | 'value', v: unknown): Uint8Array {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v.buffer instanceof SharedArrayBuffer ? copyBytes(v) : v;
  throw errors.invalidArgument(name, `must be a string or a Uint8Array, got ${v === null ? 'null' : typeof v}`);
}

/** One char per byte (latin1): an exact Map key for arbitrary key bytes. */
export function keyId(key: Uint8Array): string {
  // fromCharCode.apply is ~2.5x faster than a Buffer round trip for short keys; long keys go
  // through Buffer (apply's argument count is bounded).
  if (key.length <= 1024) return String.fromCharCode.apply(null, key as unknown as number[]);
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/**
 * A private copy of `bytes` as a plain Uint8Array. Not `.slice()`: on a Buffer that returns a view
 * of the same memory, so a caller could change what the cache holds.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
