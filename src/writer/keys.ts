// Keys and values at the API boundary: strings (UTF-8) or bytes, validated against the limits.
import { errors } from '../errors.js';

export function toBytes(name: 'key' | 'value', v: unknown): Uint8Array {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
  throw errors.invalidArgument(name, `must be a string or a Uint8Array, got ${v === null ? 'null' : typeof v}`);
}

/** latin1 maps bytes 1:1 to chars: an exact Map key for arbitrary key bytes. */
export function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}
