// Disk faults beneath real hot logs: EIO on an fdatasync (the node fails itself, never syncs that
// file again, and is rebuilt from a peer), a full disk (callers get DISK_FULL, nothing is
// acknowledged wrongly), a torn final write (the scan cuts it), and a slow device.
import { describe, expect, it } from 'vitest';
import { open, isAuroralError } from '../src/index.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';

describe('disk faults', () => {
  it('EIO on the k-th fdatasync fails the node for good; restart rebuilds it from a peer and it catches up', async () => {
    const db = await open(smallOptions(tempDir()));
    try {
      await db.put('before', '1');
      db.faults.failFsync(2, 3);
      for (let i = 0; i < 50; i++) await db.put(`k${i}`, `v${i}`); // acknowledged by the other five
      expect(await waitFor(() => db.stats().nodes[2]!.state === 'failed')).toBe(true);
      const syncs = db.stats().nodes[2]!.syncs;
      for (let i = 50; i < 60; i++) await db.put(`k${i}`, `v${i}`);
      expect(db.stats().nodes[2]!.syncs).toBe(syncs); // never syncs again after the error
      expect(db.stats().nodes[2]!.failure).toMatch(/IO_ERROR/);
      await db.faults.restartNode(2);
      expect(await waitFor(() => db.stats().nodes[2]!.scl === db.vdl)).toBe(true);
      expect(text(await db.get('k59'))).toBe('v59');
      expect(text(await db.get('before'))).toBe('1');
    } finally {
      await db.close();
    }
  });

  it('a full disk on three nodes rejects writes with DISK_FULL; nothing is acknowledged; freeing space and rebuilding recovers', async () => {
    const db = await open(smallOptions(tempDir(), { commitTimeoutMs: 3000 }));
    try {
      await db.put('a', '1');
      for (const n of [0, 1, 2]) db.faults.diskFull(n);
      const r = await db.put('b', '2').then(() => 'acknowledged', (e: unknown) => e);
      expect(isAuroralError(r, 'DISK_FULL')).toBe(true);
      expect(db.stats().nodes.filter((n) => n.failure?.startsWith('DISK_FULL')).length).toBe(3);
      for (const n of [0, 1, 2]) {
        db.faults.diskFull(n, false);
        await db.faults.restartNode(n);
      }
      await db.put('c', '3');
      expect(text(await db.get('a'))).toBe('1');
      expect(text(await db.get('c'))).toBe('3');
    } finally {
      await db.close();
    }
  });

  it('a torn final write kills the node; its restart cuts the torn tail and catches up', async () => {
    const db = await open(smallOptions(tempDir()));
    try {
      for (let i = 0; i < 20; i++) await db.put(`k${i}`, `v${i}`);
      db.faults.tearNextWrite(4);
      await db.put('torn', 'x');
      expect(await waitFor(() => db.stats().nodes[4]!.state === 'failed')).toBe(true);
      await db.faults.restartNode(4);
      expect(await waitFor(() => db.stats().nodes[4]!.scl === db.vdl)).toBe(true);
      expect(text(await db.get('torn'))).toBe('x');
    } finally {
      await db.close();
    }
  });

  it('a slow fdatasync on two nodes does not hold commits back (4 of 6 suffice)', async () => {
    const db = await open(smallOptions(tempDir()));
    try {
      db.faults.slowFsync(0, 400_000);
      db.faults.slowFsync(1, 400_000);
      for (let i = 0; i < 20; i++) await db.put(`k${i}`, 'v');
      // Twenty sequential commits were acknowledged while each slow node managed at most a few syncs.
      const s = db.stats();
      expect(s.nodes[0]!.scl).toBeLessThan(s.vdl);
      expect(s.nodes[1]!.scl).toBeLessThan(s.vdl);
      expect(() => db.faults.slowFsync(0, -1)).toThrow(/micros/);
      db.faults.slowFsync(0, 0);
      db.faults.slowFsync(1, 0);
      expect(await waitFor(() => db.stats().nodes[0]!.scl === db.vdl)).toBe(true);
    } finally {
      await db.close();
    }
  });
});
