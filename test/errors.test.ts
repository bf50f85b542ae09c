// Goal: errors keep their type across threads. A worker sends `{code, message, details}` and the
// writer rebuilds an AuroralError with the same code: nobody parses "CODE: message" strings.
// Method: the helpers on their own (through structuredClone, as postMessage does), then node
// failures on real threads: an EIO on fdatasync, and an epoch file that cannot be written.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { errors, serializeError, deserializeError, isAuroralError, ErrorCode } from '../src/errors.js';
import { open } from '../src/index.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';
import { Cluster } from '../src/writer/cluster.js';
import { EPOCH_FILE } from '../src/node/epoch-store.js';

const across = (e: unknown) => deserializeError(structuredClone(serializeError(e)));

describe('errors across threads', () => {
  it('round-trips a coded error: same code, same message, details kept', () => {
    const e = errors.diskFull(42, 3);
    const back = across(e);
    expect(isAuroralError(back, 'DISK_FULL')).toBe(true);
    expect(back.message).toBe(e.message);
    expect(back.message.startsWith('DISK_FULL: DISK_FULL')).toBe(false);
    const locked = errors.volumeLocked('/v', { pid: 7, hostname: 'h', startedAt: 'then', thisProcess: false });
    expect(across(locked)).toMatchObject({ code: 'VOLUME_LOCKED', details: { pid: 7, thisProcess: false } });
  });

  it('gives fs errors a code by errno and anything else the fallback', () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: boom`), { code, syscall: 'write' });
    expect(across(errno('ENOSPC')).code).toBe(ErrorCode.DISK_FULL);
    expect(across(errno('EIO'))).toMatchObject({ code: 'IO_ERROR', details: { errno: 'EIO', syscall: 'write' } });
    expect(across(new Error('assertion failed')).code).toBe(ErrorCode.NODE_FAILED);
    expect(deserializeError(structuredClone(serializeError('text', ErrorCode.RECOVERY_FAILED))).code).toBe(ErrorCode.RECOVERY_FAILED);
  });

  it('a node failing on EIO reaches the writer as IO_ERROR, with no string to parse', async () => {
    const db = await open(smallOptions(tempDir()));
    try {
      db.faults.failFsync(2, 1);
      for (let i = 0; i < 10; i++) await db.put(`k${i}`, 'v');
      expect(await waitFor(() => db.stats().nodes[2]!.state === 'failed')).toBe(true);
      const n2 = db.stats().nodes[2]!;
      expect(n2.failureCode).toBe('IO_ERROR');
      expect(n2.failure).not.toMatch(/^IO_ERROR: IO_ERROR/);
      await db.faults.restartNode(2); // rebuilt from a peer: chosen by the code
      expect(db.stats().nodes[2]!.failureCode).toBe(null);
    } finally {
      await db.close();
    }
  });

  // A node that answers its fence at open and then dies (its thread gone before the recover step)
  // is one node short: the open goes on with the others, as when it dies at any other step. It
  // failed the whole open with an assertion ("node 5 not started") instead of a typed NODE_FAILED.
  it('a node that dies between its fence and its recover step at open is left out, not the open failed', async () => {
    const dir = tempDir();
    const db0 = await open(smallOptions(dir));
    await db0.put('a', '1');
    await db0.close();
    const fence = Cluster.prototype.fence;
    let armed = true;
    Cluster.prototype.fence = function (this: Cluster, ...args: Parameters<Cluster['fence']>) {
      const p = fence.apply(this, args);
      if (!armed || args[0] !== 5) return p;
      armed = false;
      return p.then(async (r) => {
        await (this as unknown as { nodes: ({ worker: { terminate(): Promise<number> } } | null)[] }).nodes[5]!.worker.terminate();
        return r;
      });
    };
    try {
      const db = await open(smallOptions(dir));
      try {
        expect(armed).toBe(false);
        expect(text(await db.get('a'))).toBe('1');
        expect(db.stats().nodes[5]!.state).not.toBe('running');
      } finally {
        await db.close();
      }
    } finally {
      Cluster.prototype.fence = fence;
    }
  });

  // A busy main thread: the node's thread fails, posts why and exits while the writer is not
  // looking, and Node then delivers the thread's exit before the message (test/worker-exit.test.ts
  // shows the order). The failure must still be the node's own, not "exited".
  for (const busyMain of [false, true]) {
    it(`a node that cannot start reports a coded error, not the errno it hit${busyMain ? ' (main thread busy)' : ''}`, async () => {
      const dir = tempDir();
      const db = await open(smallOptions(dir));
      let busy: NodeJS.Timeout | null = null;
      try {
        await db.put('a', '1');
        await db.faults.crashNode(5);
        const epochFile = path.join(dir, 'node-5', EPOCH_FILE);
        fs.rmSync(epochFile, { force: true });
        fs.mkdirSync(epochFile); // its epoch file cannot be read (EISDIR)
        if (busyMain) busy = setInterval(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 40), 1);
        const r = await db.faults.restartNode(5).then(() => 'started', (e: unknown) => e);
        if (busy !== null) clearInterval(busy);
        expect(isAuroralError(r, 'IO_ERROR')).toBe(true);
        expect(db.stats().nodes[5]!.failureCode).toBe('IO_ERROR');
        await db.put('b', '2'); // five nodes carry on
      } finally {
        if (busy !== null) clearInterval(busy);
        await db.close();
      }
    });
  }
});
