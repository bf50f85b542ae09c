// Shared plumbing of the window benchmarks: one tinybench iteration = one fixed time window of a
// closed loop (runWindow); the warm-up window is not measured; the target is made once per case
// and closed after its measured windows. Each case reports ops/s over all windows, the spread of
// ops/s across windows (machine noise) and an HDR latency histogram.
import { Bench } from 'tinybench';
import { newHistogram, runWindow, type Histogram } from '../src/cli/workload.js';

export interface WindowCase {
  name: string;
  inflight: number;
  ops: number;
  elapsedMs: number;
  hist: Histogram;
  /** ops/s of each measured window. */
  windowRates: number[];
}

export interface CaseTarget {
  op: () => Promise<unknown>;
  close: () => Promise<void>;
  /** Called before the first measured window (e.g. to snapshot counters). */
  onRunStart?: () => void;
  /** Called after the last measured window, before close. */
  onRunEnd?: (c: WindowCase) => void;
}

/**
 * Before tinybench's own warm-up window, a case runs until it has done this many operations (or
 * WARMUP_MS_MAX passed). At 1 in flight a 1 s window is ~500 puts: too few for V8 to optimize the
 * hot functions of eight isolates (each compiles its own), and the measured windows then carried
 * TurboFan's compile jobs (~0.4 ms of helper-thread CPU per put) and interpreted code.
 */
const WARMUP_OPS = 5_000;
const WARMUP_MS_MAX = 10_000;

export function windowBench(name: string, windows: number): Bench {
  return new Bench({ name, iterations: windows, time: 0, warmup: true, warmupIterations: 1, warmupTime: 0, throws: true });
}

export function addWindowCase(bench: Bench, name: string, inflight: number, windowMs: number,
  make: () => Promise<CaseTarget>, done: (c: WindowCase) => void): void {
  let t: CaseTarget | null = null;
  const c: WindowCase = { name, inflight, ops: 0, elapsedMs: 0, hist: newHistogram(), windowRates: [] };
  let measuring = false;
  bench.add(`${name} x${inflight}`, async () => {
    const w = await runWindow(t!.op, inflight, windowMs, measuring ? c.hist : null);
    if (measuring) {
      c.ops += w.ops;
      c.elapsedMs += w.elapsedMs;
      c.windowRates.push(w.ops / (w.elapsedMs / 1000));
    }
  }, {
    beforeAll: async (mode) => {
      if (t === null) {
        t = await make();
        const start = performance.now();
        for (let ops = 0; ops < WARMUP_OPS && performance.now() - start < WARMUP_MS_MAX;) ops += (await runWindow(t.op, inflight, 250, null)).ops;
      }
      measuring = mode === 'run';
      if (measuring) t.onRunStart?.();
    },
    afterAll: async (mode) => {
      if (mode !== 'run' || t === null) return;
      t.onRunEnd?.(c);
      await t.close();
      t = null;
      done(c);
    },
  });
}

export const rate = (c: WindowCase): number => c.ops / (c.elapsedMs / 1000);

export const spread = (c: WindowCase): string =>
  `${Math.round(Math.min(...c.windowRates))}..${Math.round(Math.max(...c.windowRates))}`;
