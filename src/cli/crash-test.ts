// `auroral crash-test`: the crash-recovery timing suite (src/bench/recovery-suite.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runRecoverySuite } from '../bench/recovery-suite.js';
import { recoveryPlot, recoveryTable } from '../bench/recovery-report.js';
import { intFlag, parseFlags, UsageError } from './args.js';

export const crashTestUsage = `usage: auroral crash-test [--sizes MB,MB,...] [--keys N] [--value-bytes N] [--threads N] [--cold] [--out DIR]

For each size: a child process writes that many MB of values to a fresh volume and is killed with
SIGKILL mid-flight. Then it times, on the same data: process restart (open + first read in a new
process, median of 3; with --cold once more with the page cache dropped), node
restart (crash one node under load, until it caught up), writer restart (kill the writer, attach a
new one, first read) and a full-replay baseline (read, CRC-check and apply the whole redo log, the
way an engine without Aurora's storage restarts). Prints a table; writes recovery.json and an SVG plot.
  --sizes MB,...     megabytes written before each crash (default 64,256,1024)
  --keys N           key space overwritten (default 16384)
  --value-bytes N    value size (default 4096)
  --threads N        threads of the full-replay baseline (default 2)
  --cold             also time a process restart with the page cache dropped (root; this drops the
                     whole machine's page cache)
  --out DIR          where recovery.json and recovery-plot.svg go (default auroral-results/crash-test)
  --dir DIR          parent of the temporary volume directories (default: the OS temp dir)`;

export async function crashTest(args: string[]): Promise<void> {
  const { values: a } = parseFlags(args, {
    sizes: { type: 'string' }, keys: { type: 'string' }, 'value-bytes': { type: 'string' }, threads: { type: 'string' },
    out: { type: 'string' }, dir: { type: 'string' }, cold: { type: 'boolean' },
  });
  if (a.help === true) {
    console.log(crashTestUsage);
    return;
  }
  const sizes = (a.sizes ?? '64,256,1024').split(',').map((s) => intFlag('sizes', s.trim(), 0, 1, 64 * 1024));
  const keys = intFlag('keys', a.keys, 16384, 1, 10_000_000);
  const valueBytes = intFlag('value-bytes', a['value-bytes'], 4096, 8, 1 << 20);
  const threads = intFlag('threads', a.threads, 2, 1, 64);
  if (a.dir !== undefined && !fs.existsSync(a.dir)) throw new UsageError(`--dir ${a.dir} does not exist`);
  const out = path.resolve(a.out ?? path.join('auroral-results', 'crash-test'));
  const rows = await runRecoverySuite({ sizes, keys, valueBytes, threads, cold: a.cold === true, ...(a.dir === undefined ? {} : { baseDir: a.dir }) });
  console.log(`\n${recoveryTable(rows, threads)}`);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'recovery.json'), `${JSON.stringify({ date: new Date().toISOString(), keys, valueBytes, threads, rows }, null, 1)}\n`);
  fs.writeFileSync(path.join(out, 'recovery-plot.svg'), recoveryPlot(rows));
  console.log(`results: ${path.join(out, 'recovery.json')}\nplot:    ${path.join(out, 'recovery-plot.svg')}`);
}
