// Goal: a doorbell that skips Atomics.notify when nobody sleeps on it never loses a wake-up.
// Method: two worker threads ping-pong through two doorbells thousands of times, each parking
// with a long timeout; a lost wake-up would stall a round for the whole timeout.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Control, ctl } from '../src/shared/control.js';

const controlUrl = pathToFileURL(path.resolve('dist/shared/control.js')).href;

function player(sab: SharedArrayBuffer, mine: number, theirs: number, rounds: number, first: boolean): Worker {
  return new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    import(${JSON.stringify(controlUrl)}).then(({ Control }) => {
      const c = new Control(workerData.sab);
      let slowest = 0;
      for (let r = 0; r < workerData.rounds; r++) {
        if (!workerData.first || r > 0) {
          const t0 = performance.now();
          for (;;) { // wait until the other side has rung our doorbell r times
            const seen = Atomics.load(c.i32, workerData.mine);
            if (seen >= r + (workerData.first ? 0 : 1)) break;
            c.park(workerData.mine, seen, 5000, r % 2 === 0 ? 0 : 64); // with and without the spin
          }
          slowest = Math.max(slowest, performance.now() - t0);
        }
        c.ring(workerData.theirs);
      }
      parentPort.postMessage(slowest);
    });`, { eval: true, workerData: { sab, mine, theirs, rounds, first } });
}

describe('doorbells (shared/control.ts)', () => {
  it('never loses a wake-up when rings skip the notify for threads that are awake', async () => {
    const c = new Control();
    const rounds = 3000;
    const a = player(c.sab, ctl.gcDoorbell, ctl.nodeDoorbell(0), rounds, true);
    const b = player(c.sab, ctl.nodeDoorbell(0), ctl.gcDoorbell, rounds, false);
    try {
      const slowest = await Promise.all([a, b].map((w) => new Promise<number>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); })));
      expect(Math.max(...slowest)).toBeLessThan(1000); // a lost wake-up waits out the 5 s timeout
      expect(Atomics.load(c.i32, ctl.gcDoorbell)).toBe(rounds);
      expect(Atomics.load(c.i32, ctl.nodeDoorbell(0))).toBe(rounds);
    } finally {
      await Promise.all([a.terminate(), b.terminate()]);
    }
  }, 60_000);
});
