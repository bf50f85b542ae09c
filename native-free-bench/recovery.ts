// Crash-recovery timing suite (the code is src/bench/recovery-suite.ts, also `auroral crash-test`):
//   npm run bench:recovery -- [--sizes 64,256,1024] [--keys 16384] [--value-bytes 4096] [--threads 2]
//                             [--process-reps 3] [--warm-only] [--dir DIR]
//                             [--vs-postgres [--pg-reps 1] [--pg-scale 100] [--pg-clients 8]]
// Prints the table and writes docs/recovery-plot.svg (and auroral-results/bench-recovery.json).
// --vs-postgres (src/bench/postgres-recovery.ts) also times PostgreSQL 15's restart after a SIGKILL
// under pgbench load at the same sizes (MB of WAL), prints both, the ratios, and plots both.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../src/cli/args.js';
import { parseRecoveryBenchArgs, recoveryBenchUsage, type RecoveryBenchArgs } from '../src/bench/recovery-args.js';
import { runRecoverySuite } from '../src/bench/recovery-suite.js';
import { recoveryPlot, recoveryTable, vsPostgresTable } from '../src/bench/recovery-report.js';
import { findPostgres, runPostgresRecovery, type PgRecoveryResult } from '../src/bench/postgres-recovery.js';
import { interrupted } from '../src/bench/os-helpers.js';
import { measureThreadFloor, type ThreadFloor } from '../src/bench/thread-floor.js';

function options(): RecoveryBenchArgs {
  try {
    const o = parseRecoveryBenchArgs(process.argv.slice(2));
    if (o.dir !== undefined && !fs.existsSync(o.dir)) throw new UsageError(`--dir ${o.dir} does not exist`);
    return o;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${e.message}\n\n${recoveryBenchUsage}`);
    process.exit(2);
  }
}
const o = options();
if (o.help) {
  console.log(recoveryBenchUsage);
  process.exit(0);
}
const log = (line: string): void => console.log(line);
const skip = (why: string): void => console.log(`\nPostgreSQL comparison skipped: ${why}`);
// Found (or installed) first, so that a run that cannot compare says so before the long part.
const pgSetup = o.vsPostgres ? findPostgres(log) : null;
if (pgSetup !== null && !pgSetup.ok) skip(pgSetup.reason);

async function main(): Promise<void> {
  const base = o.dir === undefined ? {} : { baseDir: o.dir };
  const rows = await runRecoverySuite({ sizes: o.sizes, keys: o.keys, valueBytes: o.valueBytes, threads: o.threads, processReps: o.processReps, cold: o.cold, ...base });
  console.log(`\n${recoveryTable(rows, o.threads)}`);
  // What no engine of seven worker threads can go below here, measured in this run.
  const floor: ThreadFloor = await measureThreadFloor(7, 5);
  console.log(`\nfloor: ${floor.threads} empty worker threads online in ${floor.threadsOnlineMs.toFixed(0)} ms (the least an open can take); `
    + `a new node process with them in ${floor.processWithThreadsMs.toFixed(0)} ms (the least "from fork" can take); median of 5`);

  let pg: PgRecoveryResult | null = null;
  if (pgSetup?.ok === true) {
    pg = await runPostgresRecovery(pgSetup, { sizes: o.sizes, reps: o.pgReps, scale: o.pgScale, clients: o.pgClients, cold: o.cold, ...base });
    if (pg.skipped !== null) skip(pg.skipped);
    else console.log(`\n${vsPostgresTable(rows, pg, o.pgReps, o.processReps)}`);
  }
  fs.mkdirSync('docs', { recursive: true });
  fs.writeFileSync('docs/recovery-plot.svg', recoveryPlot(rows, pg?.skipped === null ? pg.rows : undefined));
  const out = path.join('auroral-results', 'bench-recovery.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), options: o, rows, floor, postgres: pg }, null, 1)}\n`);
  console.log(`plot: docs/recovery-plot.svg\nresults: ${out}`);
}

main().catch((e: unknown) => {
  if (interrupted()) return; // the SIGINT handler is removing what was started, then exits
  console.error(e);
  process.exit(1);
});
