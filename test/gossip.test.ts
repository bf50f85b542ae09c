// Goal: a node that misses frames sees the hole, fetches the missing frames from a peer and
// catches up, while commits go on through the others.
// Method: real volume; drop 20% of the frames sent to one node (seeded per node); a node detached
// by a tiny retention bound; settle and compare SCLs.
import { describe, expect, it } from 'vitest';
import { open, type Database } from '../src/index.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';

async function settle(db: Database, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const s = db.stats();
    if (s.nodes.every((n) => n.scl >= s.vdl)) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe('gossip', () => {
  it('catches up a node that loses 20% of its frames, from its peers', async () => {
    const db = await open(smallOptions(tempDir()));
    try {
      db.faults.dropFrames(2, 0.2);
      for (let round = 0; round < 20; round++) {
        await Promise.all(Array.from({ length: 100 }, (_, i) => db.put(`r${round}-k${i}`, `v${round}`)));
      }
      const n2 = db.stats().nodes[2]!;
      expect(n2.framesDropped).toBeGreaterThan(0);
      db.faults.dropFrames(2, 0);
      expect(await settle(db)).toBe(true);
      expect(await waitFor(() => db.stats().nodes[2]!.framesFetched > 0)).toBe(true);
      // Node 2 now serves everything: make it the only node answering reads (cache off for this).
      for (const i of [0, 1, 3, 4, 5]) db.faults.muteNode(i);
      const snap = db.snapshot(); // snapshot reads bypass the writer's cache fill path...
      expect(text(await snap.get('r0-k7'))).toBe('v0');
      expect(text(await snap.get('r19-k99'))).toBe('v19');
      snap.release();
    } finally {
      await db.close();
    }
  });

  it('keeps committing while one node drops every frame, and that node follows through gossip', async () => {
    const db = await open(smallOptions(tempDir()));
    try {
      db.faults.dropFrames(5, 1); // nothing reaches node 5 from the group-commit thread
      await Promise.all(Array.from({ length: 300 }, (_, i) => db.put(`k${i}`, 'v')));
      expect(await settle(db)).toBe(true); // ...yet it catches up from its peers
      const n5 = () => db.stats().nodes[5]!;
      expect(await waitFor(() => n5().framesFetched > 0 && n5().framesAppended === n5().framesFetched)).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('re-attaches a node detached by the retention bound once gossip brought it back', async () => {
    const db = await open(smallOptions(tempDir(), { retainBytesMax: 0, nodeRingBytes: 1 << 20 }));
    try {
      db.faults.pauseNode(1);
      for (let round = 0; round < 40; round++) {
        await Promise.all(Array.from({ length: 100 }, (_, i) => db.put(`r${round}-${i}`, 'x'.repeat(300))));
      }
      expect(db.stats().groupCommit.nodesDetached).toBeGreaterThan(0);
      db.faults.resumeNode(1);
      expect(await settle(db)).toBe(true);
      await Promise.all(Array.from({ length: 100 }, (_, i) => db.put(`after-${i}`, 'y')));
      expect(await settle(db)).toBe(true);
      for (const i of [0, 2, 3, 4, 5]) db.faults.muteNode(i);
      expect(text(await db.get('r0-0'))).toBe('x'.repeat(300));
    } finally {
      await db.close();
    }
  });
});
