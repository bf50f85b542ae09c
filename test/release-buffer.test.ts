// Goal: releaseArrayBuffer frees a buffer's memory at once, in a thread that does not run its
// event loop (a node thread parked in Atomics.wait), without waiting for a GC.
// Method: a worker fills 200 MiB of ArrayBuffers, releases them and blocks; this thread reads the
// process's RSS before and after. With only the far end of the sink closed the buffers stayed in
// that port's queue until the worker's event loop ran (RSS unchanged: checked).
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { releaseArrayBuffer } from '../src/shared/release-buffer.js';

const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

const SOURCE = `
  const { workerData } = require('node:worker_threads');
  const flag = workerData.flag;
  const step = (n) => { Atomics.store(flag, 0, n); Atomics.notify(flag, 0); while (Atomics.load(flag, 0) === n) Atomics.wait(flag, 0, n, 50); };
  import(workerData.module).then(({ releaseArrayBuffer }) => {
    const bufs = [];
    for (let i = 0; i < 50; i++) bufs.push(new Uint8Array(4 << 20).fill(1).buffer);
    step(1); // filled: wait for the reading
    for (const b of bufs) releaseArrayBuffer(b);
    Atomics.store(flag, 1, bufs.every((b) => b.byteLength === 0) ? 1 : 2);
    step(3); // released, event loop not run: wait for the reading
  });
`;

async function until(flag: Int32Array, n: number): Promise<void> {
  while (Atomics.load(flag, 0) !== n) await new Promise((r) => setTimeout(r, 10));
}

describe('releaseArrayBuffer', () => {
  it('detaches the buffer (views read as empty) and leaves a SharedArrayBuffer alone', () => {
    const u8 = new Uint8Array(1024).fill(7);
    const view = u8.subarray(10, 20);
    releaseArrayBuffer(u8.buffer);
    expect(u8.buffer.byteLength).toBe(0);
    expect(view.length).toBe(0);
    const shared = new Uint8Array(new SharedArrayBuffer(64)).fill(3);
    releaseArrayBuffer(shared.buffer);
    expect(shared[0]).toBe(3);
  });

  it('gives the memory back at once in a thread that never runs its event loop', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const module = pathToFileURL(path.resolve('dist/shared/release-buffer.js')).href;
    const w = new Worker(SOURCE, { eval: true, workerData: { flag, module } });
    try {
      await until(flag, 1);
      const filled = rss();
      Atomics.store(flag, 0, 2);
      Atomics.notify(flag, 0);
      await until(flag, 3);
      const released = rss();
      expect(Atomics.load(flag, 1)).toBe(1);
      expect(filled - released).toBeGreaterThan(100 * 2 ** 20);
    } finally {
      Atomics.store(flag, 0, 4);
      Atomics.notify(flag, 0);
      await w.terminate();
    }
  });
});
