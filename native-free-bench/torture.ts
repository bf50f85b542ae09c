// kill -9 torture from the command line (the same runner as test/crash.test.ts):
//   npm run torture -- --cycles 500 [--seed N] [--kill-ms-max 270]
// Prints one line per 10 cycles and a summary; exits 1 on any violation, printing the seed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { torture } from '../src/cli/torture.js';

const { values: a } = parseArgs({
  options: { cycles: { type: 'string', default: '50' }, seed: { type: 'string' }, 'kill-ms-max': { type: 'string', default: '270' } },
});
const cycles = Number(a.cycles);
const seed = a.seed === undefined ? Date.now() % 1_000_000 : Number(a.seed);
const killMax = Number(a['kill-ms-max']);
for (const n of [cycles, seed, killMax]) if (!Number.isInteger(n) || n <= 0) throw new Error(`bad numeric argument ${n}`);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auroral-torture-'));
const t0 = Date.now();
let acked = 0;
let reads = 0;
let violations = 0;
try {
  await torture({
    dir, cycles, seed, killAfterMsMax: killMax,
    // Small segments so coalescing and hot-log GC run (and get killed) within the cycles.
    open: { segmentBytes: 256 * 1024, groupCommit: { batchBytesMax: 32 * 1024 }, mtrBytesMax: 32 * 1024, valueBytesMax: 8 * 1024, nodeRingBytes: 1 << 20, logRingBytes: 1 << 20 },
    onCycle: (r) => {
      acked += r.acked;
      reads += r.readsChecked;
      if (r.lost.length > 0 || r.partial.length > 0) {
        violations++;
        console.log(`cycle ${r.cycle}: LOST ${r.lost.slice(0, 5).join(', ')} PARTIAL ${r.partial.slice(0, 5).join(', ')} (replay: --seed ${seed})`);
      }
      if (r.cycle % 10 === 9) console.log(`${r.cycle + 1}/${cycles} cycles, ${acked} acknowledged writes and ${reads} read values checked, ${violations} violations, ${Math.round((Date.now() - t0) / 1000)} s`);
    },
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`torture: ${cycles} kill -9 cycles (seed ${seed}), ${acked} acknowledged writes and ${reads} read values checked, ${violations} violations, ${Math.round((Date.now() - t0) / 1000)} s`);
if (violations > 0) process.exitCode = 1;
