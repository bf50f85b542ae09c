// Per-thread CPU accounting (metrics/thread-cpu.ts): the tid each thread reports is the kernel's,
// its CPU time grows with work done on it, and an interval is split among named threads with the
// rest counted as helpers.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import { cpuBetween, ownTid, readThreadCpu } from '../src/metrics/thread-cpu.js';
import { withDb } from './helpers.js';

const linux = fs.existsSync('/proc/thread-self');

function spin(ms: number): number {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  return x;
}

describe.skipIf(!linux)('thread CPU accounting', () => {
  it('the main thread is the pid; a worker has its own tid, and busy work shows up on it', async () => {
    expect(ownTid()).toBe(process.pid);
    const w = new Worker(`const { parentPort } = require('node:worker_threads'); const fs = require('node:fs');
      const l = fs.readlinkSync('/proc/thread-self'); parentPort.postMessage(Number(l.slice(l.lastIndexOf('/') + 1)));
      // Spins until the kernel has charged it 'ms' of CPU (not wall time: on a loaded machine a
      // thread spinning for 150 ms of wall time may run for much less of it).
      const cpu = () => Number(fs.readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;
      parentPort.on('message', (ms) => { const end = cpu() + ms; const give = Date.now() + 20000; let x = 0; while (cpu() < end && Date.now() < give) for (let i = 0; i < 1e5; i++) x += Math.sqrt(x + 1); parentPort.postMessage(x); });`, { eval: true });
    try {
      const tid = await new Promise<number>((r) => w.once('message', r));
      expect(tid).not.toBe(process.pid);
      const before = readThreadCpu();
      expect(before.has(tid)).toBe(true);
      w.postMessage(150);
      spin(50);
      await new Promise((r) => w.once('message', r));
      const shares = cpuBetween(before, readThreadCpu(), new Map([[process.pid, 'writer'], [tid, 'busy-worker']]));
      const of = (t: string) => shares.find((s) => s.thread === t)!.micros;
      expect(of('busy-worker')).toBeGreaterThanOrEqual(150_000); // what it spun for, by its own reading
      expect(of('busy-worker')).toBeLessThan(10_000_000);
      expect(of('writer')).toBeGreaterThan(0); // its 50 ms of wall-time spin, some of it on a CPU
      expect(shares.map((s) => s.thread)).toEqual(['writer', 'busy-worker', 'helpers']);
    } finally {
      await w.terminate();
    }
  });

  it('db.stats().threads names the writer, the group-commit thread and every node by its tid', async () => {
    await withDb(async (db) => {
      await db.put('k', 'v');
      const threads = db.stats().threads;
      expect(threads.map((t) => t.thread)).toEqual(['writer', 'group-commit', 'node-0', 'node-1', 'node-2', 'node-3', 'node-4', 'node-5']);
      const live = readThreadCpu();
      for (const t of threads) expect(live.has(t.tid)).toBe(true);
      expect(new Set(threads.map((t) => t.tid)).size).toBe(threads.length);
    });
  });
});
