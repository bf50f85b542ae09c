// Crash-recovery timing suite (the code is src/bench/recovery-suite.ts, also `auroral crash-test`):
//   npm run bench:recovery -- [--sizes 64,256,1024] [--keys 16384] [--value-bytes 4096] [--threads 2]
// Prints the table and writes docs/recovery-plot.svg.
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { recoveryPlot, recoveryTable, runRecoverySuite } from '../src/bench/recovery-suite.js';

const { values: a } = parseArgs({
  options: {
    sizes: { type: 'string', default: '64,256,1024' }, keys: { type: 'string', default: '16384' },
    'value-bytes': { type: 'string', default: '4096' }, threads: { type: 'string', default: '2' },
  },
});
const num = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got '${v}'`);
  return n;
};
const threads = num('threads', a.threads!);
const rows = await runRecoverySuite({
  sizes: a.sizes!.split(',').map((s) => num('sizes', s)), keys: num('keys', a.keys!), valueBytes: num('value-bytes', a['value-bytes']!), threads,
});
console.log(`\n${recoveryTable(rows, threads)}`);
fs.mkdirSync('docs', { recursive: true });
fs.writeFileSync('docs/recovery-plot.svg', recoveryPlot(rows));
console.log('plot: docs/recovery-plot.svg');
