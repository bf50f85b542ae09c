// Goal: the quorum arithmetic holds for every failure set: losing any 2 of 6 nodes keeps writes
// going; losing any 3 stops writes (QUORUM_UNAVAILABLE within one commit timeout) while reads of
// durable data keep working.
// Method: one volume; for each of the 15 two-node and 20 three-node sets, pause those nodes,
// write and read, resume, and wait for every node to catch up before the next set.
import { describe, expect, it } from 'vitest';
import { open, type Database } from '../src/index.js';
import { putEventually, smallOptions, tempDir, text, waitFor } from './helpers.js';

function combinations(n: number, k: number): number[][] {
  const out: number[][] = [];
  const pick = (start: number, acc: number[]) => {
    if (acc.length === k) {
      out.push([...acc]);
      return;
    }
    for (let i = start; i < n; i++) pick(i + 1, [...acc, i]);
  };
  pick(0, []);
  return out;
}

const COMMIT_TIMEOUT_MS = 250;

async function caughtUp(db: Database): Promise<boolean> {
  return waitFor(() => {
    const s = db.stats();
    return s.nodes.every((n) => n.scl >= s.vdl);
  }, 10_000);
}

describe('availability matrix (6 nodes, write quorum 4, read quorum 3)', () => {
  it('keeps writing through all 15 two-node losses and refuses writes on all 20 three-node losses while reads go on', async () => {
    const db = await open(smallOptions(tempDir(), { commitTimeoutMs: COMMIT_TIMEOUT_MS, cacheBytesMax: 0, readTimeoutMs: 200 }));
    try {
      await putEventually(db, 'durable', 'yes'); // the first commit after open may outlast 250 ms under load
      const twos = combinations(6, 2);
      const threes = combinations(6, 3);
      expect([twos.length, threes.length]).toEqual([15, 20]);
      for (const set of twos) {
        for (const i of set) db.faults.pauseNode(i);
        // Writes go on: the put succeeds (retried only while its outcome is unknown: a slow
        // scheduler, never a lost quorum, which the three-node sets below check).
        await expect(putEventually(db, `two-${set.join('')}`, 'ok', 5)).resolves.toBeGreaterThan(0);
        expect(text(await db.get(`two-${set.join('')}`))).toBe('ok');
        for (const i of set) db.faults.resumeNode(i);
        expect(await caughtUp(db)).toBe(true);
      }
      for (const set of threes) {
        for (const i of set) db.faults.pauseNode(i);
        // A pause takes effect at the node's next loop turn: a node already taking frames when it
        // was paused still acks them (seen once in CI: a put right after the pause was acknowledged,
        // truly on 4 nodes). Let each paused node turn once before the put that must fail.
        await new Promise((r) => setTimeout(r, 50));
        const t0 = Date.now();
        await expect(db.put(`three-${set.join('')}`, 'maybe')).rejects.toMatchObject({ code: 'QUORUM_UNAVAILABLE' });
        // Rejected within one commit timeout (plus scheduling slack on a loaded 2-core machine).
        expect(Date.now() - t0).toBeLessThan(COMMIT_TIMEOUT_MS + 1000);
        expect(text(await db.get('durable'))).toBe('yes'); // reads of durable data still work
        for (const i of set) db.faults.resumeNode(i);
        expect(await caughtUp(db)).toBe(true);
      }
    } finally {
      await db.close();
    }
  }, 120_000);
});
