// Overwrite soak: endless overwrites of a fixed key set; samples every node's disk use (hot log +
// blocks) once a second and reports the maximum against the bound the design promises:
// per node <= 4 x live data + 5 segments. Not part of `npm test` (it runs for minutes).
//
//   npm run soak:overwrite -- [--seconds 300] [--keys 20000] [--value-bytes 100] [--segment-mib 4]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';
import { fillKey, KEY_BYTES, runWindow } from '../src/cli/workload.js';

const { values: a } = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    keys: { type: 'string', default: '20000' },
    'value-bytes': { type: 'string', default: '100' },
    'segment-mib': { type: 'string', default: '4' },
  },
});
const seconds = Number(a.seconds);
const KEYS = Number(a.keys);
const valueBytes = Number(a['value-bytes']);
const segmentBytes = Number(a['segment-mib']) << 20;
for (const n of [seconds, KEYS, valueBytes, segmentBytes]) if (!Number.isInteger(n) || n <= 0) throw new Error(`bad numeric argument ${n}`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auroral-soak-'));
const db = await open({ dir, segmentBytes, mtrBytesMax: 1 << 20, valueBytesMax: 64 << 10 });
const value = new Uint8Array(valueBytes).fill(0x63);
const key = (n: number) => fillKey(new Uint8Array(KEY_BYTES), n);
const nodeBytes = (i: number) => {
  let total = 0;
  for (const sub of ['log', 'blocks']) {
    const d = path.join(dir, `node-${i}`, sub);
    for (const f of fs.readdirSync(d)) total += fs.statSync(path.join(d, f)).size;
  }
  return total;
};
// Live data per node: each key's newest version in an image (16-byte entry header + key + value).
const live = KEYS * (16 + KEY_BYTES + valueBytes);
const bound = 4 * live + 5 * segmentBytes;
let seed = 7;
const random = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % KEYS;
};
try {
  for (let at = 0; at < KEYS; at += 1000) await Promise.all(Array.from({ length: Math.min(1000, KEYS - at) }, (_, i) => db.put(key(at + i), value)));
  let maxBytes = 0;
  let puts = 0;
  const sampler = setInterval(() => {
    for (let i = 0; i < db.config.nodes; i++) maxBytes = Math.max(maxBytes, nodeBytes(i));
  }, 1000);
  const t0 = Date.now();
  for (let s = 0; s < seconds; s += 10) {
    const w = await runWindow(() => db.put(key(random()), value), 64, Math.min(10, seconds - s) * 1000, null);
    puts += w.ops;
    const n = db.stats().nodes;
    console.log(`${Math.round((Date.now() - t0) / 1000)} s: ${puts} puts, max node bytes so far ${maxBytes} (bound ${bound}), ` +
      `cycles/node ${Math.round(n.reduce((x, y) => x + y.coalesceCycles, 0) / n.length)}, segments deleted/node ${Math.round(n.reduce((x, y) => x + y.segmentsDeleted, 0) / n.length)}`);
  }
  clearInterval(sampler);
  const written = puts * (valueBytes + KEY_BYTES + 32);
  console.log(`\nsoak: ${seconds} s, ${puts} overwrites of ${KEYS} keys (${(written / 1e6).toFixed(0)} MB of redo per node, ${(written / live).toFixed(0)}x live data)`);
  console.log(`max disk per node ${(maxBytes / 1e6).toFixed(2)} MB; bound 4 x live (${(live / 1e6).toFixed(2)} MB) + 5 segments = ${(bound / 1e6).toFixed(2)} MB: ${maxBytes <= bound ? 'within' : 'EXCEEDED'}`);
  if (maxBytes > bound) process.exitCode = 1;
} finally {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
