// Goal: attaching a writer to a live volume never fails open. Two attaches get distinct epochs; a
// node that is not fenced, refuses its adopt, or was restarting during the attach never counts
// toward the new writer's quorums or serves its reads with stale frames; a fenced handle's fault
// hooks refuse to act; restarted nodes follow the current writer; writer links do not pile up.
// Method: real volumes; writers killed or left running as zombies; faults through db.faults, plus
// two injected ones: an epoch file that cannot be written (a directory in the way of its temp
// file) and a node told that recovery kept less than its chain (its adopt must be refused).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open, openVolume, isAuroralError, type Database, type Volume } from '../src/index.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';
import { EPOCH_FILE } from '../src/node/epoch-store.js';

const settled = (p: Promise<unknown>): Promise<unknown> => p.then(() => 'ok', (e: unknown) => e);

/** Makes node i's next epoch save fail: a directory where its epoch file is (EISDIR). */
function breakEpochFile(dir: string, i: number): void {
  const file = path.join(dir, `node-${i}`, EPOCH_FILE);
  fs.rmSync(file, { force: true });
  fs.mkdirSync(file);
}

describe('attaching writers to a live volume', () => {
  it('gives two concurrent attaches distinct epochs: the older is fenced and none of its puts is acknowledged unless it survives a reopen', async () => {
    const dir = tempDir();
    const options = smallOptions(dir, { commitTimeoutMs: 8000 });
    const volume = await openVolume(options);
    const acked = new Map<string, string>();
    let epochs: number[] = [];
    try {
      const w0 = await volume.attachWriter();
      await w0.put('base', '0');
      const [a, b] = await Promise.all([volume.attachWriter(), volume.attachWriter()]);
      epochs = [a.epoch, b.epoch];
      expect(a.epoch).not.toBe(b.epoch);
      const [older, newer] = a.epoch < b.epoch ? [a, b] : [b, a];
      const put = (w: Database, k: string, v: string) => w.put(k, v).then(() => acked.set(k, v), (e: unknown) => e);
      const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => [put(older, `old${i}`, `o${i}`), put(newer, `new${i}`, `n${i}`)]).flat());
      for (const o of outcomes) expect(o instanceof Map || isAuroralError(o, 'FENCED')).toBe(true);
      await expect(older.put('late', 'x')).rejects.toMatchObject({ code: 'FENCED' });
      for (let i = 0; i < 50; i++) expect(acked.get(`new${i}`)).toBe(`n${i}`);
    } finally {
      await volume.close();
    }
    const db = await open(options);
    try {
      expect(db.epoch).toBeGreaterThan(Math.max(...epochs));
      for (const [k, v] of acked) expect(text(await db.get(k))).toBe(v);
    } finally {
      await db.close();
    }
  });

  it('excludes a node whose adopt fails instead of ignoring it, and fails the attach when too few adopt', async () => {
    const dir = tempDir();
    const volume = await openVolume(smallOptions(dir, { commitTimeoutMs: 8000 }));
    // Fault injection: the nodes in `refuse` are told that the recovery kept VDL 0, below their
    // chains (as if they had taken frames beyond the kept VDL): they must refuse to adopt.
    const cluster = (volume as unknown as { cluster: { adopt(i: number, epoch: number): Promise<void>; history: { epoch: number; vdl: number }[] } }).cluster;
    const adopt = cluster.adopt.bind(cluster);
    let refuse = new Set<number>();
    cluster.adopt = (i, epoch) => {
      if (!refuse.has(i)) return adopt(i, epoch);
      const real = cluster.history;
      cluster.history = real.map((r) => (r.epoch === epoch ? { epoch, vdl: 0 } : r));
      try {
        return adopt(i, epoch); // sends synchronously
      } finally {
        cluster.history = real;
      }
    };
    try {
      const w1 = await volume.attachWriter();
      await Promise.all(Array.from({ length: 20 }, (_, i) => w1.put(`k${i}`, `v${i}`)));
      refuse = new Set([3]);
      const w2 = await volume.attachWriter();
      expect(w2.stats().nodes[3]!.state).not.toBe('running');
      expect(volume.lastAttach.nodesExcluded).toBe(1);
      await w2.put('after', 'yes');
      expect(text(await w2.get('k7'))).toBe('v7');
      refuse = new Set([0, 1, 2]);
      await expect(volume.attachWriter()).rejects.toMatchObject({ code: 'RECOVERY_FAILED' });
    } finally {
      await volume.close();
    }
  });

  it('a node restarting while a new writer attaches comes back at the new epoch and counts toward its quorums', async () => {
    const volume = await openVolume(smallOptions(tempDir(), { commitTimeoutMs: 8000 }));
    try {
      const w1 = await volume.attachWriter();
      await Promise.all(Array.from({ length: 20 }, (_, i) => w1.put(`k${i}`, `v${i}`)));
      await w1.faults.crashNode(5);
      await w1.faults.killWriter();
      const [, w2] = await Promise.all([w1.faults.restartNode(5), volume.attachWriter()]);
      // With two other nodes cut off, node 5 must be one of the four acks.
      w2.faults.pauseNode(0);
      w2.faults.pauseNode(1);
      await expect(w2.put('with-5', 'yes')).resolves.toBeGreaterThan(0);
      expect(w2.stats().nodes[5]!.epoch).toBe(w2.epoch);
    } finally {
      await volume.close();
    }
  });

  it('never reads from a node that missed the fence: it still takes a fenced writer\'s frames', async () => {
    const dir = tempDir();
    const volume = await openVolume(smallOptions(dir, { cacheBytesMax: 0, readTimeoutMs: 200, commitTimeoutMs: 8000 }));
    try {
      const w1 = await volume.attachWriter();
      await w1.put('k', 'old');
      breakEpochFile(dir, 5); // node 5 cannot be fenced
      const w2 = await volume.attachWriter();
      // w1 is a zombie that does not know yet: its frames reach every ring of its own.
      const zombie = Array.from({ length: 20 }, (_, i) => settled(w1.put(i === 0 ? 'k' : `z${i}`, 'zombie')));
      await Promise.all(zombie);
      await w2.put('k', 'new');
      for (let i = 0; i < 5; i++) w2.faults.pauseNode(i);
      const got = await w2.get('k').then(text, (e: unknown) => e);
      expect(got === 'new' || isAuroralError(got, 'READ_UNAVAILABLE')).toBe(true);
      // Not left at the old epoch: the I/O error on its epoch file failed it (it takes no frames and
      // serves no reads; restartNode rebuilds it), so there was no running node left to exclude.
      expect(w2.stats().nodes[5]!.state).toBe('failed');
      expect(w2.stats().nodes[5]!.failureCode).toBe('IO_ERROR');
      expect(volume.lastAttach.nodesExcluded).toBe(0);
    } finally {
      await volume.close();
    }
  });

  it('refuses fault hooks on a fenced writer handle', async () => {
    const volume = await openVolume(smallOptions(tempDir()));
    try {
      const w1 = await volume.attachWriter();
      const w2 = await volume.attachWriter();
      expect(() => w1.faults.pauseNode(0)).toThrow(expect.objectContaining({ code: 'FENCED' }));
      expect(() => w1.faults.failFsync(0)).toThrow(expect.objectContaining({ code: 'FENCED' }));
      await expect(w1.faults.crashNode(1)).rejects.toMatchObject({ code: 'FENCED' });
      await expect(w1.faults.restartNode(1)).rejects.toMatchObject({ code: 'FENCED' });
      const s = w2.stats().nodes;
      expect(s[0]!.paused).toBe(false);
      expect(s[1]!.state).toBe('running');
      await w2.put('still', 'fine');
      w2.faults.pauseNode(0); // the current writer's hooks work
      w2.faults.resumeNode(0);
    } finally {
      await volume.close();
    }
  });

  it('a node restarted after a writer failover takes the new writer\'s frames and serves its values', async () => {
    const volume = await openVolume(smallOptions(tempDir(), { cacheBytesMax: 0 }));
    try {
      const w1 = await volume.attachWriter();
      await Promise.all(Array.from({ length: 20 }, (_, i) => w1.put(`k${i}`, `v${i}`)));
      await w1.faults.killWriter();
      const w2 = await volume.attachWriter();
      await w2.faults.crashNode(2);
      await w2.faults.restartNode(2);
      for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => w2.put(`k${i + j}`, `new${i + j}`)));
      expect(await waitFor(() => w2.stats().nodes[2]!.scl === w2.vdl, 20_000)).toBe(true);
      const n2 = w2.stats().nodes[2]!;
      // Frames from the writer's ring, not only what gossip fetched from peers.
      expect(n2.framesAppended - n2.framesFetched).toBeGreaterThan(0);
      for (const i of [0, 1, 3, 4, 5]) w2.faults.pauseNode(i);
      for (const i of [0, 57, 199]) expect(text(await w2.get(`k${i}`))).toBe(`new${i}`);
      expect(w2.stats().reads.perNode[2]).toBeGreaterThan(0);
    } finally {
      await volume.close();
    }
  });

  it('drops a writer link once its writer is gone: five attach/kill cycles keep at most two', async () => {
    const volume: Volume = await openVolume(smallOptions(tempDir()));
    try {
      for (let i = 0; i < 5; i++) {
        const w = await volume.attachWriter();
        await w.put(`k${i}`, 'v');
        await w.faults.killWriter();
      }
      const w = await volume.attachWriter();
      expect(text(await w.get('k4'))).toBe('v');
      expect(volume.writerLinkCount).toBeLessThanOrEqual(2);
      await w.close();
      expect(volume.writerLinkCount).toBeLessThanOrEqual(1);
    } finally {
      await volume.close();
    }
  });

  it('removes a timed-out read\'s waiter: reads to muted nodes leave nothing behind', async () => {
    const volume = await openVolume(smallOptions(tempDir(), { cacheBytesMax: 0, readTimeoutMs: 50 }));
    try {
      const w = await volume.attachWriter();
      await w.put('k', 'v');
      for (let i = 0; i < 6; i++) w.faults.muteNode(i);
      const reads = await Promise.all(Array.from({ length: 20 }, () => settled(w.get('k'))));
      for (const r of reads) expect(isAuroralError(r, 'READ_UNAVAILABLE')).toBe(true);
      expect(volume.readsPending).toBe(0);
      for (let i = 0; i < 6; i++) w.faults.muteNode(i, false);
      expect(text(await w.get('k'))).toBe('v');
      expect(volume.readsPending).toBe(0);
    } finally {
      await volume.close();
    }
  });
});
