// kill -9 torture from the command line (the same runner as test/crash.test.ts):
//   npm run torture -- --cycles 500 [--seed N] [--kill-ms-max 270]
// Power-cut torture over the real file code (src/sim/power-cut.ts, as test/power-cut.test.ts):
//   npm run torture -- --power-cut --cycles 500 [--seed N]
// Prints progress and a summary; exits 1 on any violation, printing the seed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { torture } from '../src/cli/torture.js';
import { runPowerCutTorture } from '../src/sim/power-cut.js';

const { values: a } = parseArgs({
  options: {
    cycles: { type: 'string', default: '50' }, seed: { type: 'string' }, 'kill-ms-max': { type: 'string', default: '270' },
    'power-cut': { type: 'boolean', default: false },
  },
});
const cycles = Number(a.cycles);
const seed = a.seed === undefined ? Date.now() % 1_000_000 : Number(a.seed);
const killMax = Number(a['kill-ms-max']);
for (const n of [cycles, seed, killMax]) if (!Number.isInteger(n) || n <= 0) throw new Error(`bad numeric argument ${n}`);
if (a['power-cut']) {
  const t0 = Date.now();
  const r = runPowerCutTorture({ seed, cycles });
  const st = r.stats;
  for (const v of r.violations) console.log(`VIOLATION: ${v}`);
  console.log(`torture: ${st.volumeCrashes ?? 0} power cuts (seed ${seed}) over the real file code, ${st.acked ?? 0} acknowledged commits ` +
    `(${st.txns ?? 0} transactions issued), ${st.nodesCutWithImages ?? 0} node cuts with page images, ${st.rebuilds ?? 0} rebuilds, ` +
    `${r.violations.length} violations (lost acknowledged writes, partial transactions, values above VDL), ${Math.round((Date.now() - t0) / 1000)} s`);
  if (r.violations.length > 0) console.log(`replay: npm run torture -- --power-cut --cycles ${cycles} --seed ${seed}`);
  process.exit(r.violations.length > 0 ? 1 : 0);
}
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
