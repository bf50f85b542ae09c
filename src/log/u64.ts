// LSNs, positions and sequence numbers are JS numbers (exact to 2^53) stored on disk and in
// shared memory as little-endian u64 (lo, hi u32 halves). 2^53 LSNs at 10M/s last 28 years.
import { fail } from '../assert.js';

const TWO32 = 0x1_0000_0000;

export function writeU64(view: DataView, offset: number, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) fail(`u64 out of range: ${value}`);
  view.setUint32(offset, value % TWO32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO32), true);
}

export function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * TWO32 + view.getUint32(offset, true);
}
