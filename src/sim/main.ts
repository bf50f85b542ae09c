// npm run sim -- --seeds 1000        run seeds 1..1000 (or --from S)
// npm run sim -- --seed 42           replay one seed exactly, with its statistics
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { replayCommand, runSeed, simDefaults, type SimRunOptions } from './run.js';

function main(): number {
  let args;
  try {
    args = parseArgs({
      options: {
        seeds: { type: 'string', default: '1000' },
        from: { type: 'string', default: '1' },
        seed: { type: 'string' },
        'fault-ms': { type: 'string', default: String(simDefaults.faultMillis) },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`auroral sim: ${(e as Error).message}`);
    return 2;
  }
  if (args.help) {
    console.log('usage: npm run sim -- [--seeds N] [--from S] [--seed N] [--fault-ms MS]');
    return 0;
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  let o: SimRunOptions;
  let seeds: number[];
  try {
    o = { ...simDefaults, faultMillis: int('fault-ms', args['fault-ms']!, 1) };
    seeds = args.seed !== undefined ? [int('seed', args.seed, 0)]
      : Array.from({ length: int('seeds', args.seeds!, 1) }, (_, i) => int('from', args.from!, 0) + i);
  } catch (e) {
    console.error(`auroral sim: ${(e as Error).message}`);
    return 2;
  }
  const t0 = performance.now();
  const totals: Record<string, number> = {};
  const failed: number[] = [];
  for (const seed of seeds) {
    const r = runSeed(seed, o);
    for (const [k, v] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + v;
    if (r.violations.length > 0) {
      failed.push(seed);
      console.log(`seed ${seed}: ${r.violations.length} violation(s)`);
      for (const v of r.violations) console.log(`  - ${v}`);
      console.log(`  replay: ${replayCommand(seed, o)}`);
    }
    if (seeds.length === 1) console.log(r.stats);
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(`${seeds.length} seed(s) in ${secs.toFixed(1)} s, ${failed.length} with violations` +
    ` (${seeds.length === 1 ? 'seed' : 'seeds'} ${seeds[0]}${seeds.length > 1 ? `..${seeds[seeds.length - 1]}` : ''})`);
  if (seeds.length > 1) {
    const show = ['acked', 'timedOut', 'txns', 'reads', 'nodeCrashes', 'nodeKills', 'volumeCrashes', 'failovers', 'eio', 'enospc', 'bitFlips', 'rebuilds', 'framesDropped', 'zombieFramesFenced', 'segmentHintsLoaded', 'blockHintsLoaded', 'framesIndexedOnRead'];
    console.log(show.map((k) => `${k} ${totals[k] ?? 0}`).join(', '));
  }
  return failed.length > 0 ? 1 : 0;
}

process.exitCode = main();
