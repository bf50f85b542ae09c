// Child process of the recovery benchmark: opens the volume, overwrites a fixed key space with
// deterministic values until `megabytes` of values are acknowledged, reports that over IPC, and
// then idles until the parent kills it with SIGKILL (nothing is closed or flushed).
//   argv: <dir> <megabytes> <keys> <valueBytes> <options JSON>
import { open } from '../index.js';

/** The value the i-th write carries (the benchmark's full-replay log is generated from the same rule). */
export function fillValue(i: number, bytes: number): Uint8Array {
  const v = new Uint8Array(bytes);
  new DataView(v.buffer).setUint32(0, i, true);
  for (let k = 4; k < bytes; k += 64) v[k] = (i * 31 + k) & 0xff;
  return v;
}

export const fillKey = (i: number, keys: number): string => `key-${i % keys}`;

async function main(): Promise<void> {
  const [dir, mbText, keysText, valueText, optionsJson] = process.argv.slice(2);
  if (dir === undefined || mbText === undefined || keysText === undefined || valueText === undefined || optionsJson === undefined || process.send === undefined) {
    throw new Error('fill: usage: <dir> <megabytes> <keys> <valueBytes> <options JSON>, started with an IPC channel');
  }
  const keys = Number(keysText);
  const valueBytes = Number(valueText);
  const writes = Math.ceil((Number(mbText) * 1024 * 1024) / valueBytes);
  const db = await open({ dir, ...JSON.parse(optionsJson) });
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < writes; i = next++) await db.put(fillKey(i, keys), fillValue(i, valueBytes));
  };
  await Promise.all(Array.from({ length: 256 }, lane));
  process.send({ filled: writes, vdl: db.vdl });
  setInterval(() => {}, 1 << 30); // wait for SIGKILL
}

if (process.argv[1]?.endsWith('fill.js')) void main();
