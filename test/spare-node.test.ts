// A node restart takes a storage-node thread started ahead (Cluster.scheduleSpareNode): Node and
// the node's modules already loaded, so the restart pays only its scan and catch-up. Goal: a node
// started on the spare is a full node (takes frames, acknowledges, serves reads), a spare that
// died is never used, and close leaves no thread behind.
import { describe, expect, it } from 'vitest';
import { open, type Database } from '../src/index.js';
import type { Cluster } from '../src/writer/cluster.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';

const clusterOf = (db: Database) => (db as unknown as { cluster: Cluster }).cluster;
const spareOf = (c: Cluster) => (c as unknown as { spareNode: { terminate(): Promise<number> } | null }).spareNode;

describe('spare node thread', () => {
  it('a restarted node starts on the spare, takes frames and serves reads; a new spare follows', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    try {
      const cluster = clusterOf(db);
      for (let i = 0; i < 50; i++) await db.put(`k${i}`, `v${i}`);
      expect(await waitFor(() => cluster.spareNodeReady, 10_000)).toBe(true); // started once the volume was quiet for a second
      await db.faults.crashNode(2);
      for (let i = 50; i < 80; i++) await db.put(`k${i}`, `v${i}`); // node 2 misses these
      await db.faults.restartNode(2);
      expect(cluster.sparesUsed).toBe(1);
      expect(await waitFor(() => db.stats().nodes[2]!.state === 'running' && db.stats().nodes[2]!.scl === db.vdl)).toBe(true);
      expect(db.stats().threads.some((t) => t.thread === 'node-2' && t.tid > 0)).toBe(true);
      // Only node 2 answers reads now: every value, old and new, comes from it.
      for (const i of [0, 1, 3, 4, 5]) db.faults.muteNode(i);
      for (let i = 0; i < 80; i += 7) expect(text(await db.get(`k${i}`))).toBe(`v${i}`);
      for (const i of [0, 1, 3, 4, 5]) db.faults.muteNode(i, false);
      await db.put('after', 'restart'); // and it acknowledges with the others
      expect(await waitFor(() => cluster.spareNodeReady, 10_000)).toBe(true); // replaced right after the restart
    } finally {
      await db.close();
    }
    expect(clusterOf(db).spareNodeReady).toBe(false);
  });

  it('after an open, the spare waits for a quiet second: never started during a write burst', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    try {
      const cluster = clusterOf(db);
      const end = Date.now() + 2200;
      for (let i = 0; Date.now() < end; i++) await db.put(`k${i % 100}`, `v${i}`);
      expect(cluster.spareNodeReady).toBe(false);
      expect(await waitFor(() => cluster.spareNodeReady, 10_000)).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('a spare follows a node restart even while writes keep coming (the open\'s quiet wait never ends then)', async () => {
    const db = await open(smallOptions(tempDir()));
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) await db.put(`k${i % 100}`, `v${i}`);
    })();
    try {
      const cluster = clusterOf(db);
      await new Promise((r) => setTimeout(r, 300));
      await db.faults.crashNode(2);
      await db.faults.restartNode(2);
      expect(await waitFor(() => cluster.spareNodeReady, 3000)).toBe(true);
    } finally {
      writing = false;
      await writer;
      await db.close();
    }
  });

  it('a spare that died is not used: the restart starts a fresh thread', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    try {
      const cluster = clusterOf(db);
      expect(await waitFor(() => cluster.spareNodeReady, 10_000)).toBe(true);
      await spareOf(cluster)!.terminate();
      expect(await waitFor(() => !cluster.spareNodeReady)).toBe(true);
      await db.faults.crashNode(4);
      await db.put('while', 'down');
      await db.faults.restartNode(4);
      expect(cluster.sparesUsed).toBe(0);
      expect(await waitFor(() => db.stats().nodes[4]!.scl === db.vdl)).toBe(true);
      expect(text(await db.get('while'))).toBe('down');
    } finally {
      await db.close();
    }
  });
});
