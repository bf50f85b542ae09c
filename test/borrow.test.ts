// Goal: a put may borrow the caller's bytes only while it encodes them at once; a put that has to
// wait (LSNs, ring space) keeps its own copy, so a caller reusing its buffer right after the call
// never changes what is written.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { borrowBytes } from '../src/writer/keys.js';
import { withDb } from './helpers.js';

describe('puts and the caller buffers', () => {
  it('a put blocked behind the LAL writes the bytes given at the call, not what the buffer holds later', async () => {
    await withDb(async (db) => {
      db.faults.pauseNode(0);
      db.faults.pauseNode(1);
      db.faults.pauseNode(2); // no write quorum: LSNs run out at the LAL and later puts wait (blocked)
      const key = new Uint8Array([107, 48]); // "k0"
      const value = new Uint8Array([1, 2, 3]);
      const pending: Promise<number>[] = [];
      for (let i = 0; i < 40; i++) {
        key[1] = 48 + (i % 10);
        value[0] = i;
        pending.push(db.put(key, value));
        key[1] = 0x7a; // the caller reuses its buffers at once
        value[0] = 255;
      }
      db.faults.resumeNode(0);
      db.faults.resumeNode(1);
      db.faults.resumeNode(2);
      await Promise.all(pending);
      for (let d = 0; d < 10; d++) {
        const got = await db.get(`k${d}`);
        expect(got && [...got]).toEqual([30 + d, 2, 3]); // the last put of each key, as given
      }
      expect(await db.get('kz')).toBeUndefined();
    }, { lsnAllocationLimit: 16 });
  });

  it('never borrows bytes in a SharedArrayBuffer: another thread may change them mid-encode', () => {
    const plain = new Uint8Array([1, 2, 3]);
    expect(borrowBytes('value', plain)).toBe(plain);
    const shared = new Uint8Array(new SharedArrayBuffer(8), 2, 3);
    const b = borrowBytes('value', shared);
    expect(b).not.toBe(shared);
    expect(b.buffer instanceof SharedArrayBuffer).toBe(false);
  });

  it('every acknowledged put of a SharedArrayBuffer value another thread keeps changing reads back (its checksum holds)', async () => {
    const sab = new SharedArrayBuffer(16 * 1024);
    const stop = new Int32Array(new SharedArrayBuffer(8));
    const w = new Worker(`const { workerData } = require('node:worker_threads');
      const b = new Uint8Array(workerData.sab); const stop = new Int32Array(workerData.stop); let x = 0;
      Atomics.store(stop, 1, 1);
      while (Atomics.load(stop, 0) === 0) { for (let i = 0; i < b.length; i += 64) b[i] = x & 255; x += 3; }`,
    { eval: true, workerData: { sab, stop: stop.buffer } });
    try {
      await withDb(async (db) => {
        while (Atomics.load(stop, 1) === 0) await new Promise((r) => setTimeout(r, 5));
        const value = new Uint8Array(sab, 0, 15 * 1024);
        for (let j = 0; j < 160; j += 20) await Promise.all(Array.from({ length: 20 }, (_, i) => db.put(`k${j + i}`, value)));
        Atomics.store(stop, 0, 1);
        const snap = db.snapshot(); // the cache is off: every read goes to a node and checks the value's checksum
        try {
          for (let i = 0; i < 160; i++) expect((await snap.get(`k${i}`))?.length).toBe(15 * 1024);
        } finally {
          snap.release();
        }
        expect(db.stats().nodes.every((n) => n.readsCorrupt === 0)).toBe(true);
      }, { cacheBytesMax: 0 });
    } finally {
      Atomics.store(stop, 0, 1);
      await w.terminate();
    }
  }, 60_000);
});
