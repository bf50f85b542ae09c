// Options of `npm run bench:recovery` (native-free-bench/recovery.ts), parsed and checked here so
// that a bad value is refused with a message naming the flag before anything is written.
import { intFlag, parseFlags, UsageError } from '../cli/args.js';

export const recoveryBenchUsage = `usage: npm run bench:recovery -- [options]
  --sizes MB,...       MB written before each SIGKILL (default 64,256,1024; with --vs-postgres 64,1024,4096)
  --keys N             key space overwritten (default 16384)
  --value-bytes N      value size (default 4096)
  --threads N          threads of the full-replay baseline (default 2)
  --process-reps N     warm process restarts per size, median (default 3)
  --warm-only          no cold figures (they drop the whole machine's page cache, as root)
  --dir DIR            parent of the temporary directories (default: the OS temp dir)
  --vs-postgres        also time PostgreSQL 15's crash recovery after as many MB of WAL (installs
                       postgresql-15 from Debian when root and missing; skipped, saying why, where
                       it cannot be had)
  --pg-reps N          PostgreSQL restarts per size, warm and cold each, median (default 1)
  --pg-scale N         pgbench scale of the PostgreSQL database (default 100)
  --pg-clients N       pgbench clients of the load (default 8)`;

export interface RecoveryBenchArgs {
  help: boolean;
  sizes: number[];
  keys: number;
  valueBytes: number;
  threads: number;
  processReps: number;
  cold: boolean;
  dir: string | undefined;
  vsPostgres: boolean;
  pgReps: number;
  pgScale: number;
  pgClients: number;
}

/** Largest size, MB: a 64 GB load is hours of pgbench and that much disk, twice. */
const SIZE_MB_MAX = 64 * 1024;

export function parseRecoveryBenchArgs(args: string[]): RecoveryBenchArgs {
  const { values: a } = parseFlags(args, {
    sizes: { type: 'string' }, keys: { type: 'string' }, 'value-bytes': { type: 'string' }, threads: { type: 'string' },
    'process-reps': { type: 'string' }, 'warm-only': { type: 'boolean' }, dir: { type: 'string' },
    'vs-postgres': { type: 'boolean' }, 'pg-reps': { type: 'string' }, 'pg-scale': { type: 'string' }, 'pg-clients': { type: 'string' },
  });
  const vsPostgres = a['vs-postgres'] === true;
  if (!vsPostgres) {
    for (const f of ['pg-reps', 'pg-scale', 'pg-clients'] as const) if (a[f] !== undefined) throw new UsageError(`--${f} needs --vs-postgres`);
  }
  const sizesText = a.sizes ?? (vsPostgres ? '64,1024,4096' : '64,256,1024');
  const sizes = sizesText.split(',').map((s) => intFlag('sizes', s.trim(), 0, 1, SIZE_MB_MAX));
  if (new Set(sizes).size !== sizes.length) throw new UsageError(`--sizes must not repeat a size, got '${sizesText}'`);
  return {
    help: a.help === true,
    sizes,
    keys: intFlag('keys', a.keys, 16384, 1, 10_000_000),
    valueBytes: intFlag('value-bytes', a['value-bytes'], 4096, 8, 1 << 20),
    threads: intFlag('threads', a.threads, 2, 1, 64),
    processReps: intFlag('process-reps', a['process-reps'], 3, 1, 100),
    cold: a['warm-only'] !== true,
    dir: a.dir,
    vsPostgres,
    pgReps: intFlag('pg-reps', a['pg-reps'], 1, 1, 20),
    pgScale: intFlag('pg-scale', a['pg-scale'], 100, 1, 10_000),
    pgClients: intFlag('pg-clients', a['pg-clients'], 8, 1, 256),
  };
}
