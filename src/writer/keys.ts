// Keys and values at the API boundary: strings (UTF-8) or bytes, validated against the limits.
import { errors } from '../errors.js';

export function toBytes(name: 'key' | 'value', v: unknown): Uint8Array {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
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
