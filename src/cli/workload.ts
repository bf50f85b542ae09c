// Closed-loop put workload shared by `auroral` (npm start) and native-free-bench/: `inflight`
// lanes each await one durable put after another for a time window. Latency is recorded per put
// from the moment its lane issued it, into an HDR histogram (microseconds).
import * as hdr from 'hdr-histogram-js';
import { performance } from 'node:perf_hooks';
import { logBucket } from '../metrics/trace.js';

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  // 1 µs .. 60 s at 3 significant digits; pure JS so no WebAssembly start-up is needed.
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

export interface PutTarget {
  put(key: Uint8Array, value: Uint8Array): Promise<unknown>;
}

export interface WindowResult {
  ops: number;
  elapsedMs: number;
}

export const KEY_BYTES = 16;

/** Writes a 16-byte key "k" + 15 decimal digits of `n` into `out`. */
export function fillKey(out: Uint8Array, n: number): Uint8Array {
  out[0] = 0x6b;
  for (let i = KEY_BYTES - 1; i >= 1; i--) {
    out[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return out;
}

export class KeySource {
  private next: number;
  constructor(start = 0) {
    this.next = start;
  }
  take(): Uint8Array {
    return fillKey(new Uint8Array(KEY_BYTES), this.next++);
  }
}

/**
 * Runs `op` in a closed loop from `inflight` lanes for `windowMs`, recording each operation's
 * latency (from its issue) in `hist` when given, and in quarter-octave `buckets` (the report's
 * histograms; see metrics/trace.ts) when given.
 */
export async function runWindow(op: () => Promise<unknown>, inflight: number, windowMs: number, hist: Histogram | null,
  buckets: number[] | null = null): Promise<WindowResult> {
  const start = performance.now();
  const end = start + windowMs;
  let ops = 0;
  const lane = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await op();
      if (hist !== null) {
        const micros = Math.max(1, Math.round((performance.now() - t0) * 1000));
        hist.recordValue(micros);
        if (buckets !== null) buckets[logBucket(micros)]!++;
      }
      ops++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  return { ops, elapsedMs: performance.now() - start };
}

export function runPutWindow(target: PutTarget, inflight: number, windowMs: number, value: Uint8Array, keys: KeySource, hist: Histogram | null): Promise<WindowResult> {
  return runWindow(() => target.put(keys.take(), value), inflight, windowMs, hist);
}
