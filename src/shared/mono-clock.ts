// One monotonic microsecond clock that every thread reads the same way, so a timestamp taken on a
// storage node can be subtracted from one taken on the writer (per-stage metrics).
//
// performance.now() is cheap but counts from each thread's own start, and performance.timeOrigin
// is wall-clock based (it can step between two threads' starts). process.hrtime.bigint() is the
// one process-wide monotonic clock, but it allocates a BigInt per call. So each thread measures
// the offset between the two once (the smallest of a few paired reads) and then pays only for
// performance.now().
import { performance } from 'node:perf_hooks';

function calibrate(): number {
  let best = Number.POSITIVE_INFINITY;
  let offset = 0;
  for (let i = 0; i < 16; i++) {
    const a = performance.now();
    const h = Number(process.hrtime.bigint()) / 1000;
    const b = performance.now();
    if (b - a < best) {
      best = b - a;
      offset = h - ((a + b) / 2) * 1000;
    }
  }
  return offset;
}

const offsetMicros = calibrate();

/** Microseconds on the process-wide monotonic clock (comparable across worker threads). */
export function monoMicros(): number {
  return performance.now() * 1000 + offsetMicros;
}
