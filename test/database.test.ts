// Goal: the public API keeps the durability contract end to end on real threads and files.
// Method: open real volumes in temp dirs with small segments; drive puts, gets and transactions;
// pause/crash nodes through db.faults; reopen.
import { describe, expect, it, vi } from 'vitest';
import { open, isAuroralError, Volume, type Database } from '../src/index.js';
import { errors } from '../src/errors.js';
import { putEventually, smallOptions, tempDir, text, withDb } from './helpers.js';

/** Worker threads and message ports this process holds (each open volume holds 7+ of each). */
const threadHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;

/**
 * A put under a short commitTimeoutMs, retried while its outcome is unknown (QUORUM_UNAVAILABLE:
 * a loaded machine can take longer than the timeout for a healthy commit; a put is idempotent).
 */

async function settle(db: Database, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const s = db.stats();
    if (s.nodes.every((n) => n.scl >= s.vdl)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('database', () => {
  it('acknowledges 10K concurrent puts and reads every one back, also after reopen', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    const N = 10_000;
    const lsns = await Promise.all(Array.from({ length: N }, (_, i) => db.put(`key-${i}`, `value-${i}`)));
    // Commits resolve with strictly increasing LSNs in call order.
    for (let i = 1; i < N; i++) expect(lsns[i]).toBeGreaterThan(lsns[i - 1]!);
    expect(db.vdl).toBeGreaterThanOrEqual(lsns[N - 1]!);
    const s = db.stats();
    expect(s.commits.acknowledged).toBe(N);
    expect(s.groupCommit.recordsPerBatch).toBeGreaterThan(1);
    for (let i = 0; i < N; i += 500) {
      const got = await Promise.all(Array.from({ length: 500 }, (_, j) => db.get(`key-${i + j}`)));
      got.forEach((v, j) => expect(text(v)).toBe(`value-${i + j}`));
    }
    await db.close();
    const again = await open(smallOptions(dir));
    try {
      expect(again.vdl).toBeGreaterThanOrEqual(lsns[N - 1]!);
      expect(text(await again.get('key-0'))).toBe('value-0');
      expect(text(await again.get(`key-${N - 1}`))).toBe(`value-${N - 1}`);
      expect(again.epoch).toBe(db.epoch + 1);
    } finally {
      await again.close();
    }
  });

  it('deletes, overwrites, and returns undefined for missing keys', () => withDb(async (db) => {
    await db.put('a', '1');
    await db.put('a', '2');
    expect(text(await db.get('a'))).toBe('2');
    await db.delete('a');
    expect(await db.get('a')).toBeUndefined();
    expect(await db.get('never')).toBeUndefined();
    const bin = new Uint8Array([0, 255, 7]);
    await db.put(bin, bin);
    expect(Array.from((await db.get(bin))!)).toEqual([0, 255, 7]);
  }));

  it('commits a transaction as one MTR: all of its writes or none', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    const r = await db.transaction(async (tx) => {
      tx.put('x', 'tx1');
      tx.put('y', 'tx1');
      expect(text(await tx.get('x'))).toBe('tx1'); // reads its own writes
      tx.delete('gone');
      return 'done';
    });
    expect(r).toBe('done');
    expect([text(await db.get('x')), text(await db.get('y'))]).toEqual(['tx1', 'tx1']);
    await expect(db.transaction(async (tx) => {
      tx.put('x', 'aborted');
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(text(await db.get('x'))).toBe('tx1');
    // Many concurrent transactions: every pair lands together.
    await Promise.all(Array.from({ length: 200 }, (_, i) => db.transaction((tx) => {
      tx.put(`p${i}-a`, `${i}`);
      tx.put(`p${i}-b`, `${i}`);
    })));
    await db.close();
    const again = await open(smallOptions(dir));
    try {
      for (let i = 0; i < 200; i += 17) {
        expect([text(await again.get(`p${i}-a`)), text(await again.get(`p${i}-b`))]).toEqual([`${i}`, `${i}`]);
      }
    } finally {
      await again.close();
    }
  });

  it('acknowledges puts with two nodes paused and catches them up after resume', () => withDb(async (db) => {
    db.faults.pauseNode(0);
    db.faults.pauseNode(3);
    const lsns = await Promise.all(Array.from({ length: 500 }, (_, i) => db.put(`k${i}`, `v${i}`)));
    expect(db.vdl).toBeGreaterThanOrEqual(lsns[499]!);
    expect(db.stats().nodes[0]!.scl).toBeLessThan(db.vdl);
    db.faults.resumeNode(0);
    db.faults.resumeNode(3);
    await settle(db);
    expect(db.stats().nodes.map((n) => n.scl >= db.vdl)).toEqual([true, true, true, true, true, true]);
  }));

  it('never acks with three nodes paused, rejects with QUORUM_UNAVAILABLE, and recovers after resume', () => withDb(async (db) => {
    await putEventually(db, 'before', '1');
    const vdlBefore = db.vdl;
    for (const i of [1, 2, 5]) db.faults.pauseNode(i);
    let acked = false;
    const p = db.put('during', '2').then(() => { acked = true; });
    await expect(p).rejects.toMatchObject({ code: 'QUORUM_UNAVAILABLE' });
    expect(acked).toBe(false);
    expect(db.vdl).toBe(vdlBefore);
    // Reads of durable data keep working on the remaining nodes.
    expect(text(await db.get('before'))).toBe('1');
    for (const i of [1, 2, 5]) db.faults.resumeNode(i);
    await putEventually(db, 'after', '3');
    // The timed-out write had an unknown outcome; after resume it became durable with the rest.
    expect(text(await db.get('during'))).toBe('2');
    await settle(db);
    expect(db.stats().nodes.every((n) => n.scl >= db.vdl)).toBe(true);
  }, { commitTimeoutMs: 300 }));

  it('holds a read of a key whose write is not yet durable until it is', () => withDb(async (db) => {
    await db.put('k', 'old');
    for (const i of [0, 1, 2]) db.faults.pauseNode(i);
    const put = db.put('k', 'new');
    let read: string | undefined | null = null;
    const get = db.get('k').then((v) => { read = text(v); });
    await new Promise((r) => setTimeout(r, 100));
    expect(read).toBeNull(); // neither the old value nor the non-durable new one
    for (const i of [0, 1, 2]) db.faults.resumeNode(i);
    await put;
    await get;
    expect(read).toBe('new');
    expect(db.stats().reads.waitedForDurable).toBe(1);
  }));

  it('keeps committing while a node crashes and catches it up after restart', () => withDb(async (db) => {
    await Promise.all(Array.from({ length: 200 }, (_, i) => db.put(`a${i}`, 'x')));
    await db.faults.crashNode(4);
    expect(db.stats().nodes[4]!.state).toBe('stopped');
    await Promise.all(Array.from({ length: 200 }, (_, i) => db.put(`b${i}`, 'y')));
    await db.faults.restartNode(4);
    await Promise.all(Array.from({ length: 50 }, (_, i) => db.put(`c${i}`, 'z')));
    await settle(db);
    const n4 = db.stats().nodes[4]!;
    expect(n4.state).toBe('running');
    expect(n4.scl).toBe(db.vdl);
  }));

  it('rejects bad input and calls after close with coded errors', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    await expect(db.put('k'.repeat(2000), 'v')).rejects.toMatchObject({ code: 'KEY_TOO_LARGE' });
    await expect(db.put('k', new Uint8Array(20_000))).rejects.toMatchObject({ code: 'VALUE_TOO_LARGE' });
    await expect(db.put(42 as never, 'v')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(db.get('')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(db.transaction((tx) => { for (let i = 0; i < 10; i++) tx.put(`k${i}`, new Uint8Array(10_000)); }))
      .rejects.toMatchObject({ code: 'TRANSACTION_TOO_LARGE' });
    expect(() => db.faults.pauseNode(6)).toThrow(/INVALID_ARGUMENT/);
    await db.close();
    await expect(db.put('k', 'v')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(db.get('k')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(open({ dir, nodes: 5, writeQuorum: 3, readQuorum: 3, segmentBytes: 1 << 20, valueBytesMax: 16 << 10, mtrBytesMax: 64 << 10, groupCommit: { batchBytesMax: 64 << 10 }, nodeRingBytes: 1 << 20, logRingBytes: 1 << 20 }))
      .rejects.toMatchObject({ code: 'VOLUME_MISMATCH' });
    await expect(open({ dir, fsync: 'sometimes' as never })).rejects.toSatisfy((e) => isAuroralError(e, 'INVALID_OPTION'));
  });

  // Caller-owned key buffers: the engine keeps keys past the call (a transaction's writes until
  // it commits, a put blocked on LSNs or ring space until it is encoded, a read waiting for a
  // write to become durable), so it must copy them at the call. Method: reuse one Buffer for
  // every key, change it after each call returns, reopen with the cache off (the cache is keyed
  // by the id taken at the call and would hide wrong bytes on the nodes) and check every key.
  const KEYS = 50;
  const keyName = (i: number) => `key${String(i).padStart(4, '0')}`;
  async function expectKeysAfterReopen(dir: string, extra: object, value: (i: number) => string): Promise<void> {
    const again = await open(smallOptions(dir, { ...extra, cacheBytesMax: 0 }));
    try {
      const wrong: string[] = [];
      for (let i = 0; i < KEYS; i++) if (text(await again.get(keyName(i))) !== value(i)) wrong.push(keyName(i));
      expect(wrong).toEqual([]);
    } finally {
      await again.close();
    }
  }

  it('keeps every key of a transaction that reuses one key buffer', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    const k = Buffer.alloc(7);
    const v = Buffer.alloc(8);
    await db.transaction((tx) => {
      for (let i = 0; i < KEYS; i++) {
        k.write(keyName(i));
        v.write(`val${String(i).padStart(5, '0')}`);
        tx.put(k, v);
      }
    });
    await db.close();
    await expectKeysAfterReopen(dir, {}, (i) => `val${String(i).padStart(5, '0')}`);
  });

  it('keeps every key of puts blocked on the LSN allocation limit while the caller reuses the key buffer', async () => {
    const dir = tempDir();
    const extra = { lsnAllocationLimit: 16 };
    const db = await open(smallOptions(dir, extra));
    const k = Buffer.alloc(7);
    const puts: Promise<number>[] = [];
    for (let i = 0; i < KEYS; i++) {
      k.write(keyName(i));
      puts.push(db.put(k, `lal-${i}`)); // past the 16th, these wait for LSNs
    }
    // All 50 pending, at most 16 LSNs handed out: the other 34 (at least) wait for LSNs.
    const s = db.stats();
    expect(s.commits.pending).toBe(KEYS);
    expect(s.lsnNext - 1 - s.vdl).toBeLessThanOrEqual(16);
    k.fill(0x7a);
    await Promise.all(puts);
    await db.close();
    await expectKeysAfterReopen(dir, extra, (i) => `lal-${i}`);
  });

  it('keeps every key and value of batches blocked on the LSN allocation limit while the caller reuses its buffers', async () => {
    // db.batch borrows the caller's bytes when it encodes at once and copies them when it waits.
    const dir = tempDir();
    const extra = { lsnAllocationLimit: 16 };
    const db = await open(smallOptions(dir, extra));
    const k = Buffer.alloc(7);
    const v = Buffer.alloc(9);
    const batches: Promise<number>[] = [];
    for (let i = 0; i < KEYS; i += 2) {
      k.write(keyName(i));
      v.write(`batch-${i}`.padEnd(9, ' '));
      // Two puts per batch: one from the reused buffers, one from fresh ones.
      batches.push(db.batch([{ type: 'put', key: k, value: v }, { type: 'put', key: keyName(i + 1), value: `batch-${i + 1}` }]));
      k.fill(0x7a); // the caller reuses its buffers at once; past the 8th batch, they wait for LSNs
      v.fill(0x7a);
    }
    expect(db.stats().commits.pending).toBe(KEYS / 2);
    await Promise.all(batches);
    await db.close();
    await expectKeysAfterReopen(dir, extra, (i) => (i % 2 === 0 ? `batch-${i}`.padEnd(9, ' ') : `batch-${i}`));
  });

  it('keeps every key of puts blocked on log-ring space while the caller reuses the key buffer', async () => {
    const dir = tempDir();
    // 50 values of 6 KiB are ~300 KiB of redo: a 64 KiB log ring fills within the first dozen.
    const extra = { logRingBytes: 64 << 10, mtrBytesMax: 24 << 10, valueBytesMax: 8 << 10 };
    const db = await open(smallOptions(dir, extra));
    const k = Buffer.alloc(7);
    const value = (i: number) => `${i}:`.padEnd(6 << 10, 'r');
    const puts: Promise<number>[] = [];
    for (let i = 0; i < KEYS; i++) {
      k.write(keyName(i));
      puts.push(db.put(k, value(i)));
    }
    const s = db.stats();
    expect(s.lsnNext - 1 - s.vdl).toBeLessThan(KEYS); // some are still waiting for ring space
    k.fill(0x7a);
    await Promise.all(puts);
    await db.close();
    await expectKeysAfterReopen(dir, extra, value);
  });

  it('reads the key it was called with when the read must wait for a write in flight', () => withDb(async (db) => {
    // Method: a read of a key with a write in flight waits for it (key tracking), then reads;
    // the caller's buffer changes meanwhile to name another key that holds a different value.
    await db.put('key-a', 'A');
    await db.put('key-b', 'B');
    for (const i of [0, 1, 2]) db.faults.pauseNode(i);
    const put = db.put('key-a', 'A2');
    const k = Buffer.from('key-a');
    const get = db.get(k);
    k.write('key-b');
    for (const i of [0, 1, 2]) db.faults.resumeNode(i);
    await put;
    expect(text(await get)).toBe('A2');
    expect(db.stats().reads.waitedForDurable).toBe(1);
  }));

  it('refuses at once a transaction with more records than lsnAllocationLimit and keeps committing', () => withDb(async (db) => {
    // Such an MTR can never get its LSNs: it used to wait at the head of the FIFO, hold every
    // later commit behind it, and reject with QUORUM_UNAVAILABLE ("outcome unknown") though
    // nothing was encoded. Method: 20 puts in one transaction under a limit of 16; the refusal
    // must come before any I/O (one setImmediate), and a put issued right after it must commit
    // with nothing timed out.
    let settled: unknown = null;
    const tx = db.transaction((t) => { for (let i = 0; i < 20; i++) t.put(`tx${i}`, 'v'); });
    tx.catch((e: unknown) => { settled = e; });
    const put = db.put('after', 'x');
    await new Promise((r) => setImmediate(r));
    expect(settled).toMatchObject({ code: 'TRANSACTION_TOO_LARGE' });
    expect((settled as Error).message).toContain('lsnAllocationLimit=16');
    await expect(tx).rejects.toMatchObject({ code: 'TRANSACTION_TOO_LARGE' });
    expect(await put).toBeGreaterThan(0);
    expect(db.stats().commits.timedOut).toBe(0);
    expect(await db.get('tx0')).toBeUndefined(); // nothing of it was written
    // Exactly the limit still fits in one MTR.
    await db.transaction((t) => { for (let i = 0; i < 16; i++) t.put(`ok${i}`, 'v'); });
    expect(text(await db.get('ok15'))).toBe('v');
  }, { lsnAllocationLimit: 16, commitTimeoutMs: 2000 }));

  it('fails commits with NODE_FAILED but keeps reading when the group-commit thread dies, and still closes', async () => {
    // Method: the 'error' event a dying worker emits is raised on the group-commit worker; the
    // writer must move to FAILED (commits refused, reads served by the nodes), then close.
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    await db.put('k', 'v');
    db.writerLink.gc!.worker.emit('error', new Error('injected death'));
    expect(db.state).toBe('failed');
    await expect(db.put('k2', 'v2')).rejects.toMatchObject({ code: 'NODE_FAILED' });
    expect(text(await db.get('k'))).toBe('v');
    await db.close();
    expect(db.state).toBe('closed');
    await expect(db.get('k')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('leaves no worker threads or ports behind after close', async () => {
    const before = threadHandles();
    await withDb(async (db) => { await db.put('a', 'b'); });
    expect(threadHandles()).toBe(before);
  });

  it('refuses a cacheBytesMax of 2 GiB or more with INVALID_OPTION before starting any thread', async () => {
    // The page cache keeps its arena size in an Int32 header field: 2 GiB used to pass validation,
    // start every thread, then throw a RangeError at attach and leave the workers running.
    const before = threadHandles();
    for (const cacheBytesMax of [2 ** 31, 3 * 2 ** 30]) {
      const dir = tempDir();
      await expect(open(smallOptions(dir, { cacheBytesMax }))).rejects.toSatisfy((e) =>
        isAuroralError(e, 'INVALID_OPTION') && e.message.includes("'cacheBytesMax'"));
      expect(threadHandles()).toBe(before);
    }
  });

  it('leaves no worker threads or ports behind when attaching the first writer fails during open', async () => {
    // Method: the nodes start and recover, then the (injected) attach of the writer fails: open()
    // must stop every thread it started before it rejects.
    const before = threadHandles();
    const attach = vi.spyOn(Volume.prototype, 'attachWriter').mockRejectedValueOnce(errors.recoveryFailed('injected attach failure'));
    try {
      await expect(open(smallOptions(tempDir()))).rejects.toMatchObject({ code: 'RECOVERY_FAILED' });
    } finally {
      attach.mockRestore();
    }
    expect(threadHandles()).toBe(before);
  });
});
